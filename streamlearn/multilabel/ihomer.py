"""iHOMER: online hierarchy of multi-label classifiers over a label space it partitions itself.

The idea of Neves, Lourenço, Cano & Marreiros (ECAI 2025), as this project defines it
(DESIGN §3):

1. **Global structure.** An online divisive–agglomerative clustering of the *labels*
   (:class:`~streamlearn.cluster.odac.JaccardODAC`: Jaccard dissimilarity, Hoeffding-bound split
   and merge tests) keeps a partition of the label space.
2. **Local learners.** One multi-label Hoeffding adaptive tree (the MLHAT kernels) per cluster,
   over that cluster's labels only. All trees see every instance; they share one store of
   recent rows (kNN and recency leaf models) and, within a chunk of rows, the similarities
   computed between a row and the store.
3. **Two-level drift.** Local: each tree's node-level detectors and alternate subtrees. Global:
   an ADWIN on the whole model's per-instance Hamming error; a global drift re-examines the
   partition (the clusterer's statistics restart, so the next tests see the new correlations).
4. **Restructuring without an accuracy cliff.** After every check of the clusterer the trees
   are reconciled with the partition: a cluster whose label set did not change keeps its tree;
   a cluster inside an existing tree's label set (a split child) starts from that tree restricted
   to its labels; any other new cluster (a merge, labels that moved) gets a fresh tree that learns
   in the background while the trees that own its labels keep predicting them, and takes them
   over once its own error on them is no worse (or after ``warm_max`` instances).
5. **Prediction** is the union of the owning trees' decisions, with probabilities per label.

Every restructure and drift is a :class:`~streamlearn.base.DriftEvent`.

Strictness. Rows are processed in chunks that end at the clusterer's next check: within a
chunk every tree predicts each row before learning it; the global detector and the clusterer
then consume the chunk's rows in order, and structural changes take effect from the next row
after the check (a global drift detected inside a chunk is acted upon at the chunk's end).

Chunk boundaries are positions in the stream, not in a call: a chunk also ends every
``_CHUNK`` learned rows (counted from the first row ever learned) and at the end of a call, and
the decisions taken between chunks (background trees taking over, re-examining the partition
after a global drift) are only taken at the stream positions — a multiple of ``_CHUNK`` rows or a
clusterer check — never at the end of a call. So the model and every prediction depend only on
the rows and their order, not on how they were split into ``learn_many`` calls (a service that
restarts from a snapshot polls different batches and must reproduce the same model).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from streamlearn._kernels import mltree as K
from streamlearn.base.arrays import Features, n_rows
from streamlearn.base.events import DriftEvent
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.cluster.odac import JaccardODAC, random_partition
from streamlearn.drift.adwin import ADWIN
from streamlearn.multilabel import _treestate as TS
from streamlearn.multilabel.mlhat import MLHAT, tree_params

__all__ = ["IHOMER"]

_CHUNK = 256
_N_MIN = 50  # default clusterer: a check every 50 labelled rows ...
_TAU = 0.3  # ... and a tie threshold of 0.3 (see the ``clusterer`` parameter)


class _ClusterTree:
    """One local learner: a tree over a set of labels, and its bookkeeping."""

    __slots__ = (
        "tid",
        "labels",
        "state",
        "warm",
        "created_at",
        "rows",
        "err_new",
        "err_old",
        "correct",
        "decisions",
        "recent_acc",
        "_nbytes",
    )

    def __init__(self, tid: int, labels: np.ndarray, state: K.Tree, warm: bool, created_at: int):
        self.tid = tid
        self.labels = labels
        self.state = state
        self.warm = warm
        self.created_at = created_at
        self.rows = 0  # rows seen since creation
        self.err_new = 0.0  # label errors of this tree since creation (while warming)
        self.err_old = 0.0  # label errors of the owners of its labels, same rows
        self.correct = 0.0  # correct label decisions since creation
        self.decisions = 0.0
        self.recent_acc = float("nan")  # exponential moving average of label accuracy
        self._nbytes: tuple[K.Tree, int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if k != "_nbytes"}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple):  # pickled before the size cache existed: (None, slots)
            state = state[1]
        for k, v in state.items():
            setattr(self, k, v)
        self._nbytes = None

    def nbytes(self) -> int:
        """Memory of the tree's arrays (recomputed only when they were replaced)."""
        if self._nbytes is None or self._nbytes[0] is not self.state:
            self._nbytes = (self.state, TS.tree_nbytes(self.state))
        return self._nbytes[1]


