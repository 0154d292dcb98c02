"""Online divisive-agglomerative clustering of the labels (ODAC with Jaccard dissimilarity).

The label space is partitioned online into groups of labels that occur together, for iHOMER
(one multi-label tree per group). The method is ODAC (Rodrigues, Gama & Pedroso, "Hierarchical
clustering of time-series data streams", IEEE TKDE 20(5), 2008) applied to the 0/1 label
columns, with the Jaccard dissimilarity the iHOMER paper names, and with the changes listed at
the end that make it work on label data. Full description: ``docs/clustering.md``.

Statistics
----------
One set of co-occurrence counts over the *whole* label space, kept over a window of recent rows
in two buckets (``window``): rows ``n``, per label the positive count ``n1[a]`` and the unknown
count ``unk[a]``, per pair ``a < b`` the joint positive count ``n11[a, b]``. A row touches only
its positive labels and the pairs of them (cost ``p (p - 1) / 2`` for ``p`` positives, plus its
unknown labels when a known-mask is given); the dissimilarity of any pair, including pairs of
labels that never co-occurred, follows from these counts. A cluster's statistics are these
counts restricted to its labels, so a split's children *inherit* them (ODAC starts children
with fresh counts): children can be tested at once, and the counts *across* clusters are what
lets the agglomerative step see labels of different clusters start to co-occur.

- Jaccard: ``D(a, b) = 1 - n11 / (n1a + n1b - n11)``; ``D = 1`` when neither label was
  positive in the window (no evidence of co-occurrence).
- Correlation (``dissimilarity="correlation"``, the ablation): ODAC's own
  ``rnomc = sqrt((1 - corr) / 2)`` with ``corr`` the Pearson correlation of the two 0/1
  columns, ``(n n11 - n1a n1b) / sqrt(n1a (n - n1a) n1b (n - n1b))``; ``corr = 0`` (``D =
  sqrt(1/2)``) when a label is constant in the window.
- Partially known label sets (``known`` mask): an unknown label counts in ``unk`` and in no
  other count. Then rates replace counts: ``p_a = n1[a] / m_a`` with ``m_a = n - unk[a]``,
  ``p_ab = n11 / m_ab`` with the joint known count estimated as ``m_ab = m_a m_b / n`` (labels
  missing at random; exact per-pair known counts would cost a pass over all known pairs of
  every row). Jaccard is ``p_ab / (p_a + p_b - p_ab)``; rows with every label known give the
  exact count formula.

Tests (every ``n_min`` rows, the same clock for every cluster)
----------------------------------------------------------------
``n`` = rows in the window, Hoeffding bound ``eps = sqrt(R^2 ln(1/delta) / (2 n))`` with
``R = 1`` (both dissimilarities lie in [0, 1]); with partial label sets ``n`` is the estimated number
of rows where a pair is known, ``mean(m_a)^2 / n``.

*Split* (a leaf with at least 3 labels, below ``max_depth``). ODAC's quantities: ``d1`` = the
largest pairwise dissimilarity (the diameter; its pair are the pivots, exact ties broken by the
larger joint positive count), ``d2`` = the largest over the other pairs, ``d0`` = the smallest,
``d_avg`` = the mean over all ``k (k - 1) / 2`` pairs. ODAC splits when::

    (d1 - d2 > eps  or  tau > eps)  and  h = (d1 - d0) * |(d1 - d_avg) - (d_avg - d0)| > eps

The labels then go to the pivots (:func:`~streamlearn._kernels.odac.assign_split`): a label
joins the pivot it is clearly closer to (ODAC's rule), labels equidistant from both pivots (a
third group) follow the labels they co-occur with (average linkage to the sides built so far),
and a label closer on average to the other side moves. ODAC's ``h`` is near 0 whenever the
pairwise dissimilarities are symmetric around their mean -- for two well-separated groups
with about as many pairs inside the groups as across them (6 + 3 labels: 18 and 18 pairs), ``h
= 0`` whatever the separation. So, second rule (``separation > 0``; ``0`` gives ODAC's test
alone): when the first condition holds but ``h <= eps``, the cluster also splits if the cut just
computed separates: ``mean across the cut - mean within the sides > separation * eps``. Every
child is tested again at once (same counts).

*Merge* (``merge=True``): top-down, a split node ``P`` with children ``c1``, ``c2`` is merged
back -- its subtree removed, ``P`` active again -- when

- M1, ODAC's aggregate test: a child's diameter exceeds ``P``'s diameter at split time by more
  than the bound: ``d1(c) - d1_split(P) > max(eps, eps_split(P))``;
- M2, two labels across the cut came together: when ``P`` split, the dissimilarity
  ``D_ref(a, b)`` and union count ``u_ref`` (rows where ``a`` or ``b`` was positive) of every
  pair across the cut were recorded; ``P`` merges when for some pair ``a`` in ``c1``, ``b`` in
  ``c2``::

      D_ref(a, b) - D(a, b) > e(u_ref) + e(u),   e(u) = sqrt(ln(|c1| |c2| / delta) / (2 u))

  (a Jaccard value is a mean over its union rows; two independent estimates, so the sum of
  their bounds; ``delta`` shared among the ``|c1| |c2|`` pairs; the union count also serves
  as the sample size for the correlation dissimilarity).

A merged node is split again at once if it passes the split test, so a changed correlation
structure is rebuilt in one check. M2 looks only at changes of the data since the cut was made,
never at how well the cut fits the current data, so a cut is not undone and re-made by noise or
by disagreement between the assignment heuristic and the test.

New labels
----------
:meth:`JaccardODAC.add_labels` puts the new labels into one new leaf beside the current root
(under a new root that no split test made: only M2 applies to it). A new label is *pending*
until a check at least ``n_min`` rows after it was added where it has been positive in the
window; it then moves into the active cluster whose labels it co-occurred with most (largest sum
of ``n11`` with the cluster's labels), or stays in the new leaf when it co-occurred with no
placed label.

Bound on re-grouping after an abrupt label-correlation drift at row ``t0``
-------------------------------------------------------------------------
``B`` = the bucket size (``window / 2`` rounded up to a multiple of ``n_min``). Buckets turn
over every ``B`` rows at a check and the window is the previous plus the current bucket, so
every check from the second turnover after ``t0`` on -- at the latest at ``t0 + 2B`` -- sees
post-drift rows only (between ``B`` and ``2B - n_min`` of them). At that check every cut that
the new correlations contradict (M1, M2) is undone and re-split from post-drift counts alone,
down to the leaves in the same check: the partition is re-grouped by ``t0 + 2B`` (``+ width /
2`` for a gradual drift), whatever the depth of the hierarchy (ODAC's fresh child statistics
would add ``n_min`` rows or more per level). It needs ``B >= ln(1/delta) / (2 tau^2)`` (346
rows for the defaults) so that ODAC's tie rule ``tau > eps`` holds on every window; the
constructor enforces it. With the defaults (``n_min = 200``, ``window = 2000``) the bound is
2000 rows. That a contradiction is *detected* is what M1 and M2 are for; the planted-drift tests
of ``tests/unit/test_odac.py`` check it on several streams.

Deviations from ODAC, and why
-----------------------------
- Windowed counts shared by all clusters instead of fresh per-cluster counts since creation:
  with counts that only grow, the reaction to a drift slows down in proportion to the age of
  the cluster (no bound), and without counts across clusters no test can see that labels of two
  clusters started to co-occur.
- ODAC's aggregate test (M1) rarely fires with Jaccard: a parent's diameter is usually 1 (two
  labels that never co-occur), and no child's diameter can exceed it. M2 asks the question it
  stands for -- did the correlations behind this split change? -- for the pairs across it.
- The separation rule and the linkage step of the label assignment (above).
- River's ``ODAC`` divides the sum of distances by the number of *observations* to get
  ``d_avg``; the paper's ``d_avg`` is the mean over pairs, used here.

Examples
--------
>>> from streamlearn.stream import make_stream
>>> s = make_stream(3_000, n_labels=9, n_groups=3, seed=0)
>>> odac = JaccardODAC()
>>> odac.set_n_labels(9)
>>> events = odac.update_many(s.dataset.Y)
>>> [g.tolist() for g in odac.partition()]
[[0, 1, 4], [2, 7, 8], [3, 5, 6]]
>>> sorted(s.groups[0])
[[0, 1, 4], [2, 7, 8], [3, 5, 6]]
>>> [(e.kind, e.index, e.detail["children_labels"]) for e in events]
[('split', 400, [[2, 3, 5, 6, 7, 8], [0, 1, 4]]), ('split', 400, [[3, 5, 6], [2, 7, 8]])]
>>> odac.next_check_in()
200
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from river import base as river_base

from streamlearn._kernels.odac import (
    CORRELATION,
    JACCARD,
    assign_split,
    closer_pair,
    count_rows,
    cut_separation,
    diameter,
    dissimilarity,
    set_references,
    split_stats,
)
from streamlearn.base.arrays import InputError, as_known, as_labels
from streamlearn.base.events import DriftEvent

__all__ = ["JaccardODAC", "random_partition"]

_KINDS = {"jaccard": JACCARD, "correlation": CORRELATION}
#: Refinement passes of a split's label assignment.
_REFINE_PASSES = 20


@dataclass
class _Node:
    """One cluster of the hierarchy (active when it has no children)."""

    id: int
    labels: np.ndarray  # sorted int64 label indices
    parent: int  # -1 for the root
    depth: int
    created_at: int
    origin: str  # "root" | "split" | "added"
    children: list[int] = field(default_factory=list)
    # split-time reference (ODAC's aggregate test)
    split_d1: float = math.nan
    split_eps: float = math.nan
    split_at: int = -1
    pivots: tuple[int, int] = (-1, -1)
    # diagnostics at the last check
    n: int = 0
    diameter: float = math.nan

    @property
    def active(self) -> bool:
        return not self.children


def _hoeffding(delta: float, n: float) -> float:
    return math.sqrt(math.log(1.0 / delta) / (2.0 * n)) if n > 0 else math.inf


def _csr_of_mask(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row pointers and column indices (sorted per row) of the true cells of a 2-d mask."""
    rows, cols = np.nonzero(mask)
    indptr = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=mask.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64, copy=False)


