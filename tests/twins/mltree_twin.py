"""Slow, obvious twins of the multi-label tree kernels (:mod:`streamlearn._kernels.mltree`).

Everything here is plain Python (lists, dicts, loops, :mod:`math`) and is computed from the raw
rows wherever possible, not from the kernels' incremental arrays:

- :class:`TwinStore`: the store as a dict of rows plus an ownership map of the entry ring (a row
  is "whole" while none of its entries was overwritten and its row slot was not reused);
- :func:`twin_observers`, :func:`twin_node_stats`: batch recompute of a leaf's statistics;
- :class:`LeafRows`, :func:`twin_best_split_for_feature`, :func:`twin_split_at`,
  :func:`twin_attempt_split`: the point-mass-plus-Gaussian split model and the Hoeffding test;
- :func:`twin_knn`, :func:`twin_nb_gaussian`, :func:`twin_nb_multinomial`, :func:`twin_lr`,
  :func:`twin_leaf_predict`, :func:`twin_leaf_learn`: the leaf models and their mixture;
- :class:`TwinSpaceSaving`: the label-set table.

Outcomes of a row, for a tree over ``Lc`` labels: label ``c`` when it is known and positive;
"no label" (index ``Lc``) when every label is known and none is positive; "total" (``Lc + 1``)
always. An outcome is *known* in a row when its label is known ("no label": every label known;
"total": always). With partial label sets, labels are taken as missing at random: statistics of
the rows where a label is known and false are estimated as the known fraction ``q`` of the
statistics of all rows minus those of its positive rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tests.twins.mathx_twin import twin_binary_entropy, twin_normal_cdf, twin_normal_logpdf

N_MODELS = 6
MC, REC, KNN, NB, LR, KNN_LS = 0, 1, 2, 3, 4, 5

Row = tuple[list[int], list[float]]


# ---------------------------------------------------------------------------------- store
class TwinStore:
    """Rows as Python lists; the kernels' rings modelled by who owns each entry cell.

    ``G`` row slots (row ``rid`` lives in slot ``rid % G``) and ``E`` entry cells written in
    order. A non-empty row is readable while its slot holds it and every entry cell it wrote still
    holds that entry. An empty row owns no cell; the kernels expire it like a row whose first
    entry would sit at its position, i.e. once more than ``E`` entries were written after it.
    """

    def __init__(self, G: int, E: int) -> None:
        self.G = G
        self.E = E
        self.rows: dict[int, tuple[list[int], list[float], list[int], list[int]]] = {}
        self.begin: dict[int, int] = {}  # absolute entry position of each row
        self.owner: list[tuple[int, int] | None] = [None] * E
        self.next_id = 0
        self.written = 0
        self.dropped: set[int] = set()
        # values of a row as the learners saw it when it was learned (standardised dense rows)
        self.seen: dict[int, list[float]] = {}

    def remember(self, rid: int, z: list[float]) -> None:
        """Record the standardised values a dense row was predicted with, at learning time."""
        self.seen[rid] = list(z)

    def append(self, idx: list[int], val: list[float], y: list[int], known: list[int]) -> int:
        rid = self.next_id
        self.next_id += 1
        self.rows[rid] = (list(idx), list(val), list(y), list(known))
        self.begin[rid] = self.written
        for e in range(len(idx)):
            self.owner[(self.written + e) % self.E] = (rid, e)
        self.written += len(idx)
        return rid

    def valid(self, rid: int) -> bool:
        if rid < 0 or rid >= self.next_id or rid < self.next_id - self.G or rid in self.dropped:
            return False
        n = len(self.rows[rid][0])
        if n == 0:
            return self.written - self.begin[rid] <= self.E
        return all(self.owner[(self.begin[rid] + e) % self.E] == (rid, e) for e in range(n))

    def value(self, rid: int, f: int) -> float:
        idx, val, _, _ = self.rows[rid]
        for g, v in zip(idx, val):
            if g == f:
                return v
        return 0.0

    def relayout(self, new_E: int) -> None:
        """The readable rows, oldest first, written again from cell 0 of a ring of ``new_E``."""
        keep = [rid for rid in sorted(self.rows) if self.valid(rid)]
        for rid in self.rows:
            if rid not in keep:
                self.dropped.add(rid)
        self.E = new_E
        self.owner = [None] * new_E
        self.written = 0
        for rid in keep:
            self.begin[rid] = self.written
            for e in range(len(self.rows[rid][0])):
                self.owner[(self.written + e) % new_E] = (rid, e)
            self.written += len(self.rows[rid][0])


# ---------------------------------------------------------------------------------- outcomes
def outcomes(y: list[int], known: list[int]) -> tuple[list[int], bool, bool]:
    """(positive known labels, every label known, "no label" holds) of one row."""
    pos = [c for c in range(len(y)) if known[c] and y[c]]
    full = all(known)
    return pos, full, full and not pos


def twin_node_stats(
    ys: list[list[int]], knowns: list[list[int]], weights: list[float]
) -> tuple[float, list[float], list[float]]:
    """(weight, lw, kw) of a node from the label rows (tree label order) that reached it."""
    Lc = len(ys[0]) if ys else 0
    weight = 0.0
    lw = [0.0] * (Lc + 1)
    kw = [0.0] * (Lc + 1)
    for y, k, w in zip(ys, knowns, weights):
        if w <= 0.0:
            continue
        weight += w
        pos, full, empty = outcomes(y, k)
        for c in range(Lc):
            if k[c]:
                kw[c] += w
        for c in pos:
            lw[c] += w
        if full:
            kw[Lc] += w
            if empty:
                lw[Lc] += w
    return weight, lw, kw


def twin_observers(
    rows: list[Row],
    ys: list[list[int]],
    knowns: list[list[int]],
    weights: list[float],
    d: int,
    dense: bool,
) -> dict[str, list]:
    """Batch recompute of one leaf's observers (nested lists shaped like the kernel arrays).

    Observed values: every value of a dense row; the non-zero entries of a sparse row.
    """
    Lc = len(ys[0])
    T = Lc + 1
    o_w = [[0.0] * d for _ in range(T + 1)]
    o_s1 = [[0.0] * d for _ in range(T + 1)]
    o_s2 = [[0.0] * d for _ in range(T + 1)]
    o_min = [math.inf] * d
    o_max = [-math.inf] * d
    o_tot = [0.0] * (T + 1)
    o_mass = [0.0] * (T + 1)
    o_known = [0.0] * (T + 1)
    for (idx, val), y, k, w in zip(rows, ys, knowns, weights):
        if w <= 0.0:
            continue
        pos, full, empty = outcomes(y, k)
        for c in range(Lc):
            if k[c]:
                o_known[c] += w
        if full:
            o_known[Lc] += w
        o_known[T] += w
        outs = [*pos, *([Lc] if empty else []), T]
        rowsum = 0.0
        for v in val:
            rowsum += v
        for c in outs:
            o_tot[c] += w
            o_mass[c] += w * rowsum
        for f, v in zip(idx, val):
            if v == 0.0 and not dense:
                continue
            o_min[f] = min(o_min[f], v)
            o_max[f] = max(o_max[f], v)
            for c in outs:
                o_w[c][f] += w
                o_s1[c][f] += w * v
                o_s2[c][f] += w * v * v
    return {"o_w": o_w, "o_s1": o_s1, "o_s2": o_s2, "o_min": o_min, "o_max": o_max,
            "o_tot": o_tot, "o_mass": o_mass, "o_known": o_known}  # fmt: skip


def twin_scaling(rows: list[Row], d: int) -> tuple[list[float], list[float]]:
    """Mean and sum of squared deviations of each feature over dense rows (two passes)."""
    n = len(rows)
    mean = [0.0] * d
    for idx, val in rows:
        for f, v in zip(idx, val):
            mean[f] += v
    mean = [m / n for m in mean] if n else mean
    m2 = [0.0] * d
    for idx, val in rows:
        for f, v in zip(idx, val):
            m2[f] += (v - mean[f]) ** 2
    return mean, m2


# ---------------------------------------------------------------------------------- splits
@dataclass
class LeafRows:
    """The weighted rows that reached a leaf, as the split twin sees them."""

    rows: list[Row]
    ys: list[list[int]]
    knowns: list[list[int]]
    weights: list[float]
    d: int
    dense: bool

    @property
    def n_labels(self) -> int:
        return len(self.ys[0])

    def outcome_weights(self) -> list[float]:
        Lc = self.n_labels
        tot = [0.0] * (Lc + 2)
        for y, k, w in zip(self.ys, self.knowns, self.weights):
            pos, _, empty = outcomes(y, k)
            for c in [*pos, *([Lc] if empty else []), Lc + 1]:
                tot[c] += w
        return tot

    def known_weights(self) -> list[float]:
        """Per outcome, the weight of the rows where it is known."""
        Lc = self.n_labels
        kn = [0.0] * (Lc + 2)
        for k, w in zip(self.knowns, self.weights):
            if w <= 0.0:
                continue
            for c in range(Lc):
                if k[c]:
                    kn[c] += w
            if all(k):
                kn[Lc] += w
            kn[Lc + 1] += w
        return kn

    def known_fraction(self) -> list[float]:
        """``q``: per outcome, the fraction of the leaf's weight where it is known."""
        kn = self.known_weights()
        return [x / kn[-1] if kn[-1] > 0.0 else 0.0 for x in kn]

    def observed(self, f: int) -> list[list[tuple[float, float]]]:
        """Per outcome, the (weight, value) observations of feature ``f`` (zeros of sparse rows
        are not observations: they form the point mass)."""
        Lc = self.n_labels
        obs: list[list[tuple[float, float]]] = [[] for _ in range(Lc + 2)]
        for (idx, val), y, k, w in zip(self.rows, self.ys, self.knowns, self.weights):
            if w <= 0.0:
                continue
            pos, _, empty = outcomes(y, k)
            v = 0.0
            present = False
            for g, x in zip(idx, val):
                if g == f:
                    v = x
                    present = True
            if not present or (v == 0.0 and not self.dense):
                continue
            for c in [*pos, *([Lc] if empty else []), Lc + 1]:
                obs[c].append((w, v))
        return obs