class IHOMER(MultiLabelClassifier):
    """iHOMER: label clusters found online, one multi-label Hoeffding tree per cluster.

    Parameters
    ----------
    tree
        Template of the per-cluster trees: an :class:`~streamlearn.multilabel.mlhat.MLHAT`
        whose parameters every cluster tree uses (its ``threshold`` is iHOMER's too).
    clusterer
        Template of the label clusterer (:class:`~streamlearn.cluster.odac.JaccardODAC`); by
        default ``JaccardODAC(n_min=50, tau=0.3)``: checks every 50 labelled rows and a tie
        threshold of 0.3, so the partition settles within the first few hundred rows of a
        stream (the clusterer's own defaults, 200 and 0.1, are the conservative ones of the
        ODAC literature; on the 14 benchmark streams the quicker setting is as accurate or
        better, docs/learners.md).
    partition
        ``"odac"`` (learned online), ``"random"`` (a fixed random partition into
        ``n_random_clusters`` clusters) or ``"single"`` (one cluster: a single tree).
    n_random_clusters
        Number of clusters of the random partition.
    restructure
        With ``False``, only divisive splits of the clusterer are applied (no merges, no
        re-grouping on global drift): the partition only gets finer.
    global_drift
        Watch the whole model's Hamming error with ADWIN and re-examine the partition on drift.
    global_delta
        ADWIN's significance for the global detector.
    warm_min
        A background tree may take over its labels after this many instances ...
    warm_max
        ... and takes them over after this many whatever its error.
    seed
        Seed of the trees (each tree gets its own stream from it) and of a random partition.

    Examples
    --------
    >>> from streamlearn.multilabel.ihomer import IHOMER
    >>> from streamlearn.stream import make_stream
    >>> data = make_stream(3000, n_features=10, n_labels=8, n_groups=2, seed=3).dataset
    >>> model = IHOMER().set_schema(data.schema)
    >>> proba = model.predict_learn_many(data.X, data.Y)
    >>> proba.shape
    (3000, 8)
    >>> len(model.describe()["clusters"]) >= 1
    True

    """

    def __init__(
        self,
        tree: MLHAT | None = None,
        clusterer: JaccardODAC | None = None,
        partition: str = "odac",
        n_random_clusters: int = 4,
        restructure: bool = True,
        global_drift: bool = True,
        global_delta: float = 0.002,
        warm_min: int = 200,
        warm_max: int = 1000,
        seed: int = 0,
    ):
        self.tree = tree if tree is not None else MLHAT()
        self.clusterer = clusterer if clusterer is not None else JaccardODAC(n_min=_N_MIN, tau=_TAU)
        if partition not in ("odac", "random", "single"):
            raise ValueError(f"partition must be 'odac', 'random' or 'single', not {partition!r}")
        self.partition = partition
        self.n_random_clusters = n_random_clusters
        self.restructure = restructure
        self.global_drift = global_drift
        self.global_delta = global_delta
        self.warm_min = warm_min
        self.warm_max = warm_max
        self.seed = seed
        self.threshold = self.tree.threshold

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"tree": MLHAT(grace_period=20), "clusterer": JaccardODAC(n_min=30)}
        yield {"partition": "random", "n_random_clusters": 2, "tree": MLHAT(grace_period=20)}

    # ------------------------------------------------------------------ state
    def _init_state(self) -> None:
        s = self.schema
        assert s is not None
        self._params_ = tree_params(self.tree, dense=not s.sparse)
        self._budget = self.tree.max_size_mb * 2**20
        self._store = TS.learner_store(self.tree.store_size, s)
        # without restructuring the partition only gets finer: the clusterer makes no merges
        self._clust = self.clusterer.clone(None if self.restructure else {"merge": False})
        self._clust.set_n_labels(s.n_labels)
        self._trees: dict[int, _ClusterTree] = {}
        self._owner = np.full(s.n_labels, -1, np.int64)
        self._next_tid = 0
        self._seen = 0  # rows learned
        self._gdetector = ADWIN(delta=self.global_delta)
        self._n_global_drifts = 0
        self._n_restructures = 0
        self._reexamine = False  # a global drift waits for the next stream position to act
        self._reconcile(self._target_partition(), index=0)

    def _shape(self, n_labels: int) -> TS.TreeShape:
        s = self.schema
        assert s is not None
        return _tree_shape(s.n_features, n_labels, self.tree.knn_window, not s.sparse)

    def _target_partition(self) -> list[np.ndarray]:
        s = self.schema
        assert s is not None
        L = s.n_labels
        if self.partition == "single" or L == 0:
            return [np.arange(L, dtype=np.int64)] if L else []
        if self.partition == "random":
            k = max(1, min(self.n_random_clusters, L))
            return [
                np.sort(np.asarray(c, dtype=np.int64)) for c in random_partition(L, k, self.seed)
            ]
        parts = [np.asarray(c, dtype=np.int64) for c in self._clust.partition()]
        placed = np.zeros(L, bool)
        for c in parts:
            placed[c] = True
        # labels the clusterer has not placed yet are learned by a tree of their own
        rest = np.flatnonzero(~placed)
        return parts + ([rest] if rest.size else [])

    def _new_tree_state(self, labels: np.ndarray) -> K.Tree:
        seed = (self.seed * 1_000_003 + self._next_tid) & 0x7FFFFFFF
        return TS.new_tree(
            self._shape(len(labels)), labels, seed, adwin_delta=self.tree.adwin_delta
        )

    def _add_tree(self, labels: np.ndarray, state: K.Tree, warm: bool, index: int) -> _ClusterTree:
        ct = _ClusterTree(self._next_tid, labels, state, warm, index)
        self._trees[ct.tid] = ct
        self._next_tid += 1
        return ct

    def _reconcile(self, partition: list[np.ndarray], index: int) -> None:
        """Give every cluster of ``partition`` a tree (kept, restricted, or new in background)."""
        by_labels = {tuple(ct.labels.tolist()): ct for ct in self._trees.values()}
        keep: set[int] = set()
        for labels in partition:
            key = tuple(labels.tolist())
            if key in by_labels:
                keep.add(by_labels[key].tid)
                continue
            lab_set = set(key)
            # smallest existing tree that covers these labels, warm ones first
            parents = [ct for ct in self._trees.values() if lab_set.issubset(ct.labels.tolist())]
            parents.sort(key=lambda ct: (not ct.warm, len(ct.labels)))
            if parents:
                src = parents[0]
                pos = np.searchsorted(src.labels, labels)
                state = TS.restrict_tree(src.state, pos, labels)
                warm = src.warm and all(self._owner[lab] in (-1, src.tid) for lab in labels)
                ct = self._add_tree(labels, state, warm or src.warm, index)
                kind = "split"
            else:
                state, warm = self._regrouped_state(labels)
                ct = self._add_tree(labels, state, warm, index)
                kind = "regroup"
            keep.add(ct.tid)
            if ct.warm:
                self._owner[labels] = ct.tid
            else:
                orphan = labels[self._owner[labels] < 0]
                self._owner[orphan] = ct.tid  # nobody predicts them yet
            if index > 0:
                self._n_restructures += 1
                self._emit(
                    DriftEvent(
                        level="cluster",
                        kind="restructure",
                        scope=tuple(str(self.schema.labels[i]) for i in labels),  # type: ignore[union-attr]
                        index=index,
                        detector="iHOMER",
                        detail={"tree": ct.tid, "start": kind, "warm": ct.warm},
                    )
                )
        self._retire(keep)

    def _regrouped_state(self, labels: np.ndarray) -> tuple[K.Tree, bool]:
        """A tree for labels that no existing tree covers (a merge, labels that moved).

        When the trees that own these labels are single leaves (the common case: trees split
        rarely), it is stitched from their leaves, label by label, and takes over at once;
        otherwise it is a fresh tree that learns in the background until it is warm.
        """
        state = self._new_tree_state(labels)
        owners: dict[int, list[int]] = {}
        for k, lab in enumerate(labels):
            tid = int(self._owner[lab])
            if tid < 0 or tid not in self._trees:
                return state, False
            owners.setdefault(tid, []).append(k)
        parts = []
        for tid, ks in owners.items():
            src = self._trees[tid]
            tpos = np.asarray(ks, np.int64)
            spos = np.searchsorted(src.labels, labels[tpos])
            parts.append((src, spos, tpos))
        parts.sort(
            key=lambda part: (-part[0].state.weight[part[0].state.meta[K.M_ROOT]], part[0].tid)
        )
        ok = TS.stitch_leaves(state, [(ct.state, sp, tp) for ct, sp, tp in parts], self._store)
        if not ok:
            return self._new_tree_state(labels), False
        return state, True

    def _retire(self, keep: set[int]) -> None:
        owners = set(self._owner.tolist())
        for tid in list(self._trees):
            if tid not in keep and tid not in owners:
                del self._trees[tid]

    def _on_schema_grow(self, old_n_features: int, old_n_labels: int) -> None:
        s = self.schema
        assert s is not None
        if s.n_features != old_n_features:
            from streamlearn.multilabel.mlhat import _pad_tree

            for ct in self._trees.values():
                ct.state = _pad_tree(ct.state, s.n_features, len(ct.labels))._replace(
                    label_map=ct.state.label_map
                )
            self._params_ = tree_params(self.tree, dense=not s.sparse)
        self._store = TS.pad_store(self._store, s.n_features, s.n_labels)
        if s.n_labels != old_n_labels:
            pad = s.n_labels - old_n_labels
            self._owner = np.concatenate([self._owner, np.full(pad, -1, np.int64)])
            if self.partition == "odac":
                for ev in self._clust.add_labels(s.n_labels - old_n_labels):
                    self._emit(ev)
            self._reconcile(self._target_partition(), index=self._seen)

    # ------------------------------------------------------------------ rows
    def _run(
        self, X: Features, Y: np.ndarray | None, known: np.ndarray | None, *, learn: bool
    ) -> np.ndarray:
        s = self.schema
        assert s is not None
        n = n_rows(X)
        L = s.n_labels
        csr = TS.rows_as_csr(X, dense=not s.sparse)
        indptr, indices, data = csr
        out = np.zeros((n, L))
        blk = np.empty((n, 0))  # every tree's own predictions, side by side (see _Layout)
        if Y is None:
            Y = np.zeros((n, L), np.uint8)
        has_known = known is not None
        Kmat = known.astype(np.uint8) if has_known else np.zeros((0, 0), np.uint8)
        p = self._params_
        knn = bool((int(p.models_mask) >> K.KNN) & 1 or (int(p.models_mask) >> K.KNN_LS) & 1)
        a = 0
        while a < n:
            b = min(n, a + _CHUNK)
            if learn and self.partition == "odac":
                b = min(b, a + max(1, self._clust.next_check_in()))
            if learn:  # chunks end at fixed stream positions, whatever the call's rows
                b = min(b, a + _CHUNK - (self._seen % _CHUNK))
            rid0 = 0
            if learn:
                self._store = TS.ensure_store(self._store, int(indptr[b] - indptr[a]), b - a)
                rid0 = K.store_append(self._store, indptr, indices, data, Y, Kmat, has_known, a, b)
            zdata, znorm = TS.prepare(self._store, not s.sparse, csr, a, b, learn, rid0)
            cache, cache_col = _NO_CACHE, _NO_COLS
            # one neighbour search per row, shared by every tree (stream scope) ...
            kres = TS.stream_neighbours(
                self._store, p, csr, zdata, znorm, a, b, rid0, learn, self.tree.knn_window,
                s.n_features,
            )  # fmt: skip
            if knn and not p.global_recent and len(self._trees) > 1:
                # ... or similarities memoised across the trees (leaf scope)
                cache, cache_col = self._similarity_cache(rid0 if learn else -1, b - a)
            # owners first (their predictions are the model's), then background trees
            order = sorted(self._trees.values(), key=lambda ct: not ct.warm)
            other = sum(ct.nbytes() for ct in self._trees.values())
            lay = _Layout(order, self._owner)
            if blk.shape[1] < lay.width:
                blk = np.empty((n, lay.width))
            for ct, ocol in zip(order, lay.ocols):
                ct.state = TS.run_tree(
                    ct.state, self._shape(len(ct.labels)), self._budget, other, self._store, p,
                    csr, Y, Kmat, has_known, rid0, a, b, blk, ocol, True, learn, cache,
                    cache_col, kres, zdata, znorm,
                )  # fmt: skip
            mine = blk[a:b, : lay.width]
            out[a:b, lay.own_labels] = mine[:, lay.own_cols]
            if learn:
                kb = None if not has_known else Kmat[a:b].astype(bool)
                self._score_trees(order, lay, mine, out[a:b], Y[a:b].astype(bool), kb)
                self._after_chunk(out[a:b], Y[a:b], None if not has_known else known[a:b], a, b)
            a = b
        return out

    def _similarity_cache(self, rid0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A (rows, candidates) NaN-filled cache and the column of each store slot in it.

        The candidates are every row a leaf may compare with during the chunk: the rows in the
        trees' recent-row rings and the chunk's own rows (learned as the chunk goes).
        """
        G = self._store.seq.shape[0]
        ids = [ct.state.ring.ravel() for ct in self._trees.values()]
        if rid0 >= 0:
            ids.append(np.arange(rid0, rid0 + n, dtype=np.int64))
        slots = np.unique(np.concatenate(ids) % G) if ids else np.zeros(0, np.int64)
        slots = slots[slots >= 0]
        cols = np.full(G, -1, np.int64)
        cols[slots] = np.arange(len(slots))
        return np.full((n, len(slots)), np.nan), cols

    def _score_trees(
        self, order: list[_ClusterTree], lay: _Layout, mine: np.ndarray, out: np.ndarray,
        y: np.ndarray, known: np.ndarray | None,
    ) -> None:  # fmt: skip
        """Book a chunk's decisions of every tree on its labels (``mine``: the trees' columns side
        by side; ``out`` the model's decisions, ``y`` the truth, ``known`` which were known, over
        all labels): correct decisions and a recent accuracy per tree and, for a tree learning
        in the background, its errors and those of the owners of its labels on the same rows."""
        thr = self.threshold
        yl = y[:, lay.labels]
        wrong = (mine > thr) != yl
        theirs = (out[:, lay.labels] > thr) != yl
        if known is None:
            n_dec = lay.sizes * float(len(y))
        else:
            kl = known[:, lay.labels]
            n_dec = lay.per_tree(kl)
            wrong &= kl
            theirs &= kl
        n_wrong = lay.per_tree(wrong)
        n_theirs = lay.per_tree(theirs)
        for j, ct in enumerate(order):
            dec, bad = float(n_dec[j]), float(n_wrong[j])
            ct.correct += dec - bad
            ct.decisions += dec
            if dec:
                acc = (dec - bad) / dec
                ct.recent_acc = acc if np.isnan(ct.recent_acc) else 0.9 * ct.recent_acc + 0.1 * acc
            ct.rows += len(y)
            if not ct.warm:
                ct.err_new += bad
                ct.err_old += float(n_theirs[j])

    def _after_chunk(
        self, out: np.ndarray, Y: np.ndarray, known: np.ndarray | None, a: int, b: int
    ) -> None:
        index0 = self._seen
        self._seen += b - a
        odac = self.partition == "odac"
        # decisions between chunks are taken at stream positions only (see the module doc)
        at_position = self._seen % _CHUNK == 0 or (odac and b - a >= self._clust.next_check_in())
        # background trees that are ready take over their labels
        for ct in list(self._trees.values()):
            if ct.warm or not at_position:
                continue
            if ct.rows >= self.warm_max or (ct.rows >= self.warm_min and ct.err_new <= ct.err_old):
                ct.warm = True
                self._owner[ct.labels] = ct.tid
                self._emit(
                    DriftEvent(
                        level="cluster",
                        kind="takeover",
                        scope=tuple(str(self.schema.labels[i]) for i in ct.labels),  # type: ignore[union-attr]
                        index=self._seen,
                        detector="iHOMER",
                        statistic=ct.err_new - ct.err_old,
                        detail={"tree": ct.tid, "rows": ct.rows},
                    )
                )
        re_examine = getattr(self, "_reexamine", False)
        if self.global_drift:
            pred = out > self.threshold
            wrong = pred != Y.astype(bool)
            if known is None:
                err = wrong.mean(axis=1) if Y.shape[1] else np.zeros(len(Y))
            else:
                k = known.sum(axis=1)
                err = np.where(k > 0, (wrong & known).sum(axis=1) / np.maximum(k, 1), 0.0)
            for i in self._gdetector.update_many(err.astype(np.float64)):
                self._n_global_drifts += 1
                re_examine = True
                self._emit(
                    DriftEvent(
                        level="global",
                        kind="drift",
                        scope=(),
                        index=index0 + int(i) + 1,
                        detector="ADWIN",
                        statistic=float(self._gdetector.estimation),
                        detail={"error_now": float(err[i])},
                    )
                )
        self._reexamine = re_examine and not at_position
        background = {ct.tid for ct in self._trees.values() if not ct.warm}
        if not odac:
            self._retire(background)  # trees replaced by a takeover go
            return
        events = self._clust.update_many(Y, known, index=index0)
        if re_examine and at_position and self.restructure:
            self._clust.reset_statistics()
        for ev in events:
            self._emit(ev)
        if events:
            self._reconcile(self._target_partition(), index=self._seen)
        else:
            self._retire(background)

    def _predict_proba_rows(self, X: Features) -> np.ndarray:
        return self._run(X, None, None, learn=False)

    def _learn_rows(self, X: Features, Y: np.ndarray, known: np.ndarray | None) -> None:
        self._run(X, Y, known, learn=True)

    def _predict_learn_rows(
        self, X: Features, Y: np.ndarray, known: np.ndarray | None
    ) -> np.ndarray:
        return self._run(X, Y, known, learn=True)

    # ------------------------------------------------------------------ introspection
    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.schema is None:
            return out
        names = [str(x) for x in self.schema.labels]
        clusters = []
        for ct in sorted(self._trees.values(), key=lambda c: c.tid):
            owned = ct.labels[self._owner[ct.labels] == ct.tid]
            clusters.append(
                {
                    "tree": ct.tid,
                    "labels": [names[i] for i in ct.labels],
                    "size": int(len(ct.labels)),
                    "owns": [names[i] for i in owned],
                    "warm": bool(ct.warm),
                    "created_at": int(ct.created_at),
                    "age": int(self._seen - ct.created_at),
                    "accuracy": ct.correct / ct.decisions if ct.decisions else None,
                    "recent_accuracy": None if np.isnan(ct.recent_acc) else float(ct.recent_acc),
                    "tree_summary": TS.describe_tree(ct.state),
                }
            )
        out.update(
            {
                "clusters": clusters,
                "hierarchy": self._clust.hierarchy() if self.partition == "odac" else None,
                "n_global_drifts": self._n_global_drifts,
                "n_restructures": self._n_restructures,
            }
        )
        return out


@functools.lru_cache(maxsize=1024)
def _tree_shape(n_features: int, n_labels: int, knn_window: int, dense: bool) -> TS.TreeShape:
    return TS.TreeShape(n_features, n_labels, knn_window, labelset_capacity=64, dense=dense)


class _Layout:
    """The trees of a chunk side by side: tree ``j`` of ``order`` writes its labels' predictions
    into columns ``ocols[j]`` of one block (trees may share labels: a background tree learns
    labels that another tree still owns); ``own_cols`` are the block's columns that give the
    model's decisions on labels ``own_labels`` (the owners')."""

    __slots__ = ("labels", "starts", "sizes", "width", "ocols", "own_cols", "own_labels")

    def __init__(self, order: list[_ClusterTree], owner: np.ndarray):
        sizes = [len(ct.labels) for ct in order]
        self.sizes = np.asarray(sizes, np.float64)
        self.width = int(sum(sizes))
        self.starts = np.zeros(len(order), np.int64)
        self.starts[1:] = np.cumsum(sizes)[:-1]
        if order:
            self.labels = np.concatenate([ct.labels for ct in order])
            tids = np.repeat([ct.tid for ct in order], sizes)
        else:
            self.labels = tids = np.zeros(0, np.int64)
        cols = np.arange(self.width, dtype=np.int64)
        self.ocols = [cols[a : a + k] for a, k in zip(self.starts.tolist(), sizes)]
        self.own_cols = np.flatnonzero(owner[self.labels] == tids)
        self.own_labels = self.labels[self.own_cols]

    def per_tree(self, flags: np.ndarray) -> np.ndarray:
        """Per tree, the count of true ``flags`` (rows x block columns) in its columns."""
        if not self.width:
            return np.zeros(0)
        return np.add.reduceat(np.count_nonzero(flags, axis=0), self.starts)


_NO_CACHE = np.zeros((0, 0))
_NO_COLS = np.zeros(0, np.int64)
