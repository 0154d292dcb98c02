"""Allocation, growth and inspection of multi-label tree state (used by MLHAT and iHOMER).

The kernels in :mod:`streamlearn._kernels.mltree` work on fixed-capacity arrays; this module
creates them, grows them between kernel calls (capacity doubling, within a memory budget),
restricts a tree to a subset of its labels (iHOMER's cluster splits) and summarises a tree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamlearn._kernels import mltree as K
from streamlearn._kernels.adwin import adwin_new_state
from streamlearn._kernels.rng import rng_state

__all__ = [
    "TreeShape",
    "run_tree",
    "pad_store",
    "prepare",
    "describe_tree",
    "ensure_capacity",
    "ensure_store",
    "new_store",
    "new_tree",
    "restrict_tree",
    "rows_as_csr",
    "tree_nbytes",
]


class TreeShape:
    """Sizes that fix the per-slot array shapes of a tree."""

    def __init__(
        self,
        n_features: int,
        n_labels: int,
        knn_window: int,
        labelset_capacity: int,
        dense: bool = True,
    ):
        self.dense = bool(dense)
        self.d = int(n_features)
        self.Lc = int(n_labels)
        self.W = int(knn_window)
        self.K = int(labelset_capacity)

    def node_bytes(self) -> int:
        return 8 * (20 + 2 * (self.Lc + 1)) + 8 * 436

    def oslot_bytes(self) -> int:
        nb = 2 * self.Lc * self.d if self.dense else 0  # Gaussian NB parameters, dense data only
        return 8 * (3 * self.d * (self.Lc + 2) + nb + 2 * self.d + 5 * (self.Lc + 2))

    def mslot_bytes(self) -> int:
        return 8 * (self.d * self.Lc + self.Lc + self.Lc * K.N_MODELS + self.W + 4 + 2 * self.K) + (
            self.K * self.Lc
        )


def new_tree(
    shape: TreeShape,
    label_map: np.ndarray,
    seed: int,
    nodes: int = 16,
    oslots: int = 2,
    mslots: int = 4,
    adwin_delta: float = 0.002,
) -> K.Tree:
    """A tree holding one leaf (the root) with an observer slot."""
    d, Lc, W, Kc = shape.d, shape.Lc, shape.W, shape.K
    dnb = d if shape.dense else 0  # Gaussian naive Bayes parameters: dense data only
    C = max(nodes, 4)
    adw = adwin_new_state(delta=adwin_delta)
    t = K.Tree(
        feat=np.full(C, -2, np.int64),
        thr=np.zeros(C),
        left=np.full(C, -1, np.int64),
        right=np.full(C, -1, np.int64),
        parent=np.full(C, -1, np.int64),
        depth=np.zeros(C, np.int64),
        oslot=np.full(C, -1, np.int64),
        mslot=np.full(C, -1, np.int64),
        alt=np.full(C, -1, np.int64),
        bg=np.zeros(C, np.uint8),
        active=np.zeros(C, np.uint8),
        weight=np.zeros(C),
        lw=np.zeros((C, Lc + 1)),
        kw=np.zeros((C, Lc + 1)),
        last=np.zeros(C),
        errs=np.zeros(C),
        errn=np.zeros(C),
        adw=np.zeros((C, adw.shape[0])),
        node_free=np.zeros(C, np.int64),
        o_w=np.zeros((oslots, Lc + 2, d)),
        o_s1=np.zeros((oslots, Lc + 2, d)),
        o_s2=np.zeros((oslots, Lc + 2, d)),
        o_min=np.full((oslots, d), np.inf),
        o_max=np.full((oslots, d), -np.inf),
        o_tot=np.zeros((oslots, Lc + 2)),
        o_mass=np.zeros((oslots, Lc + 2)),
        o_known=np.zeros((oslots, Lc + 2)),
        nb_a=np.zeros((oslots, Lc, dnb)),
        nb_b=np.zeros((oslots, Lc, dnb)),
        nb_c=np.zeros((oslots, Lc)),
        nb_at=np.full(oslots, -1.0),
        oslot_free=np.zeros(oslots, np.int64),
        lr_w=np.zeros((mslots, d, Lc)),
        lr_b=np.zeros((mslots, Lc)),
        loss=np.zeros((mslots, Lc, K.N_MODELS)),
        ring=np.full((mslots, W), -1, np.int64),
        ring_n=np.zeros(mslots, np.int64),
        ring_pos=np.zeros(mslots, np.int64),
        ls_hash=np.zeros((mslots, Kc), np.uint64),
        ls_cnt=np.zeros((mslots, Kc)),
        ls_bits=np.zeros((mslots, Kc, Lc), np.uint8),
        ls_n=np.zeros(mslots, np.int64),
        ls_distinct=np.zeros(mslots),
        mslot_free=np.zeros(mslots, np.int64),
        label_map=np.ascontiguousarray(label_map, dtype=np.int64),
        adw_template=adw,
        meta=np.zeros(K.M_N, np.int64),
        metaf=np.zeros(K.MF_N),
        rng=rng_state(seed),
    )
    root = K.alloc_node(t)
    t.meta[K.M_ROOT] = root
    t.mslot[root] = K.alloc_mslot(t)
    t.oslot[root] = K.alloc_oslot(t)
    t.active[root] = 1
    t.meta[K.M_LEAVES] = 1
    return t


def _grow_axis0(a: np.ndarray, new_len: int, fill: Any = 0) -> np.ndarray:
    out = np.empty((new_len, *a.shape[1:]), dtype=a.dtype)
    out[: a.shape[0]] = a
    out[a.shape[0] :] = fill
    return out


_NODE_FIELDS = {
    "feat": -2,
    "thr": 0,
    "left": -1,
    "right": -1,
    "parent": -1,
    "depth": 0,
    "oslot": -1,
    "mslot": -1,
    "alt": -1,
    "bg": 0,
    "active": 0,
    "weight": 0,
    "lw": 0,
    "kw": 0,
    "last": 0,
    "errs": 0,
    "errn": 0,
    "adw": 0,
    "node_free": 0,
}
_OSLOT_FIELDS = {
    "o_w": 0,
    "o_s1": 0,
    "o_s2": 0,
    "o_min": np.inf,
    "o_max": -np.inf,
    "o_tot": 0,
    "o_mass": 0,
    "o_known": 0,
    "nb_a": 0,
    "nb_b": 0,
    "nb_c": 0,
    "nb_at": -1.0,
    "oslot_free": 0,
}
_MSLOT_FIELDS = {
    "lr_w": 0,
    "lr_b": 0,
    "loss": 0,
    "ring": -1,
    "ring_n": 0,
    "ring_pos": 0,
    "ls_hash": 0,
    "ls_cnt": 0,
    "ls_bits": 0,
    "ls_n": 0,
    "ls_distinct": 0,
    "mslot_free": 0,
}


def _grow(t: K.Tree, fields: dict[str, Any], new_len: int) -> K.Tree:
    return t._replace(
        **{f: _grow_axis0(getattr(t, f), new_len, fill) for f, fill in fields.items()}
    )


def _free(capacity: int, hwm: int, nfree: int) -> int:
    return capacity - hwm + nfree


def ensure_capacity(
    t: K.Tree, shape: TreeShape, budget_bytes: float, other_bytes: int = 0
) -> K.Tree:
    """Grow the tree's arrays so that the next rows have room, within ``budget_bytes``.

    Nodes and model slots grow (by doubling) until a row's worst case fits (see
    :func:`~streamlearn._kernels.mltree.room_for_a_row`); observer slots grow for the leaves
    waiting for one. Past the budget nothing grows (``M_GROWABLE`` is cleared): splits and
    alternates stop when nodes or model slots run out, and waiting leaves only get an
    observer slot when a less promising active leaf gives its own up.
    """
    m = t.meta
    m[K.M_NEED] = 0
    if K.room_ahead(m, t.feat, t.active, t.oslot, t.lr_w.shape[0], t.o_w.shape[0]):
        m[K.M_GROWABLE] = 1  # room for the next rows: nothing to grow (the common case)
        return t
    mv = m.tolist()
    depth = mv[K.M_MAXDEPTH] + 1
    growable = True
    C = t.feat.shape[0]
    need_nodes = K.nodes_needed(depth)
    need_m = K.mslots_needed(depth)
    M = t.lr_w.shape[0]
    S = t.o_w.shape[0]
    waiting = int(np.count_nonzero((t.oslot < 0) & (t.feat == -1) & (t.active == 1)))
    nodes_short = _free(C, mv[K.M_NODE_HWM], mv[K.M_NODE_NFREE]) < need_nodes
    mslots_short = _free(M, mv[K.M_MSLOT_HWM], mv[K.M_MSLOT_NFREE]) < need_m
    oslots_short = _free(S, mv[K.M_OSLOT_HWM], mv[K.M_OSLOT_NFREE]) < 2 + waiting
    used = tree_nbytes(t) + other_bytes
    if nodes_short:
        new_c = 2 * C
        while _free(new_c, mv[K.M_NODE_HWM], mv[K.M_NODE_NFREE]) < need_nodes:
            new_c *= 2
        # every per-node array (ADWIN states included) grows with the node count
        per_node = sum(getattr(t, f).nbytes for f in _NODE_FIELDS) / max(C, 1)
        extra = int((new_c - C) * per_node)
        if used + extra <= budget_bytes:
            t = _grow(t, _NODE_FIELDS, new_c)
            used += extra
        else:  # no room for more nodes: splits and alternates stop (the kernel checks)
            growable = False
    if mslots_short:
        new_m = 2 * M
        while _free(new_m, mv[K.M_MSLOT_HWM], mv[K.M_MSLOT_NFREE]) < need_m:
            new_m *= 2
        extra = (new_m - M) * shape.mslot_bytes()
        if used + extra <= budget_bytes:
            t = _grow(t, _MSLOT_FIELDS, new_m)
            used += extra
        else:
            growable = False
    if oslots_short:
        grow_to = max(2 * S, S + waiting + 2)
        extra = (grow_to - S) * shape.oslot_bytes()
        if used + extra <= budget_bytes:
            t = _grow(t, _OSLOT_FIELDS, grow_to)
            t.meta[K.M_NO_OSLOT] = 0
        else:
            growable = False
    if waiting:
        _assign_waiting(t)
    t.meta[K.M_GROWABLE] = 1 if growable else 0
    return t


def run_tree(
    t: K.Tree, shape: TreeShape, budget_bytes: float, other_bytes: int, s: K.Store, p: K.Params,
    csr: tuple[np.ndarray, np.ndarray, np.ndarray], Y: np.ndarray, Kmat: np.ndarray,
    has_known: bool, rid0: int, a: int, b: int, out: np.ndarray, ocol: np.ndarray,
    predict: bool, learn: bool, cache: np.ndarray, cache_col: np.ndarray, kres: np.ndarray,
    zdata: np.ndarray, znorm: np.ndarray,
) -> K.Tree:  # fmt: skip
    """Run a tree over rows ``a:b`` (prepared by :func:`prepare`; predictions into the columns
    ``ocol`` of ``out``), growing its arrays whenever the kernel stops for room; returns the
    (possibly reallocated) tree.

    The kernel checks the room itself first (:func:`~streamlearn._kernels.mltree.room_ahead`,
    what :func:`ensure_capacity` checks before growing anything), so that the common case costs
    one call."""
    indptr, indices, data = csr
    base = int(indptr[a])
    pos = a
    check = True
    while True:
        k = pos - a
        z0 = int(indptr[pos]) - base
        pos = int(
            K.tree_run(
                t, s, p, indptr, indices, data, Y, Kmat, has_known, rid0 + k, pos, b, out,
                ocol, predict, learn, cache[k:] if cache.shape[0] else cache, cache_col,
                kres[k:] if kres.shape[0] else kres, zdata[z0:], znorm[k:], check,
            )
        )  # fmt: skip
        if pos >= b:
            return t
        t = ensure_capacity(t, shape, budget_bytes, other_bytes)
        check = False


def _promise(t: K.Tree, leaf: int) -> float:
    """MLHAT's promise of a leaf: weight not explained by its majority label set."""
    ms = t.mslot[leaf]
    top = t.ls_cnt[ms, : t.ls_n[ms]].max() if t.ls_n[ms] else 0.0
    return float(t.weight[leaf] - top)


