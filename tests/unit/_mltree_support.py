"""Helpers of the multi-label tree kernel tests: parameters, trees, random data, runs.

Trees and stores are always built by :mod:`streamlearn.multilabel._treestate` and filled by
the kernels, so the tests do not depend on the order or number of the state's fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamlearn._kernels import mltree as K
from streamlearn.multilabel import _treestate as TS
from streamlearn.multilabel.mlhat import MLHAT
from streamlearn.schema import Schema

#: Scale of the randomised loops: the pure-Python coverage build (NUMBA_DISABLE_JIT=1) runs
#: the same tests on fewer random inputs.
JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")
SCALE = 1.0 if JIT else 0.25

HUGE = 1e18  # a grace period that never ends: no split attempt
NO_CACHE = np.zeros((0, 0))  # tree_run's kNN similarity cache, disabled
NO_COLS = np.zeros(0, np.int64)


def reps(n: int) -> int:
    return max(2, int(n * SCALE))


def make_params(dense: bool, **overrides: Any) -> K.Params:
    """The kernels' parameters as MLHAT builds them, with overrides (every value a float).

    Drift detection (node detectors, alternate subtrees) is off unless asked for: these tests
    are about the building blocks of one tree.
    """
    schema = Schema(features=["f"], labels=["l"], sparse=not dense)
    p = MLHAT().set_schema(schema)._params()
    if "drift" in p._fields:
        overrides.setdefault("drift", 0.0)
    if "global_recent" in p._fields:
        overrides.setdefault("global_recent", 0.0)  # the twin models the leaves' own rings
    return p._replace(**{k: float(v) for k, v in overrides.items()})


def make_tree(
    d: int, label_map: list[int] | np.ndarray, *, window: int = 16, labelsets: int = 64,
    seed: int = 0, nodes: int = 16, oslots: int = 2, mslots: int = 4,
) -> K.Tree:  # fmt: skip
    shape = TS.TreeShape(d, len(label_map), window, labelsets)
    return TS.new_tree(
        shape, np.asarray(label_map), seed, nodes=nodes, oslots=oslots, mslots=mslots
    )


def shape_of(t: K.Tree) -> TS.TreeShape:
    return TS.TreeShape(
        t.o_w.shape[2], t.label_map.shape[0], t.ring.shape[1], t.ls_cnt.shape[1],
        dense=t.nb_a.shape[2] > 0,
    )  # fmt: skip


def snapshot(t: K.Tree) -> dict[str, np.ndarray]:
    return {f: np.array(getattr(t, f), copy=True) for f in t._fields}


@dataclass
class Data:
    """A random multi-label stream in the kernels' CSR form (dense rows: every entry explicit)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    Y: np.ndarray  # uint8 (n, L)
    known: np.ndarray | None  # uint8 (n, L) or None (all known)
    d: int
    dense: bool

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    @property
    def Kmat(self) -> np.ndarray:
        return self.known if self.known is not None else np.zeros((0, 0), np.uint8)

    def row(self, i: int) -> tuple[list[int], list[float]]:
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return [int(f) for f in self.indices[a:b]], [float(v) for v in self.data[a:b]]

    def labels(self, i: int, cols: list[int] | np.ndarray) -> tuple[list[int], list[int]]:
        y = [int(self.Y[i, c]) for c in cols]
        k = [1] * len(y) if self.known is None else [int(self.known[i, c]) for c in cols]
        return y, k

    def dense_matrix(self) -> np.ndarray:
        X = np.zeros((self.n, self.d))
        for i in range(self.n):
            idx, val = self.row(i)
            X[i, idx] = val
        return X


