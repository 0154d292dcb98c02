"""The test broker really behaves as Kafka: keyed partitioning, consumer groups, committed
offsets that a new group member resumes from, and data and offsets that survive a restart."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from consumers.kafka_source import rejoin_if_join_dropped

Message = tuple[int, int, str]  # (partition, offset, value)

pytestmark = pytest.mark.timeout(240)


def produce(producer, topic: str, start: int, count: int, keys: int = 25) -> list[Message]:
    """Send ``count`` keyed messages and return where each landed."""
    futures = [
        (i, producer.send(topic, key=f"key-{i % keys}".encode(), value=f"msg-{i}".encode()))
        for i in range(start, start + count)
    ]
    producer.flush(timeout=30)
    out = []
    for i, fut in futures:
        meta = fut.get(timeout=30)
        out.append((meta.partition, meta.offset, f"msg-{i}"))
    return out


def end_offsets(consumer, topic: str) -> dict[TopicPartition, int]:
    partitions = consumer.partitions_for_topic(topic)
    assert partitions, f"no partitions known for {topic}"
    return consumer.end_offsets([TopicPartition(topic, p) for p in partitions])


def drain(consumer, topic: str, timeout: float = 60) -> list[Message]:
    """Poll until the consumer owns every partition of ``topic`` and has reached its end."""
    ends = end_offsets(consumer, topic)
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend((r.partition, r.offset, r.value.decode()) for r in records)
        rejoin_if_join_dropped(consumer)  # kafka-python 3.0 (docs/reliability.md, item 9)
        assigned = consumer.assignment()
        if assigned == set(ends) and all(consumer.position(tp) >= end for tp, end in ends.items()):
            return got
    positions = {tp: consumer.position(tp) for tp in consumer.assignment()}
    pytest.fail(f"consumer did not reach the end of {topic} in {timeout} s: {positions} vs {ends}")


def commit_fractions(consumer, topic: str, sent: list[Message]) -> dict[int, int]:
    """Commit a different share of each partition (1/4, 2/4, 3/4); returns partition -> offset."""
    counts: dict[int, int] = defaultdict(int)
    for partition, _, _ in sent:
        counts[partition] += 1
    committed = {p: counts[p] * (p + 1) // 4 for p in sorted(counts)}
    consumer.commit(
        {TopicPartition(topic, p): OffsetAndMetadata(off, "", -1) for p, off in committed.items()}
    )
    for p, off in committed.items():
        assert consumer.committed(TopicPartition(topic, p)) == off
    return committed


def test_group_resumes_from_committed_offsets(
    topic_factory, producer_factory, consumer_factory
) -> None:
    topic = topic_factory(3)
    sent = produce(producer_factory(), topic, 0, 300)

    by_key: dict[str, set[int]] = defaultdict(set)
    for partition, _, value in sent:
        by_key[f"key-{int(value.split('-')[1]) % 25}"].add(partition)
    assert all(len(parts) == 1 for parts in by_key.values()), "a key landed on two partitions"
    assert {p for p, _, _ in sent} == {0, 1, 2}

    group = f"g-{uuid.uuid4().hex[:8]}"
    first = consumer_factory(topic, group_id=group)
    seen = drain(first, topic)
    assert sorted(seen) == sorted(sent)  # everything, once

    committed = commit_fractions(first, topic, sent)
    first.close(autocommit=False)

    second = consumer_factory(topic, group_id=group)
    resumed = drain(second, topic)
    expected = [m for m in sent if m[1] >= committed[m[0]]]
    assert sorted(resumed) == sorted(expected)
    assert 0 < len(expected) < len(sent)


def test_broker_restart_keeps_data_and_committed_offsets(
    kafka_bootstrap, kafka_broker_control, topic_factory, producer_factory, consumer_factory
) -> None:
    topic = topic_factory(3)
    before = produce(producer_factory(), topic, 0, 120)

    group = f"g-{uuid.uuid4().hex[:8]}"
    first = consumer_factory(topic, group_id=group)
    assert sorted(drain(first, topic)) == sorted(before)
    committed = commit_fractions(first, topic, before)
    first.close(autocommit=False)

    kafka_broker_control.stop()
    assert not kafka_broker_control.is_running()
    assert kafka_broker_control.start() == kafka_bootstrap
    assert kafka_broker_control.is_running()

    # the broker answers before it leads its partitions again (longer under load): the test
    # producer's 5 retries ran out in 6 of 8 runs beside three busy processes, so retry for long
    after = produce(producer_factory(retries=1000, retry_backoff_ms=100), topic, 120, 30)

    second = consumer_factory(topic, group_id=group)
    resumed = drain(second, topic)
    expected = [m for m in before if m[1] >= committed[m[0]]] + after
    assert sorted(resumed) == sorted(expected)

    everything = consumer_factory(topic, group_id=f"g-{uuid.uuid4().hex[:8]}")
    assert sorted(drain(everything, topic)) == sorted(before + after)
