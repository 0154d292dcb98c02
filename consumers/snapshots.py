"""Snapshots in Kafka: a compacted topic, one key per model shard.

Shard p's snapshots are written to partition ``p % partitions`` of the snapshots topic, keyed by
the shard key (group, events topic, partition), in chunks followed by a manifest, and
acknowledged by the broker (``acks=all``) before :meth:`KafkaSnapshotStore.save` returns — only
then does the runner commit the consumer offsets the snapshot covers. Restoring reads that one
partition from its beginning to its end and keeps the latest complete snapshot of the key
(compaction keeps the topic small).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from consumers.kafka_config import kafka_args
from consumers.topics import SNAPSHOT_MAX_BYTES, KafkaCluster
from streamlearn.service import faults
from streamlearn.service.recorder import Recorder
from streamlearn.settings import Settings

__all__ = ["KafkaSnapshotStore", "read_all_snapshots", "shard_key"]

log = logging.getLogger("streamlearn.snapshots")


def shard_key(settings: Settings, partition: int) -> str:
    """The snapshot key of the shard fed by ``partition`` of the events topic."""
    return f"{settings.group_id}/{settings.topic('events')}/{partition}"


class KafkaSnapshotStore:
    """Save and load shard snapshots in the compacted snapshots topic (the service loop's
    :class:`~streamlearn.service.loop.SnapshotStore` in Kafka mode; shard ``"p"`` is fed by
    partition p).

    A snapshot is written as chunks of at most ``settings.snapshot_chunk_bytes`` (keys
    ``<shard key>#<snapshot id>#<i>``) followed by a small manifest under the shard key itself
    (``{"id", "chunks", "bytes", "sha256"}``), all in the shard's partition, so a snapshot of any
    size fits brokers' record and segment limits. The manifest is written last: a snapshot is
    complete once its manifest is acknowledged. The chunks of the previous snapshot are then
    deleted (tombstones), and compaction reclaims them. Chunks that a crashed writer left
    behind (a torn snapshot, or the previous snapshot's chunks when it died before deleting
    them) are found when the shard is restored: those older than the restored snapshot are
    deleted with the next save (newer ones might belong to a writer still at work: they wait for
    the next restore).

    Parameters
    ----------
    settings
        Bootstrap address, topic prefix, group id, chunk size.
    producer
        A ``KafkaProducer`` (``acks=all``); by default :meth:`open` makes one.
    n_partitions
        Partitions of the snapshots topic; by default :meth:`open` takes it from ``cluster``.
    cluster
        The connection shared with the source (topic partition counts, client configuration).
    recorder
        The service's :class:`~streamlearn.service.recorder.Recorder`: records of the topic
        skipped on restore are reported to it.
    """

    def __init__(
        self,
        settings: Settings,
        producer: Any = None,
        n_partitions: int = 1,
        cluster: KafkaCluster | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.settings = settings
        self.recorder = recorder if recorder is not None else Recorder()
        self.topic = settings.topic("snapshots")
        self.producer = producer
        self._own_producer = False
        self.cluster = cluster
        self.n_partitions = max(1, n_partitions)
        self.chunk_bytes = settings.snapshot_chunk_bytes
        self._reader: Any = None
        self._previous: dict[int, tuple[str, int]] = {}  # partition -> (snapshot id, chunks)
        self._stale: dict[int, list[str]] = {}  # partition -> chunk keys left by crashed writers

    def open(self) -> None:
        """Make the snapshot producer and read the partition count (after the cluster is
        connected)."""
        if self.cluster is not None:
            self.n_partitions = max(1, self.cluster.partitions("snapshots"))
        if self.producer is None:
            from kafka import KafkaProducer

            self.producer = KafkaProducer(
                **kafka_args(self.settings),
                acks="all",
                linger_ms=0,
                max_request_size=SNAPSHOT_MAX_BYTES,
                reconnect_backoff_max_ms=1000,  # back within a second of the broker
                client_id="streamlearn-snapshots",
            )
            self._own_producer = True

    def where(self, shard: str | int) -> str:
        return f"shard {shard} ({shard_key(self.settings, int(shard))})"

    def save(self, shard: str | int, data: bytes, timeout: float = 60.0) -> int:
        """Write shard ``partition``'s snapshot and wait for the broker's acknowledgement."""
        partition = int(shard)
        key = shard_key(self.settings, partition)
        part = partition % self.n_partitions
        sid = f"{time.time_ns():x}"
        size = self.chunk_bytes
        view = memoryview(data)
        n = max(1, -(-len(data) // size))
        send = self.producer.send
        futures = []
        for i in range(n):
            futures.append(
                send(
                    self.topic,
                    value=bytes(view[i * size : (i + 1) * size]),
                    key=f"{key}#{sid}#{i}".encode(),
                    partition=part,
                )
            )
            if i == n // 2 and n > 1 and faults.armed("snapshot-partial"):
                for fut in futures:  # a torn snapshot: some chunks durable, no manifest
                    fut.get(timeout=timeout)
                faults.point("snapshot-partial")
        # Every chunk is acknowledged before the manifest is sent: a manifest replaces the shard's
        # previous one, so one that landed without its chunks would leave the shard with no
        # complete snapshot at all. A failed chunk leaves the previous snapshot untouched.
        # If the save fails, its chunks are garbage (or, when only the manifest's acknowledgement
        # is missing, belong to a snapshot the next save supersedes): deleted with the next save.
        deadline = time.monotonic() + timeout
        try:
            for fut in futures:
                fut.get(timeout=max(0.0, deadline - time.monotonic()))
            manifest = {
                "id": sid,
                "chunks": n,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            send(
                self.topic, value=json.dumps(manifest).encode(), key=key.encode(), partition=part
            ).get(timeout=max(0.0, deadline - time.monotonic()))
        except BaseException:
            self._stale.setdefault(partition, []).extend(f"{key}#{sid}#{i}" for i in range(n))
            raise
        faults.point("snapshot-manifest")
        prev = self._previous.get(partition)
        if prev is not None and prev[0] != sid:
            for i in range(prev[1]):  # the old chunks are garbage now: let compaction drop them
                send(self.topic, value=None, key=f"{key}#{prev[0]}#{i}".encode(), partition=part)
        for k in self._stale.pop(partition, ()):
            send(self.topic, value=None, key=k.encode(), partition=part)
        self._previous[partition] = (sid, n)
        return len(data)

    def _consumer(self) -> Any:
        if self._reader is None:
            self._reader = _reader_consumer(self.settings, "streamlearn-snapshot-reader")
        return self._reader

    def load(self, shard: str | int, timeout: float = 60.0) -> bytes | None:
        """The latest complete snapshot of shard ``partition`` (``None`` if it has none)."""
        partition = int(shard)
        key = shard_key(self.settings, partition)
        stale: list[str] = []
        found = _read_partition(
            self._consumer(),
            self.topic,
            partition % self.n_partitions,
            timeout,
            key,
            stale,
            on_skip=self._skipped,
        )
        data = found.get(key)
        if data is not None:
            manifest = json.loads(found["__manifest__" + key])
            self._previous[partition] = (manifest["id"], manifest["chunks"])
            self._stale[partition] = stale
        return data

    def _skipped(self, reason: str) -> None:
        self.recorder.snapshot_record_skipped(reason)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._own_producer and self.producer is not None:
            self.producer.close(timeout=30)
            self.producer = None


def _reader_consumer(settings: Settings, client_id: str) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(
        **kafka_args(settings),
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=64 << 20,
        client_id=client_id,
    )


def _read_partition(
    consumer: Any,
    topic: str,
    partition: int,
    timeout: float,
    only: str | None = None,
    stale: list[str] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> dict[str, bytes]:
    """Every complete snapshot in one partition (or the one of shard key ``only``), by key.

    The result also maps ``"__manifest__" + key`` to each snapshot's manifest. ``stale``, when
    given, receives the keys of live chunks that belong to no complete snapshot and are older
    than their shard's latest complete snapshot (garbage left by a writer that crashed).
    Records that are not snapshot records (a malformed key, a manifest that cannot be read,
    chunks that do not add up) are skipped with a warning and ``on_skip(reason)``: whoever can
    write the topic can make the shard start without its snapshot, never stop the reader.
    """

    def skip(reason: str, what: str) -> None:
        log.warning("%s in %s[%d]: skipped (%s)", what, topic, partition, reason)
        if on_skip is not None:
            on_skip(reason)

    from kafka import TopicPartition

    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    manifests: dict[str, bytes] = {}
    chunks: dict[str, bytes] = {}
    deadline = time.monotonic() + timeout
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"reading {topic}[{partition}] took more than {timeout:g} s")
        for recs in consumer.poll(timeout_ms=500).values():
            for r in recs:
                if r.key is None:
                    continue
                k = r.key.decode("utf-8", "replace")
                parts = k.split("#")
                if not parts[0] or len(parts) not in (1, 3):
                    skip("malformed_key", f"record with key {k[:200]!r} at offset {r.offset}")
                    continue
                base = parts[0]
                if only is not None and base != only:
                    continue
                target = chunks if len(parts) == 3 else manifests
                if r.value is None:
                    target.pop(k, None)  # tombstone
                else:
                    target[k] = r.value
    out: dict[str, bytes] = {}
    for key, raw in manifests.items():
        try:
            m = json.loads(raw)
            data = b"".join(chunks[f"{key}#{m['id']}#{i}"] for i in range(m["chunks"]))
            intact = len(data) == m["bytes"] and hashlib.sha256(data).hexdigest() == m["sha256"]
        except (ValueError, KeyError, TypeError):
            skip("incomplete", f"snapshot of {key}")
            continue
        if not intact:
            skip("corrupted", f"snapshot of {key}")
            continue
        out[key] = data
        out["__manifest__" + key] = raw
    if stale is not None:
        for k in chunks:
            base, sid, _ = k.rsplit("#", 2)
            raw = out.get("__manifest__" + base)
            if raw is None:
                continue
            latest = json.loads(raw)["id"]
            if sid != latest and _sid_order(sid) < _sid_order(latest):
                stale.append(k)
    return out


def _sid_order(sid: str) -> int:
    """Snapshot ids are the writer's clock in hexadecimal nanoseconds."""
    try:
        return int(sid, 16)
    except ValueError:
        return -1


def read_all_snapshots(settings: Settings, timeout: float = 60.0) -> dict[str, bytes]:
    """Every shard's latest snapshot in the snapshots topic (for ``snapshot show --kafka``)."""
    consumer = _reader_consumer(settings, "streamlearn-snapshot-show")
    try:
        topic = settings.topic("snapshots")
        parts = consumer.partitions_for_topic(topic) or set()
        out: dict[str, bytes] = {}
        for p in sorted(parts):
            for k, v in _read_partition(consumer, topic, p, timeout).items():
                if not k.startswith("__manifest__"):
                    out[k] = v
        return out
    finally:
        consumer.close()
