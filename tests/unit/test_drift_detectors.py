"""The detector classes: snapshots, API contract, input errors, River defects not reproduced."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from river import base as river_base
from river import drift as rd

import streamlearn.drift as sd
from streamlearn.base import DriftDetector
from streamlearn.drift.streams import drift_suite

DETECTORS = {
    "ADWIN": (sd.ADWIN, {"clock": 8}, False),
    "PageHinkley": (sd.PageHinkley, {"threshold": 10.0}, False),
    "DDM": (sd.DDM, {}, True),
    "EDDM": (sd.EDDM, {}, True),
    "HDDM_A": (sd.HDDM_A, {"two_sided_test": True}, True),
    "KSWIN": (sd.KSWIN, {"seed": 5, "window_size": 60, "stat_size": 20}, False),
}


def _stream(binary: bool, n: int = 3000, seed: int = 0) -> np.ndarray:
    fam = ("bernoulli",) if binary else ("gaussian",)
    return np.concatenate([s.values for s in drift_suite(2, n=n // 2, seed=seed, families=fam)])


def _flags_run(det, values):
    out = []
    for x in values:
        det.update(x)
        out.append((det.drift_detected, getattr(det, "warning_detected", False)))
    return out


@pytest.mark.parametrize("name", list(DETECTORS))
def test_pickle_mid_stream_gives_the_same_later_detections(name: str) -> None:
    cls, params, binary = DETECTORS[name]
    values = _stream(binary, 1200 if name == "KSWIN" else 4000).tolist()
    fired = 0
    for cut in (1, 317, len(values) // 2, len(values) - 3):
        a = cls(**params)
        _flags_run(a, values[:cut])
        snap = pickle.dumps(a)
        expected = _flags_run(a, values[cut:])
        b = pickle.loads(snap)
        assert _flags_run(b, values[cut:]) == expected
        np.testing.assert_array_equal(a.state, b.state)
        c = copy.deepcopy(pickle.loads(snap))
        assert c.update_many(values[cut:]).tolist() == [i for i, (d, _) in enumerate(expected) if d]
        fired += sum(d for d, _ in expected)
    assert fired > 0


@pytest.mark.parametrize("name", list(DETECTORS))
def test_update_many_and_update_agree_and_chain(name: str) -> None:
    cls, params, binary = DETECTORS[name]
    values = _stream(binary, 800 if name == "KSWIN" else 3000)
    a, b = cls(**params), cls(**params)
    single = [i for i, (d, _) in enumerate(_flags_run(a, values.tolist())) if d]
    half = len(values) // 3
    got = np.concatenate([b.update_many(values[:half]), half + b.update_many(values[half:])])
    assert got.tolist() == single
    assert a.drift_detected == b.drift_detected
    np.testing.assert_array_equal(a.state, b.state)
    # and single updates can follow the array path on the same detector
    tail = _stream(binary, 200, seed=9).tolist()
    assert _flags_run(a, tail) == _flags_run(b, tail)


@pytest.mark.parametrize("name", list(DETECTORS))
def test_contract(name: str) -> None:
    cls, params, _ = DETECTORS[name]
    det = cls(**params)
    assert isinstance(det, DriftDetector)
    assert isinstance(det, river_base.DriftDetector)
    assert det.drift_detected is False
    if hasattr(det, "warning_detected"):
        assert det.warning_detected is False
        assert isinstance(det, river_base.DriftAndWarningDetector)
    assert det.update(0.0) is None
    assert isinstance(det.drift_detected, bool)
    for p in cls._unit_test_params():
        fresh = cls(**p)
        assert fresh.update_many(np.zeros(50)).dtype == np.int64
        assert fresh.clone()._get_params() == fresh._get_params()
    with pytest.raises(ValueError, match="writable|read-only"):
        det.state[0] = 1.0
    # a River-style _reset() keeps the bound update working
    det._reset()
    det.update(1.0)
    assert det.drift_detected is False


@pytest.mark.parametrize("name", list(DETECTORS))
def test_bad_input_is_a_clear_error(name: str) -> None:
    cls, params, _ = DETECTORS[name]
    det = cls(**params)
    with pytest.raises(ValueError, match=r"values\[2\] = nan is not finite"):
        det.update_many([0.0, 1.0, float("nan")])
    with pytest.raises(ValueError, match="1-dimensional"):
        det.update_many(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="numbers"):
        det.update_many(["a", "b"])
    with pytest.raises(TypeError):
        det.update("a")


class Counting(sd.PageHinkley):
    calls = 0

    def update(self, x):
        Counting.calls += 1
        super().update(x)


def test_subclass_overriding_update_keeps_its_method() -> None:
    Counting.calls = 0
    det = Counting()
    det.update(1.0)
    pickle.loads(pickle.dumps(det)).update(2.0)
    assert Counting.calls == 2


def test_parameter_validation() -> None:
    with pytest.raises(ValueError, match="mode"):
        sd.PageHinkley(mode="sideways")
    with pytest.raises(ValueError, match="alpha"):
        sd.EDDM(alpha=0.5, beta=0.9)
    with pytest.raises(ValueError, match="Alpha"):
        sd.KSWIN(alpha=2.0)
    with pytest.raises(ValueError, match="clock"):
        sd.ADWIN(clock=0)
    with pytest.raises(ValueError, match="delta"):
        sd.ADWIN(delta=0.0)
    with pytest.raises(ValueError, match="drift_confidence"):
        sd.HDDM_A(drift_confidence=1.5)


def test_adwin_rejects_max_buckets_one_where_river_panics() -> None:
    """River accepts ``max_buckets=1`` but its compiled core then panics right at a drift:
    with one bucket per row, merges leave empty rows behind the last one, and deleting the
    oldest bucket twice in a row reaches an empty row (a slice index panic in River's Rust
    code). We reject ``max_buckets < 2`` up front instead of reproducing the crash."""
    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(0, 1, 300), rng.normal(8, 1, 300), rng.normal(-8, 1, 300)]
    params = {"max_buckets": 1, "clock": 1, "min_window_length": 1, "grace_period": 0, "delta": 0.5}
    river = rd.ADWIN(**params)
    with pytest.raises(BaseException, match="slice index") as info:  # pyo3's PanicException
        for x in values.tolist():
            river.update(x)
    assert type(info.value).__name__ == "PanicException"
    with pytest.raises(ValueError, match="max_buckets must be an integer >= 2"):
        sd.ADWIN(**params)


def test_kswin_rejects_stat_size_river_fails_on_later() -> None:
    """River accepts ``stat_size > window_size / 2`` and fails at its first test (it samples
    ``stat_size`` values out of the ``window_size - stat_size`` oldest). We refuse it at
    construction."""
    river = rd.KSWIN(window_size=50, stat_size=40, seed=1)
    with pytest.raises(ValueError, match="Sample larger than population"):
        for x in range(60):
            river.update(float(x))
    with pytest.raises(ValueError, match="stat_size <= window_size / 2"):
        sd.KSWIN(window_size=50, stat_size=40, seed=1)


def test_ddm_values_outside_unit_interval() -> None:
    """River's DDM raises ``math domain error`` on a value that makes the error rate leave
    [0, 1]; ours rejects such values in ``update_many`` and, on the minimal single-point path,
    treats the undefined deviation as no signal (no exception mid-stream)."""
    river = rd.binary.DDM()
    with pytest.raises(ValueError, match="math domain error"):
        for x in [2.0] * 40:
            river.update(x)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sd.DDM().update_many([0.0, 2.0])
    det = sd.DDM()
    for x in [2.0] * 40:
        det.update(x)
    assert det.drift_detected is False


def test_hddma_alias() -> None:
    assert sd.HDDMA is sd.HDDM_A
