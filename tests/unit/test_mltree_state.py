"""Tree state helpers around the kernels: label restriction, schema growth, snapshots.

``restrict_tree`` against a tree learned on the kept labels only (exact where the model makes
it exact), ``MLHAT._on_schema_grow`` against a model that knew the larger schema from the start,
and pickle snapshots that continue bit for bit.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from streamlearn._kernels import mltree as K
from streamlearn.base.arrays import CSR
from streamlearn.multilabel import _treestate as TS
from streamlearn.multilabel.mlhat import MLHAT
from streamlearn.schema import Schema
from tests.unit._mltree_support import (
    HUGE,
    Data,
    make_params,
    make_tree,
    new_store_for,
    random_data,
    reps,
    run,
    run_growing,
    shape_of,
    snapshot,
)


def _axes_follow(before: K.Tree, after: K.Tree, sizes: dict[int, int]) -> None:
    """Every array of ``after`` has the shape of ``before``'s with axis lengths mapped by
    ``sizes`` (label axes Lc, Lc + 1, Lc + 2 and the feature axis); other axes unchanged.

    Generic over the fields of ``Tree``: a new field with a label or feature axis that the
    helper under test forgot to resize fails here.
    """
    for f in before._fields:
        want = tuple(sizes.get(n, n) for n in getattr(before, f).shape)
        assert getattr(after, f).shape == want, f


def _learn(t: K.Tree, p: K.Params, data: Data, n: int) -> K.Tree:
    run(t, new_store_for(data), p, data, 0, n)
    return t


def _table(t: K.Tree, m: int) -> dict[tuple[int, ...], float]:
    """The label-set table of model slot ``m`` as {label set: count}."""
    return {
        tuple(int(b) for b in t.ls_bits[m, k]): float(t.ls_cnt[m, k]) for k in range(int(t.ls_n[m]))
    }


# ---------------------------------------------------------------------------------- restrict


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_restrict_tree_equals_a_tree_learned_on_the_kept_labels(dense: bool) -> None:
    """Without splits and with model skipping off (it couples the labels), everything per label
    is exact: observers, node counts, logistic weights, the losses of every model except the
    majority label set (whose label set changes meaning), the label-set table (merged)."""
    rng = np.random.default_rng([31, int(dense)])
    for _ in range(reps(6)):
        # label axes (L, L + 1, L + 2) of lengths no other axis has, for the generic shape check
        L, d = int(rng.integers(9, 11)), int(rng.integers(1, 6))
        data = random_data(rng, int(rng.integers(1, 200)), d, L, dense=dense, duplicates=0.1)
        cols = rng.permutation(L).tolist()
        keep = np.sort(rng.choice(L, size=int(rng.integers(1, L)), replace=False))
        kept_cols = [cols[j] for j in keep]
        p = make_params(dense, grace_period=HUGE, skip_below=0.0, knn_k=3)
        big = _learn(make_tree(d, cols, window=7, labelsets=256), p, data, data.n)
        small = _learn(make_tree(d, kept_cols, window=7, labelsets=256), p, data, data.n)
        before = snapshot(big)
        r = TS.restrict_tree(big, keep, np.array(kept_cols))
        Lk = len(keep)
        sizes = {L: Lk, L + 1: Lk + 1, L + 2: Lk + 2}
        _axes_follow(big, r, sizes)
        np.testing.assert_array_equal(r.label_map, kept_cols)
        # per-label statistics and models: equal to the small tree's
        lab = [*range(Lk), Lk + 1]  # kept labels and "total"
        for name in ("o_w", "o_s1", "o_s2", "o_tot", "o_mass"):
            np.testing.assert_array_equal(getattr(r, name)[:, lab], getattr(small, name)[:, lab])
        for name in ("lw", "kw"):
            np.testing.assert_array_equal(getattr(r, name)[:, :Lk], getattr(small, name)[:, :Lk])
        for name in ("lr_w", "lr_b"):
            np.testing.assert_allclose(getattr(r, name), getattr(small, name), rtol=1e-12, atol=0)
        others = [K.REC, K.KNN, K.NB, K.LR]
        np.testing.assert_allclose(r.loss[:, :, others], small.loss[:, :, others], rtol=1e-12)
        for name in ("o_min", "o_max", "weight", "ring", "ring_n", "ring_pos", "metaf", "feat",
                     "oslot", "mslot"):  # fmt: skip
            np.testing.assert_array_equal(getattr(r, name), getattr(small, name), err_msg=name)
        m = int(r.mslot[0])
        assert _table(r, m) == _table(small, m)
        assert r.ls_distinct[m] == small.ls_distinct[m] == len(_table(small, m))
        # "no label" keeps the larger label set's counts (documented approximation)
        np.testing.assert_array_equal(r.lw[:, Lk], before["lw"][:, L])
        np.testing.assert_array_equal(r.o_tot[:, Lk], before["o_tot"][:, L])
        # the source tree is untouched, and the restricted tree shares no memory with it
        for f in big._fields:
            np.testing.assert_array_equal(getattr(big, f), before[f], err_msg=f)
            assert not np.shares_memory(getattr(big, f), getattr(r, f)), f


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_restricted_tree_with_splits_keeps_its_structure_and_learns_on(dense: bool) -> None:
    rng = np.random.default_rng([37, int(dense)])
    L, d = 9, 4
    data = random_data(rng, 900, d, L, dense=dense, p_known=0.95, kinds=(0, 2, 3))
    p = make_params(dense, grace_period=40, delta=0.5, tau=1.0)  # splits despite 9 labels
    big = make_tree(d, list(range(L)), window=7)
    s = new_store_for(data)
    big, _ = run_growing(big, s, p, data, 0, 600)
    assert big.meta[K.M_SPLITS] > 0
    keep = np.array([1, 3])
    r = TS.restrict_tree(big, keep, keep)
    _axes_follow(big, r, {L: 2, L + 1: 3, L + 2: 4})
    assert r.label_map.tolist() == [1, 3]
    for name in ("feat", "thr", "left", "right", "oslot", "mslot", "active", "weight"):
        np.testing.assert_array_equal(getattr(r, name), getattr(big, name), err_msg=name)
    leaves = [n for n in range(int(big.meta[K.M_NODE_HWM])) if big.feat[n] == -1]
    for n in leaves:
        o = int(big.oslot[n])
        if o >= 0:
            np.testing.assert_array_equal(r.o_tot[o], big.o_tot[o][[1, 3, L, L + 1]])
            np.testing.assert_array_equal(r.o_w[o], big.o_w[o][[1, 3, L, L + 1]])
        np.testing.assert_array_equal(r.lr_w[big.mslot[n]], big.lr_w[big.mslot[n]][:, [1, 3]])
    # it keeps learning (and splitting) on the kept labels' columns
    r, out = run_growing(r, s, p, data, 600, 900)
    assert np.isfinite(out[600:, [1, 3]]).all()
    assert ((out[600:, [1, 3]] >= 0) & (out[600:, [1, 3]] <= 1)).all()
    assert not out[600:, [0, 2, 4, 5, 6, 7, 8]].any()  # other labels' columns are not written
    assert r.weight[r.meta[K.M_ROOT]] == 900


# ---------------------------------------------------------------------------------- schema growth


def _csr(data: Data, a: int, b: int, n_cols: int) -> CSR:
    off = int(data.indptr[a])
    sl = slice(off, int(data.indptr[b]))
    return CSR(data.indptr[a : b + 1] - off, data.indices[sl], data.data[sl], n_cols)


def _models() -> tuple[str, ...]:
    return tuple(m for m in K.MODEL_NAMES if m != "naive_bayes")


def test_feature_growth_on_sparse_data_equals_the_full_schema_from_the_start() -> None:
    """New sparse features were implicitly zero before they appeared: the padded model is the
    model that knew them from the start (the multinomial NB's smoothing uses the number of
    features, so it is left out), bit for bit, splits included."""
    rng = np.random.default_rng(41)
    d0, d, L, n1 = 7, 9, 3, 700  # axis lengths that no other axis has (N_MODELS is 6)
    data = random_data(rng, 1500, d, L, dense=False, kinds=(2, 3, 5))
    # the first n1 rows use only the first d0 features
    keep = np.ones(data.indices.size, bool)
    for i in range(n1):
        a, b = data.indptr[i], data.indptr[i + 1]
        keep[a:b] = data.indices[a:b] < d0
    rows = [
        (data.indices[data.indptr[i] : data.indptr[i + 1]][keep[data.indptr[i] : data.indptr[i + 1]]],
         data.data[data.indptr[i] : data.indptr[i + 1]][keep[data.indptr[i] : data.indptr[i + 1]]])
        for i in range(data.n)
    ]  # fmt: skip
    X = CSR.from_rows(rows, d)
    feats, labels = [f"f{j}" for j in range(d)], [f"y{j}" for j in range(L)]
    kw = dict(grace_period=50, tau=0.5, leaf_models=_models(), knn_window=20, store_size=256)
    grown = MLHAT(**kw).set_schema(Schema(features=feats[:d0], labels=labels, sparse=True))
    first = X.slice(0, n1)
    a1 = grown.predict_learn_many(CSR(first.indptr, first.indices, first.data, d0), data.Y[:n1])
    old = snapshot(grown._tree)
    grown.set_schema(Schema(features=feats, labels=labels, sparse=True))
    _axes_follow(K.Tree(**old), grown._tree, {d0: d})
    a2 = grown.predict_learn_many(X.slice(n1, data.n), data.Y[n1:])
    ref = MLHAT(**kw).set_schema(Schema(features=feats, labels=labels, sparse=True))
    b1 = ref.predict_learn_many(X.slice(0, n1), data.Y[:n1])
    b2 = ref.predict_learn_many(X.slice(n1, data.n), data.Y[n1:])
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert ref._tree.meta[K.M_SPLITS] > 0
    assert any(grown._tree.feat[n] >= d0 for n in range(int(grown._tree.meta[K.M_NODE_HWM])))
    for f in ref._tree._fields:
        np.testing.assert_array_equal(getattr(grown._tree, f), getattr(ref._tree, f), err_msg=f)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_label_and_feature_growth_keeps_learning_and_predicting(dense: bool) -> None:
    rng = np.random.default_rng([43, int(dense)])
    # axis lengths: features 12 -> 13 -> 17, labels 8 -> 9 -> 12 (no other axis has them)
    d0, L0, d, L = 12, 8, 17, 12
    data = random_data(rng, 1200, d, L, dense=dense, kinds=(0, 2) if dense else (2, 3))
    X = data.dense_matrix()
    feats, labels = [f"f{j}" for j in range(d)], [f"y{j}" for j in range(L)]
    model = MLHAT(grace_period=60, tau=0.5, knn_window=20)
    model.set_schema(Schema(features=feats[:d0], labels=labels[:L0], sparse=not dense))
    model.learn_many(X[:400, :d0], data.Y[:400, :L0])
    # one new feature and one new label through the dict API
    x = {feats[j]: float(X[400, j]) for j in range(d0 + 1)}
    model.learn_one(x, {labels[j]: bool(data.Y[400, j]) for j in range(L0 + 1)})
    assert model.schema.n_features == d0 + 1 and model.schema.n_labels == L0 + 1
    # the rest of the schema at once
    before = snapshot(model._tree)
    d1, L1 = d0 + 1, L0 + 1
    model.set_schema(Schema(features=feats, labels=labels, sparse=not dense))
    t = model._tree
    _axes_follow(K.Tree(**before), t, {d1: d, L1: L, L1 + 1: L + 1, L1 + 2: L + 2})
    # old labels keep their statistics, new ones start empty, "no label"/"total" move last
    for name in ("o_w", "o_s1", "o_s2", "o_tot", "o_mass", "lw", "kw"):
        a, b = getattr(t, name), before[name]
        if a.ndim == 3:
            a = a[:, :, :d1]
        np.testing.assert_array_equal(a[:, :L1], b[:, :L1], err_msg=name)
        assert not a[:, L1:L].any(), name
        np.testing.assert_array_equal(a[:, L:], b[:, L1:], err_msg=name)
    assert not t.o_w[:, :, d1:].any() and np.isinf(t.o_min[:, d1:]).all()
    np.testing.assert_array_equal(t.lr_w[:, :d1, :L1], before["lr_w"])
    out = model.predict_learn_many(X[401:], data.Y[401:])
    assert out.shape == (data.n - 401, L)
    assert np.isfinite(out).all() and ((out >= 0) & (out <= 1)).all()
    # the labels that appeared late are learned: ranked above their negatives on the last rows
    learned = 0
    for j in range(L0, L):
        y, pr = data.Y[801:, j], out[400:, j]
        if 0 < y.sum() < y.size:
            learned += pr[y == 1].mean() > pr[y == 0].mean()
    assert learned >= 2
    assert model.predict_proba_many(X[:5]).shape == (5, L)


# ---------------------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("bagging", [False, True], ids=["plain", "bagging"])
def test_pickle_mid_stream_continues_bit_identically(dense: bool, bagging: bool) -> None:
    rng = np.random.default_rng([47, int(dense), int(bagging)])
    d, L = 5, 4
    data = random_data(rng, 1600, d, L, dense=dense, p_known=0.9, kinds=(0, 2, 3))
    X = data.dense_matrix() if dense else _csr(data, 0, data.n, d)
    schema = Schema(features=[f"f{j}" for j in range(d)], labels=[f"y{j}" for j in range(L)],
                    sparse=not dense)  # fmt: skip
    model = MLHAT(grace_period=50, tau=0.5, bagging=bagging, seed=5, knn_window=30,
                  store_size=300).set_schema(schema)  # fmt: skip
    n1 = 700
    known = data.known.astype(bool)
    head = X[:n1] if dense else X.slice(0, n1)
    tail = X[n1:] if dense else X.slice(n1, data.n)
    model.predict_learn_many(head, data.Y[:n1], known[:n1])
    splits_at_snapshot = int(model._tree.meta[K.M_SPLITS])
    clone = pickle.loads(pickle.dumps(model))
    a = model.predict_learn_many(tail, data.Y[n1:], known[n1:])
    b = clone.predict_learn_many(tail, data.Y[n1:], known[n1:])
    np.testing.assert_array_equal(a, b)
    assert model._tree.meta[K.M_SPLITS] > splits_at_snapshot  # it kept growing after the snapshot
    for f in model._tree._fields:
        np.testing.assert_array_equal(getattr(model._tree, f), getattr(clone._tree, f), err_msg=f)
    for f in model._store._fields:
        np.testing.assert_array_equal(getattr(model._store, f), getattr(clone._store, f), err_msg=f)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_stitched_leaf_equals_one_learned_on_all_the_labels(dense: bool) -> None:
    """Single-leaf trees over parts of a label set, stitched, hold what one leaf learned on the
    whole set holds label by label: counts, observers and logistic models (the label-set
    models, which see several labels at once, are rebuilt or relearned)."""
    rng = np.random.default_rng([61, int(dense)])
    for rep in range(reps(4)):
        d, L = 5, 5
        data = random_data(rng, 300, d, L, dense=dense, kinds=(0, 2, 3))
        p = make_params(dense, grace_period=HUGE)
        parts = [[0, 3], [1, 2, 4]]
        whole = make_tree(d, list(range(L)), seed=rep)
        pieces = [make_tree(d, part, seed=rep) for part in parts]
        s = new_store_for(data)
        rid0 = int(K.store_append(s, data.indptr, data.indices, data.data, data.Y, data.Kmat,
                                  False, 0, data.n))  # fmt: skip
        csr = (data.indptr, data.indices, data.data)
        prep = TS.prepare(s, dense, csr, 0, data.n, True, rid0)
        for t in [whole, *pieces]:
            run(t, s, p, data, 0, data.n, rid0=rid0, prepared=prep)
        fresh = make_tree(d, list(range(L)), seed=rep)
        stitched = [(pieces[0], np.array([0, 1]), np.array([0, 3])),
                    (pieces[1], np.array([0, 1, 2]), np.array([1, 2, 4]))]  # fmt: skip
        assert TS.stitch_leaves(fresh, stitched, s)
        # "no label" (outcome L) comes from the base part: it only knew its own labels
        for name in ("lw", "kw"):
            np.testing.assert_array_equal(
                getattr(fresh, name)[0, :L], getattr(whole, name)[0, :L], err_msg=name
            )
        keep = [*range(L), L + 1]  # the labels and "every row"
        for name in ("o_w", "o_s1", "o_s2", "o_tot", "o_mass", "o_known"):
            np.testing.assert_array_equal(
                getattr(fresh, name)[0][keep], getattr(whole, name)[0][keep], err_msg=name
            )
        for name in ("o_min", "o_max"):
            np.testing.assert_array_equal(getattr(fresh, name)[0], getattr(whole, name)[0])
        for name in ("lr_w", "lr_b", "ring", "ring_n", "ring_pos"):
            np.testing.assert_array_equal(
                getattr(fresh, name)[0], getattr(whole, name)[0], err_msg=name
            )
        assert fresh.weight[0] == whole.weight[0]
        m = int(fresh.mslot[0])
        assert sum(fresh.ls_cnt[m, : fresh.ls_n[m]]) == min(data.n, fresh.ring.shape[1])
        # a part that has split cannot be stitched
        split = make_tree(d, [0, 3], seed=rep)
        split.feat[0] = 0
        assert not TS.stitch_leaves(
            make_tree(d, list(range(L))), [(split, np.array([0, 1]), np.array([0, 3]))], s
        )


# ---------------------------------------------------------------------------------- capacity
def _room_twin(t: K.Tree) -> bool:
    """Obvious version of the kernel's room check: nothing needs to grow before the next rows."""
    m = [int(v) for v in t.meta]
    depth = m[K.M_MAXDEPTH] + 1
    free_nodes = t.feat.shape[0] - m[K.M_NODE_HWM] + m[K.M_NODE_NFREE]
    free_m = t.lr_w.shape[0] - m[K.M_MSLOT_HWM] + m[K.M_MSLOT_NFREE]
    free_o = t.o_w.shape[0] - m[K.M_OSLOT_HWM] + m[K.M_OSLOT_NFREE]
    waiting = sum(
        1 for n in range(t.feat.shape[0]) if t.oslot[n] < 0 and t.feat[n] == -1 and t.active[n] == 1
    )
    return free_nodes >= 3 * depth + 12 and free_m >= 2 * depth + 2 and waiting == 0 and free_o >= 2


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_room_check_of_the_kernel_matches_what_ensure_capacity_grows_for(dense: bool) -> None:
    """tree_run's own room check (``room_ahead``) is the twin's, before every chunk of trees that
    split, start alternates and run out of nodes, model and observer slots; where it finds room,
    ensure_capacity leaves the tree as it is, and where it does not, ensure_capacity makes room
    (within an unlimited budget)."""
    rng = np.random.default_rng([61, int(dense)])
    short = roomy = 0
    for rep in range(reps(4)):
        data = random_data(rng, 900, 5, 3, dense=dense, kinds=(0, 2, 3))
        t = make_tree(5, [0, 1, 2], seed=rep, nodes=4, oslots=1, mslots=1)
        p = make_params(dense, grace_period=25, delta=0.05, tau=0.5, drift=1.0, drift_window=60)
        s = new_store_for(data)
        for a in range(0, data.n, 30):
            ok = bool(K.room_ahead(t.meta, t.feat, t.active, t.oslot, t.lr_w.shape[0],
                                   t.o_w.shape[0]))  # fmt: skip
            assert ok == _room_twin(t), a
            grown = TS.ensure_capacity(t, shape_of(t), 1e12)
            if ok:
                roomy += 1
                assert grown is t and t.meta[K.M_GROWABLE] == 1
            else:
                short += 1
                assert _room_twin(grown) or grown.meta[K.M_NO_OSLOT], a
            t = grown
            run(t, s, p, data, a, min(data.n, a + 30))
    assert short > 5 and roomy > 5, (short, roomy)


