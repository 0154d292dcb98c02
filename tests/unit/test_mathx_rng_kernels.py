"""Scalar math and RNG kernels against their slow twins (tests/twins/mathx_twin.py, rng_twin.py)."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from streamlearn._kernels import mathx, rng
from tests.twins.mathx_twin import (
    twin_binary_entropy,
    twin_multilabel_entropy,
    twin_normal_cdf,
    twin_normal_logpdf,
)
from tests.twins.rng_twin import TwinXoshiro256, splitmix64

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)

# ---------------------------------------------------------------------------------- mathx


@settings(max_examples=300, deadline=None)
@given(x=finite, mean=finite, std=st.floats(1e-6, 1e4))
def test_normal_cdf_matches_erf_formula_and_scipy(x: float, mean: float, std: float) -> None:
    got = mathx.normal_cdf(x, mean, std)
    assert got == twin_normal_cdf(x, mean, std)
    assert 0.0 <= got <= 1.0
    # scipy's ndtr is a different algorithm: agree to ~1e-15 absolute (erf loses the far tail)
    assert got == pytest.approx(stats.norm.cdf(x, mean, std), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("std", [0.0, -1.0])
def test_normal_cdf_is_a_point_mass_without_spread(std: float) -> None:
    for mean in (-2.5, 0.0, 3.0):
        assert mathx.normal_cdf(mean, mean, std) == 1.0
        assert mathx.normal_cdf(np.nextafter(mean, -np.inf), mean, std) == 0.0
        assert mathx.normal_cdf(mean + 1.0, mean, std) == 1.0


def test_normal_cdf_is_monotone_on_a_grid() -> None:
    xs = np.linspace(-8.0, 8.0, 4001)
    vals = [mathx.normal_cdf(float(x), 0.3, 1.7) for x in xs]
    assert all(b >= a for a, b in zip(vals, vals[1:]))
    assert vals[0] < 1e-5 and vals[-1] > 1.0 - 1e-5


@settings(max_examples=300, deadline=None)
@given(x=finite, mean=finite, var=st.floats(1e-8, 1e6))
def test_normal_logpdf_matches_twin_and_scipy(x: float, mean: float, var: float) -> None:
    got = mathx.normal_logpdf(x, mean, var)
    scale = max(1.0, abs(got))
    assert got == pytest.approx(twin_normal_logpdf(x, mean, var), rel=1e-12, abs=1e-12 * scale)
    ref = stats.norm.logpdf(x, mean, math.sqrt(var))
    assert got == pytest.approx(ref, rel=1e-9, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(p=st.floats(-0.5, 1.5, allow_nan=False))
def test_binary_entropy_matches_twin(p: float) -> None:
    got = mathx.binary_entropy(p)
    assert got == pytest.approx(twin_binary_entropy(p), rel=1e-14, abs=1e-15)
    assert 0.0 <= got <= 1.0
    if 1e-6 <= p <= 1.0 - 1e-6:  # symmetric, up to the rounding of 1 - p
        assert got == pytest.approx(mathx.binary_entropy(1.0 - p), rel=1e-6, abs=1e-15)


def test_binary_entropy_reference_points() -> None:
    assert mathx.binary_entropy(0.5) == 1.0
    assert mathx.binary_entropy(0.0) == 0.0 and mathx.binary_entropy(1.0) == 0.0
    # scipy's entropy in base 2 of (p, 1 - p)
    for p in np.linspace(0.01, 0.99, 99):
        assert mathx.binary_entropy(float(p)) == pytest.approx(stats.entropy([p, 1 - p], base=2))


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=0, max_size=12),
    extra=st.floats(0.0, 1e4, allow_nan=False),
)
def test_multilabel_entropy_matches_twin(counts: list[float], extra: float) -> None:
    total = max(counts, default=0.0) + extra
    got = mathx.multilabel_entropy(np.array(counts, dtype=np.float64), total)
    assert got == pytest.approx(twin_multilabel_entropy(counts, total), rel=1e-12, abs=1e-12)
    assert 0.0 <= got <= len(counts) + 1e-12


def test_multilabel_entropy_without_weight_is_zero() -> None:
    assert mathx.multilabel_entropy(np.array([1.0, 2.0]), 0.0) == 0.0
    assert mathx.multilabel_entropy(np.zeros(0), 5.0) == 0.0


# ---------------------------------------------------------------------------------- rng


def test_splitmix64_twin_reference_output() -> None:
    # the first output of splitmix64 from state 0 (a well-known value of the reference code)
    assert splitmix64(0)[1] == 0xE220A8397B1DCDAF


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(-(2**70), 2**70))
def test_rng_state_matches_splitmix64_twin(seed: int) -> None:
    s = rng.rng_state(seed)
    assert s.dtype == np.uint64 and s.shape == (4,)
    assert [int(v) for v in s] == TwinXoshiro256(seed).s


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**64 - 1))
def test_rng_next_and_uniform_match_xoshiro_twin(seed: int) -> None:
    s = rng.rng_state(seed)
    tw = TwinXoshiro256(seed)
    for _ in range(50):
        assert int(rng.rng_next(s)) == tw.next()
    assert [int(v) for v in s] == tw.s
    for _ in range(50):
        u = rng.rng_uniform(s)
        assert u == tw.uniform()
        assert 0.0 <= u < 1.0


@pytest.mark.parametrize("lam", [1.0, 0.3, 4.0])
def test_rng_poisson_matches_twin_draw_for_draw(lam: float) -> None:
    for seed in (0, 1, 12345, 2**63 + 7):
        s = rng.rng_state(seed)
        tw = TwinXoshiro256(seed)
        draws = [rng.rng_poisson(s, lam) for _ in range(2000)]
        assert draws == [tw.poisson(lam) for _ in range(2000)]
        assert [int(v) for v in s] == tw.s


def test_rng_poisson_one_distribution() -> None:
    """Poisson(1) draws of a fixed seed against the Poisson pmf (deterministic, not flaky)."""
    s = rng.rng_state(2024)
    n = 20_000
    draws = np.array([rng.rng_poisson(s, 1.0) for _ in range(n)])
    assert draws.min() >= 0
    # mean and variance of Poisson(1) are 1: within 5 standard errors
    assert abs(draws.mean() - 1.0) < 5 * math.sqrt(1.0 / n)
    assert abs(draws.var() - 1.0) < 5 * math.sqrt(3.0 / n)
    # chi-square over 0..4 and the tail
    observed = np.array([np.sum(draws == k) for k in range(5)] + [np.sum(draws >= 5)])
    pmf = stats.poisson.pmf(np.arange(5), 1.0)
    expected = n * np.append(pmf, 1.0 - pmf.sum())
    chi2, pvalue = stats.chisquare(observed, expected)
    assert pvalue > 1e-3, (observed, expected, chi2)


def test_rng_uniform_is_uniform_enough() -> None:
    s = rng.rng_state(7)
    u = np.array([rng.rng_uniform(s) for _ in range(20_000)])
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert len(np.unique(u)) == u.size


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a, b, c = rng.rng_state(99), rng.rng_state(99), rng.rng_state(100)
    sa = [int(rng.rng_next(a)) for _ in range(100)]
    assert sa == [int(rng.rng_next(b)) for _ in range(100)]
    assert sa != [int(rng.rng_next(c)) for _ in range(100)]


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy", "ndarray.copy"])
def test_rng_state_snapshot_resumes_the_same_stream(how: str) -> None:
    s = rng.rng_state(31337)
    for _ in range(37):
        rng.rng_poisson(s, 1.0)
    snap = {
        "pickle": lambda a: pickle.loads(pickle.dumps(a)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
        "ndarray.copy": np.copy,
    }[how](s)
    assert snap is not s
    ahead = [rng.rng_uniform(s) for _ in range(200)]
    assert [rng.rng_uniform(snap) for _ in range(200)] == ahead
