"""Slow, obvious twins of :mod:`streamlearn._kernels.odac` (plain Python loops, no numpy tricks).

Counts are returned with ``n11`` as a full symmetric ``L x L`` list of lists (diagonal 0), so
they double as the batch recompute of the clusterer's window.
"""

from __future__ import annotations

import math


def twin_counts(Y, known=None):
    """``(n, unk, n1, n11)`` of the rows of ``Y`` (lists of 0/1) with an optional known mask."""
    n = len(Y)
    L = len(Y[0]) if n else 0
    unk = [0] * L
    n1 = [0] * L
    n11 = [[0] * L for _ in range(L)]
    for r in range(n):
        for a in range(L):
            ka = True if known is None else bool(known[r][a])
            if not ka:
                unk[a] += 1
                continue
            if Y[r][a]:
                n1[a] += 1
                for b in range(L):
                    kb = True if known is None else bool(known[r][b])
                    if b != a and kb and Y[r][b]:
                        n11[a][b] += 1
    return n, unk, n1, n11


def twin_dissimilarity(labels, n, unk, n1, n11, kind):
    """Dissimilarity matrix (list of lists) of ``labels``; ``n11`` full; kind 0 Jaccard, 1 rnomc."""
    k = len(labels)
    D = [[0.0] * k for _ in range(k)]
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            a, b = labels[i], labels[j]
            c11, ca, cb = float(n11[a][b]), float(n1[a]), float(n1[b])
            exact = unk[a] == 0 and unk[b] == 0
            if exact:
                ma = mb = mab = float(n)
            else:
                ma, mb = float(n - unk[a]), float(n - unk[b])
                mab = ma * mb / n if n > 0 else 0.0
            pa = ca / ma if ma > 0 else 0.0
            pb = cb / mb if mb > 0 else 0.0
            pab = c11 / mab if mab > 0 else 0.0
            if kind == 0:
                if exact:
                    union = ca + cb - c11
                    d = 1.0 if union <= 0 else 1.0 - c11 / union
                else:
                    union = pa + pb - pab
                    d = 1.0 if union <= 0 else 1.0 - pab / union
            else:
                va, vb = pa * (1 - pa), pb * (1 - pb)
                corr = 0.0 if va <= 0 or vb <= 0 else (pab - pa * pb) / math.sqrt(va * vb)
                corr = min(1.0, max(-1.0, corr))
                d = math.sqrt((1 - corr) / 2)
            D[i][j] = min(1.0, max(0.0, d))
    return D


def _pairs(idx):
    return [(i, j) for i in range(len(idx)) for j in range(i + 1, len(idx))]


def twin_diameter(D, idx):
    if len(idx) < 2:
        return math.nan
    return max(D[idx[i]][idx[j]] for i, j in _pairs(idx))


def twin_split_stats(D, idx, support):
    """``(d0, d1, d2, mean, p1, p2)`` as documented in the kernel."""
    pairs = _pairs(idx)
    vals = [D[idx[i]][idx[j]] for i, j in pairs]
    d1 = max(vals)
    best = None
    for (i, j), v in zip(pairs, vals):
        if v == d1:
            sup = support[idx[i]] + support[idx[j]]
            if best is None or sup > best[0]:
                best = (sup, i, j)
    _, p1, p2 = best
    rest = [v for (i, j), v in zip(pairs, vals) if (i, j) != (p1, p2)]
    d2 = max(rest) if rest else -1.0
    return min(vals), d1, d2, sum(vals) / len(vals), p1, p2


def _mean_to(D, idx, x, members):
    members = [y for y in members if y != x]
    return sum(D[idx[x]][idx[y]] for y in members) / len(members)


def twin_assign_split(D, idx, p1, p2, support, max_passes):
    """Greedy average linkage from the pivots, then refinement (see the kernel's docstring)."""
    k = len(idx)
    side = [-1] * k
    side[p1], side[p2] = 0, 1
    tie_side = 0 if support[idx[p1]] < support[idx[p2]] else 1
    for _ in range(k - 2):
        sides = [[y for y in range(k) if side[y] == s] for s in (0, 1)]
        best, best_gap = None, -1.0
        for x in range(k):
            if side[x] >= 0:
                continue
            a0 = sum(D[idx[x]][idx[y]] for y in sides[0]) / len(sides[0])
            a1 = sum(D[idx[x]][idx[y]] for y in sides[1]) / len(sides[1])
            # the kernel compares running sums divided by counts: same values, same order
            gap = abs(a0 - a1)
            if gap > best_gap:
                best, best_gap, best_a = x, gap, (a0, a1)
        a0, a1 = best_a
        side[best] = 0 if a0 < a1 else 1 if a1 < a0 else tie_side
    for _ in range(max_passes):
        moved = False
        for x in range(k):
            own = [y for y in range(k) if side[y] == side[x]]
            other = [y for y in range(k) if side[y] != side[x]]
            if len(own) == 1:
                continue
            if _mean_to(D, idx, x, own) > _mean_to(D, idx, x, other):
                side[x] = 1 - side[x]
                moved = True
        if not moved:
            break
    return side


def twin_cut_separation(D, idx, side):
    across = [D[idx[i]][idx[j]] for i, j in _pairs(idx) if side[i] != side[j]]
    within = [D[idx[i]][idx[j]] for i, j in _pairs(idx) if side[i] == side[j]]
    mean = lambda v: sum(v) / len(v) if v else math.nan  # noqa: E731
    return mean(across), mean(within)


def twin_closer_pair(idx0, idx1, D, n1, n11, ref_d, ref_u, log_term):
    """``ref_d`` / ``ref_u`` and ``n11`` are full matrices here (None / 0 = no reference)."""
    best = (-math.inf, -1, -1)
    for a in idx0:
        for b in idx1:
            u_ref = ref_u[a][b]
            u_now = n1[a] + n1[b] - n11[a][b]
            if u_ref <= 0 or u_now <= 0:
                continue
            bound = math.sqrt(log_term / (2 * u_ref)) + math.sqrt(log_term / (2 * u_now))
            m = ref_d[a][b] - D[a][b] - bound
            if m > best[0]:
                best = (m, a, b)
    return best
