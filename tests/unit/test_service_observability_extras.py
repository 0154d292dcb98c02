"""What the dashboards and alerts rely on beyond the metric definitions: counters whose label
values are known exist at 0 from the start, the embedded mode exports a consumer lag, the
synthetic stream can be replayed into Kafka, and the kernels can be compiled ahead of time."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from itertools import islice

import numpy as np
from prometheus_client import CollectorRegistry

from consumers.embedded import EVENTS_TOPIC, EmbeddedStream, embedded_loop, synthetic_stream
from consumers.replay import synthetic_records
from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.schema import Schema
from streamlearn.service.contract import REASONS
from streamlearn.service.published import ServiceState
from streamlearn.settings import Settings
from tests.support.served import ROOT

LEARNER = "tests.support.learners:CentroidLearner"


def _samples(m: ServiceMetrics, name: str) -> dict[tuple, float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for metric in m.registry.collect()
        for s in metric.samples
        if s.name == name
    }


def test_known_label_values_are_exported_at_zero_and_removed_with_the_shard() -> None:
    m = ServiceMetrics(CollectorRegistry(), part="stream")
    assert _samples(m, "streamlearn_pending_evictions_total") == {}
    m.shard("3")
    ev = _samples(m, "streamlearn_pending_evictions_total")
    assert ev == {
        (("reason", "size"), ("shard", "3")): 0.0,
        (("reason", "ttl"), ("shard", "3")): 0.0,
    }
    snaps = _samples(m, "streamlearn_snapshots_total")
    assert snaps == {
        (("outcome", "error"), ("shard", "3")): 0.0,
        (("outcome", "ok"), ("shard", "3")): 0.0,
    }
    m.shard("3").evicted("size", 2)
    assert (
        _samples(m, "streamlearn_pending_evictions_total")[(("reason", "size"), ("shard", "3"))]
        == 2.0
    )
    m.remove_shard("3")
    assert _samples(m, "streamlearn_pending_evictions_total") == {}
    assert _samples(m, "streamlearn_snapshots_total") == {}


def test_init_dlq_exports_every_reason_and_source_at_zero() -> None:
    m = ServiceMetrics(CollectorRegistry(), part="stream")
    m.init_dlq(REASONS)
    dlq = _samples(m, "streamlearn_dlq_total")
    assert len(dlq) == 2 * len(REASONS)
    assert set(dlq.values()) == {0.0}
    assert {dict(k)["reason"] for k in dlq} == set(REASONS)
    assert {dict(k)["source"] for k in dlq} == {"events", "labels"}


def _slow_source(per_row: float) -> EmbeddedStream:
    """An endless stream that yields at most 1 / per_row rows a second."""
    schema = Schema(features=["a", "b"], labels=["p", "q"])

    def rows(start: int):
        i = start
        while True:
            time.sleep(per_row)
            yield np.array([i % 3, 1.0]), np.array([i % 2, 1], dtype=np.uint8)
            i += 1

    return EmbeddedStream("slow", schema, rows)


def _lag(m: ServiceMetrics) -> float | None:
    return m.registry.get_sample_value(
        "streamlearn_consumer_lag", {"topic": EVENTS_TOPIC, "partition": "0"}
    )


def test_embedded_consumer_lag_grows_when_the_source_cannot_keep_up_with_the_rate(
    tmp_path,
) -> None:
    # the source delivers at most ~500 rows/s, the schedule asks for 5000/s
    settings = Settings(learner=LEARNER, snapshot_dir=tmp_path, rate=5000, poll_max_records=50)
    m = ServiceMetrics(CollectorRegistry())
    runner = embedded_loop(settings, ServiceState(), m, stream=_slow_source(0.002))
    t = threading.Thread(target=runner.run)
    t.start()
    try:
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not seen or seen[-1] < 1000):
            value = _lag(m)
            if value is not None:
                seen.append(value)
            time.sleep(0.05)
        assert seen and seen[-1] >= 1000, seen[-5:]
        assert seen[-1] > seen[0]  # it grows
    finally:
        runner.stop()
        t.join(30)
    assert runner.error is None


def test_embedded_consumer_lag_is_zero_without_a_rate(tmp_path) -> None:
    settings = Settings(learner=LEARNER, snapshot_dir=tmp_path, rate=0, poll_max_records=64)
    m = ServiceMetrics(CollectorRegistry())
    schema = Schema(features=["a"], labels=["p"])

    def rows(start: int):
        for i in range(start, 200):
            yield np.array([float(i)]), np.array([i % 2], dtype=np.uint8)

    embedded_loop(settings, ServiceState(), m, stream=EmbeddedStream("x", schema, rows)).run()
    assert _lag(m) == 0.0


def test_synthetic_records_are_the_embedded_stream() -> None:
    settings = Settings(synth_features=5, synth_labels=4, synth_groups=2, synth_drift_every=50)
    source = synthetic_stream(settings)
    want = list(islice(source.rows(0), 120))
    got = list(islice(synthetic_records(settings, id_prefix="s-"), 120))
    labels = list(source.schema.labels)
    for i, ((x, y), (eid, value, true)) in enumerate(zip(want, got, strict=True)):
        body = json.loads(value)
        assert eid == body["id"] == f"s-{i}"
        assert body["x"] == x.tolist()
        assert body["labels"] == true == [labels[j] for j in np.flatnonzero(y)]
    # without labels, features by name
    eid, value, true = next(synthetic_records(settings, names=True, with_labels=False))
    body = json.loads(value)
    assert "labels" not in body and sorted(body["x"]) == [f"x{i}" for i in range(5)]
    assert true == [labels[j] for j in np.flatnonzero(want[0][1])]


def test_replay_needs_a_file_or_synthetic() -> None:
    for args in ([], ["some.arff", "--synthetic"]):
        r = subprocess.run(
            [sys.executable, "-m", "streamlearn", "replay", "--kafka", "127.0.0.1:1", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2
        assert "give an ARFF file or --synthetic" in r.stderr


def test_warm_up_runs_the_learner_on_dense_and_sparse_input() -> None:
    from consumers.warmup import warm_up

    assert warm_up(LEARNER, sparse=True) == LEARNER
