"""The drift kernels against their slow pure-Python twins (tests/twins/drift_twins.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from streamlearn._kernels import adwin, ddm, eddm, hddm_a, kswin, label_drift, mt19937, page_hinkley
from tests.twins import drift_twins as tw

RNG = np.random.default_rng(20240601)


def _random_values(rng: np.random.Generator, n: int, binary: bool) -> np.ndarray:
    kind = rng.integers(0, 4)
    t = np.arange(n)
    if binary:
        p = np.where(t < rng.integers(1, n), rng.uniform(0, 0.5), rng.uniform(0, 1))
        if kind == 3:
            p = np.full(n, float(rng.choice([0.0, 1.0])))  # constant streams
        return (rng.random(n) < p).astype(np.float64)
    if kind == 0:
        return rng.normal(np.where(t < n // 2, 0, rng.normal(0, 3)), rng.uniform(0.01, 5), n)
    if kind == 1:
        return rng.integers(-3, 4, n).astype(np.float64)  # many ties
    if kind == 2:
        return np.full(n, float(rng.normal()))
    return rng.standard_cauchy(n).clip(-1e6, 1e6)  # heavy tails


KERNELS = {
    # name: (new_state, update (state, x) -> code, params(rng), binary)
    "ADWIN": (
        adwin.adwin_new_state,
        adwin.adwin_update,
        lambda r: {
            "delta": float(r.choice([0.002, 0.05, 0.5])),
            "clock": int(r.integers(1, 40)),
            "max_buckets": int(r.integers(2, 7)),
            "min_window_length": int(r.integers(1, 12)),
            "grace_period": int(r.integers(0, 30)),
            "max_rows": int(r.choice([3, 4, 32])),  # small capacities: the window slides
        },
        False,
    ),
    "PageHinkley": (
        page_hinkley.ph_new_state,
        page_hinkley.ph_update,
        lambda r: {
            "min_instances": int(r.integers(1, 40)),
            "threshold": float(r.choice([1.0, 5.0, 50.0])),
            "mode": str(r.choice(["both", "up", "down"])),
        },
        False,
    ),
    "DDM": (
        ddm.ddm_new_state,
        ddm.ddm_update,
        lambda r: {"warm_start": int(r.integers(1, 40)), "drift_threshold": float(r.uniform(2, 4))},
        True,
    ),
    "EDDM": (
        eddm.eddm_new_state,
        eddm.eddm_update,
        lambda r: {
            "warm_start": int(r.integers(1, 40)),
            "alpha": 0.97,
            "beta": float(r.uniform(0.7, 0.95)),
        },
        True,
    ),
    "HDDM_A": (
        hddm_a.hddm_a_new_state,
        hddm_a.hddm_a_update,
        lambda r: {
            "drift_confidence": float(r.choice([0.001, 0.05])),
            "two_sided_test": bool(r.integers(0, 2)),
        },
        True,
    ),
    "KSWIN": (
        kswin.kswin_new_state,
        kswin.kswin_update,
        lambda r: {
            "window_size": int(r.choice([20, 50])),
            "stat_size": int(r.integers(1, 11)),
            "alpha": float(r.choice([0.01, 0.3])),
            "seed": int(r.integers(0, 99)),
        },
        False,
    ),
}


def _twin_flags(twin, x) -> tuple[bool, bool]:
    out = twin.update(x)
    if isinstance(out, tuple):
        return bool(out[0]), bool(out[1])
    return bool(out), False


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful:RuntimeWarning")
@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_matches_twin(name: str) -> None:
    new_state, update, make_params, binary = KERNELS[name]
    n_fired = 0
    for _ in range(12 if name == "KSWIN" else 25):
        params = make_params(RNG)
        values = _random_values(RNG, 150 if name == "KSWIN" else 1500, binary)
        state = new_state(**params)
        twin = tw.TWINS[name](**params)
        for i, x in enumerate(values):
            code = int(update(state, x))
            flags = (bool(code & 1), bool(code & 2))
            assert flags == _twin_flags(twin, float(x)), (name, params, i)
            n_fired += flags[0]
        if name == "ADWIN":
            assert (state[adwin.WIDTH], state[adwin.TOTAL], state[adwin.VARIANCE]) == (
                twin.width,
                twin.total,
                twin.variance,
            )
    assert n_fired > 0


def test_adwin_capacity_bounds_the_window() -> None:
    """With R rows the window never exceeds max_buckets * (2**R - 1) + 1 values."""
    state = adwin.adwin_new_state(max_buckets=2, max_rows=3, grace_period=10**9)
    for x in RNG.random(5000):
        adwin.adwin_update(state, x)
        assert state[adwin.WIDTH] <= 2 * (2**3 - 1) + 1
    assert state[adwin.N_ROWS] == 3


@pytest.mark.parametrize("name", ["ADWIN", "PageHinkley", "DDM", "EDDM", "HDDM_A", "KSWIN"])
def test_stacked_rows_match_independent_detectors(name: str) -> None:
    """X_update_rows on a stack == one twin per row, with a random mask."""
    new_state, _, make_params, binary = KERNELS[name]
    module = {
        "ADWIN": adwin,
        "PageHinkley": page_hinkley,
        "DDM": ddm,
        "EDDM": eddm,
        "HDDM_A": hddm_a,
        "KSWIN": kswin,
    }[name]
    prefix = {
        "ADWIN": "adwin",
        "PageHinkley": "ph",
        "DDM": "ddm",
        "EDDM": "eddm",
        "HDDM_A": "hddm_a",
        "KSWIN": "kswin",
    }[name]
    params = make_params(RNG)
    n_det, n = 5, 120 if name == "KSWIN" else 800
    states = getattr(module, f"{prefix}_new_stacked")(n_det, **params)
    twins = [tw.TWINS[name](**params) for _ in range(n_det)]
    values = np.stack([_random_values(RNG, n, binary) for _ in range(n_det)], axis=1)
    mask = RNG.random((n, n_det)) < 0.8
    out = np.zeros(n_det, np.int64)
    rows = getattr(module, f"{prefix}_update_rows")
    for t in range(n):
        rows(states, values[t], mask[t], out)
        for j in range(n_det):
            expected = _twin_flags(twins[j], float(values[t, j]))[0] if mask[t, j] else False
            assert bool(out[j] & 1) == expected, (name, t, j)


def test_update_many_equals_single_updates() -> None:
    for name, (new_state, update, make_params, binary) in KERNELS.items():
        module = {
            "ADWIN": adwin,
            "PageHinkley": page_hinkley,
            "DDM": ddm,
            "EDDM": eddm,
            "HDDM_A": hddm_a,
            "KSWIN": kswin,
        }[name]
        prefix = {
            "ADWIN": "adwin",
            "PageHinkley": "ph",
            "DDM": "ddm",
            "EDDM": "eddm",
            "HDDM_A": "hddm_a",
            "KSWIN": "kswin",
        }[name]
        params = make_params(RNG)
        values = _random_values(RNG, 300, binary)
        a, b = new_state(**params), new_state(**params)
        res = getattr(module, f"{prefix}_update_many")(a, values)
        drifts = res[0] if isinstance(res, tuple) else res
        single = [i for i, x in enumerate(values) if int(update(b, x)) & 1]
        assert drifts.tolist() == single
        np.testing.assert_array_equal(a, b)


def test_detector_dispatch_matches_direct_kernels() -> None:
    E = (RNG.random((600, 3)) < 0.3).astype(np.float64)
    E[300:, 1] = 1.0
    for name, kind in label_drift.KINDS.items():
        new_state, update, make_params, binary = KERNELS[name]
        params = make_params(RNG)
        fresh = new_state(**params)
        stack = np.tile(fresh, (3, 1))
        direct = np.tile(fresh, (3, 1))
        M = RNG.random(E.shape) < 0.9
        cap = 10_000
        rows, labs, codes, est = (
            np.zeros(cap, np.int64),
            np.zeros(cap, np.int64),
            np.zeros(cap, np.int64),
            np.zeros(cap),
        )
        k, nxt = label_drift.errors_update(kind, stack, E, M, True, 0, rows, labs, codes, est, 3)
        assert nxt == len(E)
        expected = []
        for i in range(len(E)):
            for j in range(3):
                if M[i, j]:
                    c = int(update(direct[j], E[i, j]))
                    if c:
                        expected.append((i, j, c))
        assert list(zip(rows[:k].tolist(), labs[:k].tolist(), codes[:k].tolist())) == expected
        np.testing.assert_array_equal(stack, direct)


def test_errors_update_resumes_when_outputs_fill() -> None:
    """Small output buffers: resuming from the returned row gives the same records."""
    E = (RNG.random((400, 4)) < 0.5).astype(np.float64)
    no_mask = np.zeros((1, 1), bool)

    def run(cap: int) -> list[tuple[int, int, int]]:
        stack = page_hinkley.ph_new_stacked(4, min_instances=1, threshold=0.5)
        bufs = [np.zeros(cap, np.int64) for _ in range(3)]
        records, start = [], 0
        while start < len(E):
            k, start = label_drift.errors_update(
                1, stack, E, no_mask, False, start, *bufs, np.zeros(cap), 1
            )
            records += list(zip(*(b[:k].tolist() for b in bufs)))
        return records

    full = run(10_000)
    assert len(full) > 20
    assert run(4) == full
    assert run(7) == full


# ---------------------------------------------------------------------- Mersenne Twister


@pytest.mark.parametrize("seed", [0, 1, 42, -5, 2**70 + 3, "text", 3.5])
def test_mt_sample_matches_cpython(seed: object) -> None:
    words, pos = mt19937.mt_state_from_seed(seed)
    state = np.zeros(700)
    state[10:634] = words
    state[3] = pos
    ref = random.Random(seed)
    for _ in range(40):
        n = int(RNG.choice([1, 5, 70, 300, 10_000, 2**31 - 1]))
        k = int(RNG.integers(0, min(n, 60) + 1))
        out = np.zeros(max(k, 1), np.int64)
        mt19937.mt_sample_range(state, 10, 3, n, k, mt19937.sample_setsize(k), out)
        assert out[:k].tolist() == ref.sample(range(n), k)
    for _ in range(100):
        assert mt19937.mt_getrandbits32(state, 10, 3) == ref.getrandbits(32)


# ---------------------------------------------------------------------- KS p-values


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful:RuntimeWarning")
def test_ks_p_table_matches_scipy() -> None:
    from scipy.stats import ks_2samp

    for m in (1, 2, 5, 13, 30, 64):
        table = kswin.kswin_p_table(m)
        for h in range(m + 1):
            # two samples of size m whose ECDFs differ by exactly h / m
            a = np.arange(m, dtype=float)
            b = a + h
            res = ks_2samp(a, b, method="auto")
            assert table[h] == res.pvalue, (m, h)
            assert res.statistic == h / m


# ---------------------------------------------------------------------- co-occurrence


def test_cooc_absorb_and_test_match_batch_recompute() -> None:
    L = 7
    for trial in range(10):
        p = RNG.uniform(0.05, 0.6, L)
        ref = (RNG.random((400, L)) < p).astype(np.uint8)
        cur = (RNG.random((150, L)) < RNG.uniform(0.05, 0.6, L)).astype(np.uint8)
        if trial % 2:
            cur[:, 1] = cur[:, 0]  # a strong dependence appears
        counts = []
        for Y in (ref, cur):
            nz_r, nz_c = np.nonzero(Y)
            indptr = np.zeros(len(Y) + 1, np.int64)
            np.cumsum(np.bincount(nz_r, minlength=len(Y)), out=indptr[1:])
            n1, n11, count = (
                np.zeros(L, np.int64),
                np.zeros((L, L), np.int64),
                np.zeros(1, np.int64),
            )
            nxt = label_drift.cooc_absorb(indptr, nz_c.astype(np.int64), 0, n1, n11, count, len(Y))
            assert nxt == len(Y) and count[0] == len(Y)
            e1, e11 = tw.cooc_counts(Y)
            np.testing.assert_array_equal(n1, e1)
            np.testing.assert_array_equal(n11, e11)
            counts.append((n1, n11))
        m, pa, pb, jr, jc, ratio = label_drift.cooc_test(*counts[0], *counts[1], 0.01, 20)
        expected = sorted(tw.cooc_test(ref, cur, 0.01, 20), key=lambda t: -t[4])
        assert m == len(expected)
        got = sorted(zip(pa.tolist(), pb.tolist(), jr, jc, ratio), key=lambda t: -t[4])
        for g, e in zip(got, expected):
            assert g[:2] == e[:2]
            np.testing.assert_allclose(g[2:], e[2:], rtol=1e-12)
        assert np.all(np.diff(ratio) <= 0)
