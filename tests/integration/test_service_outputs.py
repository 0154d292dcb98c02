"""Outputs are at-least-once: output records the broker refuses stop the service before it
commits past them (a restart replays those events and emits them again)."""

from __future__ import annotations

import pytest

from consumers.snapshots import KafkaSnapshotStore
from streamlearn.service.contract import OutputError
from tests.support.kafka import create_topic
from tests.support.service import (
    RunnerThread,
    event,
    kafka_settings,
    produce,
)


@pytest.mark.parametrize("output_process", [True, False])
def test_refused_outputs_stop_the_runner_without_a_commit(
    kafka_bootstrap: str, prefix: str, output_process: bool
) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    # a predictions topic whose record limit every prediction record exceeds
    create_topic(kafka_bootstrap, prefix + "predictions", 1, {"max.message.bytes": "64"})
    s = kafka_settings(
        kafka_bootstrap, prefix, output_process=output_process, snapshot_interval_events=10
    )
    svc = RunnerThread(s)
    try:
        svc.wait(lambda: svc.state.ready()[0], what="ready")
        produce(
            kafka_bootstrap,
            s.topic("events"),
            [event(i, [0.1, 0.2, 0.3, 0.4], ["a"]) for i in range(30)],
        )
        svc.thread.join(120)
        assert not svc.thread.is_alive(), "the runner went on despite lost outputs"
        assert isinstance(svc.loop.error, OutputError), svc.loop.error
    finally:
        svc.loop.stop()
        svc.thread.join(30)
    # nothing committed, no snapshot: a restart replays every event
    c = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=s.group_id)
    try:
        assert c.committed(TopicPartition(s.topic("events"), 0)) is None
    finally:
        c.close()
    prod = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        store = KafkaSnapshotStore(s, prod, 1)
        assert store.load(0) is None
        store.close()
    finally:
        prod.close()