class JaccardODAC(river_base.Base):
    """Online divisive-agglomerative clustering of the labels (see the module docstring).

    Parameters
    ----------
    n_min
        Rows between two checks (every cluster is tested at every check).
    delta
        One minus the confidence of the Hoeffding bound.
    tau
        ODAC's tie threshold: when ``eps < tau`` the diameter need not stand out from the
        second largest dissimilarity.
    max_depth
        Clusters at this depth (the root is at 0) never split; ``None``: no limit.
    merge
        Run the agglomerative tests (``False``: splits only, the structure never shrinks).
    dissimilarity
        ``"jaccard"`` or ``"correlation"`` (ODAC's ``sqrt((1 - corr) / 2)``).
    window
        Rows the statistics cover: between ``window / 2`` and ``window`` of the most recent
        rows, in two buckets of ``window / 2`` rows rounded up to a multiple of ``n_min``.
        ``None``: every row since the start (no forgetting; no bound on re-grouping).
    separation
        Second split rule: when ODAC's ``h <= eps``, split anyway if the computed cut's mean
        dissimilarity across exceeds the mean within its sides by ``separation * eps``.
        ``0`` turns it off (ODAC's split test alone).
    min_size
        A split leaving fewer than ``min_size`` labels on a side is not made (``1``: no limit).

    Attributes
    ----------
    n_labels : int
        Size of the label space.
    n_seen : int
        Rows processed.
    """

    def __init__(
        self,
        n_min: int = 200,
        delta: float = 1e-3,
        tau: float = 0.1,
        max_depth: int | None = None,
        merge: bool = True,
        dissimilarity: Literal["jaccard", "correlation"] = "jaccard",
        window: int | None = 2_000,
        separation: float = 3.0,
        min_size: int = 1,
    ) -> None:
        if int(n_min) != n_min or n_min < 1:
            raise ValueError(f"n_min must be an integer >= 1, got {n_min!r}")
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        if not tau > 0.0:
            raise ValueError(f"tau must be > 0, got {tau!r}")
        if max_depth is not None and (int(max_depth) != max_depth or max_depth < 0):
            raise ValueError(f"max_depth must be None or an integer >= 0, got {max_depth!r}")
        if dissimilarity not in _KINDS:
            raise ValueError(
                f"dissimilarity must be one of {sorted(_KINDS)}, got {dissimilarity!r}"
            )
        self.n_min = int(n_min)
        self.delta = float(delta)
        self.tau = float(tau)
        self.max_depth = None if max_depth is None else int(max_depth)
        self.merge = bool(merge)
        self.dissimilarity = dissimilarity
        if window is not None and (int(window) != window or window < 1):
            raise ValueError(f"window must be None or an integer >= 1, got {window!r}")
        if not separation >= 0.0:
            raise ValueError(f"separation must be >= 0, got {separation!r}")
        if int(min_size) != min_size or min_size < 1:
            raise ValueError(f"min_size must be an integer >= 1, got {min_size!r}")
        self.min_size = int(min_size)
        self.window = None if window is None else int(window)
        self.separation = float(separation)
        if self.window is not None:
            bucket = self.bucket_size
            need = math.log(1.0 / self.delta) / (2.0 * self.tau**2)
            if bucket < need:
                raise ValueError(
                    f"window={window} gives buckets of {bucket} rows, fewer than "
                    f"ln(1/delta) / (2 tau^2) = {need:.0f}: the tie rule could never apply"
                )
        self._kind = _KINDS[dissimilarity]
        self.n_labels = 0
        self.n_seen = 0
        self._since_check = 0
        self._cur = 0
        self._bucket_rows = np.zeros(2, dtype=np.int64)
        self._unk = np.zeros((2, 0), dtype=np.int64)
        self._n1 = np.zeros((2, 0), dtype=np.int64)
        self._n11 = np.zeros((2, 0), dtype=np.int64)
        self._ref_d = np.zeros(0, dtype=np.float64)
        self._ref_u = np.zeros(0, dtype=np.float64)
        self._nodes: dict[int, _Node] = {}
        self._root = -1
        self._next_id = 0
        self._leaf_of = np.zeros(0, dtype=np.int64)
        self._pending = np.zeros(0, dtype=np.bool_)
        self._added_at = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ properties
    @property
    def bucket_size(self) -> int:
        """Rows per bucket of the window (0 when ``window`` is None)."""
        if self.window is None:
            return 0
        half = max(1, -(-self.window // 2))
        return -(-half // self.n_min) * self.n_min

    @property
    def n_clusters(self) -> int:
        """Number of active clusters."""
        return sum(1 for nd in self._nodes.values() if nd.active)

    # ------------------------------------------------------------------ label space
    def set_n_labels(self, n_labels: int) -> None:
        """Start with ``n_labels`` labels in one root cluster (resets everything learned)."""
        if int(n_labels) != n_labels or n_labels < 1:
            raise ValueError(f"n_labels must be an integer >= 1, got {n_labels!r}")
        L = int(n_labels)
        self.n_labels = L
        self.n_seen = 0
        self._since_check = 0
        self._cur = 0
        self._bucket_rows = np.zeros(2, dtype=np.int64)
        self._unk = np.zeros((2, L), dtype=np.int64)
        self._n1 = np.zeros((2, L), dtype=np.int64)
        self._n11 = np.zeros((2, L * (L - 1) // 2), dtype=np.int64)
        self._ref_d = np.zeros(L * (L - 1) // 2, dtype=np.float64)
        self._ref_u = np.zeros(L * (L - 1) // 2, dtype=np.float64)
        self._nodes = {}
        self._next_id = 0
        root = self._new_node(np.arange(L, dtype=np.int64), -1, 0, "root")
        self._root = root.id
        self._leaf_of = np.full(L, root.id, dtype=np.int64)
        self._pending = np.zeros(L, dtype=np.bool_)
        self._added_at = np.zeros(L, dtype=np.int64)

    def add_labels(self, n_new: int) -> list[DriftEvent]:
        """Grow the label space by ``n_new`` labels (indices ``n_labels ..``); see the module doc."""
        if int(n_new) != n_new or n_new < 0:
            raise ValueError(f"n_new must be an integer >= 0, got {n_new!r}")
        n_new = int(n_new)
        if n_new == 0:
            return []
        if self.n_labels == 0:
            self.set_n_labels(n_new)
            return [self._new_label_event(a, self._root, "added") for a in range(n_new)]
        L0, L1 = self.n_labels, self.n_labels + n_new
        self._grow_counts(L0, L1)
        new = np.arange(L0, L1, dtype=np.int64)
        self._pending = np.concatenate([self._pending, np.ones(n_new, dtype=np.bool_)])
        self._added_at = np.concatenate(
            [self._added_at, np.full(n_new, self.n_seen, dtype=np.int64)]
        )
        self.n_labels = L1
        # an existing leaf of new labels that still has pending ones takes the newcomers
        target = None
        for nd in self._nodes.values():
            if nd.active and nd.origin == "added" and bool(self._pending[nd.labels].any()):
                target = nd
                break
        if target is None:
            old_root = self._nodes[self._root]
            top = self._new_node(np.arange(L1, dtype=np.int64), -1, 0, "added")
            leaf = self._new_node(new, top.id, 1, "added")
            top.children = [old_root.id, leaf.id]
            old_root.parent = top.id
            self._shift_depth(old_root.id, 1)
            self._root = top.id
            target = leaf
        else:
            target.labels = np.concatenate([target.labels, new])
            self._refresh_ancestors(target.parent)
        self._leaf_of = np.concatenate([self._leaf_of, np.full(n_new, target.id, dtype=np.int64)])
        return [self._new_label_event(int(a), target.id, "added") for a in new]

    # ------------------------------------------------------------------ learning
    def update_many(
        self, Y: Any, known: Any = None, *, index: int | None = None
    ) -> list[DriftEvent]:
        """Learn the label rows ``Y`` in order; run every check at its row; return the events.

        Parameters
        ----------
        Y
            ``(n, n_labels)`` 0/1 matrix (``uint8`` preferred).
        known
            Optional ``(n, n_labels)`` mask of the labels that are known (see the module doc).
        index
            Stream position of the row before ``Y[0]`` (instances the caller has seen). An
            event raised at the check after ``Y[r]`` gets ``index + r + 1``; default: this
            clusterer's own count of rows, :attr:`n_seen`.
        """
        arr = np.asarray(Y)
        if self.n_labels == 0:
            if arr.ndim != 2 or arr.shape[1] < 1:
                raise InputError(f"expected a 2-d label matrix, got shape {arr.shape}")
            self.set_n_labels(arr.shape[1])
        L = self.n_labels
        n = arr.shape[0] if arr.ndim == 2 else 1
        Y = as_labels(arr, n, L)
        known_mask = as_known(known, n, L)
        if known_mask is None:
            pos_indptr, pos_idx = _csr_of_mask(Y)
            unk_indptr = np.zeros(n + 1, dtype=np.int64)
            unk_idx = np.zeros(0, dtype=np.int64)
        else:
            pos_indptr, pos_idx = _csr_of_mask((Y != 0) & known_mask)
            unk_indptr, unk_idx = _csr_of_mask(~known_mask)
        base = self.n_seen if index is None else int(index)
        events: list[DriftEvent] = []
        r = 0
        while r < n:
            step = min(n - r, self.n_min - self._since_check)
            c = self._cur
            count_rows(
                pos_indptr,
                pos_idx,
                unk_indptr,
                unk_idx,
                r,
                r + step,
                L,
                self._unk[c],
                self._n1[c],
                self._n11[c],
            )
            self._bucket_rows[c] += step
            self.n_seen += step
            self._since_check += step
            r += step
            if self._since_check == self.n_min:
                self._since_check = 0
                events.extend(self._check(base + r))
        return events

    def reset_statistics(self) -> None:
        """Forget the co-occurrence counts of the window, keep the partition.

        Called when the labels' relations are known to have changed (a drift detected
        elsewhere): the next checks judge the partition on the rows seen from now on only, so
        splits and merges reflect the new correlations as soon as the Hoeffding bound allows,
        instead of after the window has rolled over. The split references of the clusters and
        the check schedule are kept.
        """
        self._bucket_rows[:] = 0
        self._unk[:] = 0
        self._n1[:] = 0
        self._n11[:] = 0

    def next_check_in(self) -> int:
        """Rows until the next check (the next row that can raise events)."""
        return self.n_min - self._since_check

    # ------------------------------------------------------------------ reading
    def partition(self) -> list[np.ndarray]:
        """The active clusters, each a sorted ``int64`` array of labels, by smallest label."""
        return [self._nodes[i].labels.copy() for i in self.cluster_ids()]

    def cluster_ids(self) -> list[int]:
        """Ids of the active clusters, in the order of :meth:`partition`."""
        leaves = [nd for nd in self._nodes.values() if nd.active and nd.labels.size]
        leaves.sort(key=lambda nd: int(nd.labels[0]))
        return [nd.id for nd in leaves]

    def label_cluster(self) -> np.ndarray:
        """``(n_labels,)`` id of the active cluster of each label."""
        return self._leaf_of.copy()

    def hierarchy(self) -> dict[str, Any]:
        """The cluster tree as JSON-able dicts.

        Each node: ``id``, ``labels``, ``n`` (rows in the statistics at the last check),
        ``diameter`` (at the last check; ``None`` before one or for a single label),
        ``children``, ``active``, ``created_at`` (row count when created), ``depth``,
        ``origin`` (``root``/``split``/``added``), ``pending`` (new labels not yet placed).
        """
        if self._root < 0:
            return {}
        return self._node_dict(self._root)

    def dissimilarities(self) -> np.ndarray:
        """``(n_labels, n_labels)`` current dissimilarity matrix (from the window)."""
        n, unk, n1, n11 = self._stats()
        return dissimilarity(
            np.arange(self.n_labels, dtype=np.int64), n, unk, n1, n11, self.n_labels, self._kind
        )

    def counts(self) -> dict[str, np.ndarray | int]:
        """The window's counts: ``n``, ``unk``, ``n1`` and ``n11`` as a full symmetric matrix."""
        n, unk, n1, n11 = self._stats()
        L = self.n_labels
        full = np.zeros((L, L), dtype=np.int64)
        iu = np.triu_indices(L, 1)
        full[iu] = n11
        full = full + full.T
        return {"n": n, "unk": unk, "n1": n1, "n11": full}

    # ------------------------------------------------------------------ internals: state
    def _new_node(self, labels: np.ndarray, parent: int, depth: int, origin: str) -> _Node:
        nd = _Node(
            id=self._next_id,
            labels=labels,
            parent=parent,
            depth=depth,
            created_at=self.n_seen,
            origin=origin,
        )
        self._nodes[nd.id] = nd
        self._next_id += 1
        return nd

    def _shift_depth(self, node_id: int, by: int) -> None:
        stack = [node_id]
        while stack:
            nd = self._nodes[stack.pop()]
            nd.depth += by
            stack.extend(nd.children)

    def _refresh_ancestors(self, node_id: int) -> None:
        """Recompute the label sets of ``node_id`` and its ancestors from their children."""
        while node_id >= 0:
            nd = self._nodes[node_id]
            nd.labels = np.sort(np.concatenate([self._nodes[c].labels for c in nd.children]))
            node_id = nd.parent

    def _grow_counts(self, L0: int, L1: int) -> None:
        unk = np.zeros((2, L1), dtype=np.int64)
        n1 = np.zeros((2, L1), dtype=np.int64)
        unk[:, :L0] = self._unk
        n1[:, :L0] = self._n1
        n11 = np.zeros((2, L1 * (L1 - 1) // 2), dtype=np.int64)
        ref_d = np.zeros(L1 * (L1 - 1) // 2, dtype=np.float64)
        ref_u = np.zeros(L1 * (L1 - 1) // 2, dtype=np.float64)
        if L0 > 1:
            a, b = np.triu_indices(L0, 1)
            q = a * (2 * L1 - a - 1) // 2 + b - a - 1
            n11[:, q] = self._n11
            ref_d[q] = self._ref_d
            ref_u[q] = self._ref_u
        self._ref_d, self._ref_u = ref_d, ref_u
        # rows already seen had the new labels absent: they were unknown, not negative
        rows = self._bucket_rows
        unk[:, L0:] = rows[:, None]
        self._unk, self._n1, self._n11 = unk, n1, n11

    def _stats(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        n = int(self._bucket_rows.sum())
        return n, self._unk.sum(axis=0), self._n1.sum(axis=0), self._n11.sum(axis=0)

    def _roll(self) -> None:
        if self.window is None:
            return
        if self._bucket_rows[self._cur] >= self.bucket_size:
            self._cur = 1 - self._cur
            c = self._cur
            self._bucket_rows[c] = 0
            self._unk[c] = 0
            self._n1[c] = 0
            self._n11[c] = 0

    # ------------------------------------------------------------------ internals: checks
    def _check(self, index: int) -> list[DriftEvent]:
        self._roll()
        n, unk, n1, n11 = self._stats()
        if n == 0:
            return []
        L = self.n_labels
        D = dissimilarity(np.arange(L, dtype=np.int64), n, unk, n1, n11, L, self._kind)
        if self._kind == JACCARD:
            support = n1.astype(np.float64)
        else:
            m = (n - unk).astype(np.float64)
            support = np.minimum(n1, m - n1)
        # with partial label sets, the rows where a pair is known: (mean known count)^2 / n
        n_eff = float(n) if not unk.any() else float(np.mean(n - unk)) ** 2 / n
        ctx = _Check(
            index=index,
            n=n,
            eps=_hoeffding(self.delta, n_eff),
            D=D,
            support=support,
            n1=n1,
            n11=n11,
        )
        events: list[DriftEvent] = []
        if self._pending.any():
            events.extend(self._place_pending(ctx))
        if self.merge:
            events.extend(self._validate(ctx))
        for nid in sorted(i for i, nd in self._nodes.items() if nd.active):
            events.extend(self._try_split(nid, ctx))
        for nd in self._nodes.values():
            nd.n = n
            d = ctx.diameters.get(nd.id)
            nd.diameter = float(diameter(D, nd.labels)) if d is None else d
        return events

    def _place_pending(self, ctx: _Check) -> list[DriftEvent]:
        events = []
        L = self.n_labels
        placed = ~self._pending
        for x in np.flatnonzero(self._pending):
            x = int(x)
            if self.n_seen - self._added_at[x] < self.n_min or ctx.n1[x] <= 0:
                continue
            others = np.flatnonzero(placed)
            others = others[others != x]
            lo = np.minimum(others, x)
            hi = np.maximum(others, x)
            co = ctx.n11[lo * (2 * L - lo - 1) // 2 + hi - lo - 1]
            src = int(self._leaf_of[x])
            self._pending[x] = False
            placed[x] = True
            # the new label's relations to the placed labels are judged from now on
            set_references(
                np.array([x], dtype=np.int64),
                others,
                ctx.D,
                ctx.n1,
                ctx.n11,
                L,
                self._ref_d,
                self._ref_u,
            )
            if co.size == 0 or co.max() <= 0:
                events.append(self._new_label_event(x, src, "own cluster", ctx.index))
                continue
            leaves = self._leaf_of[others]
            uniq, inv = np.unique(leaves, return_inverse=True)
            total = np.bincount(inv, weights=co.astype(np.float64))
            dst = int(uniq[int(np.argmax(total))])  # ties: the smallest cluster id
            if dst != src:
                self._move_label(x, src, dst)
            events.append(
                self._new_label_event(
                    x, dst, "co-occurrence", ctx.index, co_occurrences=int(total.max())
                )
            )
        return events

    def _move_label(self, x: int, src: int, dst: int) -> None:
        s, d = self._nodes[src], self._nodes[dst]
        s.labels = s.labels[s.labels != x]
        d.labels = np.sort(np.append(d.labels, x))
        self._leaf_of[x] = dst
        self._refresh_ancestors(s.parent)
        self._refresh_ancestors(d.parent)
        if s.labels.size == 0:
            self._remove_empty_leaf(src)

    def _remove_empty_leaf(self, leaf_id: int) -> None:
        """Drop an empty leaf; its sibling takes the place of their parent."""
        leaf = self._nodes.pop(leaf_id)
        if leaf.parent < 0:
            self._root = -1
            return
        parent = self._nodes.pop(leaf.parent)
        sib = self._nodes[next(c for c in parent.children if c != leaf_id)]
        sib.parent = parent.parent
        self._shift_depth(sib.id, -1)
        if parent.parent < 0:
            self._root = sib.id
        else:
            gp = self._nodes[parent.parent]
            gp.children = [sib.id if c == parent.id else c for c in gp.children]
            self._refresh_ancestors(gp.id)

    def _subtree(self, node_id: int) -> list[int]:
        out, stack = [], [node_id]
        while stack:
            i = stack.pop()
            out.append(i)
            stack.extend(reversed(self._nodes[i].children))
        return out

    def _validate(self, ctx: _Check) -> list[DriftEvent]:
        events = []
        queue = [self._root]
        while queue:
            pid = queue.pop(0)
            P = self._nodes[pid]
            if P.active:
                continue
            reason = self._merge_reason(P, ctx)
            if reason is None:
                queue.extend(P.children)
                continue
            events.append(self._collapse(P, reason, ctx))
        return events

    def _merge_reason(self, P: _Node, ctx: _Check) -> dict[str, Any] | None:
        D, eps = ctx.D, ctx.eps
        c0, c1 = (self._nodes[c] for c in P.children)
        idx = P.labels
        ctx.diameters[P.id] = float(diameter(D, idx))
        if P.split_at >= 0:  # split by the split test (not a node made by add_labels)
            # M1: ODAC's aggregate test
            bound = max(eps, P.split_eps)
            for c in (c0, c1):
                d1c = float(diameter(D, c.labels))
                ctx.diameters[c.id] = d1c
                if d1c - P.split_d1 > bound:  # False for nan (a single label)
                    return {
                        "reason": "aggregate",
                        "child": c.id,
                        "child_d1": d1c,
                        "split_d1": P.split_d1,
                        "bound": bound,
                    }
        # M2: two labels across the cut came reliably closer than when the cut was made
        k = c0.labels.size * c1.labels.size
        margin, a, b = closer_pair(
            c0.labels,
            c1.labels,
            D,
            ctx.n1,
            ctx.n11,
            self.n_labels,
            self._ref_d,
            self._ref_u,
            math.log(k / self.delta),
        )
        if margin > 0.0:
            lo, hi = min(a, b), max(a, b)
            q = lo * (2 * self.n_labels - lo - 1) // 2 + hi - lo - 1
            return {
                "reason": "closer",
                "pair": [int(lo), int(hi)],
                "pair_d": float(D[a, b]),
                "pair_d_ref": float(self._ref_d[q]),
                "margin": float(margin),
            }
        return None

    def _collapse(self, P: _Node, why: dict[str, Any], ctx: _Check) -> DriftEvent:
        sub = self._subtree(P.id)
        retired = [i for i in sub if i != P.id and self._nodes[i].active]
        children = list(P.children)
        children_labels = [self._nodes[c].labels.tolist() for c in children]
        for i in sub:
            if i != P.id:
                del self._nodes[i]
        P.children = []
        P.created_at = self.n_seen  # active again: its age restarts
        P.split_d1, P.split_eps, P.split_at, P.pivots = math.nan, math.nan, -1, (-1, -1)
        self._leaf_of[P.labels] = P.id
        detail = {
            "parent": P.id,
            "children": children,
            "labels": P.labels.tolist(),
            "children_labels": children_labels,
            "retired": retired,
            "eps": ctx.eps,
            "n": ctx.n,
            **why,
        }
        return DriftEvent(
            level="cluster",
            kind="merge",
            scope=tuple(str(i) for i in [P.id, *retired]),
            index=ctx.index,
            detector="ODAC-merge",
            statistic=float(why.get("child_d1", why.get("margin", why.get("h", math.nan)))),
            detail=detail,
        )

    def _try_split(self, node_id: int, ctx: _Check) -> list[DriftEvent]:
        nd = self._nodes[node_id]
        idx = nd.labels
        if idx.size < max(3, 2 * self.min_size) or (
            self.max_depth is not None and nd.depth >= self.max_depth
        ):
            return []
        eps = ctx.eps
        d0, d1, d2, mean, p1, p2 = split_stats(ctx.D, idx, ctx.support)
        ctx.diameters[nd.id] = float(d1)
        h = (d1 - d0) * abs(d1 + d0 - 2.0 * mean)
        gap = d1 - d2 > eps
        if not (gap or self.tau > eps):
            return []
        rule = "odac"
        side = None
        across = within = math.nan
        if not h > eps:
            if not self.separation:
                return []
            side = assign_split(ctx.D, idx, p1, p2, ctx.support, _REFINE_PASSES)
            across, within = cut_separation(ctx.D, idx, side)
            if not across - within > self.separation * eps:
                return []
            rule = "separation"
        if side is None:
            side = assign_split(ctx.D, idx, p1, p2, ctx.support, _REFINE_PASSES)
            across, within = cut_separation(ctx.D, idx, side)
        n_b = int(side.sum())
        if min(n_b, idx.size - n_b) < self.min_size:
            return []
        a = self._new_node(idx[side == 0], nd.id, nd.depth + 1, "split")
        b = self._new_node(idx[side == 1], nd.id, nd.depth + 1, "split")
        nd.children = [a.id, b.id]
        nd.split_d1, nd.split_eps, nd.split_at = float(d1), float(eps), self.n_seen
        nd.pivots = (int(idx[p1]), int(idx[p2]))
        self._leaf_of[a.labels] = a.id
        self._leaf_of[b.labels] = b.id
        set_references(
            a.labels, b.labels, ctx.D, ctx.n1, ctx.n11, self.n_labels, self._ref_d, self._ref_u
        )
        ev = DriftEvent(
            level="cluster",
            kind="split",
            scope=(str(nd.id), str(a.id), str(b.id)),
            index=ctx.index,
            detector="ODAC-split",
            statistic=float(h),
            detail={
                "parent": nd.id,
                "children": [a.id, b.id],
                "labels": idx.tolist(),
                "children_labels": [a.labels.tolist(), b.labels.tolist()],
                "pivots": list(nd.pivots),
                "d0": float(d0),
                "d1": float(d1),
                "d2": float(d2),
                "d_avg": float(mean),
                "h": float(h),
                "eps": float(eps),
                "n": ctx.n,
                "rule": rule,
                "gap": bool(gap),
                "across": float(across),
                "within": float(within),
            },
        )
        return [ev, *self._try_split(a.id, ctx), *self._try_split(b.id, ctx)]

    def _new_label_event(
        self, label: int, cluster: int, placement: str, index: int | None = None, **extra: Any
    ) -> DriftEvent:
        return DriftEvent(
            level="cluster",
            kind="new_label",
            scope=(str(cluster),),
            index=self.n_seen if index is None else index,
            detector="ODAC-new-label",
            detail={"label": int(label), "cluster": int(cluster), "placement": placement, **extra},
        )

    def _node_dict(self, node_id: int) -> dict[str, Any]:
        nd = self._nodes[node_id]
        return {
            "id": nd.id,
            "labels": nd.labels.tolist(),
            "n": int(nd.n),
            "diameter": None if math.isnan(nd.diameter) else float(nd.diameter),
            "children": [self._node_dict(c) for c in nd.children],
            "active": nd.active,
            "created_at": int(nd.created_at),
            "depth": int(nd.depth),
            "origin": nd.origin,
            "pending": [int(x) for x in nd.labels if self._pending[x]],
        }


@dataclass
class _Check:
    """What one check computes once and every test reads."""

    index: int
    n: int
    eps: float
    D: np.ndarray
    support: np.ndarray
    n1: np.ndarray
    n11: np.ndarray
    diameters: dict[int, float] = field(default_factory=dict)


def random_partition(n_labels: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """A random partition of ``range(n_labels)`` into ``k`` groups of near-equal sizes.

    For the "random partition" ablation of iHOMER. Groups are sorted ``int64`` arrays, ordered
    by smallest label (like :meth:`JaccardODAC.partition`); deterministic given ``seed``.

    >>> [g.tolist() for g in random_partition(5, 2, seed=0)]
    [[0, 1], [2, 3, 4]]
    """
    if int(n_labels) != n_labels or n_labels < 1:
        raise ValueError(f"n_labels must be an integer >= 1, got {n_labels!r}")
    if int(k) != k or not 1 <= k <= n_labels:
        raise ValueError(f"k must be an integer in [1, n_labels={n_labels}], got {k!r}")
    perm = np.random.default_rng(seed).permutation(int(n_labels))
    groups = [np.sort(g).astype(np.int64) for g in np.array_split(perm, int(k))]
    groups.sort(key=lambda g: int(g[0]))
    return groups
