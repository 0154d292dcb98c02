"""``KafkaSnapshotStore.save`` ordering, against a scripted producer (no broker).

A manifest replaces the shard's previous one, so it must never be sent before every chunk of its
snapshot is acknowledged; the chunks of a failed save are deleted with the next good one.
"""

from __future__ import annotations

import json

import pytest

from consumers.snapshots import KafkaSnapshotStore, shard_key
from streamlearn.settings import Settings


class _Future:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class _Producer:
    """Records every send; ``fail(pred)`` makes the futures of matching keys raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None]] = []
        self.failing = lambda key: False

    def send(self, topic: str, value: bytes | None, key: bytes, partition: int) -> _Future:
        k = key.decode()
        self.sent.append((k, value))
        return _Future(RuntimeError(f"refused {k}") if self.failing(k) else None)


def _store() -> tuple[KafkaSnapshotStore, _Producer, str]:
    settings = Settings(snapshot_chunk_bytes=1024)
    producer = _Producer()
    return KafkaSnapshotStore(settings, producer, 1), producer, shard_key(settings, 0)


def _manifests(producer: _Producer, key: str) -> list[dict]:
    return [json.loads(v) for k, v in producer.sent if k == key and v is not None]


def test_a_refused_chunk_means_no_manifest_and_the_previous_snapshot_kept() -> None:
    store, producer, key = _store()
    store.save(0, b"a" * 3000)  # 3 chunks
    (first,) = _manifests(producer, key)
    producer.failing = lambda k: k.endswith("#1") and k != f"{key}#{first['id']}#1"
    n_before = len(producer.sent)
    with pytest.raises(RuntimeError, match="refused"):
        store.save(0, b"b" * 3000)
    failed = producer.sent[n_before:]
    assert all("#" in k for k, _ in failed), "a manifest was sent for a snapshot with a lost chunk"
    assert all(v is not None for _, v in failed), "the previous snapshot's chunks were deleted"
    failed_keys = [k for k, _ in failed]

    producer.failing = lambda k: False
    n_before = len(producer.sent)
    store.save(0, b"c" * 3000)
    after = producer.sent[n_before:]
    second = _manifests(producer, key)[-1]
    assert second["id"] != first["id"]
    manifest_at = [k for k, _ in after].index(key)
    chunks = [k for k, _ in after[:manifest_at]]
    assert chunks == [f"{key}#{second['id']}#{i}" for i in range(3)]
    tombstones = {k for k, v in after[manifest_at + 1 :] if v is None}
    assert tombstones == {f"{key}#{first['id']}#{i}" for i in range(3)} | set(failed_keys)


def test_every_chunk_is_acknowledged_before_the_manifest_is_sent() -> None:
    store, producer, key = _store()
    order: list[str] = []

    class _Watched(_Future):
        def __init__(self, k: str) -> None:
            super().__init__(None)
            self.k = k

        def get(self, timeout: float | None = None) -> None:
            order.append("ack " + self.k)

    def send(topic: str, value: bytes | None, key: bytes, partition: int) -> _Future:
        order.append("send " + key.decode())
        return _Watched(key.decode())

    producer.send = send  # type: ignore[method-assign]
    store.save(0, b"x" * 5000)
    sends_of_chunks = [i for i, e in enumerate(order) if e.startswith("send ") and "#" in e]
    acks_of_chunks = [i for i, e in enumerate(order) if e.startswith("ack ") and "#" in e]
    manifest_sent = order.index("send " + key)
    assert len(sends_of_chunks) == len(acks_of_chunks) == 5
    assert max(acks_of_chunks) < manifest_sent
    assert order[-1] == "ack " + key  # and the manifest itself is waited for


def test_a_missing_manifest_acknowledgement_fails_the_save_and_its_chunks_go_later() -> None:
    store, producer, key = _store()
    producer.failing = lambda k: k == key
    with pytest.raises(RuntimeError):
        store.save(0, b"y" * 2000)
    lost = [k for k, _ in producer.sent if "#" in k]
    producer.failing = lambda k: False
    n_before = len(producer.sent)
    store.save(0, b"z" * 2000)
    tombstones = {k for k, v in producer.sent[n_before:] if v is None}
    assert set(lost) <= tombstones
