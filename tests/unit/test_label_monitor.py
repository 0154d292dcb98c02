"""Label-space drift monitors against batch recomputes and independent detectors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import streamlearn.drift as sd
from streamlearn.base import CSR, DriftEvent
from streamlearn.drift.label_monitor import CooccurrenceMonitor, LabelErrorMonitor
from tests.twins import drift_twins as tw

RNG = np.random.default_rng(77)

TEMPLATES = {
    "ADWIN": lambda: sd.ADWIN(clock=4),
    "PageHinkley": lambda: sd.PageHinkley(threshold=8.0),
    "DDM": lambda: sd.DDM(),
    "EDDM": lambda: sd.EDDM(),
    "HDDM_A": lambda: sd.HDDM_A(),
    "KSWIN": lambda: sd.KSWIN(alpha=0.05, seed=3, window_size=40, stat_size=10),
}


def _errors(n: int, L: int) -> np.ndarray:
    p = RNG.uniform(0.05, 0.3, L)
    E = (RNG.random((n, L)) < p).astype(np.float64)
    for j in range(0, L, 2):  # every other label degrades at a different time
        t = int(RNG.integers(n // 4, 3 * n // 4))
        E[t:, j] = RNG.random(n - t) < 0.7
    return E


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_label_error_monitor_equals_one_detector_per_label(name: str) -> None:
    L, n = 5, 500 if name == "KSWIN" else 2000
    E = _errors(n, L)
    M = RNG.random((n, L)) < 0.85
    monitor = LabelErrorMonitor(
        TEMPLATES[name](), labels=[f"l{j}" for j in range(L)], warnings=True
    )
    events = monitor.update_many(E[: n // 3], M[: n // 3])
    events += monitor.update_one(E[n // 3], M[n // 3])
    events += pickle.loads(pickle.dumps(monitor)).update_many(E[n // 3 + 1 :], M[n // 3 + 1 :])

    expected = []
    dets = [TEMPLATES[name]() for _ in range(L)]
    for i in range(n):
        for j in range(L):
            if not M[i, j]:
                continue
            dets[j].update(E[i, j])
            for kind, flag in (("drift", "drift_detected"), ("warning", "warning_detected")):
                if getattr(dets[j], flag, False):
                    expected.append((kind, (f"l{j}",), i))
    assert [(e.kind, e.scope, e.index) for e in events] == expected
    assert sum(e.kind == "drift" for e in events) > 0
    for e in events:
        assert isinstance(e, DriftEvent) and e.level == "label" and e.detector == name
        assert e.detail["label_index"] == int(e.scope[0][1:])


def test_label_error_monitor_statistic_and_growth() -> None:
    monitor = LabelErrorMonitor(sd.ADWIN(), labels=2)
    E = np.zeros((3000, 2))
    E[1500:, 0] = 1.0
    events = monitor.update_many(E)
    assert [e.scope for e in events] == [("0",)]
    # the statistic is the detector's estimate after the detection (ADWIN's window mean)
    ref = sd.ADWIN()
    for x in E[: events[0].index + 1, 0]:
        ref.update(x)
    assert events[0].statistic == ref.estimation
    monitor.add_labels(["new"])
    assert monitor.n_labels == 3 and monitor.labels[-1] == "new"
    more = np.zeros((100, 3))
    more[:, 0] = 1.0  # label 0 stays as it was
    assert monitor.update_many(more) == []
    assert monitor.n_seen == 3100
    np.testing.assert_array_equal(monitor.estimates()[2], 0.0)
    with pytest.raises(ValueError, match="shape"):
        monitor.update_many(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="already"):
        monitor.add_labels(["new"])


def test_label_error_monitor_from_predictions() -> None:
    Y = (RNG.random((800, 3)) < 0.4).astype(np.uint8)
    P = Y.copy()
    P[400:, 2] = 1 - P[400:, 2]
    a = LabelErrorMonitor(sd.HDDM_A(), labels=3).update_from_predictions(Y, P)
    b = LabelErrorMonitor(sd.HDDM_A(), labels=3).update_many((Y != P).astype(float))
    assert a == b and [e.scope for e in a] == [("2",)]


def test_label_error_monitor_rejects_other_detectors() -> None:
    from river.drift import ADWIN as RiverADWIN

    with pytest.raises(TypeError, match="streamlearn.drift"):
        LabelErrorMonitor(RiverADWIN())


# ---------------------------------------------------------------------- co-occurrence


def _labels(n: int, L: int, change_at: int | None = None) -> np.ndarray:
    base = RNG.random((n, L)) < RNG.uniform(0.1, 0.5, L)
    Y = base.copy()
    Y[:, 1] = Y[:, 0] | (RNG.random(n) < 0.05)  # label 1 follows label 0
    if change_at is not None:
        Y[change_at:, 1] = RNG.random(n - change_at) < 0.3  # ... until it stops
    return Y.astype(np.uint8)


def test_cooccurrence_counts_equal_batch_recompute() -> None:
    L, w = 6, 100
    Y = _labels(1234, L)
    mon = CooccurrenceMonitor(labels=L, window_size=w, delta=1e-9)
    start = 0
    for stop in (7, 100, 101, 555, 1000, 1234):  # chunks across window boundaries
        mon.update_many(Y[start:stop])
        start = stop
    n_cur = len(Y) % w
    cur = Y[len(Y) - n_cur :]
    ref = Y[: len(Y) - n_cur]  # no drift: every finished window went into the reference
    for (n1, n11), rows in (((mon.cur_n1, mon.cur_n11), cur), ((mon.ref_n1, mon.ref_n11), ref)):
        e1, e11 = tw.cooc_counts(rows)
        np.testing.assert_array_equal(n1, e1)
        np.testing.assert_array_equal(n11, e11)
    assert mon.cur_count[0] == n_cur and mon.ref_count[0] == len(ref)
    # the Jaccard matrices
    e1, e11 = tw.cooc_counts(ref)
    J = mon.jaccard("reference")
    for a in range(L):
        for b in range(a + 1, L):
            u = e1[a] + e1[b] - e11[a, b]
            assert J[a, b] == J[b, a] == (e11[a, b] / u if u else np.nan) or u == 0


def test_cooccurrence_detects_a_broken_dependence_and_reports_it() -> None:
    L, w, change = 5, 200, 1500
    Y = _labels(3000, L, change_at=change)
    names = ["a", "b", "c", "d", "e"]
    mon = CooccurrenceMonitor(labels=names, window_size=w, delta=0.001, min_support=20)
    events = mon.update_many(Y)
    assert len(events) == 1
    ev = events[0]
    assert ev.level == "global" and ev.kind == "drift" and ev.detector == "JaccardCooccurrence"
    assert ev.scope[:2] == ("a", "b")
    assert change <= ev.index < change + 2 * w and (ev.index + 1) % w == 0
    # the statistic is the test recomputed from the raw rows of the reference and the window
    window = Y[ev.index + 1 - w : ev.index + 1]
    reference = Y[: ev.index + 1 - w]
    pairs = tw.cooc_test(reference, window, 0.001, 20)
    assert ev.statistic == pytest.approx(max(p[4] for p in pairs), rel=1e-12)
    assert ev.detail["pairs_tested"] == len(pairs)
    assert ev.detail["pairs"][0][:2] == ["a", "b"]


def test_cooccurrence_no_false_alarm_on_stationary_labels() -> None:
    fired = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        Y = (rng.random((4000, 6)) < rng.uniform(0.1, 0.5, 6)).astype(np.uint8)
        fired += len(CooccurrenceMonitor(labels=6, window_size=250).update_many(Y))
    assert fired == 0


def test_cooccurrence_sparse_inputs_and_growth() -> None:
    Y = _labels(900, 4, change_at=500)
    dense = CooccurrenceMonitor(labels=4, window_size=150, min_support=10)
    e_dense = dense.update_many(Y)
    for make in (sp.csr_matrix, CSR.from_dense):
        m = CooccurrenceMonitor(labels=4, window_size=150, min_support=10)
        assert m.update_many(make(Y)) == e_dense
    one = CooccurrenceMonitor(labels=4, window_size=150, min_support=10)
    e_one = []
    for row in Y:
        e_one += one.update_one(row)
    assert e_one == e_dense
    snap = pickle.loads(pickle.dumps(one))
    snap.add_labels(["x", "y"])
    assert snap.cur_n11.shape == (6, 6)
    np.testing.assert_array_equal(snap.cur_n11[:4, :4], one.cur_n11)
    snap.update_many(np.ones((10, 6), np.uint8))
    assert snap.cur_n1[4] == 10 and snap.cur_n11[4, 5] == 10
    with pytest.raises(ValueError, match="columns|shape"):
        snap.update_many(np.ones((3, 4)))
