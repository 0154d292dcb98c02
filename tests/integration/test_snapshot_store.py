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