def test_room_check_of_the_kernel_matches_its_twin_on_random_counters() -> None:
    """The same check on many random counters (high-water marks, free stacks, depth) and leaf
    flags, around every threshold of the check."""
    rng = np.random.default_rng(67)
    base = make_tree(3, [0, 1], nodes=16, oslots=4, mslots=8)
    outcomes = set()
    for _ in range(reps(3000)):
        t = base._replace(meta=base.meta.copy(), feat=base.feat.copy(), active=base.active.copy(),
                          oslot=base.oslot.copy())  # fmt: skip
        depth = int(rng.integers(0, 3))
        t.meta[K.M_MAXDEPTH] = depth
        t.meta[K.M_NODE_HWM] = rng.integers(0, 17)
        t.meta[K.M_NODE_NFREE] = rng.integers(0, 1 + int(t.meta[K.M_NODE_HWM]))
        t.meta[K.M_MSLOT_HWM] = rng.integers(0, 9)
        t.meta[K.M_MSLOT_NFREE] = rng.integers(0, 1 + int(t.meta[K.M_MSLOT_HWM]))
        t.meta[K.M_OSLOT_HWM] = rng.integers(0, 5)
        t.meta[K.M_OSLOT_NFREE] = rng.integers(0, 1 + int(t.meta[K.M_OSLOT_HWM]))
        t.feat[:] = rng.choice([-2, -1, 0, 1], 16, p=[0.3, 0.5, 0.1, 0.1])
        t.active[:] = rng.random(16) < 0.9
        t.oslot[:] = np.where(rng.random(16) < 0.97, 0, -1)
        ok = bool(K.room_ahead(t.meta, t.feat, t.active, t.oslot, t.lr_w.shape[0],
                               t.o_w.shape[0]))  # fmt: skip
        assert ok == _room_twin(t)
        outcomes.add(ok)
    assert outcomes == {True, False}
