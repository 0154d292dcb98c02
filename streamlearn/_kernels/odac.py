"""Kernels of the online label clusterer (:mod:`streamlearn.cluster.odac`).

Pure functions over arrays; each one has a slow pure-Python twin in ``tests/twins/odac_twin.py``.

Counts (one *bucket* of rows)
    ``n`` rows; ``unk[a]`` rows where label ``a`` was unknown; ``n1[a]`` rows where ``a`` was
    known and positive; ``n11[pair(a, b)]`` rows where both were known and positive, for
    ``a < b``, packed upper triangle (``pair(a, b) = a * (2L - a - 1) // 2 + b - a - 1``).

Dissimilarities
    ``kind`` 0 = Jaccard ``1 - n11 / (n1a + n1b - n11)``, 1 = ODAC's ``rnomc``
    ``sqrt((1 - corr) / 2)`` with ``corr`` the Pearson correlation of the two 0/1 variables.
    See the module docstring of :mod:`streamlearn.cluster.odac` for undefined cases and
    partially known label sets.
"""

from __future__ import annotations

import numpy as np

from streamlearn._kernels._config import njit

__all__ = [
    "JACCARD",
    "CORRELATION",
    "assign_split",
    "closer_pair",
    "count_rows",
    "cut_separation",
    "diameter",
    "dissimilarity",
    "pair_index",
    "set_references",
    "split_stats",
    "union_count",
]

JACCARD = 0
CORRELATION = 1


@njit
def pair_index(a: int, b: int, L: int) -> int:
    """Position of the pair ``a < b`` in the packed upper triangle of an ``L x L`` matrix."""
    return a * (2 * L - a - 1) // 2 + b - a - 1


@njit
def count_rows(
    pos_indptr: np.ndarray,
    pos_idx: np.ndarray,
    unk_indptr: np.ndarray,
    unk_idx: np.ndarray,
    start: int,
    stop: int,
    L: int,
    unk: np.ndarray,
    n1: np.ndarray,
    n11: np.ndarray,
) -> int:
    """Add rows ``start..stop-1`` to one bucket of counts; return the number of rows added.

    ``pos_indptr``/``pos_idx``: per row, the sorted labels that are known and positive (CSR);
    ``unk_indptr``/``unk_idx``: per row, the unknown labels (CSR; all empty when every label
    is known). Cost per row: #unknown + #positive + #positive * (#positive - 1) / 2.
    """
    for r in range(start, stop):
        for q in range(unk_indptr[r], unk_indptr[r + 1]):
            unk[unk_idx[q]] += 1
        p0 = pos_indptr[r]
        p1 = pos_indptr[r + 1]
        for i in range(p0, p1):
            a = pos_idx[i]
            n1[a] += 1
            base = a * (2 * L - a - 1) // 2 - a - 1
            for j in range(i + 1, p1):
                n11[base + pos_idx[j]] += 1
    return stop - start


@njit
def dissimilarity(
    labels: np.ndarray,
    n: int,
    unk: np.ndarray,
    n1: np.ndarray,
    n11: np.ndarray,
    L: int,
    kind: int,
) -> np.ndarray:
    """Dissimilarity matrix ``(k, k)`` of the labels ``labels`` (sorted, distinct).

    With no unknown rows for ``a`` and ``b``, the exact count formulas; otherwise rates over
    the rows where each label is known, with the joint known count estimated as
    ``m_a * m_b / n`` (labels missing at random).
    """
    k = labels.shape[0]
    D = np.zeros((k, k), dtype=np.float64)
    nf = float(n)
    for i in range(k):
        a = labels[i]
        for j in range(i + 1, k):
            b = labels[j]
            c11 = float(n11[pair_index(a, b, L)])
            ca = float(n1[a])
            cb = float(n1[b])
            if unk[a] == 0 and unk[b] == 0:
                ma = nf
                mb = nf
                mab = nf
            else:
                ma = nf - unk[a]
                mb = nf - unk[b]
                mab = ma * mb / nf if nf > 0 else 0.0
            if kind == JACCARD:
                if unk[a] == 0 and unk[b] == 0:
                    union = ca + cb - c11
                    d = 1.0 if union <= 0.0 else 1.0 - c11 / union
                else:
                    pa = ca / ma if ma > 0 else 0.0
                    pb = cb / mb if mb > 0 else 0.0
                    pab = c11 / mab if mab > 0 else 0.0
                    union = pa + pb - pab
                    if union <= 0.0:
                        d = 1.0
                    else:
                        d = 1.0 - pab / union
            else:
                pa = ca / ma if ma > 0 else 0.0
                pb = cb / mb if mb > 0 else 0.0
                pab = c11 / mab if mab > 0 else 0.0
                va = pa * (1.0 - pa)
                vb = pb * (1.0 - pb)
                if va <= 0.0 or vb <= 0.0:
                    corr = 0.0
                else:
                    corr = (pab - pa * pb) / np.sqrt(va * vb)
                if corr > 1.0:
                    corr = 1.0
                elif corr < -1.0:
                    corr = -1.0
                d = np.sqrt((1.0 - corr) / 2.0)
            if d < 0.0:
                d = 0.0
            elif d > 1.0:
                d = 1.0
            D[i, j] = d
            D[j, i] = d
    return D


