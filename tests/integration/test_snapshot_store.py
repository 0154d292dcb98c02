"""The Kafka snapshot store cleans up after writers that crashed in the middle of a snapshot."""

from __future__ import annotations

import time

from consumers.snapshots import KafkaSnapshotStore, shard_key
from tests.support.service import kafka_settings, read_topic


def _live(bootstrap: str, topic: str, n: int) -> dict[bytes, bytes]:
    """Keys with a value after applying the topic's n records in order (what compaction keeps)."""
    live: dict[bytes, bytes] = {}
    for r in read_topic(bootstrap, topic, n):
        if r.value is None:
            live.pop(r.key, None)
        else:
            live[r.key] = r.value
    return live


def test_chunks_of_crashed_writers_are_deleted(kafka_bootstrap: str, prefix: str) -> None:
    from kafka import KafkaAdminClient, KafkaProducer

    from consumers.topics import ensure_topics

    s = kafka_settings(kafka_bootstrap, prefix, snapshot_chunk_bytes=1024)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        ensure_topics(s, admin)
    finally:
        admin.close()
    key = shard_key(s, 0)
    topic = s.topic("snapshots")
    prod = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    blobs = [bytes([k]) * 4000 + b"end" for k in range(4)]  # 4 chunks each
    try:
        KafkaSnapshotStore(s, prod, 1).save(0, blobs[0])
        # a writer dies half-way through its next snapshot: chunks, no manifest
        torn = f"{time.time_ns():x}"
        for i in range(2):
            prod.send(topic, value=b"x" * 1024, key=f"{key}#{torn}#{i}".encode(), partition=0)
        prod.flush()
        # the next owner restores the last complete snapshot; the torn chunks are newer than it
        # (their writer might still be at work): they stay for now
        second = KafkaSnapshotStore(s, prod, 1)
        assert second.load(0) == blobs[0]
        second.save(0, blobs[1])
        # a writer that dies after its manifest, before deleting the previous chunks
        KafkaSnapshotStore(s, prod, 1).save(0, blobs[2])  # (never loaded: knows no previous)
        prod.flush()
        n = 5 + 2 + 5 + 4 + 5  # snapshot 0, torn, snapshot 1 (+4 tombstones of 0), snapshot 2
        live = _live(kafka_bootstrap, topic, n)
        assert sum(1 for k in live if b"#" in k) == 4 + 2 + 4  # garbage: torn and snapshot 1
        third = KafkaSnapshotStore(s, prod, 1)
        assert third.load(0) == blobs[2]
        third.save(0, blobs[3])
        prod.flush()
        live = _live(kafka_bootstrap, topic, n + 5 + 4 + 2 + 4)
        chunks = sorted(k for k in live if b"#" in k)
        assert len(chunks) == 4 and len({k.rsplit(b"#", 1)[0] for k in chunks}) == 1
        assert KafkaSnapshotStore(s, prod, 1).load(0) == blobs[3]
    finally:
        prod.close()


def _learn_and_snapshot(s, n: int) -> None:
    """Run the service until it learned ``n`` events, then stop it: a genuine snapshot."""
    from tests.support.service import RunnerThread, event, produce

    svc = RunnerThread(s)
    try:
        svc.wait(lambda: svc.state.ready()[0], 120, "ready")
        produce(s.kafka_bootstrap, s.topic("events"), [event(i, [1.0, i], ["a"]) for i in range(n)])
        svc.wait(lambda: svc.learned() >= n, 120, f"{n} events learned")
    finally:
        svc.stop()


def test_a_forged_snapshot_in_the_topic_is_refused_and_runs_nothing(
    kafka_bootstrap: str, prefix: str, tmp_path
) -> None:
    """Whoever can write the snapshots topic (no ACLs here) cannot run code in the service."""
    import json
    import os
    import subprocess
    import sys

    from kafka import KafkaProducer

    from streamlearn.snapshot import SnapshotError, SnapshotKeys
    from tests.support.forged import forged, payloads
    from tests.support.service import RunnerThread

    key = "kafka-forged-snapshot-test-key-0123456789"
    s = kafka_settings(kafka_bootstrap, prefix, snapshot_keys=key)
    _learn_and_snapshot(s, 20)
    prod = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    store = KafkaSnapshotStore(s, prod, 1)
    genuine = store.load(0)
    target = tmp_path / "pwned"
    keys = SnapshotKeys.parse(key)
    cases = [
        (forged(payloads(target)[0], key_id=None, mac=None), "unsigned snapshot"),
        (
            forged(payloads(target)[1], key_id=keys.signing_id, mac=os.urandom(32)),
            "signature does not match",
        ),
    ]
    try:
        for blob, words in cases:
            store.save(0, blob)  # the attacker writes like the service does
            svc = RunnerThread(s)
            svc.thread.join(120)
            assert isinstance(svc.loop.error, SnapshotError), repr(svc.loop.error)
            assert shard_key(s, 0) in str(svc.loop.error) and words in str(svc.loop.error)
            assert svc.state.ready() == (False, "snapshot_refused")
            assert svc.sample("streamlearn_snapshot_restores_total", shard="0", outcome="refused")
            assert not target.exists()
            shown = subprocess.run(
                [sys.executable, "-m", "streamlearn", "snapshot", "show", "--load"]
                + ["--kafka", kafka_bootstrap, "--topic-prefix", prefix],
                capture_output=True,
                text=True,
                env={**os.environ, "STREAMLEARN_SNAPSHOT_KEYS": key},
                timeout=120,
            )
            assert shown.returncode == 1 and words in shown.stderr, shown.stderr
            assert not target.exists()
        store.save(0, genuine)
        shown = subprocess.run(
            [sys.executable, "-m", "streamlearn", "snapshot", "show"]
            + ["--kafka", kafka_bootstrap, "--topic-prefix", prefix],
            capture_output=True,
            text=True,
            env={**os.environ, "STREAMLEARN_SNAPSHOT_KEYS": key},
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["meta"]["events_learned"] == 20
    finally:
        prod.close(10)
        store.close()
    svc = RunnerThread(s)  # the genuine snapshot restores
    try:
        svc.wait(lambda: svc.state.ready()[0], 120, "ready with the genuine snapshot")
        assert svc.sample("streamlearn_snapshot_restores_total", shard="0", outcome="restored")
    finally:
        svc.stop()


def test_malformed_keys_in_the_topic_are_skipped_with_a_metric(
    kafka_bootstrap: str, prefix: str
) -> None:
    from tests.support.service import RunnerThread, produce

    s = kafka_settings(kafka_bootstrap, prefix, snapshot_keys="k" * 32)
    _learn_and_snapshot(s, 9)
    key = shard_key(s, 0)
    junk = [b"#", b"x#y", f"{key}#1".encode(), f"{key}#a#b#c".encode(), b"\xff\xfe#\x00"]
    produce(kafka_bootstrap, s.topic("snapshots"), [(k, b"junk") for k in junk], partition=0)
    svc = RunnerThread(s)
    try:
        svc.wait(lambda: svc.state.ready()[0], 120, "ready despite the junk")
        assert svc.sample("streamlearn_snapshot_restores_total", shard="0", outcome="restored")
        skipped = svc.sample("streamlearn_snapshot_records_skipped_total", reason="malformed_key")
        assert skipped == len(junk)
    finally:
        svc.stop()