def _assign_waiting(t: K.Tree) -> None:
    """Give observer slots to waiting leaves: free ones first, then swap with poorer leaves."""
    leaves = np.flatnonzero((t.feat == -1) & (t.active == 1))
    waiting = sorted((int(n) for n in leaves if t.oslot[n] < 0), key=lambda n: -_promise(t, n))
    holders = sorted((int(n) for n in leaves if t.oslot[n] >= 0), key=lambda n: _promise(t, n))
    for n in waiting:
        o = K.alloc_oslot(t)
        if o < 0 and holders and _promise(t, holders[0]) < _promise(t, n):
            poor = holders.pop(0)
            K.free_oslot(t, t.oslot[poor])
            t.oslot[poor] = -1
            o = K.alloc_oslot(t)
        if o < 0:
            t.meta[K.M_NO_OSLOT] = 1
            break
        t.oslot[n] = o
        t.last[n] = t.weight[n]
    t.meta[K.M_NEED] &= ~K.NEED_OSLOTS


def tree_nbytes(t: K.Tree) -> int:
    return int(sum(a.nbytes for a in t))


# ---------------------------------------------------------------------------------- store
def new_store(rows: int, entries: int, n_labels: int, n_features: int = 0) -> K.Store:
    """A store of ``rows`` recent rows; ``n_features`` sizes the dense feature statistics."""
    return K.Store(
        seq=np.full(rows, -1, np.int64),
        start=np.zeros(rows, np.int64),
        length=np.zeros(rows, np.int64),
        norm=np.zeros(rows),
        znorm=np.zeros(rows),
        idx=np.zeros(entries, np.int64),
        val=np.zeros(entries),
        zval=np.zeros(entries),
        y=np.zeros((rows, n_labels), np.uint8),
        known=np.zeros((rows, n_labels), np.uint8),
        meta=np.zeros(2, np.int64),
        scale_mean=np.zeros(n_features),
        scale_m2=np.zeros(n_features),
        scale_n=np.zeros(1),
    )