@njit
def diameter(D: np.ndarray, idx: np.ndarray) -> float:
    """Largest dissimilarity among the labels ``idx`` (``nan`` for fewer than two labels)."""
    k = idx.shape[0]
    if k < 2:
        return np.nan
    d1 = -1.0
    for i in range(k):
        for j in range(i + 1, k):
            d = D[idx[i], idx[j]]
            if d > d1:
                d1 = d
    return d1


@njit
def split_stats(
    D: np.ndarray, idx: np.ndarray, support: np.ndarray
) -> tuple[float, float, float, float, int, int]:
    """ODAC's quantities of the cluster of labels ``idx`` (``k >= 2``): ``(d0, d1, d2, mean, p1, p2)``.

    ``D`` is a dissimilarity matrix over all labels and ``support`` a per-label weight (both
    indexed by label). ``d1`` is the largest pairwise dissimilarity (the diameter) and
    ``(p1, p2)`` its pair as positions in ``idx`` (``p1 < p2``); among exact ties the pair with
    the larger ``support[a] + support[b]``, then the first in row order. ``d2`` is the largest
    over the other pairs (``-1.0`` when ``k == 2``), ``d0`` the smallest and ``mean`` the mean
    over all ``k * (k - 1) / 2`` pairs.
    """
    k = idx.shape[0]
    d0 = np.inf
    d1 = -1.0
    total = 0.0
    p1 = -1
    p2 = -1
    best_sup = -1.0
    for i in range(k):
        a = idx[i]
        for j in range(i + 1, k):
            b = idx[j]
            d = D[a, b]
            total += d
            if d < d0:
                d0 = d
            sup = float(support[a] + support[b])
            if d > d1 or (d == d1 and sup > best_sup):
                d1 = d
                p1 = i
                p2 = j
                best_sup = sup
    d2 = -1.0
    for i in range(k):
        for j in range(i + 1, k):
            if (i != p1 or j != p2) and D[idx[i], idx[j]] > d2:
                d2 = D[idx[i], idx[j]]
    npairs = k * (k - 1) // 2
    return d0, d1, d2, total / npairs, p1, p2


@njit
def assign_split(
    D: np.ndarray,
    idx: np.ndarray,
    p1: int,
    p2: int,
    support: np.ndarray,
    max_passes: int,
) -> np.ndarray:
    """Sides (0/1, per position of ``idx``) of a split on the pivots ``idx[p1]`` (side 0) and ``idx[p2]`` (side 1).

    1. Greedy average linkage seeded by the pivots: repeatedly take the unassigned label whose
       mean dissimilarities to the two sides differ most (ties: first position) and put it on
       the side it is closer to on average. The first labels placed are those that ODAC puts
       with the nearer pivot; labels equidistant from both pivots (a third group) then follow
       the labels they co-occur with. An exact tie goes to the side whose pivot has the
       smaller ``support`` (``p2``'s side when equal).
    2. Refinement: up to ``max_passes`` passes in position order; a label strictly closer on
       average to the other side than to the rest of its own side moves (never emptying a
       side).
    """
    k = idx.shape[0]
    side = np.full(k, -1, dtype=np.int64)
    side[p1] = 0
    side[p2] = 1
    tie_side = 0 if support[idx[p1]] < support[idx[p2]] else 1
    s0 = np.empty(k, dtype=np.float64)
    s1 = np.empty(k, dtype=np.float64)
    for x in range(k):
        s0[x] = D[idx[x], idx[p1]]
        s1[x] = D[idx[x], idx[p2]]
    c0 = 1
    c1 = 1
    for _ in range(k - 2):
        best = -1
        best_gap = -1.0
        for x in range(k):
            if side[x] >= 0:
                continue
            gap = abs(s0[x] / c0 - s1[x] / c1)
            if gap > best_gap:
                best_gap = gap
                best = x
        a0 = s0[best] / c0
        a1 = s1[best] / c1
        if a0 < a1:
            s = 0
        elif a1 < a0:
            s = 1
        else:
            s = tie_side
        side[best] = s
        xb = idx[best]
        for y in range(k):
            if s == 0:
                s0[y] += D[idx[y], xb]
            else:
                s1[y] += D[idx[y], xb]
        if s == 0:
            c0 += 1
        else:
            c1 += 1
    # s0[x] / s1[x] now hold the sum of dissimilarities of x to each whole side
    for _ in range(max_passes):
        moved = False
        for x in range(k):
            xl = idx[x]
            if side[x] == 0:
                if c0 == 1 or s0[x] / (c0 - 1) <= s1[x] / c1:
                    continue
                side[x] = 1
                c0 -= 1
                c1 += 1
                for y in range(k):
                    s0[y] -= D[idx[y], xl]
                    s1[y] += D[idx[y], xl]
                moved = True
            else:
                if c1 == 1 or s1[x] / (c1 - 1) <= s0[x] / c0:
                    continue
                side[x] = 0
                c1 -= 1
                c0 += 1
                for y in range(k):
                    s1[y] -= D[idx[y], xl]
                    s0[y] += D[idx[y], xl]
                moved = True
        if not moved:
            break
    return side


