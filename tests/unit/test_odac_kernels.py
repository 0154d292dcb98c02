"""The ODAC kernels against their slow twins (tests/twins/odac_twin.py), on many random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from streamlearn._kernels.odac import (
    CORRELATION,
    JACCARD,
    assign_split,
    closer_pair,
    count_rows,
    cut_separation,
    diameter,
    dissimilarity,
    pair_index,
    set_references,
    split_stats,
    union_count,
)
from tests.twins.odac_twin import (
    twin_assign_split,
    twin_closer_pair,
    twin_counts,
    twin_cut_separation,
    twin_diameter,
    twin_dissimilarity,
    twin_split_stats,
)


def _csr(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(mask)
    indptr = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=mask.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64)


def _random_labels(rng: np.random.Generator, n: int, L: int) -> np.ndarray:
    """Sparse 0/1 rows with label frequencies spread from rare to common."""
    freq = rng.uniform(0.0, 0.6, size=L) ** 2
    return (rng.random((n, L)) < freq).astype(np.uint8)


def _kernel_counts(Y: np.ndarray, known: np.ndarray | None, chunks: list[int]):
    n, L = Y.shape
    unk = np.zeros(L, dtype=np.int64)
    n1 = np.zeros(L, dtype=np.int64)
    n11 = np.zeros(L * (L - 1) // 2, dtype=np.int64)
    pos = Y.astype(bool) if known is None else Y.astype(bool) & known
    pi, pidx = _csr(pos)
    if known is None:
        ui, uidx = np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    else:
        ui, uidx = _csr(~known)
    r = 0
    for c in chunks:
        stop = min(n, r + c)
        assert count_rows(pi, pidx, ui, uidx, r, stop, L, unk, n1, n11) == stop - r
        r = stop
    full = np.zeros((L, L), dtype=np.int64)
    full[np.triu_indices(L, 1)] = n11
    return unk, n1, n11, full + full.T


@pytest.mark.parametrize("seed", range(40))
def test_count_rows_equals_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, L = int(rng.integers(1, 60)), int(rng.integers(2, 12))
    Y = _random_labels(rng, n, L)
    known = None if seed % 2 == 0 else rng.random((n, L)) < 0.7
    chunks = list(rng.integers(1, 20, size=n))
    unk, n1, n11p, full = _kernel_counts(Y, known, chunks)
    tn, tunk, tn1, tn11 = twin_counts(Y.tolist(), None if known is None else known.tolist())
    assert tn == n
    assert unk.tolist() == tunk
    assert n1.tolist() == tn1
    assert full.tolist() == tn11
    for a in range(L):
        for b in range(a + 1, L):
            assert n11p[pair_index(a, b, L)] == tn11[a][b]


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("kind", [JACCARD, CORRELATION])
def test_dissimilarity_equals_twin(seed: int, kind: int) -> None:
    rng = np.random.default_rng(seed)
    n, L = int(rng.integers(1, 80)), int(rng.integers(2, 10))
    Y = _random_labels(rng, n, L)
    if seed % 3 == 0:
        Y[:, rng.integers(L)] = 0  # a label never positive
    if seed % 5 == 0:
        Y[:, rng.integers(L)] = 1  # a constant label
    known = None if seed % 2 == 0 else rng.random((n, L)) < 0.8
    unk, n1, n11p, full = _kernel_counts(Y, known, [n])
    labels = np.sort(rng.choice(L, size=int(rng.integers(1, L + 1)), replace=False))
    D = dissimilarity(labels.astype(np.int64), n, unk, n1, n11p, L, kind)
    T = twin_dissimilarity(labels.tolist(), n, unk.tolist(), n1.tolist(), full.tolist(), kind)
    np.testing.assert_array_equal(D, np.array(T))
    assert np.all((D >= 0) & (D <= 1))
    np.testing.assert_array_equal(D, D.T)


def test_jaccard_is_the_textbook_formula_on_counts() -> None:
    Y = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.uint8)
    unk, n1, n11p, _ = _kernel_counts(Y, None, [5])
    D = dissimilarity(np.arange(3, dtype=np.int64), 5, unk, n1, n11p, 3, JACCARD)
    # labels 0 and 1: 2 rows together, 4 rows with either -> 1 - 2/4
    assert D[0, 1] == 0.5
    assert D[0, 2] == 1.0 and D[2, 1] == 1.0  # label 2 never positive: no evidence
    C = dissimilarity(np.arange(3, dtype=np.int64), 5, unk, n1, n11p, 3, CORRELATION)
    corr = np.corrcoef(Y[:, 0], Y[:, 1])[0, 1]
    assert C[0, 1] == pytest.approx(np.sqrt((1 - corr) / 2), abs=1e-15)
    assert C[0, 2] == pytest.approx(np.sqrt(0.5))  # a constant label: correlation 0


def _random_D(rng: np.random.Generator, L: int, dyadic: bool) -> np.ndarray:
    if dyadic:  # values k/8: sums are exact, so exact ties happen and must agree
        M = rng.integers(0, 9, size=(L, L)) / 8.0
    else:
        M = rng.random((L, L))
    D = np.triu(M, 1)
    return D + D.T


@pytest.mark.parametrize("seed", range(60))
def test_split_stats_and_diameter_equal_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    L = int(rng.integers(2, 16))
    D = _random_D(rng, L, dyadic=seed % 2 == 0)
    support = rng.integers(0, 4, size=L).astype(np.float64)
    idx = np.sort(rng.choice(L, size=int(rng.integers(2, L + 1)), replace=False)).astype(np.int64)
    got = split_stats(D, idx, support)
    want = twin_split_stats(D.tolist(), idx.tolist(), support.tolist())
    assert tuple(got) == pytest.approx(want, abs=0, rel=1e-15)
    assert got[4:] == want[4:]
    assert diameter(D, idx) == twin_diameter(D.tolist(), idx.tolist())
    assert np.isnan(diameter(D, idx[:1]))


@pytest.mark.parametrize("seed", range(80))
def test_assign_split_equals_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    L = int(rng.integers(2, 20))
    D = _random_D(rng, L, dyadic=seed % 2 == 0)
    support = rng.integers(0, 5, size=L).astype(np.float64)
    idx = np.sort(rng.choice(L, size=int(rng.integers(2, L + 1)), replace=False)).astype(np.int64)
    p1, p2 = sorted(rng.choice(idx.size, size=2, replace=False).tolist())
    passes = int(rng.integers(0, 5))
    side = assign_split(D, idx, p1, p2, support, passes)
    want = twin_assign_split(D.tolist(), idx.tolist(), p1, p2, support.tolist(), passes)
    assert side.tolist() == want
    assert 0 < int(side.sum()) < idx.size  # never an empty side


@pytest.mark.parametrize("seed", range(60))
def test_cut_separation_equals_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    L = int(rng.integers(3, 16))
    D = _random_D(rng, L, dyadic=seed % 2 == 0)
    idx = np.sort(rng.choice(L, size=int(rng.integers(3, L + 1)), replace=False)).astype(np.int64)
    side = rng.integers(0, 2, size=idx.size).astype(np.int64)
    side[0], side[-1] = 0, 1
    got = cut_separation(D, idx, side)
    want = twin_cut_separation(D.tolist(), idx.tolist(), side.tolist())
    np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize("seed", range(60))
def test_references_and_closer_pair_equal_twin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    L = int(rng.integers(2, 14))
    n = int(rng.integers(20, 300))
    Y_then = _random_labels(rng, n, L)
    Y_now = _random_labels(rng, n, L)
    _, n1_t, n11_t, _ = _kernel_counts(Y_then, None, [n])
    _, n1_n, n11_n, full_n = _kernel_counts(Y_now, None, [n])
    zeros = np.zeros(L, dtype=np.int64)
    D_then = dissimilarity(np.arange(L, dtype=np.int64), n, zeros, n1_t, n11_t, L, JACCARD)
    D_now = dissimilarity(np.arange(L, dtype=np.int64), n, zeros, n1_n, n11_n, L, JACCARD)
    perm = rng.permutation(L)
    k = int(rng.integers(1, L))
    idx0, idx1 = np.sort(perm[:k]).astype(np.int64), np.sort(perm[k:]).astype(np.int64)
    ref_d = np.zeros(L * (L - 1) // 2)
    ref_u = np.zeros(L * (L - 1) // 2)
    set_references(idx0, idx1, D_then, n1_t, n11_t, L, ref_d, ref_u)
    full_d = [[0.0] * L for _ in range(L)]
    full_u = [[0.0] * L for _ in range(L)]
    for a in range(L):
        for b in range(a + 1, L):
            q = pair_index(a, b, L)
            across = (a in idx0) != (b in idx0)
            u = int(n1_t[a] + n1_t[b] - n11_t[q])
            assert union_count(a, b, n1_t, n11_t, L) == u == union_count(b, a, n1_t, n11_t, L)
            assert ref_d[q] == (D_then[a, b] if across else 0.0)
            assert ref_u[q] == (u if across else 0.0)
            full_d[a][b] = full_d[b][a] = ref_d[q]
            full_u[a][b] = full_u[b][a] = ref_u[q]
    log_term = float(rng.uniform(0.5, 8.0))
    got = closer_pair(idx0, idx1, D_now, n1_n, n11_n, L, ref_d, ref_u, log_term)
    want = twin_closer_pair(
        idx0.tolist(),
        idx1.tolist(),
        D_now.tolist(),
        n1_n.tolist(),
        full_n.tolist(),
        full_d,
        full_u,
        log_term,
    )
    assert got[1:] == want[1:]
    assert got[0] == pytest.approx(want[0], rel=1e-12) or got[0] == want[0] == -np.inf


def test_assign_split_keeps_an_equidistant_group_whole() -> None:
    """Three groups: pivots in groups A and B; group C (equidistant) must not be torn apart."""
    groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    D = np.full((9, 9), 0.9)
    for g in groups:
        for a in g:
            for b in g:
                D[a, b] = 0.2
    np.fill_diagonal(D, 0.0)
    idx = np.arange(9, dtype=np.int64)
    side = assign_split(D, idx, 0, 3, np.ones(9), 20)
    assert len({int(side[a]) for a in groups[2]}) == 1
    assert side[0] != side[3]
    assert {int(side[a]) for a in groups[0]} == {int(side[0])}