def learner_store(rows: int, schema: Any) -> K.Store:
    """A learner's store of ``rows`` recent rows for rows of ``schema``: room for
    ``n_features`` entries per row if dense, 32 if sparse (:func:`ensure_store` grows it with
    the stream's density)."""
    per_row = schema.n_features if not schema.sparse else 32
    return new_store(rows, rows * per_row, schema.n_labels, schema.n_features)


def ensure_store(s: K.Store, nnz: int, n_rows: int) -> K.Store:
    """Make the entry ring large enough for the store's rows at the incoming density."""
    G = s.seq.shape[0]
    E = s.idx.shape[0]
    per_row = nnz / max(n_rows, 1)
    need = int(np.ceil(1.25 * per_row * G)) + nnz
    if need <= E:
        return s
    new_e = max(need, 2 * E)
    idx = np.zeros(new_e, np.int64)
    val = np.zeros(new_e)
    zval = np.zeros(new_e)
    start = s.start.copy()
    written = int(s.meta[1])
    seq = s.seq.copy()
    # re-lay the valid rows, oldest first, from position 0 of the new ring
    order = np.argsort(np.where(seq >= 0, seq, np.iinfo(np.int64).max), kind="stable")
    pos = 0
    for slot in order:
        if seq[slot] < 0:
            continue
        if written - s.start[slot] > E:
            seq[slot] = -1
            continue
        n = int(s.length[slot])
        src = (s.start[slot] + np.arange(n)) % E
        idx[pos : pos + n] = s.idx[src]
        val[pos : pos + n] = s.val[src]
        zval[pos : pos + n] = s.zval[src]
        start[slot] = pos
        pos += n
    meta = s.meta.copy()
    meta[1] = pos
    return s._replace(idx=idx, val=val, zval=zval, start=start, seq=seq, meta=meta)