@njit
def union_count(a: int, b: int, n1: np.ndarray, n11: np.ndarray, L: int) -> float:
    """Rows where ``a`` or ``b`` was positive: ``n1[a] + n1[b] - n11[a, b]``."""
    lo = a if a < b else b
    hi = b if a < b else a
    return float(n1[a] + n1[b] - n11[pair_index(lo, hi, L)])


@njit
def set_references(
    idx0: np.ndarray,
    idx1: np.ndarray,
    D: np.ndarray,
    n1: np.ndarray,
    n11: np.ndarray,
    L: int,
    ref_d: np.ndarray,
    ref_u: np.ndarray,
) -> None:
    """Record, for every pair across a cut (``a`` in ``idx0``, ``b`` in ``idx1``), its current
    dissimilarity and union count in the packed arrays ``ref_d`` / ``ref_u``."""
    for a in idx0:
        for b in idx1:
            lo = a if a < b else b
            hi = b if a < b else a
            q = pair_index(lo, hi, L)
            ref_d[q] = D[a, b]
            ref_u[q] = union_count(a, b, n1, n11, L)


@njit
def closer_pair(
    idx0: np.ndarray,
    idx1: np.ndarray,
    D: np.ndarray,
    n1: np.ndarray,
    n11: np.ndarray,
    L: int,
    ref_d: np.ndarray,
    ref_u: np.ndarray,
    log_term: float,
) -> tuple[float, int, int]:
    """The pair across a cut that came closest together since its reference, and the margin.

    For ``a`` in ``idx0`` and ``b`` in ``idx1`` with a reference: ``margin = ref_d - D[a, b] -
    (e_ref + e_now)`` with ``e = sqrt(log_term / (2 u))`` the Hoeffding bound of a Jaccard value
    over its ``u`` union rows (reference and now). Returns ``(margin, a, b)`` of the largest
    margin (first in order on ties), ``(-inf, -1, -1)`` when no pair can be tested. A positive
    margin: the two labels are reliably closer than when the cut was made.
    """
    best = -np.inf
    ba = -1
    bb = -1
    for a in idx0:
        for b in idx1:
            lo = a if a < b else b
            hi = b if a < b else a
            q = pair_index(lo, hi, L)
            u_ref = ref_u[q]
            u_now = union_count(a, b, n1, n11, L)
            if u_ref <= 0.0 or u_now <= 0.0:
                continue
            bound = np.sqrt(log_term / (2.0 * u_ref)) + np.sqrt(log_term / (2.0 * u_now))
            m = ref_d[q] - D[a, b] - bound
            if m > best:
                best = m
                ba = a
                bb = b
    return best, ba, bb


@njit
def cut_separation(D: np.ndarray, idx: np.ndarray, side: np.ndarray) -> tuple[float, float]:
    """``(mean across the cut, mean within the sides)`` of the dissimilarities among ``idx``.

    ``side`` gives 0/1 per position of ``idx``; the within mean pools the pairs of both sides
    (``nan`` when both sides are single labels).
    """
    k = idx.shape[0]
    sa = 0.0
    na = 0
    sw = 0.0
    nw = 0
    for i in range(k):
        for j in range(i + 1, k):
            d = D[idx[i], idx[j]]
            if side[i] == side[j]:
                sw += d
                nw += 1
            else:
                sa += d
                na += 1
    across = sa / na if na > 0 else np.nan
    within = sw / nw if nw > 0 else np.nan
    return across, within