def _gaussian(obs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(weight, mean, std) of weighted values; variance with Bessel's correction when weight > 1."""
    a = sum(w for w, _ in obs)
    if a <= 0.0:
        return 0.0, 0.0, 0.0
    mu = sum(w * v for w, v in obs) / a
    var = sum(w * (v - mu) ** 2 for w, v in obs) / a
    if a > 1.0:
        var *= a / (a - 1.0)
    return a, mu, math.sqrt(var) if var > 0.0 else 0.0


def twin_split_at(leaf: LeafRows, f: int, thr: float) -> tuple[list[float], list[float]]:
    """Estimated outcome weights (left, right) of ``x[f] <= thr``: per outcome, the zeros are a
    point mass at 0, the observed values a Gaussian clipped to the feature's observed range."""
    tot = leaf.outcome_weights()
    obs = leaf.observed(f)
    values = [v for w, v in obs[-1]]
    fmin, fmax = min(values, default=math.inf), max(values, default=-math.inf)
    left, right = [], []
    for c in range(len(tot)):
        a, mu, sd = _gaussian(obs[c])
        zeros = max(tot[c] - a, 0.0)
        if thr < fmin:
            cdf = 0.0
        elif thr >= fmax:
            cdf = 1.0
        else:
            cdf = twin_normal_cdf(thr, mu, sd)
        lw = a * cdf + (zeros if thr >= 0.0 else 0.0)
        left.append(lw)
        right.append(tot[c] - lw)
    return left, right


def twin_side_entropy(side: list[float], q: list[float]) -> float:
    """Entropy of labels + "no label" of one side (its last entry is the side's total): the
    binary entropy of each outcome's rate among the rows where it is known (estimated as the
    fraction ``q`` of the side's rows); outcomes never known do not count."""
    total = side[-1]
    if total <= 0.0:
        return 0.0
    return sum(twin_binary_entropy(x / (total * qc)) for x, qc in zip(side[:-1], q) if qc > 0.0)


def twin_candidates(leaf: LeafRows, f: int, n_split_points: int) -> list[float]:
    """Thresholds tried on feature ``f``: evenly spaced inside the range (0 included when some
    rows are zero), plus 0 itself; a feature with one non-zero value tries only its half."""
    W = sum(w for w in leaf.weights if w > 0.0)
    obs = leaf.observed(f)[-1]
    nz = sum(w for w, _ in obs)
    if nz <= 0.0:
        return []
    has_zeros = W - nz > 0.0
    values = [v for _, v in obs]
    vmin, vmax = min(values), max(values)
    lo, hi = (min(vmin, 0.0), max(vmax, 0.0)) if has_zeros else (vmin, vmax)
    if not hi > lo:
        return []
    if vmin == vmax:
        return [0.5 * vmin]
    out = [lo + (hi - lo) * (i + 1) / (n_split_points + 1.0) for i in range(n_split_points)]
    if has_zeros:
        out.append(0.0)
    return out


def twin_split_merit(leaf: LeafRows, f: int, thr: float, min_branch_fraction: float) -> float:
    """Information gain of ``x[f] <= thr`` (None-like ``-inf`` when a side is too light)."""
    tot = leaf.outcome_weights()
    left, right = twin_split_at(leaf, f, thr)
    W = tot[-1]
    lt, rt = left[-1], right[-1]
    if not (lt > min_branch_fraction * W and rt > min_branch_fraction * W):
        return -math.inf
    q = leaf.known_fraction()
    pre = twin_side_entropy(tot, q)
    post = (lt * twin_side_entropy(left, q) + rt * twin_side_entropy(right, q)) / (lt + rt)
    return pre - post


def twin_best_split_for_feature(
    leaf: LeafRows, f: int, n_split_points: int, min_branch_fraction: float
) -> tuple[float, float, dict[float, float]]:
    """(best merit, its threshold, merit of every candidate)."""
    merits = {}
    for thr in twin_candidates(leaf, f, n_split_points):
        merits[thr] = twin_split_merit(leaf, f, thr, min_branch_fraction)
    best, best_thr = -math.inf, 0.0
    for thr, m in merits.items():
        if m > best:
            best, best_thr = m, thr
    return best, best_thr, merits


def twin_attempt_split(leaf: LeafRows, n_distinct: float, p) -> tuple[str, float, float, float]:
    """Hoeffding test: ("wait" | "deactivate" | "split", eps, best - second, best merit).

    ``p`` has the kernels' parameter names. The range of the merit is ``log2`` of the number of
    distinct label sets (at least 2).
    """
    tot = leaf.outcome_weights()
    W = tot[-1]
    if W <= 0.0 or n_distinct <= 1.0:
        return "wait", math.nan, math.nan, math.nan
    known = leaf.known_weights()
    if any(x > p.max_share_to_split * kn for x, kn in zip(tot[:-1], known)):
        return "wait", math.nan, math.nan, math.nan
    merits = sorted(
        (
            twin_best_split_for_feature(leaf, f, int(p.n_split_points), p.min_branch_fraction)[0]
            for f in range(leaf.d)
        ),
        reverse=True,
    )
    if p.merit_preprune:
        merits = sorted([*merits, 0.0], reverse=True)  # the null split
    best = merits[0] if merits else -math.inf
    second = merits[1] if len(merits) > 1 else -math.inf
    if best == -math.inf:
        return "wait", math.nan, math.nan, best
    R = math.log2(max(n_distinct, 2.0))
    eps = math.sqrt(R * R * math.log(1.0 / p.delta) / (2.0 * W))
    if not (best - second > eps or eps < p.tau):
        return "wait", eps, best - second, best
    if best <= 0.0:
        return ("deactivate" if p.merit_preprune else "wait"), eps, best - second, best
    return "split", eps, best - second, best


GRACE_STRETCH = 4.0


def twin_wait_after_failed_test(W: float, eps: float, margin: float, p) -> float:
    """Weight to wait for before the next attempt after a Hoeffding test that failed at weight
    ``W`` with bound ``eps`` and ``margin`` = best - second merit: until the bound, which falls
    as ``1 / sqrt(W)``, would be below the margin or below ``tau`` — at least one grace period,
    at most ``GRACE_STRETCH`` of them."""
    c2 = eps * eps * W  # eps = sqrt(c2 / W)
    need = c2 / (p.tau * p.tau) if p.tau > 0.0 else math.inf
    if margin > 0.0:
        need = min(need, c2 / (margin * margin))
    return min(max(need - W, p.grace_period), GRACE_STRETCH * p.grace_period)


# ---------------------------------------------------------------------------------- leaf models
def sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


@dataclass
class Scaling:
    """Running standardisation of dense rows: per-feature mean, M2, and the row count."""

    mean: list[float]
    m2: list[float]
    n: float

    def z(self, f: int, v: float) -> float:
        if self.n <= 1.0:
            return 0.0
        sd = math.sqrt(self.m2[f] / (self.n - 1.0))
        return (v - self.mean[f]) * (1.0 / sd if sd > 0.0 else 1.0)


def scaled_row(row: Row, dense: bool, scaling: Scaling | None) -> list[float]:
    """The values a leaf model sees: standardised (dense) or raw (sparse)."""
    idx, val = row
    if not dense:
        return list(val)
    return [scaling.z(f, v) for f, v in zip(idx, val)]


def twin_knn(
    query: Row,
    ring_newest_first: list[int],
    store: TwinStore,
    k: int,
    dense: bool,
    scaling: Scaling | None,
) -> list[tuple[int, float]]:
    """The ``k`` readable recent rows most cosine-similar to ``query``, most similar first; on
    equal similarity the more recent row first. Returns (rid, similarity) pairs. (The leaf
    model takes ``4 * knn_k`` candidates, so that each label finds ``knn_k`` that know it.)

    The query is standardised with the current statistics (dense); a stored row keeps the
    values it was learned with (``store.seen``; raw when it was never learned, or sparse)."""
    qz = scaled_row(query, dense, scaling)
    qmap = dict(zip(query[0], qz))
    qn = math.sqrt(sum(z * z for z in qz))
    cands = []
    for rid in ring_newest_first:
        if not store.valid(rid):
            continue
        idx, val, _, _ = store.rows[rid]
        rz = store.seen.get(rid, val)
        dot = 0.0
        for f, z in zip(idx, rz):
            dot += z * qmap.get(f, 0.0)
        rn = math.sqrt(sum(z * z for z in rz))
        sim = dot / (rn * qn) if rn > 0.0 and qn > 0.0 else 0.0
        cands.append((rid, sim))
    cands.sort(key=lambda t: -t[1])  # stable: newest first among equals
    return cands[:k]


def twin_remember_learned(store: TwinStore, rows: list[Row], first: int, d: int) -> None:
    """``store.seen`` for dense rows ``rows`` (ids ``first``, ``first + 1``...) learned in order,
    each standardised with the statistics of the rows learned before it."""
    for i, row in enumerate(rows):
        mean, m2 = twin_scaling(rows[:i], d)
        store.remember(first + i, scaled_row(row, True, Scaling(mean, m2, float(i))))


def twin_knn_vote(
    candidates: list[tuple[int, float]],
    store: TwinStore,
    cols: list[int],
    prior: list[float],
    k: int,
) -> list[float]:
    """Per label: the share of positives among the ``k`` most similar candidates where the
    label is known (else the prior)."""
    out = []
    for c, col in enumerate(cols):
        known = [store.rows[rid][2][col] for rid, _ in candidates if store.rows[rid][3][col]][:k]
        out.append(sum(known) / len(known) if known else prior[c])
    return out


def twin_knn_labelset_vote(
    candidates: list[tuple[int, float]], store: TwinStore, cols: list[int], k: int
) -> list[float]:
    """The label set (over ``cols``; unknown = absent) most frequent among the ``k`` most
    similar candidates; on a tie, the one of the most similar candidate."""
    sets = [
        tuple(store.rows[rid][2][col] if store.rows[rid][3][col] else 0 for col in cols)
        for rid, _ in candidates[:k]
    ]
    best = max(range(len(sets)), key=lambda i: (sets.count(sets[i]), -i))
    return [float(b) for b in sets[best]]


def _weighted_mean_var(obs: list[tuple[float, float]]) -> tuple[float, float, float]:
    a = sum(w for w, _ in obs)
    if a <= 0.0:
        return 0.0, 0.0, 0.0
    mu = sum(w * v for w, v in obs) / a
    return a, mu, sum(w * (v - mu) ** 2 for w, v in obs) / a


def _positive(leaf: LeafRows, c: int) -> list[bool]:
    return [bool(k[c] and y[c]) for y, k in zip(leaf.ys, leaf.knowns)]


def _nb_class_weights(leaf: LeafRows, c: int) -> tuple[float, float, float, float]:
    """(W, positive weight, known weight, q) of label ``c`` at the leaf."""
    W = sum(w for w in leaf.weights if w > 0.0)
    pos = _positive(leaf, c)
    wp = sum(w for w, q in zip(leaf.weights, pos) if q and w > 0.0)
    wk = sum(w for w, k in zip(leaf.weights, leaf.knowns) if k[c] and w > 0.0)
    return W, wp, wk, wk / W


def _nb_probability(wp: float, wk: float, logit: float) -> float:
    """A label that was never or always positive where known gets that frequency."""
    if wp <= 0.0 or wk - wp <= 0.0:
        return wp / wk if wk > 0.0 else 0.0
    return sigmoid(logit)


def twin_nb_gaussian(
    leaf: LeafRows, query: Row, alpha: float, params: LeafRows | None = None
) -> tuple[list[float], list[float]]:
    """Gaussian naive Bayes per label on dense rows: (logits, probabilities).

    ``params``: the leaf's rows as of its last parameter refresh (the kernel recomputes the
    per-feature Gaussians every ``NB_REFRESH`` of weight); the class priors and the frequency
    fallback always use ``leaf`` (all rows so far). ``None``: the parameters are current too.

    Positives: rows where the label is known and true. Negatives: rows where it is known and
    false, their weight and feature sums estimated as ``q * (all rows) - positives`` (``q``:
    fraction of the weight where the label is known). Prior log-odds with ``alpha`` smoothing;
    per feature a Gaussian per class (biased variance, floored at ``1e-9 + 1e-3 * var(all)``;
    a class without weight uses the statistics of all rows).
    """
    src = leaf if params is None else params
    learned = [(dict(zip(*row)), y, k, w)
               for row, y, k, w in zip(src.rows, src.ys, src.knowns, src.weights) if w > 0.0]  # fmt: skip
    logits, probs = [], []
    for c in range(leaf.n_labels):
        W, wp, wk, _ = _nb_class_weights(leaf, c)
        q = _nb_class_weights(src, c)[3]
        logit = math.log((wp + alpha) / (max(wk - wp, 0.0) + alpha))
        for f, v in zip(*query):
            allv = [(w, x[f]) for x, _, _, w in learned if f in x]
            posv = [(w, x[f]) for x, y, k, w in learned if f in x and k[c] and y[c]]
            nt, mt, vt = _weighted_mean_var(allv)
            if nt <= 0.0:
                continue
            floor = 1e-9 + 1e-3 * max(vt, 0.0)
            vt = max(vt, floor)
            n_p, mp, vp = _weighted_mean_var(posv)
            mp, vp = (mp, max(vp, floor)) if n_p > 0.0 else (mt, vt)
            # the negatives' sums, estimated
            nn = q * nt - n_p
            if nn > 1e-9:
                s1 = q * sum(w * x for w, x in allv) - sum(w * x for w, x in posv)
                s2 = q * sum(w * x * x for w, x in allv) - sum(w * x * x for w, x in posv)
                mn = s1 / nn
                vn = max(s2 / nn - mn * mn, floor)
            else:
                mn, vn = mt, vt
            logit += twin_normal_logpdf(v, mp, vp) - twin_normal_logpdf(v, mn, vn)
        logits.append(logit)
        probs.append(_nb_probability(wp, wk, logit))
    return logits, probs


def twin_nb_multinomial(
    leaf: LeafRows, query: Row, alpha: float
) -> tuple[list[float], list[float]]:
    """Multinomial naive Bayes per label on sparse rows: (logits, probabilities).

    ``log P(x | class) = sum_f x_f log((count_f + alpha) / (mass + alpha d))`` where ``count_f``
    is the class's weighted sum of feature ``f`` and ``mass`` its weighted sum of row sums
    (counts are non-negative: a negative sum, from signed values, counts as 0). Classes, the
    negatives' estimate and the frequency fallback as in :func:`twin_nb_gaussian`.
    """
    d = leaf.d
    logits, probs = [], []
    for c in range(leaf.n_labels):
        W, wp, wk, q = _nb_class_weights(leaf, c)
        pos = _positive(leaf, c)
        count_all, count_pos = [0.0] * d, [0.0] * d
        mass_all = mass_pos = 0.0
        for (idx, val), is_pos, w in zip(leaf.rows, pos, leaf.weights):
            if w <= 0.0:
                continue
            for f, v in zip(idx, val):
                count_all[f] += w * v
                mass_all += w * v
                if is_pos:
                    count_pos[f] += w * v
                    mass_pos += w * v
        mass_neg = max(q * mass_all - mass_pos, 0.0)
        mass_pos = max(mass_pos, 0.0)
        logit = math.log((wp + alpha) / (max(wk - wp, 0.0) + alpha))
        for f, v in zip(*query):
            cp = max(count_pos[f], 0.0)
            cn = max(q * count_all[f] - count_pos[f], 0.0)
            lp = math.log((cp + alpha) / (mass_pos + alpha * d))
            ln = math.log((cn + alpha) / (mass_neg + alpha * d))
            logit += v * (lp - ln)
        logits.append(logit)
        probs.append(_nb_probability(wp, wk, logit))
    return logits, probs


def twin_lr(
    z_row: list[float], idx: list[int], w: list[list[float]], b: list[float]
) -> list[float]:
    """Per-label logistic regression: sigmoid(b_c + sum_f z_f w[f][c])."""
    out = []
    for c in range(len(b)):
        s = b[c]
        for f, z in zip(idx, z_row):
            s += z * w[f][c]
        out.append(sigmoid(s))
    return out


class TwinSpaceSaving:
    """Space-saving counts of label sets in a table of ``K`` entries (order = table slots).

    A set already in the table gains the weight; a new set takes a free entry, or replaces the
    first entry of smallest count and inherits that count. ``distinct`` counts new arrivals.
    """

    def __init__(self, K: int, entries: list[tuple[tuple[int, ...], float]] | None = None,
                 distinct: float = 0.0) -> None:  # fmt: skip
        self.K = K
        self.entries = [list(e) for e in (entries or [])]
        self.distinct = distinct

    def add(self, bits: tuple[int, ...], w: float) -> None:
        for e in self.entries:
            if e[0] == bits:
                e[1] += w
                return
        self.distinct += 1.0
        if len(self.entries) < self.K:
            self.entries.append([bits, w])
            return
        k = min(range(self.K), key=lambda j: (self.entries[j][1], j))
        self.entries[k] = [bits, self.entries[k][1] + w]

    def majority(self) -> tuple[int, ...] | None:
        if not self.entries:
            return None
        best = self.entries[0]
        for e in self.entries[1:]:
            if e[1] > best[1]:
                best = e
        return best[0]

    def as_dict(self) -> dict[tuple[int, ...], float]:
        return {tuple(b): c for b, c in self.entries}


# ---------------------------------------------------------------------------------- one leaf
@dataclass
class LeafView:
    """What a leaf's mixture reads: the state of one leaf (plain Python values)."""

    weight: float
    prior: list[float]  # lw / kw per label (0 when kw == 0)
    loss: list[list[float]]  # [label][model]
    lr_w: list[list[float]]  # [feature][label]
    lr_b: list[float]
    ring: list[int]  # slot order
    ring_n: int
    ring_pos: int
    labelsets: TwinSpaceSaving
    has_oslot: bool
    lw: list[float] = field(default_factory=list)
    kw: list[float] = field(default_factory=list)

    def ring_newest_first(self) -> list[int]:
        return ring_newest_first(self.ring, self.ring_n, self.ring_pos)


def ring_newest_first(ring: list[int], n: int, pos: int) -> list[int]:
    """The ``n`` entries of a ring whose next write goes to ``pos``, newest first."""
    return [ring[(pos - back) % len(ring)] for back in range(1, n + 1)]


def twin_negligible(loss: list[list[float]], i: int, mask: int, eta: float, skip: float) -> bool:
    """Model ``i``'s mixture weight is below ``skip`` for every label (relative to the best
    enabled model): its loss exceeds the smallest enabled loss by more than ``-ln(skip)/eta``."""
    if skip <= 0.0:
        return False
    gap = -math.log(skip) / eta
    for row in loss:
        lo = min((row[j] for j in range(N_MODELS) if (mask >> j) & 1), default=math.inf)
        if row[i] - lo <= gap:
            return False
    return True


NB_REFRESH = 8.0
NB_REFRESH_SHARE = 1.0 / 16.0


def twin_leaf_predict(
    view: LeafView,
    store: TwinStore,
    leaf: LeafRows,
    query: Row,
    cols: list[int],
    p,
    scaling: Scaling | None,
    nb_state: dict | None = None,
) -> tuple[list[float], list[list[float]], list[bool]]:
    """(mixture probabilities, per-model probabilities, which models took part) of one leaf.

    ``nb_state`` (a dict kept by the caller across rows) models the refresh of the Gaussian
    naive Bayes parameters: they are recomputed, from the rows seen so far, when naive Bayes is
    evaluated and the leaf's weight grew by ``NB_REFRESH``, or by ``NB_REFRESH_SHARE`` of its
    weight at the last refresh when that is more, since the last refresh (or there was none); in
    between they stay those of the last refresh.

    Skipping: while the leaf has weight, a model negligible for every label is left out, except
    on rows where ``ring_pos`` is a multiple of 16 (then every enabled model takes part). A
    model is negligible relative to the best loss of the enabled models; the skipped ones are
    then judged again against the models that did predict (the best could not: a label set not
    known yet, no neighbours...), and those that are not negligible there take part too.
    """
    Lc = len(cols)
    dense = bool(p.dense)
    mask = int(p.models_mask)
    full_mask = mask
    if view.weight > 0.0 and view.ring_pos % 16 != 0:
        for i in range(N_MODELS):
            if (full_mask >> i) & 1 and twin_negligible(
                view.loss, i, full_mask, p.hedge_eta, p.skip_below
            ):
                mask &= ~(1 << i)
    pm = [[math.nan] * Lc for _ in range(N_MODELS)]
    valid = [False] * N_MODELS
    ran = 0
    while mask:
        if (mask >> MC) & 1:
            bits = view.labelsets.majority()
            if bits is not None:
                pm[MC] = [float(b) for b in bits]
                valid[MC] = True
        if (mask >> REC) & 1:
            # per label, its value in the newest readable recent row where it is known
            readable = [rid for rid in view.ring_newest_first() if store.valid(rid)]
            if readable:
                valid[REC] = True
                for c, col in enumerate(cols):
                    vals = [store.rows[rid][2][col] for rid in readable if store.rows[rid][3][col]]
                    pm[REC][c] = float(vals[0]) if vals else view.prior[c]
        if (mask >> KNN) & 1 or (mask >> KNN_LS) & 1:
            k = max(int(p.knn_k), 1)
            nb = twin_knn(query, view.ring_newest_first(), store, 4 * k, dense, scaling)
            if nb:
                pm[KNN] = twin_knn_vote(nb, store, cols, view.prior, int(p.knn_k))
                pm[KNN_LS] = twin_knn_labelset_vote(nb, store, cols, int(p.knn_k))
                valid[KNN] = valid[KNN] or bool((mask >> KNN) & 1)
                valid[KNN_LS] = valid[KNN_LS] or bool((mask >> KNN_LS) & 1)
        if (mask >> NB) & 1 and view.has_oslot and sum(w for w in leaf.weights if w > 0.0) > 0.0:
            if dense:
                params = None
                if nb_state is not None:
                    W = sum(w for w in leaf.weights if w > 0.0)
                    at = nb_state.get("at")
                    if at is None or W - at >= max(NB_REFRESH, NB_REFRESH_SHARE * at):
                        nb_state["at"] = W
                        nb_state["rows"] = leaf
                    params = nb_state["rows"]
                pm[NB] = twin_nb_gaussian(leaf, query, p.nb_alpha, params)[1]
            else:
                pm[NB] = twin_nb_multinomial(leaf, query, p.nb_alpha)[1]
            valid[NB] = True
        if (mask >> LR) & 1 and view.weight > 0.0:
            pm[LR] = twin_lr(scaled_row(query, dense, scaling), query[0], view.lr_w, view.lr_b)
            valid[LR] = True
        # skipped models are judged again against the models that did predict, when the one
        # with the best loss could not
        ran |= mask
        took = sum(1 << i for i in range(N_MODELS) if valid[i])
        mask = 0
        for i in range(N_MODELS):
            if (full_mask >> i) & 1 and not (ran >> i) & 1:
                if not twin_negligible(view.loss, i, took, p.hedge_eta, p.skip_below):
                    mask |= 1 << i
    out = []
    for c in range(Lc):
        used = [i for i in range(N_MODELS) if valid[i]]
        if not used:
            out.append(view.prior[c])
            continue
        lo = min(view.loss[c][i] for i in used)
        ws = [math.exp(-p.hedge_eta * (view.loss[c][i] - lo)) for i in used]
        out.append(sum(w * pm[i][c] for w, i in zip(ws, used)) / sum(ws))
    return out, pm, valid


def twin_leaf_learn(
    view: LeafView,
    query: Row,
    y: list[int],
    known: list[int],
    w: float,
    pm: list[list[float]],
    valid: list[bool],
    rid: int,
    p,
    scaling: Scaling | None,
) -> LeafView:
    """The leaf's state after learning one row of weight ``w`` (a new view; ``view`` untouched).

    Every model that took part in the mixture adds its squared error to its decayed loss (also
    at weight 0). With weight: node counts, one SGD step of the logistic model per known label
    (gradient from the logistic model's own prediction), the row joins the recent rows, and a
    complete label set joins the label-set table.
    """
    Lc = len(y)
    loss = [row[:] for row in view.loss]
    for c in range(Lc):
        if known[c]:
            for i in range(N_MODELS):
                if valid[i]:
                    loss[c][i] = p.loss_decay * loss[c][i] + (pm[i][c] - y[c]) ** 2
    new = LeafView(
        weight=view.weight, prior=view.prior, loss=loss, lr_w=[r[:] for r in view.lr_w],
        lr_b=view.lr_b[:], ring=view.ring[:], ring_n=view.ring_n, ring_pos=view.ring_pos,
        labelsets=TwinSpaceSaving(view.labelsets.K, view.labelsets.entries, view.labelsets.distinct),
        has_oslot=view.has_oslot, lw=view.lw[:], kw=view.kw[:],
    )  # fmt: skip
    if w <= 0.0:
        return new
    pos, full, empty = outcomes(y, known)
    new.weight += w
    for c in range(Lc):
        if known[c]:
            new.kw[c] += w
    for c in pos:
        new.lw[c] += w
    if full:
        new.kw[Lc] += w
        if empty:
            new.lw[Lc] += w
    if (int(p.models_mask) >> LR) & 1:
        z = scaled_row(query, bool(p.dense), scaling)
        pred = twin_lr(z, query[0], view.lr_w, view.lr_b)
        for c in range(Lc):
            if not known[c]:
                continue
            g = p.learning_rate * w * (y[c] - pred[c])
            new.lr_b[c] += g
            for f, zf in zip(query[0], z):
                if zf != 0.0:
                    new.lr_w[f][c] += g * zf
    W = len(new.ring)
    new.ring[new.ring_pos] = rid
    new.ring_pos = (new.ring_pos + 1) % W
    new.ring_n = min(new.ring_n + 1, W)
    if full:
        new.labelsets.add(tuple(y), w)
    return new
