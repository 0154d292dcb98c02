"""MLHAT: multi-label Hoeffding adaptive tree with numba hot paths.

A Hoeffding tree over all the labels of a stream (the MLHAT family: Esteban, Cano, Zafra,
Ventura, Knowledge-Based Systems 2024), rebuilt on arrays:

- split merit: multi-label entropy of a multivariate Bernoulli (sum of per-label binary
  entropies, plus the "no label" outcome); Hoeffding bound with range ``log2`` of the number of
  distinct label sets seen at the leaf; grace period, tie threshold, pre-pruning (no split);
- observers: per (feature, outcome) a point mass at zero plus a Gaussian of the non-zero values,
  so sparse rows are learned at the cost of their non-zeros;
- adaptive leaves: majority label set, recency, kNN, naive Bayes and logistic regression per
  label, mixed per label by their own prequential loss; children start from their parent's
  models (warm start);
- optional Poisson(1) online bagging weights (seeded, snapshot-able RNG);
- partial label sets (``known`` masks); bounded memory (``max_size_mb``).

The kernels are in :mod:`streamlearn._kernels.mltree`; this class only converts inputs, calls
them on chunks of rows and grows arrays between calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from streamlearn._kernels import mltree as K
from streamlearn.base.arrays import Features, n_rows
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.multilabel import _treestate as TS

__all__ = ["MLHAT"]

_CHUNK = 512
_NO_CACHE = np.zeros((0, 0))
_NO_COLS = np.zeros(0, np.int64)


class MLHAT(MultiLabelClassifier):
    """Multi-label Hoeffding adaptive tree.

    Parameters
    ----------
    grace_period
        Weight a leaf sees between split attempts.
    delta
        Significance of the Hoeffding bound.
    tau
        Tie threshold: split anyway when the bound falls below it.
    n_split_points
        Candidate thresholds per numeric feature (plus the zero/non-zero split of sparse data).
    min_branch_fraction
        A split must send at least this fraction of the weight to each side.
    max_share_to_split
        Do not split a leaf where one outcome covers more than this share of the weight.
    merit_preprune
        Consider "no split" as a candidate: a leaf where it wins stops splitting.
    max_depth
        Maximum depth of a leaf (``None``: unbounded).
    leaf_models
        Which leaf models are mixed: any of ``majority_labelset``, ``recency``, ``knn``,
        ``naive_bayes``, ``logistic``.
    knn_k
        Neighbours of the kNN leaf model.
    knn_window
        Recent instances the kNN and recency models look at.
    recent_scope
        ``"stream"``: the kNN and recency models look at the stream's latest instances (the
        same for every leaf, so splits do not thin them out); ``"leaf"``: at the latest
        instances that reached the leaf.
    learning_rate
        SGD step of the logistic leaf models (``None``: 0.05 on dense data, 0.3 on sparse).
    loss_decay
        Decay of each leaf model's prequential Brier loss (the mixture's memory).
    hedge_eta
        Sharpness of the loss-based mixture of leaf models (larger: closer to "pick the best").
    threshold
        Probability above which a label is predicted.
    bagging
        Weight every instance by a Poisson(1) draw (online bagging).
    drift_detection
        Give every node an ADWIN on the error of its subtree's predictions; a branch whose
        error rises starts an alternate subtree that replaces it when significantly better.
    adwin_delta
        Significance of the nodes' ADWIN detectors.
    switch_significance
        Significance of the test between an alternate subtree and the subtree it would replace.
    drift_window_threshold
        Instances both must see before they are compared.
    max_size_mb
        Memory budget of the model; past it, leaves stop splitting and the least promising
        active leaves give their split statistics to more promising ones.
    store_size
        Recent rows kept for the kNN and recency leaf models (shared by all leaves).
    seed
        Seed of the bagging weights.

    Examples
    --------
    >>> from streamlearn.multilabel.mlhat import MLHAT
    >>> from streamlearn.stream import make_stream
    >>> data = make_stream(2000, n_features=10, n_labels=6, n_groups=2, seed=1).dataset
    >>> model = MLHAT(grace_period=100).set_schema(data.schema)
    >>> proba = model.predict_learn_many(data.X, data.Y)   # strict test-then-train
    >>> proba.shape
    (2000, 6)
    >>> model.describe()["tree"]["n_leaves"] >= 1
    True

    """

    def __init__(
        self,
        grace_period: int = 200,
        delta: float = 1e-7,
        tau: float = 0.05,
        n_split_points: int = 10,
        min_branch_fraction: float = 0.01,
        max_share_to_split: float = 0.99,
        merit_preprune: bool = True,
        max_depth: int | None = None,
        leaf_models: tuple[str, ...] = K.MODEL_NAMES,
        knn_k: int = 4,
        knn_window: int = 170,
        recent_scope: str = "stream",
        learning_rate: float | None = None,
        loss_decay: float = 0.98,
        hedge_eta: float = 5.0,
        threshold: float = 0.4,
        bagging: bool = False,
        drift_detection: bool = True,
        adwin_delta: float = 0.002,
        switch_significance: float = 0.05,
        drift_window_threshold: int = 200,
        max_size_mb: float = 256.0,
        store_size: int = 4096,
        seed: int = 0,
    ):
        self.grace_period = grace_period
        self.delta = delta
        self.tau = tau
        self.n_split_points = n_split_points
        self.min_branch_fraction = min_branch_fraction
        self.max_share_to_split = max_share_to_split
        self.merit_preprune = merit_preprune
        self.max_depth = max_depth
        self.leaf_models = tuple(leaf_models)
        unknown = set(self.leaf_models) - set(K.MODEL_NAMES)
        if unknown:
            raise ValueError(f"unknown leaf models {sorted(unknown)}; choose from {K.MODEL_NAMES}")
        self.knn_k = knn_k
        self.knn_window = knn_window
        if recent_scope not in ("stream", "leaf"):
            raise ValueError(f"recent_scope must be 'stream' or 'leaf', not {recent_scope!r}")
        self.recent_scope = recent_scope
        self.learning_rate = learning_rate
        self.loss_decay = loss_decay
        self.hedge_eta = hedge_eta
        self.threshold = threshold
        self.bagging = bagging
        self.drift_detection = drift_detection
        self.adwin_delta = adwin_delta
        self.switch_significance = switch_significance
        self.drift_window_threshold = drift_window_threshold
        self.max_size_mb = max_size_mb
        self.store_size = store_size
        self.seed = seed

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"grace_period": 20}
        yield {"grace_period": 30, "bagging": True, "leaf_models": ("knn", "logistic")}

    # ------------------------------------------------------------------ state
    def _params(self) -> K.Params:
        assert self.schema is not None
        return tree_params(self, dense=not self.schema.sparse)

    def _shape(self) -> TS.TreeShape:
        s = self.schema
        assert s is not None
        return TS.TreeShape(
            s.n_features, s.n_labels, self.knn_window, labelset_capacity=64, dense=not s.sparse
        )

    def _init_state(self) -> None:
        s = self.schema
        assert s is not None
        self._tree = TS.new_tree(
            self._shape(), np.arange(s.n_labels), self.seed, adwin_delta=self.adwin_delta
        )
        self._store = TS.learner_store(self.store_size, s)

    def _on_schema_grow(self, old_n_features: int, old_n_labels: int) -> None:
        # A tree cannot change its feature/label axes in place: rebuild the arrays padded.
        s = self.schema
        assert s is not None
        self._tree = _pad_tree(self._tree, s.n_features, s.n_labels)
        self._store = TS.pad_store(self._store, s.n_features, s.n_labels)

    # ------------------------------------------------------------------ rows
    def _run(
        self,
        X: Features,
        Y: np.ndarray | None,
        known: np.ndarray | None,
        *,
        predict: bool,
        learn: bool,
    ) -> np.ndarray:
        s = self.schema
        assert s is not None
        n = n_rows(X)
        csr = TS.rows_as_csr(X, dense=not s.sparse)
        indptr, indices, data = csr
        out = np.zeros((n, s.n_labels))
        if Y is None:
            Y = np.zeros((n, s.n_labels), np.uint8)
        has_known = known is not None
        Kmat = known.astype(np.uint8) if has_known else np.zeros((0, 0), np.uint8)
        params = self._params()
        budget = self.max_size_mb * 2**20
        for a in range(0, n, _CHUNK):
            b = min(n, a + _CHUNK)
            rid0 = 0
            if learn:
                self._store = TS.ensure_store(self._store, int(indptr[b] - indptr[a]), b - a)
                rid0 = K.store_append(self._store, indptr, indices, data, Y, Kmat, has_known, a, b)
            zdata, znorm = TS.prepare(self._store, not s.sparse, csr, a, b, learn, rid0)
            kres = TS.stream_neighbours(
                self._store, params, csr, zdata, znorm, a, b, rid0, learn, self.knn_window,
                s.n_features,
            )  # fmt: skip
            self._tree = TS.run_tree(
                self._tree, self._shape(), budget, _store_nbytes(self._store), self._store,
                params, csr, Y, Kmat, has_known, rid0, a, b, out, self._tree.label_map,
                predict, learn, _NO_CACHE, _NO_COLS, kres, zdata, znorm,
            )  # fmt: skip
        return out

    def _predict_proba_rows(self, X: Features) -> np.ndarray:
        return self._run(X, None, None, predict=True, learn=False)

    def _learn_rows(self, X: Features, Y: np.ndarray, known: np.ndarray | None) -> None:
        self._run(X, Y, known, predict=False, learn=True)

    def _predict_learn_rows(
        self, X: Features, Y: np.ndarray, known: np.ndarray | None
    ) -> np.ndarray:
        return self._run(X, Y, known, predict=True, learn=True)

    # ------------------------------------------------------------------ introspection
    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.schema is not None:
            out["tree"] = TS.describe_tree(self._tree)
        return out


def tree_params(model: MLHAT, *, dense: bool) -> K.Params:
    """The kernels' scalar parameters from an MLHAT's constructor parameters."""
    lr = model.learning_rate
    if lr is None:
        lr = 0.05 if dense else 0.3
    mask = 0
    for name in model.leaf_models:
        mask |= 1 << K.MODEL_NAMES.index(name)
    return K.Params(
        grace_period=float(model.grace_period),
        delta=float(model.delta),
        tau=float(model.tau),
        n_split_points=float(model.n_split_points),
        min_branch_fraction=float(model.min_branch_fraction),
        max_share_to_split=float(model.max_share_to_split),
        merit_preprune=float(bool(model.merit_preprune)),
        max_depth=float(model.max_depth if model.max_depth is not None else 1_000_000),
        knn_k=float(model.knn_k),
        learning_rate=float(lr),
        loss_decay=float(model.loss_decay),
        hedge_eta=float(model.hedge_eta),
        nb_alpha=1.0,
        dense=float(dense),
        bagging_rate=1.0 if model.bagging else 0.0,
        models_mask=float(mask),
        skip_below=1e-3,
        drift=float(bool(model.drift_detection)),
        switch_significance=float(model.switch_significance),
        drift_window=float(model.drift_window_threshold),
        threshold=float(model.threshold),
        global_recent=float(model.recent_scope == "stream"),
    )


def _store_nbytes(s: K.Store) -> int:
    return int(sum(a.nbytes for a in s))


def _pad_outcomes(a: np.ndarray, L0: int, dl: int) -> np.ndarray:
    """Insert ``dl`` zero outcomes after the ``L0`` labels of axis 1 (before empty/total)."""
    if dl <= 0:
        return a
    shape = (a.shape[0], dl, *a.shape[2:])
    return np.concatenate([a[:, :L0], np.zeros(shape, a.dtype), a[:, L0:]], axis=1)


def _pad_tree(t: K.Tree, d: int, L: int) -> K.Tree:
    """Copy of ``t`` with its feature axis padded to ``d`` and its label axis to ``L``."""
    d0 = t.o_w.shape[2]
    L0 = t.label_map.shape[0]
    dd, dl = d - d0, L - L0

    def pad(a: np.ndarray, axis: int, n: int, fill: float = 0.0) -> np.ndarray:
        if n <= 0:
            return a
        width = [(0, 0)] * a.ndim
        width[axis] = (0, n)
        return np.pad(a, width, constant_values=fill)

    def pad_out(a: np.ndarray) -> np.ndarray:  # (..., Lc + 2) with empty/total at the end
        head, tail = a[..., :L0], a[..., L0:]
        shape = (*a.shape[:-1], dl)
        return np.concatenate([head, np.zeros(shape, a.dtype), tail], axis=-1)

    def pad_lab1(a: np.ndarray) -> np.ndarray:  # (C, Lc + 1): labels + empty
        return pad_out(a)

    repl = {
        "lw": pad_lab1(t.lw),
        "kw": pad_lab1(t.kw),
        "o_w": pad(_pad_outcomes(t.o_w, L0, dl), 2, dd),
        "o_s1": pad(_pad_outcomes(t.o_s1, L0, dl), 2, dd),
        "o_s2": pad(_pad_outcomes(t.o_s2, L0, dl), 2, dd),
        "o_min": pad(t.o_min, 1, dd, np.inf),
        "o_max": pad(t.o_max, 1, dd, -np.inf),
        "o_tot": pad_out(t.o_tot),
        "o_mass": pad_out(t.o_mass),
        "o_known": pad_out(t.o_known),
        "nb_a": pad(pad(t.nb_a, 1, dl), 2, dd if t.nb_a.shape[2] else 0),
        "nb_b": pad(pad(t.nb_b, 1, dl), 2, dd if t.nb_b.shape[2] else 0),
        "nb_c": pad(t.nb_c, 1, dl),
        "nb_at": np.full_like(t.nb_at, -1.0),  # recomputed at the next prediction
        "lr_w": pad(pad(t.lr_w, 2, dl), 1, dd),
        "lr_b": pad(t.lr_b, 1, dl),
        "loss": pad(t.loss, 1, dl),
        "ls_bits": pad(t.ls_bits, 2, dl),
        "label_map": np.arange(L, dtype=np.int64),
    }
    # label sets change meaning when labels are added (absent = false): hashes stay valid
    # because new labels are false in every stored set.
    return t._replace(**{k: np.ascontiguousarray(v) for k, v in repl.items()})