# ---------------------------------------------------------------------------------- inputs
def prepare(
    s: K.Store, dense: bool, csr: tuple[np.ndarray, np.ndarray, np.ndarray], a: int, b: int,
    learn: bool, rid0: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The learners' values (standardised if dense) of rows ``a:b``, once for every tree."""
    indptr, indices, data = csr
    if dense and b > a and indices[indptr[a] : indptr[b]].max(initial=-1) >= s.scale_mean.shape[0]:
        raise ValueError("the store's feature statistics are smaller than the rows' features")
    zdata = np.empty(int(indptr[b] - indptr[a]))
    znorm = np.empty(b - a)
    K.prepare_rows(s, dense, indptr, indices, data, a, b, learn, rid0, zdata, znorm)
    return zdata, znorm


def stream_neighbours(
    s: K.Store, p: K.Params, csr: tuple[np.ndarray, np.ndarray, np.ndarray], zdata: np.ndarray,
    znorm: np.ndarray, a: int, b: int, rid0: int, learn: bool, window: int, n_features: int,
) -> np.ndarray:  # fmt: skip
    """Each row's stream-scope kNN candidates (``Params.global_recent``), searched once for
    every leaf, alternate and tree (the ``kres`` of :func:`~streamlearn._kernels.mltree.tree_run`);
    an empty array when the leaves look at their own recent rows or use no kNN model."""
    mask = int(p.models_mask)
    if not p.global_recent or not ((mask >> K.KNN) & 1 or (mask >> K.KNN_LS) & 1):
        return np.zeros((0, 0))
    k = 4 * max(int(p.knn_k), 1)
    kres = np.full((b - a, 1 + 2 * k), -1.0)
    indptr, indices, _ = csr
    K.knn_search_rows(s, indptr, indices, zdata, znorm, a, b, rid0, learn, window, n_features, kres)
    return kres


def pad_store(s: K.Store, n_features: int, n_labels: int) -> K.Store:
    """The store with room for new features (zero statistics) and labels (unknown)."""
    dd = n_features - s.scale_mean.shape[0]
    dl = n_labels - s.y.shape[1]
    return s._replace(
        y=np.pad(s.y, ((0, 0), (0, max(dl, 0)))),
        known=np.pad(s.known, ((0, 0), (0, max(dl, 0)))),
        scale_mean=np.pad(s.scale_mean, (0, max(dd, 0))),
        scale_m2=np.pad(s.scale_m2, (0, max(dd, 0))),
    )


def rows_as_csr(X: Any, dense: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays of a validated feature matrix (dense: every entry explicit).

    With ``dense`` (the model's schema is dense) a CSR matrix is densified first: a dense
    model's zeros are values like any other (standardised, counted by the observers), not
    absent entries, so the same rows give the same model whichever form they came in.
    """
    from streamlearn.base.arrays import CSR

    if isinstance(X, CSR):
        if not dense:
            return X.indptr, X.indices, X.data
        X = X.toarray()
    return K.dense_to_csr(np.ascontiguousarray(X, dtype=np.float64))


# ---------------------------------------------------------------------------------- restrict
def restrict_tree(t: K.Tree, keep: np.ndarray, label_map: np.ndarray) -> K.Tree:
    """A copy of ``t`` over the tree labels ``keep`` (positions in its label axis).

    Structure, leaf models and observers are kept; the "no label" outcome keeps its counts
    from the larger label set (an approximation that new data washes out).
    """
    keep = np.asarray(keep, dtype=np.int64)
    Lc = t.label_map.shape[0]
    lab1 = np.concatenate([keep, [Lc]])  # labels + "no label"
    lab2 = np.concatenate([keep, [Lc, Lc + 1]])  # + total
    repl = {
        "lw": t.lw[:, lab1],
        "kw": t.kw[:, lab1],
        "o_w": t.o_w[:, lab2, :],
        "o_s1": t.o_s1[:, lab2, :],
        "o_s2": t.o_s2[:, lab2, :],
        "o_tot": t.o_tot[:, lab2],
        "o_mass": t.o_mass[:, lab2],
        "o_known": t.o_known[:, lab2],
        "nb_a": t.nb_a[:, keep, :],
        "nb_b": t.nb_b[:, keep, :],
        "nb_c": t.nb_c[:, keep],
        "nb_at": np.full_like(t.nb_at, -1.0),  # recomputed at the next prediction
        "lr_w": t.lr_w[:, :, keep],
        "lr_b": t.lr_b[:, keep],
        "loss": t.loss[:, keep, :],
        "ls_bits": t.ls_bits[:, :, keep],
        "label_map": np.ascontiguousarray(label_map, dtype=np.int64),
    }
    out = t._replace(**{k: np.ascontiguousarray(v) for k, v in repl.items()})
    out = out._replace(**{f: getattr(out, f).copy() for f in out._fields if f not in repl})
    # label-set table: re-hash the restricted sets (duplicates merge by count)
    for ms in range(out.ls_n.shape[0]):
        n = int(out.ls_n[ms])
        if not n:
            continue
        bits = out.ls_bits[ms, :n].copy()
        cnt = out.ls_cnt[ms, :n].copy()
        out.ls_n[ms] = 0
        distinct = out.ls_distinct[ms]
        for k in range(n):
            K.update_labelsets(out, ms, bits[k], cnt[k])
        out.ls_distinct[ms] = min(distinct, float(out.ls_n[ms]) + max(0.0, distinct - n))
    return out


# ---------------------------------------------------------------------------------- describe
def describe_tree(t: K.Tree) -> dict[str, Any]:
    live = t.feat[: t.meta[K.M_NODE_HWM]] >= -1
    feat = t.feat[: t.meta[K.M_NODE_HWM]]
    is_leaf = live & (feat == -1)
    main = live & (t.bg[: t.meta[K.M_NODE_HWM]] == 0)
    depth = t.depth[: t.meta[K.M_NODE_HWM]]
    return {
        "n_nodes": int(np.count_nonzero(main)),
        "n_leaves": int(np.count_nonzero(is_leaf & main)),
        "n_active_leaves": int(
            np.count_nonzero(is_leaf & main & (t.active[: t.meta[K.M_NODE_HWM]] == 1))
        ),
        "depth": int(depth[main].max()) if main.any() else 0,
        "n_splits": int(t.meta[K.M_SPLITS]),
        "n_deactivated": int(t.meta[K.M_DEACTIVATED]),
        "n_alternate_started": int(t.meta[K.M_ALT_STARTED]),
        "n_alternate_swapped": int(t.meta[K.M_ALT_SWAPPED]),
        "n_alternate_pruned": int(t.meta[K.M_ALT_PRUNED]),
        "n_node_drifts": int(t.meta[K.M_NODE_DRIFTS]),
        "n_background_nodes": int(np.count_nonzero(live & ~main)),
        "memory_bytes": tree_nbytes(t),
    }


# ---------------------------------------------------------------------------------- stitch
def stitch_leaves(
    t: K.Tree, parts: list[tuple[K.Tree, np.ndarray, np.ndarray]], s: K.Store
) -> bool:
    """Fill the root leaf of the fresh tree ``t`` from single-leaf trees covering its labels.

    ``parts``: ``(tree, positions in that tree's labels, positions in t's labels)``; the first
    part is the base (the oldest tree): its weight, recent rows, "no label" and total outcomes
    and feature ranges are taken as they are; each label's statistics and models come from the
    tree that owned it. The label-set table is rebuilt from the recent rows in the store.
    Returns False (``t`` untouched) when a part has split: its labels' statistics then live in
    several leaves.
    """
    for src, _, _ in parts:
        r = int(src.meta[K.M_ROOT])
        if src.feat[r] != -1 or src.mslot[r] < 0:
            return False
    Lc = t.label_map.shape[0]
    root = int(t.meta[K.M_ROOT])
    m, o = int(t.mslot[root]), int(t.oslot[root])
    base = parts[0][0]
    br = int(base.meta[K.M_ROOT])
    bm, bo = int(base.mslot[br]), int(base.oslot[br])
    bL = base.label_map.shape[0]
    t.weight[root] = base.weight[br]
    t.last[root] = base.last[br]
    t.lw[root, Lc] = base.lw[br, bL]
    t.kw[root, Lc] = base.kw[br, bL]
    t.metaf[K.MF_WEIGHT] = base.metaf[K.MF_WEIGHT]
    t.ring[m] = base.ring[bm]
    t.ring_n[m] = base.ring_n[bm]
    t.ring_pos[m] = base.ring_pos[bm]
    if o >= 0 and bo >= 0:
        for a, b in ((Lc, bL), (Lc + 1, bL + 1)):  # "no label" and total outcomes
            t.o_w[o, a] = base.o_w[bo, b]
            t.o_s1[o, a] = base.o_s1[bo, b]
            t.o_s2[o, a] = base.o_s2[bo, b]
            t.o_tot[o, a] = base.o_tot[bo, b]
            t.o_mass[o, a] = base.o_mass[bo, b]
            t.o_known[o, a] = base.o_known[bo, b]
        t.o_min[o] = base.o_min[bo]
        t.o_max[o] = base.o_max[bo]
    for src, spos, tpos in parts:
        r = int(src.meta[K.M_ROOT])
        sm, so = int(src.mslot[r]), int(src.oslot[r])
        t.lw[root, tpos] = src.lw[r, spos]
        t.kw[root, tpos] = src.kw[r, spos]
        t.lr_w[m][:, tpos] = src.lr_w[sm][:, spos]
        t.lr_b[m, tpos] = src.lr_b[sm, spos]
        t.loss[m, tpos] = src.loss[sm, spos]
        if o >= 0 and so >= 0:
            t.o_w[o, tpos] = src.o_w[so, spos]
            t.o_s1[o, tpos] = src.o_s1[so, spos]
            t.o_s2[o, tpos] = src.o_s2[so, spos]
            t.o_tot[o, tpos] = src.o_tot[so, spos]
            t.o_mass[o, tpos] = src.o_mass[so, spos]
            t.o_known[o, tpos] = src.o_known[so, spos]
    if o >= 0:
        t.nb_at[o] = -1.0
    # label sets of the recent rows (complete ones), over the new labels
    W = t.ring.shape[1]
    cols = t.label_map
    for back in range(int(t.ring_n[m]), 0, -1):  # oldest first
        slot = int(K.store_slot(s, int(t.ring[m, (t.ring_pos[m] - back) % W])))
        if slot >= 0 and s.known[slot, cols].all():
            K.update_labelsets(t, m, np.ascontiguousarray(s.y[slot, cols]), 1.0)
    return True
