"""The embedded mode: the service loop over a replay, local snapshots, restart without learning
anything twice."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from consumers.embedded import EmbeddedStream, embedded_loop
from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.schema import Schema
from streamlearn.service.loop import Loop
from streamlearn.service.published import ServiceState
from streamlearn.settings import Settings
from streamlearn.snapshot import LocalSnapshotStore, verify

LEARNER = "tests.support.learners:CentroidLearner"


def source(n: int, seed: int = 0, sparse: bool = False) -> EmbeddedStream:
    """The first n rows of one fixed stream."""
    rng = np.random.default_rng(seed)
    total = max(n, 1000)
    X = rng.normal(size=(total, 5))
    X[np.abs(X) < 0.5] = 0.0
    Y = (rng.random((total, 3)) < 0.4).astype(np.uint8)
    schema = Schema(features=list("abcde"), labels=["p", "q", "r"], sparse=sparse)

    def rows(start: int):
        for i in range(start, n):
            if sparse:
                nz = np.flatnonzero(X[i])
                yield (nz, X[i, nz]), Y[i]
            else:
                yield X[i], Y[i]

    return EmbeddedStream(f"test-{seed}", schema, rows)


def run(tmp_path, src: EmbeddedStream, **kw) -> tuple[Loop, ServiceMetrics, ServiceState]:
    settings = Settings(learner=LEARNER, snapshot_dir=tmp_path, rate=0, poll_max_records=64, **kw)
    metrics = ServiceMetrics(CollectorRegistry())
    state = ServiceState()
    loop = embedded_loop(settings, state, metrics, stream=src)
    loop.run()
    return loop, metrics, state


def learned(metrics: ServiceMetrics) -> float:
    return metrics.registry.get_sample_value("streamlearn_events_learned_total", {"shard": "0"})


@pytest.mark.parametrize("sparse", [False, True])
def test_replays_learns_and_snapshots(tmp_path, sparse: bool) -> None:
    runner, metrics, state = run(tmp_path, source(300, sparse=sparse))
    assert learned(metrics) == 300
    assert runner.sink.outputs == {"predictions": 300}
    mv = state.model("0")
    assert mv.version == 300 and mv.sparse == sparse and state.ready() == (True, "ready")
    data = LocalSnapshotStore(tmp_path).load("embedded-test-0")
    assert verify(data, Settings().signing_keys()).offsets == {"events": 300}
    assert (
        metrics.registry.get_sample_value(
            "streamlearn_snapshots_total", {"shard": "0", "outcome": "ok"}
        )
        >= 1
    )


@pytest.mark.parametrize("delay", [0, 7])
def test_restart_resumes_without_learning_twice(tmp_path, delay: int) -> None:
    straight, _, _ = run(tmp_path / "a", source(500), label_delay=delay)
    first, m1, _ = run(tmp_path / "b", source(230), label_delay=delay)
    assert learned(m1) == 230 - delay
    second, m2, _ = run(tmp_path / "b", source(500), label_delay=delay)
    assert learned(m2) == 500 - delay  # counted from the snapshot on: nothing twice
    assert second.sink.outputs["predictions"] == 500 - 230
    a, b = straight.shards["0"].learner, second.shards["0"].learner
    np.testing.assert_array_equal(a.sum1, b.sum1)
    np.testing.assert_array_equal(a.n0, b.n0)
    if delay:
        assert len(second.shards["0"].state.join.pending) == delay


def test_stop_writes_a_final_snapshot(tmp_path) -> None:
    settings = Settings(learner=LEARNER, snapshot_dir=tmp_path, rate=2000)
    state = ServiceState()
    runner = embedded_loop(
        settings, state, ServiceMetrics(CollectorRegistry()), stream=source(10**5)
    )
    t = threading.Thread(target=runner.run)
    t.start()
    deadline = time.time() + 30
    while (state.model("0") is None or state.model("0").version < 50) and time.time() < deadline:
        time.sleep(0.02)
    runner.stop()
    t.join(30)
    assert not t.is_alive() and runner.error is None
    header = verify(LocalSnapshotStore(tmp_path).load("embedded-test-0"), settings.signing_keys())
    assert header.offsets["events"] == runner.shards["0"].state.offsets["events"] >= 50


def test_refuses_a_corrupted_snapshot_with_its_path(tmp_path) -> None:
    LocalSnapshotStore(tmp_path).save("embedded-test-0", b"garbage")
    settings = Settings(learner=LEARNER, snapshot_dir=tmp_path, rate=0)
    runner = embedded_loop(settings, ServiceState(), None, stream=source(10))
    with pytest.raises(Exception, match="embedded-test-0.snap.*move the file away"):
        runner.run()
