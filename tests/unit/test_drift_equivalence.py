"""Equivalence of streamlearn's drift detectors with River 0.26.1's.

Every detector runs on 50+ seeded synthetic streams (Bernoulli error streams for all of
them, Gaussian streams for those that take real values; abrupt, gradual and no drift) with
parameters drawn per stream, side by side with River's detector: the drift indices (and
warning indices) must be identical, for the array path ``update_many`` and for the
single-point ``update``.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from river import drift as rd

import streamlearn.drift as sd
from streamlearn.drift.streams import drift_suite

N_STREAMS = 50


def _river_indices(det, values, warnings):
    drifts, warns = [], []
    for i, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            drifts.append(i)
        if warnings and det.warning_detected:
            warns.append(i)
    return drifts, warns


def _ours_single(det, values, warnings):
    drifts, warns = [], []
    for i, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            drifts.append(i)
        if warnings and det.warning_detected:
            warns.append(i)
    return drifts, warns


def _params_adwin(rng, i):
    if i % 5 == 0:
        return {}
    return {
        "delta": float(rng.choice([0.002, 0.01, 0.1, 0.5])),
        "clock": int(rng.choice([1, 2, 7, 32, 64])),
        "max_buckets": int(rng.integers(2, 9)),
        "min_window_length": int(rng.integers(1, 20)),
        "grace_period": int(rng.integers(0, 60)),
    }


def _params_ph(rng, i):
    if i % 5 == 0:
        return {}
    return {
        "min_instances": int(rng.integers(1, 60)),
        "delta": float(rng.choice([0.0, 0.005, 0.05])),
        "threshold": float(rng.choice([2.0, 10.0, 25.0, 50.0])),
        "alpha": float(rng.choice([1 - 1e-4, 0.999, 0.99])),
        "mode": str(rng.choice(["both", "up", "down"])),
    }


def _params_ddm(rng, i):
    if i % 5 == 0:
        return {}
    return {
        "warm_start": int(rng.integers(1, 60)),
        "warning_threshold": float(rng.uniform(1.0, 2.5)),
        "drift_threshold": float(rng.uniform(2.5, 4.0)),
    }


def _params_eddm(rng, i):
    if i % 5 == 0:
        return {}
    beta = float(rng.uniform(0.6, 0.95))
    return {
        "warm_start": int(rng.integers(1, 60)),
        "alpha": float(rng.uniform(beta, 1.0)),
        "beta": beta,
    }


def _params_hddm(rng, i):
    if i % 5 == 0:
        return {}
    return {
        "drift_confidence": float(rng.choice([0.0005, 0.001, 0.01])),
        "warning_confidence": float(rng.choice([0.005, 0.01, 0.05])),
        "two_sided_test": bool(rng.integers(0, 2)),
    }


def _params_kswin(rng, i):
    w = int(rng.choice([40, 60, 100]))
    return {
        "alpha": float(rng.choice([0.0001, 0.005, 0.05])),
        "window_size": w,
        "stat_size": int(rng.integers(5, w // 2 + 1)),
        "seed": int(rng.integers(0, 10_000)),
    }


CASES = {
    # name: (ours, river, params, binary, warnings, stream length)
    "ADWIN": (sd.ADWIN, rd.ADWIN, _params_adwin, False, False, 3000),
    "PageHinkley": (sd.PageHinkley, rd.PageHinkley, _params_ph, False, False, 3000),
    "DDM": (sd.DDM, rd.binary.DDM, _params_ddm, True, True, 3000),
    "EDDM": (sd.EDDM, rd.binary.EDDM, _params_eddm, True, True, 3000),
    "HDDM_A": (sd.HDDM_A, rd.binary.HDDMA, _params_hddm, True, True, 3000),
    # River's KSWIN costs ~0.3 ms per update: short streams
    "KSWIN": (sd.KSWIN, rd.KSWIN, _params_kswin, False, False, 240),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_detections_as_river(name: str) -> None:
    ours_cls, river_cls, make_params, binary, warnings, length = CASES[name]
    families = ("bernoulli",) if binary else ("bernoulli", "gaussian")
    streams = drift_suite(N_STREAMS, n=length, seed=11, families=families)
    assert len(streams) >= 50
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    total_drifts = total_warnings = 0
    for i, s in enumerate(streams):
        params = make_params(rng, i)
        values = s.values.tolist()
        expected_d, expected_w = _river_indices(river_cls(**params), values, warnings)
        ours = ours_cls(**params)
        if warnings:
            got_d, got_w = ours.update_many(s.values, warnings=True)
        else:
            got_d, got_w = ours.update_many(s.values), np.zeros(0, np.int64)
        assert got_d.tolist() == expected_d, (name, s.name, params)
        assert got_w.tolist() == expected_w, (name, s.name, params)
        single_d, single_w = _ours_single(ours_cls(**params), values, warnings)
        assert single_d == expected_d and single_w == expected_w, (name, s.name, params)
        total_drifts += len(expected_d)
        total_warnings += len(expected_w)
    # the comparison is not vacuous: the streams do make the detectors fire
    assert total_drifts >= 20
    if warnings:
        assert total_warnings >= 20


def test_adwin_window_statistics_match_river() -> None:
    """width, total, variance and estimation are bit-identical along the stream."""
    for s in drift_suite(10, n=3000, seed=3):
        r, o = rd.ADWIN(clock=4), sd.ADWIN(clock=4)
        for i, x in enumerate(s.values.tolist()):
            r.update(x)
            o.update(x)
            if i % 37 == 0:
                assert (o.width, o.total, o.variance, o.estimation, o.n_detections) == (
                    r.width,
                    r.total,
                    r.variance,
                    r.estimation,
                    r.n_detections,
                )


def test_kswin_p_values_match_river() -> None:
    for s in drift_suite(4, n=300, seed=5):
        r, o = (
            rd.KSWIN(seed=3, window_size=60, stat_size=20),
            sd.KSWIN(seed=3, window_size=60, stat_size=20),
        )
        for x in s.values.tolist():
            r.update(x)
            o.update(x)
            assert o.p_value == float(r.p_value)


def test_kswin_initial_window_matches_river() -> None:
    rng = np.random.default_rng(0)
    init = rng.normal(0, 1, 150).tolist()
    values = rng.normal(1.5, 1, 200).tolist()
    r = rd.KSWIN(seed=9, window=init)
    o = sd.KSWIN(seed=9, window=init)
    assert _river_indices(r, values, False) == _ours_single(o, values, False)


def test_river_defaults_and_examples_are_reproduced() -> None:
    """Same constructor parameters and defaults as River."""
    import inspect

    for name, (ours_cls, river_cls, *_rest) in CASES.items():
        ours = inspect.signature(ours_cls.__init__).parameters
        theirs = inspect.signature(river_cls.__init__).parameters
        for p, spec in theirs.items():
            if p == "self":
                continue
            assert p in ours, (name, p)
            assert ours[p].default == spec.default, (name, p)