def _feature_values(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    if kind == 0:  # continuous
        return rng.normal(rng.uniform(-2, 2), rng.uniform(0.2, 3), n)
    if kind == 1:  # small integers (exact arithmetic, many ties)
        return rng.integers(-2, 5, n).astype(np.float64)
    if kind == 2:  # binary
        return (rng.random(n) < rng.uniform(0.1, 0.9)).astype(np.float64)
    if kind == 3:  # mostly zero, positive
        return np.where(rng.random(n) < 0.7, 0.0, rng.exponential(2.0, n))
    if kind == 4:  # constant
        return np.full(n, float(rng.integers(-1, 3)))
    return np.where(rng.random(n) < 0.5, 0.0, 1.5)  # one non-zero value


def random_data(
    rng: np.random.Generator,
    n: int,
    d: int,
    L: int,
    *,
    dense: bool,
    p_known: float | None = None,
    kinds: tuple[int, ...] = (0, 1, 2, 3, 4, 5),
    explicit_zeros: bool = False,
    duplicates: float = 0.0,
) -> Data:
    """Features of mixed kinds; labels that depend on a few features (so splits have signal).

    Sparse rows keep their non-zero entries (and, with ``explicit_zeros``, some stored zeros);
    ``duplicates`` is the share of rows copied from an earlier row (ties for kNN).
    """
    X = np.column_stack([_feature_values(rng, n, int(rng.choice(kinds))) for _ in range(d)])
    for i in range(1, n):
        if rng.random() < duplicates:
            X[i] = X[rng.integers(0, i)]
    Y = np.zeros((n, L), np.uint8)
    for j in range(L):
        f = rng.integers(0, d)
        thr = np.median(X[:, f])
        noise = rng.random(n) < 0.15
        Y[:, j] = ((X[:, f] > thr) ^ noise) & (rng.random(n) < rng.uniform(0.3, 1.0))
    known = None
    if p_known is not None:
        known = (rng.random((n, L)) < p_known).astype(np.uint8)
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    for i in range(n):
        for f in range(d):
            v = X[i, f]
            if dense or v != 0.0 or (explicit_zeros and rng.random() < 0.1):
                indices.append(f)
                values.append(v)
        indptr.append(len(indices))
    return Data(
        np.array(indptr, np.int64), np.array(indices, np.int64), np.array(values, np.float64),
        Y, known, d, dense,
    )  # fmt: skip


def new_store_for(data: Data, rows: int = 4096, entries: int | None = None) -> K.Store:
    if entries is None:
        entries = rows * max(data.d, 1)
    return TS.new_store(rows, entries, data.Y.shape[1], data.d)


def append(s: K.Store, data: Data, start: int, stop: int) -> int:
    return int(
        K.store_append(s, data.indptr, data.indices, data.data, data.Y, data.Kmat,
                       data.known is not None, start, stop)
    )  # fmt: skip


def run(
    t: K.Tree, s: K.Store, p: K.Params, data: Data, start: int, stop: int, *,
    predict: bool = True, learn: bool = True, out: np.ndarray | None = None,
    cache: np.ndarray = NO_CACHE, cache_col: np.ndarray = NO_COLS, rid0: int | None = None,
    kres: np.ndarray = NO_CACHE, prepared: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:  # fmt: skip
    """Append rows ``start:stop`` to the store (when learning, unless their first store id
    ``rid0`` is given: appended already), prepare them (unless ``prepared`` gives them, as a
    forest does for its trees) and run the tree over them."""
    if out is None:
        out = np.zeros((data.n, data.Y.shape[1]))
    if rid0 is None:
        rid0 = append(s, data, start, stop) if learn else 0
    if prepared is None:  # a forest prepares the rows once and gives them to every tree
        csr = (data.indptr, data.indices, data.data)
        prepared = TS.prepare(s, bool(p.dense), csr, start, stop, learn, rid0)
    zdata, znorm = prepared
    K.tree_run(
        t, s, p, data.indptr, data.indices, data.data, data.Y, data.Kmat, data.known is not None,
        rid0, start, stop, out, t.label_map, predict, learn, cache, cache_col, kres, zdata,
        znorm, False,
    )  # fmt: skip
    return out


def run_growing(
    t: K.Tree, s: K.Store, p: K.Params, data: Data, start: int, stop: int, chunk: int = 64
) -> tuple[K.Tree, np.ndarray]:
    """As MLHAT does: chunks of rows; the kernel stops where the tree needs room, the arrays
    grow and it resumes (:func:`_treestate.run_tree`)."""
    out = np.zeros((data.n, data.Y.shape[1]))
    csr = (data.indptr, data.indices, data.data)
    for a in range(start, stop, chunk):
        b = min(stop, a + chunk)
        rid0 = append(s, data, a, b)
        zdata, znorm = TS.prepare(s, bool(p.dense), csr, a, b, True, rid0)
        t = TS.run_tree(
            t, shape_of(t), 1e12, 0, s, p, csr, data.Y, data.Kmat, data.known is not None,
            rid0, a, b, out, t.label_map, True, True, NO_CACHE, NO_COLS, NO_CACHE, zdata, znorm,
        )  # fmt: skip
    return t, out


def leaf_ids(t: K.Tree) -> list[int]:
    hwm = int(t.meta[K.M_NODE_HWM])
    return [n for n in range(hwm) if t.feat[n] == -1]


def route_rows(t: K.Tree, data: Data, rows: range | list[int]) -> dict[int, list[int]]:
    """Rows grouped by the leaf that the tree's current structure sends them to."""
    out: dict[int, list[int]] = {}
    for i in rows:
        x = dict(zip(*data.row(i)))
        node = int(t.meta[K.M_ROOT])
        while t.feat[node] >= 0:
            node = int(
                t.left[node] if x.get(int(t.feat[node]), 0.0) <= t.thr[node] else t.right[node]
            )
        out.setdefault(node, []).append(i)
    return out


def data_from_rows(
    rows: list[tuple[list[int], list[float]]],
    Y: np.ndarray,
    known: np.ndarray | None,
    d: int,
    dense: bool = False,
) -> Data:
    indptr = np.zeros(len(rows) + 1, np.int64)
    for i, (idx, _) in enumerate(rows):
        indptr[i + 1] = indptr[i] + len(idx)
    indices = np.array([f for idx, _ in rows for f in idx], np.int64)
    values = np.array([v for _, val in rows for v in val], np.float64)
    return Data(indptr, indices, values, np.ascontiguousarray(Y, np.uint8),
                None if known is None else np.ascontiguousarray(known, np.uint8), d, dense)  # fmt: skip


def copy_tree(t: K.Tree) -> K.Tree:
    return t._replace(**{f: getattr(t, f).copy() for f in t._fields})
