"""Helpers of the service's Kafka tests: runners in threads, producing and reading topics."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry

from consumers.kafka_source import kafka_loop
from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.service.published import ServiceState
from streamlearn.settings import TOPIC_KINDS, Settings
from tests.support.kafka import Kafka, client_args

LEARNER = "tests.support.learners:CentroidLearner"


def unique_prefix() -> str:
    return f"sltest.{uuid.uuid4().hex[:10]}."


def delete_prefixed_topics(bootstrap: Kafka, prefix: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**client_args(bootstrap))
    try:
        names = [t for t in admin.list_topics() if t.startswith(prefix)]
        if names:
            admin.delete_topics(names)
    finally:
        admin.close()


def kafka_settings(bootstrap: str, prefix: str, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "topic_prefix": prefix,
        "group_id": prefix + "group",
        "learner": LEARNER,
        "labels": ["a", "b", "c"],
        "poll_timeout_ms": 50,
        "producer_linger_ms": 1,
        "snapshot_interval_seconds": 3600,
    }
    base.update(kw)
    return Settings(**base)


class RunnerThread:
    """The Kafka-mode service loop in a thread, with its own state and metrics (one service
    replica)."""

    def __init__(self, settings: Settings, hook: Any = None) -> None:
        self.metrics = ServiceMetrics(CollectorRegistry())
        self.state = ServiceState(mode="kafka")
        self.loop = kafka_loop(settings, self.state, self.metrics, hook=hook)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop.run()
        except BaseException:
            pass  # kept in loop.error

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def learned(self) -> float:
        return sum(
            s.value
            for m in self.metrics.registry.collect()
            if m.name == "streamlearn_events_learned"
            for s in m.samples
            if s.name.endswith("_total")
        )

    def wait(self, cond: Callable[[], bool], timeout: float = 180.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.loop.error is not None:
                raise AssertionError(f"loop failed: {self.loop.error!r}")
            if cond():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or cond}")

    def stop(self, final_snapshot: bool = True, timeout: float = 60.0) -> None:
        self.loop.stop(final_snapshot=final_snapshot)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "loop did not stop"


def produce(
    bootstrap: Kafka,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    partition: int | None = None,
) -> None:
    from kafka import KafkaProducer

    prod = KafkaProducer(**client_args(bootstrap), acks="all", linger_ms=5)
    try:
        for key, value in records:
            prod.send(topic, value=value, key=key, partition=partition)
        prod.flush(30)
    finally:
        prod.close(10)


def read_topic(bootstrap: Kafka, topic: str, n: int, timeout: float = 60.0) -> list[Any]:
    """At least n records of a topic (all partitions, from the beginning)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(**client_args(bootstrap), group_id=None, enable_auto_commit=False)
    try:
        parts = None
        deadline = time.monotonic() + timeout
        while not parts and time.monotonic() < deadline:
            parts = c.partitions_for_topic(topic)
            if not parts:
                time.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(parts or ())]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out: list[Any] = []
        while len(out) < n and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=200).values():
                out.extend(recs)
        return out
    finally:
        c.close()


def event(i: int, x: list[float], labels: list[str] | None) -> tuple[bytes, bytes]:
    body: dict[str, Any] = {"id": f"e{i}", "x": x}
    if labels is not None:
        body["labels"] = labels
    return f"e{i}".encode(), json.dumps(body).encode()


__all__ = [
    "LEARNER",
    "TOPIC_KINDS",
    "RunnerThread",
    "delete_prefixed_topics",
    "event",
    "kafka_settings",
    "produce",
    "read_topic",
    "unique_prefix",
]
