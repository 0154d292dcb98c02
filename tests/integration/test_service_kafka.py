"""The service against a real Kafka broker: predictions and learning, late labels, DLQ,
restart from snapshots without learning anything twice, two replicas splitting the shards."""

from __future__ import annotations

import json

import numpy as np
import pytest

from consumers.snapshots import KafkaSnapshotStore
from streamlearn.schema import Schema
from streamlearn.snapshot import verify
from tests.support.learners import CentroidLearner
from tests.support.service import (
    RunnerThread,
    event,
    kafka_settings,
    produce,
    read_topic,
)

LABELS = ["a", "b", "c"]


def stream(n: int, start: int = 0, seed: int = 0, labelled: bool = True):
    """(events records, truth) of a fixed random stream, rows start..start+n."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(start + n, 4))
    Y = (rng.random((start + n, 3)) < 0.4).astype(np.uint8)
    X[:, 0] += 2 * Y[:, 0]
    recs = []
    for i in range(start, start + n):
        labels = [LABELS[j] for j in np.flatnonzero(Y[i])] if labelled else None
        recs.append(event(i, X[i].tolist(), labels))
    return recs, X, Y


def twin(X: np.ndarray, Y: np.ndarray, rows) -> CentroidLearner:
    m = CentroidLearner()
    m.set_schema(Schema(features=[f"x{i}" for i in range(4)], labels=LABELS))
    for i in rows:
        m.learn_many(X[i : i + 1], Y[i : i + 1])
    return m


@pytest.mark.parametrize("output_process", [True, False])
def test_events_are_predicted_and_learned(
    kafka_bootstrap: str, prefix: str, output_process: bool
) -> None:
    s = kafka_settings(kafka_bootstrap, prefix, output_process=output_process)
    svc = RunnerThread(s)
    try:
        svc.wait(lambda: svc.state.ready()[0], what="ready")
        recs, X, Y = stream(120)
        produce(kafka_bootstrap, s.topic("events"), recs)
        svc.wait(lambda: svc.learned() == 120, what="120 learned")
        preds = [
            json.loads(r.value) for r in read_topic(kafka_bootstrap, s.topic("predictions"), 120)
        ]
        assert len(preds) == 120
        preds.sort(key=lambda p: p["offset"])
        m = twin(X, Y, [])
        for k, p in enumerate(preds):  # strict test-then-train, in partition order
            assert p["id"] == f"e{k}" and p["model_version"] == k and p["shard"] == "0"
            want = m.predict_proba_many(X[k : k + 1])[0]
            assert [p["proba"][lab] for lab in LABELS] == want.tolist()
            m.learn_many(X[k : k + 1], Y[k : k + 1])
        svc.wait(lambda: svc.state.model("0").version == 120, what="published version 120")
    finally:
        svc.stop()
    assert svc.loop.error is None
    # the final snapshot is in the compacted topic, with the next offset
    from kafka import KafkaProducer

    prod = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        data = KafkaSnapshotStore(s, prod, 1).load(0)
    finally:
        prod.close()
    assert verify(data, s.signing_keys()).offsets == {"events": 120}


def test_late_labels_and_dead_letters(kafka_bootstrap: str, prefix: str) -> None:
    s = kafka_settings(kafka_bootstrap, prefix, orphan_ttl_seconds=1.0)
    svc = RunnerThread(s)
    try:
        recs, X, Y = stream(30, labelled=False)
        produce(kafka_bootstrap, s.topic("events"), recs)
        svc.wait(lambda: svc.sample("streamlearn_pending_size", shard="0") == 30, what="30 pending")
        labels = [
            (
                f"e{i}".encode(),
                json.dumps(
                    {"id": f"e{i}", "labels": [LABELS[j] for j in np.flatnonzero(Y[i])]}
                ).encode(),
            )
            for i in range(0, 30, 2)
        ]
        bad = [
            (None, b"{not json"),
            (None, json.dumps({"id": "zz", "labels": ["a"]}).encode()),  # no such event
        ]
        produce(kafka_bootstrap, s.topic("labels"), labels + bad)
        produce(kafka_bootstrap, s.topic("events"), [(b"k", b'{"id": "q", "x": [1, 2]}')])
        svc.wait(lambda: svc.learned() == 15, what="15 late labels learned")
        assert svc.sample("streamlearn_labels_joined_total", shard="0") == 15
        dlq = read_topic(kafka_bootstrap, s.topic("dlq"), 3)
        got = sorted(
            (dict(r.headers)["reason"], dict(r.headers)["source_topic"].decode(), r.value)
            for r in dlq
        )
        assert got == [
            (b"invalid_json", s.topic("labels"), b"{not json"),
            (
                b"unmatched_label",
                s.topic("labels"),
                json.dumps({"id": "zz", "labels": ["a"]}).encode(),
            ),
            (b"wrong_dimensions", s.topic("events"), b'{"id": "q", "x": [1, 2]}'),
        ]
        h = {dict(r.headers)["reason"]: dict(r.headers) for r in dlq}
        assert h[b"wrong_dimensions"]["source_offset"] == b"30"
        assert h[b"wrong_dimensions"]["source_partition"] == b"0"
        np.testing.assert_array_equal(
            svc.loop.shards["0"].learner.sum1, twin(X, Y, range(0, 30, 2)).sum1
        )
    finally:
        svc.stop()


@pytest.mark.parametrize("crash", [False, True])
def test_restart_resumes_from_the_snapshot(kafka_bootstrap: str, prefix: str, crash: bool) -> None:
    s = kafka_settings(
        kafka_bootstrap,
        prefix,
        snapshot_interval_events=100,
        poll_max_records=50,
        snapshot_chunk_bytes=1024,  # several chunks per snapshot
    )
    recs, X, Y = stream(400)
    first = RunnerThread(s)
    produce(kafka_bootstrap, s.topic("events"), recs[:250])
    first.wait(lambda: first.learned() == 250, what="250 learned")
    first.stop(final_snapshot=not crash)
    produce(kafka_bootstrap, s.topic("events"), recs[250:])
    second = RunnerThread(s)
    try:
        second.wait(lambda: second.learned() == 400, what="400 learned")
        # replayed exactly what the restored model had not seen: nothing learned twice
        restored = second.sample(
            "streamlearn_snapshot_restores_total", shard="0", outcome="restored"
        )
        assert restored == 1
        proc = second.loop.shards["0"]
        assert proc.learner.rows == 400
        np.testing.assert_array_equal(proc.learner.sum1, twin(X, Y, range(400)).sum1)
        preds = read_topic(kafka_bootstrap, s.topic("predictions"), 400 + (50 if crash else 0))
        ids = [json.loads(r.value)["id"] for r in preds]
        # at-least-once outputs: after a crash the events after the snapshot are predicted again
        assert set(ids) == {f"e{i}" for i in range(400)}
        if not crash:
            assert len(ids) == 400
    finally:
        second.stop()


def test_two_replicas_split_the_partitions(kafka_bootstrap: str, prefix: str) -> None:
    s = kafka_settings(kafka_bootstrap, prefix, partitions=2, snapshot_interval_events=10**6)
    recs, X, Y = stream(400)
    a = RunnerThread(s)
    b = None
    try:
        a.wait(lambda: a.state.ready()[0] and len(a.loop.shards) == 2, what="A holds 2 shards")
        for p in (0, 1):
            produce(kafka_bootstrap, s.topic("events"), recs[p:200:2], partition=p)
        a.wait(lambda: a.learned() == 200, what="A learned 200")
        b = RunnerThread(s)
        b.wait(lambda: len(b.loop.shards) == 1, what="B holds a shard")
        a.wait(lambda: len(a.loop.shards) == 1 and a.state.ready()[0], what="A keeps one shard")
        assert set(a.loop.shards) | set(b.loop.shards) == {"0", "1"}
        # B restored its shard from A's snapshot taken at revocation
        pb = next(iter(b.loop.shards))
        assert (
            b.sample("streamlearn_snapshot_restores_total", shard=str(pb), outcome="restored") == 1
        )
        for p in (0, 1):
            produce(kafka_bootstrap, s.topic("events"), recs[200 + p : 400 : 2], partition=p)
        both = lambda: a.learned() + b.learned()  # noqa: E731
        a.wait(lambda: both() == 400, what="400 learned in all")
        for svc in (a, b):
            for p, proc in svc.loop.shards.items():
                assert proc.learner.rows == 200  # each partition's 200 events, once
                np.testing.assert_array_equal(
                    proc.learner.sum1, twin(X, Y, range(int(p), 400, 2)).sum1
                )
                assert svc.state.model(str(p)) is not None
            other = b if svc is a else a
            assert set(svc.state.models).isdisjoint(other.state.models)
    finally:
        a.stop()
        if b is not None:
            b.stop()


def test_large_snapshots_are_chunked(kafka_bootstrap: str, prefix: str) -> None:
    from kafka import KafkaProducer

    s = kafka_settings(kafka_bootstrap, prefix, snapshot_chunk_bytes=1024)
    from kafka import KafkaAdminClient

    from consumers.topics import ensure_topics

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        ensure_topics(s, admin)
    finally:
        admin.close()
    prod = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    store = KafkaSnapshotStore(s, prod, 1)
    try:
        blobs = [bytes(range(256)) * 40 + bytes([k]) for k in range(3)]  # ~10 KB: 11 chunks
        for blob in blobs:
            store.save(0, blob)
        assert store.load(0) == blobs[-1]
        fresh = KafkaSnapshotStore(s, prod, 1)
        assert fresh.load(0) == blobs[-1]  # a new reader finds the latest complete one
        assert fresh.load(1) is None
        fresh.close()
        # the chunks of replaced snapshots were deleted (tombstones)
        recs = read_topic(kafka_bootstrap, s.topic("snapshots"), 3 * 12 + 2 * 11)
        tomb = [r for r in recs if r.value is None]
        assert len(tomb) == 2 * 11
    finally:
        store.close()
        prod.close()


@pytest.mark.parametrize("poll_timeout_ms", [0, 1])
def test_a_short_poll_timeout_still_gets_the_shards(
    kafka_bootstrap: str, prefix: str, poll_timeout_ms: int
) -> None:
    """With a poll timeout this short every fresh group's first join is computed before the new
    topics' partitions are known, and kafka-python 3.0 drops the second join that would assign
    them (``rejoin_if_join_dropped`` mends it; without the mend the shard never comes)."""
    s = kafka_settings(kafka_bootstrap, prefix, poll_timeout_ms=poll_timeout_ms)
    svc = RunnerThread(s)
    try:
        svc.wait(lambda: "0" in svc.loop.shards, timeout=30, what="shard 0 assigned")
        recs, X, Y = stream(20)
        produce(kafka_bootstrap, s.topic("events"), recs)
        svc.wait(lambda: svc.learned() == 20, what="20 learned")
    finally:
        svc.stop()
    assert svc.loop.error is None
