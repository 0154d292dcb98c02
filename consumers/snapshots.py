"""Snapshots in Kafka: a compacted topic, one key per model shard.

Shard p's snapshots are written to partition ``p % partitions`` of the snapshots topic, keyed by
the shard key (group, events topic, partition), and acknowledged by the broker (``acks=all``)
before :meth:`KafkaSnapshotStore.save` returns — only then does the runner commit the consumer
offsets the snapshot covers. Restoring reads that one partition from its beginning to its end and
keeps the latest record of the key (compaction keeps the topic small).
"""

from __future__ import annotations

import logging
from typing import Any

from streamlearn.settings import Settings

__all__ = ["KafkaSnapshotStore", "read_all_snapshots", "shard_key"]

log = logging.getLogger("streamlearn.snapshots")


def shard_key(settings: Settings, partition: int) -> str:
    """The snapshot key of the shard fed by ``partition`` of the events topic."""
    return f"{settings.group_id}/{settings.topic('events')}/{partition}"


class KafkaSnapshotStore:
    """Save and load shard snapshots in the compacted snapshots topic.

    Parameters
    ----------
    settings
        Bootstrap address, topic prefix, group id.
    producer
        A ``KafkaProducer`` (``acks=all``, ``max_request_size`` large enough for snapshots).
    n_partitions
        Partitions of the snapshots topic.
    """

    def __init__(self, settings: Settings, producer: Any, n_partitions: int) -> None:
        self.settings = settings
        self.topic = settings.topic("snapshots")
        self.producer = producer
        self.n_partitions = max(1, n_partitions)
        self._reader: Any = None

    def save(self, partition: int, data: bytes, timeout: float = 60.0) -> int:
        """Write shard ``partition``'s snapshot and wait for the broker's acknowledgement."""
        key = shard_key(self.settings, partition).encode()
        fut = self.producer.send(
            self.topic, value=data, key=key, partition=partition % self.n_partitions
        )
        fut.get(timeout=timeout)
        return len(data)

    def _consumer(self) -> Any:
        if self._reader is None:
            from kafka import KafkaConsumer

            from consumers.topics import SNAPSHOT_MAX_BYTES

            self._reader = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                group_id=None,
                enable_auto_commit=False,
                max_partition_fetch_bytes=SNAPSHOT_MAX_BYTES,
                fetch_max_bytes=SNAPSHOT_MAX_BYTES,
                client_id="streamlearn-snapshot-reader",
            )
        return self._reader

    def load(self, partition: int, timeout: float = 60.0) -> bytes | None:
        """The latest snapshot of shard ``partition`` (``None`` if it has none)."""
        key = shard_key(self.settings, partition).encode()
        found = _read_partition(
            self._consumer(), self.topic, partition % self.n_partitions, timeout, key
        )
        return found.get(key)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def _read_partition(
    consumer: Any, topic: str, partition: int, timeout: float, key: bytes | None = None
) -> dict[bytes, bytes]:
    """Latest value of each key (or of ``key`` only) in one partition, read to its end."""
    import time

    from kafka import TopicPartition

    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    latest: dict[bytes, bytes] = {}
    deadline = time.monotonic() + timeout
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"reading {topic}[{partition}] took more than {timeout:g} s")
        for recs in consumer.poll(timeout_ms=500).values():
            for r in recs:
                if r.key is None or (key is not None and r.key != key):
                    continue
                if r.value is None:
                    latest.pop(r.key, None)  # tombstone
                else:
                    latest[r.key] = r.value
    return latest


def read_all_snapshots(settings: Settings, timeout: float = 60.0) -> dict[str, bytes]:
    """Every shard's latest snapshot in the snapshots topic (for ``snapshot show --kafka``)."""
    from kafka import KafkaConsumer

    from consumers.topics import SNAPSHOT_MAX_BYTES

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=SNAPSHOT_MAX_BYTES,
        fetch_max_bytes=SNAPSHOT_MAX_BYTES,
    )
    try:
        topic = settings.topic("snapshots")
        parts = consumer.partitions_for_topic(topic) or set()
        out: dict[str, bytes] = {}
        for p in sorted(parts):
            for k, v in _read_partition(consumer, topic, p, timeout).items():
                out[k.decode("utf-8", "replace")] = v
        return out
    finally:
        consumer.close()
