"""Multi-label tree kernels (streamlearn._kernels.mltree) against slow pure-Python twins.

The twins (tests/twins/mltree_twin.py) recompute everything from the raw rows: the store as a
dict of rows, observers and node counts as batch sums, the split model, the leaf models and
their mixture. Trees and stores are built by ``_treestate`` and filled by the kernels only.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlearn._kernels import mltree as K
from streamlearn.multilabel import _treestate as TS
from tests.twins.mltree_twin import (
    LeafRows,
    LeafView,
    Scaling,
    TwinSpaceSaving,
    TwinStore,
    ring_newest_first,
    scaled_row,
    twin_attempt_split,
    twin_best_split_for_feature,
    twin_knn,
    twin_knn_vote,
    twin_leaf_learn,
    twin_leaf_predict,
    twin_nb_gaussian,
    twin_nb_multinomial,
    twin_negligible,
    twin_node_stats,
    twin_observers,
    twin_remember_learned,
    twin_scaling,
    twin_side_entropy,
    twin_split_at,
    twin_split_merit,
    twin_wait_after_failed_test,
)
from tests.twins.rng_twin import TwinXoshiro256
from tests.unit._mltree_support import (
    HUGE,
    NO_CACHE,
    NO_COLS,
    SCALE,
    Data,
    append,
    copy_tree,
    data_from_rows,
    make_params,
    make_tree,
    new_store_for,
    random_data,
    reps,
    run,
    run_growing,
    snapshot,
)

# ==================================================================================== store


def _random_sparse_rows(rng: np.random.Generator, n: int, d: int, max_nnz: int) -> list:
    rows = []
    for _ in range(n):
        k = int(rng.integers(0, max_nnz + 1))
        idx = sorted(rng.choice(d, size=min(k, d), replace=False).tolist())
        rows.append((idx, rng.normal(size=len(idx)).round(3).tolist()))
    return rows


def _store_data(rng: np.random.Generator, rows: list, L: int, d: int, partial: bool) -> Data:
    n = len(rows)
    Y = (rng.random((n, L)) < 0.4).astype(np.uint8)
    known = (rng.random((n, L)) < 0.7).astype(np.uint8) if partial else None
    return data_from_rows(rows, Y, known, d)


def _check_store(s: K.Store, tw: TwinStore, data: Data, d: int) -> int:
    """Every id (and some impossible ones) against the twin; returns how many rows are readable."""
    G = s.seq.shape[0]
    readable = 0
    for rid in [-5, -1, *range(tw.next_id), tw.next_id, tw.next_id + G]:
        slot = K.store_slot(s, rid)
        ok = 0 <= rid < tw.next_id and tw.valid(rid)
        assert (slot >= 0) == ok, (rid, slot)
        if not ok:
            continue
        readable += 1
        assert slot == rid % G
        idx, val, y, known = tw.rows[rid]
        E = s.idx.shape[0]
        got_idx = [int(s.idx[(s.start[slot] + e) % E]) for e in range(s.length[slot])]
        got_val = [float(s.val[(s.start[slot] + e) % E]) for e in range(s.length[slot])]
        assert got_idx == idx and got_val == val
        assert s.norm[slot] == pytest.approx(math.sqrt(sum(v * v for v in val)), rel=1e-12)
        assert s.y[slot].tolist() == y and s.known[slot].tolist() == known
        for f in range(d):
            assert K.store_value(s, slot, f) == tw.value(rid, f)
    return readable


def _append_both(s: K.Store, tw: TwinStore, data: Data, a: int, b: int) -> None:
    from tests.unit._mltree_support import append

    first = append(s, data, a, b)
    assert first == tw.next_id
    for i in range(a, b):
        idx, val = data.row(i)
        y = data.Y[i].tolist()
        known = [1] * len(y) if data.known is None else data.known[i].tolist()
        tw.append(idx, val, y, known)
    assert s.meta[0] == tw.next_id


@settings(max_examples=60, deadline=None)
@given(
    G=st.integers(1, 9),
    E=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    max_nnz=st.integers(0, 12),
    partial=st.booleans(),
)
def test_store_matches_twin_through_ring_wraps(
    G: int, E: int, seed: int, n: int, max_nnz: int, partial: bool
) -> None:
    rng = np.random.default_rng(seed)
    d, L = 15, 3
    data = _store_data(rng, _random_sparse_rows(rng, n, d, max_nnz), L, d, partial)
    s = TS.new_store(G, E, L)
    tw = TwinStore(G, E)
    a = 0
    while a < n:
        b = min(n, a + int(rng.integers(1, 6)))
        _append_both(s, tw, data, a, b)
        _check_store(s, tw, data, d)
        a = b


def test_store_keeps_the_newest_rows_and_forgets_overwritten_ones() -> None:
    """Deterministic checks of both ways a row is lost: its slot reused, its entries overwritten."""
    rng = np.random.default_rng(3)
    d, L = 10, 2
    rows = [([0, 3, 7], [1.0, 2.0, 3.0])] * 6 + [(list(range(10)), [0.5] * 10), ([], [])]
    data = _store_data(rng, rows, L, d, partial=False)
    s = TS.new_store(4, 12, L)
    tw = TwinStore(4, 12)
    _append_both(s, tw, data, 0, 4)  # 12 entries: all four rows exactly fill the ring
    assert _check_store(s, tw, data, d) == 4
    _append_both(s, tw, data, 4, 5)  # slot of row 0 reused
    assert K.store_slot(s, 0) == -1 and _check_store(s, tw, data, d) == 4
    _append_both(s, tw, data, 6, 7)  # id 5: 10 entries overwrite the cells of ids 1..4
    assert [K.store_slot(s, r) >= 0 for r in range(6)] == [False] * 5 + [True]
    _append_both(s, tw, data, 7, 8)  # id 6: an empty row
    assert K.store_slot(s, 6) == 2 and s.length[2] == 0
    assert _check_store(s, tw, data, d) == 2


def test_store_row_longer_than_the_ring_is_not_readable() -> None:
    rng = np.random.default_rng(0)
    data = _store_data(rng, [(list(range(8)), [1.0] * 8), ([1], [2.0])], 1, 8, partial=False)
    s = TS.new_store(4, 5, 1)
    tw = TwinStore(4, 5)
    _append_both(s, tw, data, 0, 2)
    assert K.store_slot(s, 0) == -1 and K.store_slot(s, 1) == 1
    _check_store(s, tw, data, 8)


@pytest.mark.parametrize("seed", range(6))
def test_ensure_store_relayout_keeps_every_readable_row(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d, L = 20, 3
    G, E = int(rng.integers(3, 12)), int(rng.integers(10, 40))
    rows = _random_sparse_rows(rng, 120, d, 8)
    data = _store_data(rng, rows, L, d, partial=bool(seed % 2))
    s = TS.new_store(G, E, L)
    tw = TwinStore(G, E)
    _append_both(s, tw, data, 0, int(rng.integers(5, 40)))
    a = tw.next_id
    for _ in range(4):
        b = min(len(rows), a + int(rng.integers(1, G + 1)))
        nnz = int(data.indptr[b] - data.indptr[a])
        before = {rid: tw.rows[rid] for rid in range(tw.next_id) if K.store_slot(s, rid) >= 0}
        s2 = TS.ensure_store(s, nnz, b - a)
        if s2.idx.shape[0] != s.idx.shape[0]:
            tw.relayout(s2.idx.shape[0])
        s = s2
        after = {rid for rid in range(tw.next_id) if K.store_slot(s, rid) >= 0}
        assert after == set(before)  # nothing lost, nothing resurrected
        _check_store(s, tw, data, d)
        _append_both(s, tw, data, a, b)
        # the ring now holds the whole incoming chunk
        assert all(K.store_slot(s, rid) >= 0 for rid in range(a, b))
        _check_store(s, tw, data, d)
        a = b


# ==================================================================================== observers


def _weights(data: Data, seed: int, bagging: bool) -> list[float]:
    if not bagging:
        return [1.0] * data.n
    tw = TwinXoshiro256(seed)
    return [float(tw.poisson(1.0)) for _ in range(data.n)]


def _leaf_rows(data: Data, rows: list[int], cols: list[int], weights: list[float]) -> LeafRows:
    ys, ks = zip(*(data.labels(i, cols) for i in rows)) if rows else ((), ())
    return LeafRows(
        [data.row(i) for i in rows], list(ys), list(ks), [weights[i] for i in rows], data.d,
        data.dense,
    )  # fmt: skip


def _check_observers(t: K.Tree, leaf: int, lr: LeafRows) -> None:
    tw = twin_observers(lr.rows, lr.ys, lr.knowns, lr.weights, lr.d, lr.dense)
    o = int(t.oslot[leaf])
    assert o >= 0
    for name in ("o_w", "o_s1", "o_s2", "o_min", "o_max", "o_tot", "o_mass", "o_known"):
        np.testing.assert_allclose(
            getattr(t, name)[o], np.array(tw[name]), rtol=1e-12, err_msg=name
        )


def _check_node(t: K.Tree, node: int, lr: LeafRows) -> None:
    weight, lw, kw = twin_node_stats(lr.ys, lr.knowns, lr.weights)
    assert t.weight[node] == pytest.approx(weight, rel=1e-12)
    np.testing.assert_allclose(t.lw[node], lw, rtol=1e-12)
    np.testing.assert_allclose(t.kw[node], kw, rtol=1e-12)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("p_known", [None, 0.6], ids=["complete", "partial"])
@pytest.mark.parametrize("bagging", [False, True], ids=["plain", "bagging"])
def test_observers_and_node_stats_equal_batch_recompute(
    dense: bool, p_known: float | None, bagging: bool
) -> None:
    rng = np.random.default_rng([int(dense), int(p_known is None), int(bagging)])
    for rep in range(reps(8)):
        n, d, L = int(rng.integers(1, 150)), int(rng.integers(1, 7)), int(rng.integers(1, 6))
        data = random_data(rng, n, d, L, dense=dense, p_known=p_known, explicit_zeros=True)
        cols = rng.permutation(L)[: int(rng.integers(1, L + 1))].tolist()  # a tree over some labels
        t = make_tree(d, cols, seed=rep)
        p = make_params(dense, grace_period=HUGE, bagging_rate=1.0 if bagging else 0.0)
        s = new_store_for(data)
        a = 0
        while a < n:
            b = min(n, a + int(rng.integers(1, 40)))
            out = run(t, s, p, data, a, b, predict=bool(rng.integers(2)))
            assert np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()
            a = b
        weights = _weights(data, rep, bagging)
        lr = _leaf_rows(data, list(range(n)), cols, weights)
        root = int(t.meta[K.M_ROOT])
        _check_observers(t, root, lr)
        _check_node(t, root, lr)
        assert t.metaf[K.MF_WEIGHT] == sum(weights)
        if dense:  # feature scaling counts every row once, whatever its bagging weight
            mean, m2 = twin_scaling([data.row(i) for i in range(n)], d)
            assert s.scale_n[0] == n
            np.testing.assert_allclose(s.scale_mean, mean, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(s.scale_m2, m2, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("p_known", [None, 0.7], ids=["complete", "partial"])
def test_root_statistics_stay_exact_after_it_splits(dense: bool, p_known: float | None) -> None:
    """A branch keeps counting every row that passes through it, "no label" column included."""
    rng = np.random.default_rng([7, int(dense), int(p_known is None)])
    splits = 0
    for rep in range(reps(4)):
        data = random_data(rng, 600, 5, 4, dense=dense, p_known=p_known, kinds=(0, 2, 3))
        t = make_tree(5, [0, 1, 2, 3], seed=rep)
        p = make_params(dense, grace_period=50, delta=0.05, tau=0.5)
        t, _ = run_growing(t, new_store_for(data), p, data, 0, data.n)
        splits += int(t.meta[K.M_SPLITS])
        lr = _leaf_rows(data, list(range(data.n)), [0, 1, 2, 3], [1.0] * data.n)
        _check_node(t, int(t.meta[K.M_ROOT]), lr)
    assert splits > 0


def _drifting_data(rng: np.random.Generator, n: int, dense: bool) -> Data:
    """Labels given by one feature, then (second half) by another: subtrees go stale."""
    data = random_data(rng, n, 4, 3, dense=dense, kinds=(0, 2, 3))
    X = data.dense_matrix()
    half = n // 2
    for j in range(3):
        data.Y[:half, j] = X[:half, j % 4] > np.median(X[:, j % 4])
        data.Y[half:, j] = X[half:, (j + 2) % 4] <= np.median(X[:, (j + 2) % 4])
    return data


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_complete_label_sets_count_in_every_known_weight_of_every_node(dense: bool) -> None:
    """With complete label sets every row that reaches a node, leaf or branch, main or
    alternate subtree, counts in its weight and in every "known" weight, "no label" included.
    (A split child starts from estimates: kw = its estimated weight, so the equality holds.)"""
    rng = np.random.default_rng([53, int(dense)])
    started = background_branches = 0
    for rep in range(reps(3)):
        data = _drifting_data(rng, 1600, dense)
        t = make_tree(4, [0, 1, 2], seed=rep)
        p = make_params(
            dense, grace_period=30, tau=0.5, drift=1.0, drift_window=100, max_share_to_split=1.0
        )
        s = new_store_for(data)
        for a in range(0, data.n, 100):
            t, _ = run_growing(t, s, p, data, a, a + 100)
            hwm = int(t.meta[K.M_NODE_HWM])
            live = [n for n in range(hwm) if t.feat[n] >= -1]
            background_branches += sum(1 for n in live if t.bg[n] and t.feat[n] >= 0)
            for n in live:
                np.testing.assert_allclose(t.kw[n], t.weight[n], rtol=1e-12, err_msg=f"node {n}")
        started += int(t.meta[K.M_ALT_STARTED])
    assert started > 0 and background_branches > 0, (started, background_branches)


# ==================================================================================== splits


def _learned_leaf(
    rng: np.random.Generator, dense: bool, p_known: float | None, bagging: bool, **kw
) -> tuple[K.Tree, K.Store, K.Params, Data, LeafRows]:
    n = kw.pop("n", int(rng.integers(2, 200)))
    d = kw.pop("d", int(rng.integers(1, 7)))
    L = kw.pop("L", int(rng.integers(1, 5)))
    data = random_data(rng, n, d, L, dense=dense, p_known=p_known, **kw)
    seed = int(rng.integers(1 << 30))
    t = make_tree(d, list(range(L)), seed=seed)
    p = make_params(
        dense, grace_period=HUGE, bagging_rate=1.0 if bagging else 0.0,
        n_split_points=int(rng.integers(1, 12)), min_branch_fraction=float(rng.choice([0.0, 0.01, 0.2])),
    )  # fmt: skip
    s = new_store_for(data)
    run(t, s, p, data, 0, n)
    lr = _leaf_rows(data, list(range(n)), list(range(L)), _weights(data, seed, bagging))
    return t, s, p, data, lr


def _scratch(Lc: int) -> tuple[np.ndarray, ...]:
    """means, stds, left, right buffers of the split kernels."""
    return tuple(np.zeros(Lc + 2) for _ in range(4))


def _q(lr: LeafRows) -> np.ndarray:
    """The known fraction of each outcome (the split kernels' ``q``), from the rows."""
    return np.array(lr.known_fraction())


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("p_known", [None, 0.6], ids=["complete", "partial"])
@pytest.mark.parametrize("bagging", [False, True], ids=["plain", "bagging"])
def test_best_split_for_feature_matches_twin(
    dense: bool, p_known: float | None, bagging: bool
) -> None:
    rng = np.random.default_rng([11, int(dense), int(p_known is None), int(bagging)])
    compared = 0
    for _ in range(reps(25)):
        t, _, p, data, lr = _learned_leaf(rng, dense, p_known, bagging)
        root = int(t.meta[K.M_ROOT])
        o = int(t.oslot[root])
        Lc = lr.n_labels
        tot = lr.outcome_weights()
        q = _q(lr)
        pre = twin_side_entropy(tot, q.tolist())
        for f in range(data.d):
            merit, thr = K.best_split_for_feature(t, p, o, f, pre, *_scratch(Lc), q)
            best, best_thr, merits = twin_best_split_for_feature(
                lr, f, int(p.n_split_points), p.min_branch_fraction
            )
            if best == -math.inf:
                assert merit == -math.inf, (f, merit, thr)
                continue
            compared += 1
            assert merit == pytest.approx(best, abs=1e-9), (f, thr, best_thr, merits)
            assert thr in merits, (thr, merits)  # one of the twin's candidates, exactly
            assert merits[thr] == pytest.approx(merit, abs=1e-9)
            # the estimated weights of each side, at the winner and at arbitrary thresholds
            for x in (thr, *rng.normal(0, 2, 3)):
                left, right = np.zeros(Lc + 2), np.zeros(Lc + 2)
                K.best_split_for_feature_at(t, o, f, float(x), *_scratch(Lc)[:2], left, right)
                tl, tr = twin_split_at(lr, f, float(x))
                np.testing.assert_allclose(left, tl, rtol=1e-9, atol=1e-9)
                np.testing.assert_allclose(right, tr, rtol=1e-9, atol=1e-9)
    assert compared > 20 * SCALE


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 0.0, 1.0, 2.0, -1.0, 0.5, 3.0]), min_size=1, max_size=30),
    labels=st.lists(st.integers(0, 7), min_size=30, max_size=30),
    nsp=st.integers(1, 6),
    dense=st.booleans(),
)
def test_best_split_for_feature_on_small_discrete_leaves(
    values: list[float], labels: list[int], nsp: int, dense: bool
) -> None:
    """One feature of few distinct values (exact arithmetic, many ties) and three labels."""
    n = len(values)
    rows = [([0], [v]) if dense or v != 0.0 else ([], []) for v in values]
    Y = np.array([[(labels[i] >> j) & 1 for j in range(3)] for i in range(n)], np.uint8)
    data = data_from_rows(rows, Y, None, 1, dense)
    t = make_tree(1, [0, 1, 2])
    p = make_params(dense, grace_period=HUGE, n_split_points=nsp, min_branch_fraction=0.0)
    run(t, new_store_for(data), p, data, 0, n)
    lr = _leaf_rows(data, list(range(n)), [0, 1, 2], [1.0] * n)
    pre = twin_side_entropy(lr.outcome_weights(), lr.known_fraction())
    merit, thr = K.best_split_for_feature(t, p, int(t.oslot[0]), 0, pre, *_scratch(3), _q(lr))
    best, _, merits = twin_best_split_for_feature(lr, 0, nsp, 0.0)
    if best == -math.inf:
        assert merit == -math.inf
    else:
        assert merit == pytest.approx(best, abs=1e-12) and thr in merits


def _decision(t: K.Tree, leaf: int, split: bool) -> str:
    if split:
        return "split"
    return "wait" if t.active[leaf] else "deactivate"


def test_attempt_split_decision_matches_twin() -> None:
    rng = np.random.default_rng(5)
    seen: dict[str, int] = {"split": 0, "wait": 0, "deactivate": 0}
    waits: list[float] = []  # grace periods waited after a failed bound
    for rep in range(reps(80)):
        dense = bool(rep % 2)
        t, s, p, data, lr = _learned_leaf(
            rng, dense, [None, 0.8][rep % 3 == 0], bagging=False,
            n=int(rng.integers(20, 300)), d=int(rng.integers(1, 5)), L=int(rng.integers(1, 4)),
        )  # fmt: skip
        p = p._replace(
            delta=float(rng.choice([1e-7, 0.05, 0.5])),
            tau=float(rng.choice([0.01, 0.05, 0.5])),
            merit_preprune=float(rng.integers(2)),
            max_share_to_split=float(rng.choice([0.99, 0.8])),
            grace_period=float([10, 50, 200][rep % 3]),  # the call below is the attempt
        )
        root = int(t.meta[K.M_ROOT])
        m = int(t.mslot[root])
        expect, eps, margin, best = twin_attempt_split(lr, float(t.ls_distinct[m]), p)
        if not math.isnan(eps) and abs(margin - eps) < 1e-9:
            continue  # on the edge of the bound: rounding decides
        t2 = copy_tree(t)
        q_buf = np.ones(lr.n_labels + 2)
        got = _decision(
            t2, root, bool(K.attempt_split(t2, s, p, root, *_scratch(lr.n_labels), q_buf))
        )
        assert got == expect, (rep, eps, margin, best)
        if got == "wait" and not math.isnan(eps) and not (margin > eps or eps < p.tau):
            # the test failed on its bound: the next attempt waits for the bound to shrink
            W = float(t.o_tot[int(t.oslot[root]), -1])
            wait = twin_wait_after_failed_test(W, eps, margin, p)
            assert t2.last[root] - t.weight[root] == pytest.approx(wait - p.grace_period)
            waits.append(wait / p.grace_period)
        else:
            assert t2.last[root] == t.weight[root]
        seen[got] += 1
        if got == "split":
            f, thr = int(t2.feat[root]), float(t2.thr[root])
            assert twin_split_merit(lr, f, thr, p.min_branch_fraction) == pytest.approx(
                best, abs=1e-9
            )
        elif got == "deactivate":
            assert t2.oslot[root] == -1 and t2.meta[K.M_DEACTIVATED] == t.meta[K.M_DEACTIVATED] + 1
        else:
            assert t2.feat[root] == -1 and t2.oslot[root] == t.oslot[root]
    assert min(seen.values()) > 0, seen
    if SCALE == 1.0:  # (a quarter of the cases without the JIT: too few waits to see all)
        # some waits are stretched to the most, some shorter, some one grace period
        assert max(waits) == 4.0 and min(waits) == 1.0, sorted(waits)
        assert any(1.0 < w < 4.0 for w in waits), sorted(waits)


def test_label_set_distinct_count_follows_the_rows() -> None:
    """``ls_distinct`` (the Hoeffding range) counts the distinct complete label sets seen."""
    rng = np.random.default_rng(8)
    for _ in range(reps(10)):
        data = random_data(rng, int(rng.integers(1, 200)), 3, 4, dense=False, p_known=0.9)
        t = make_tree(3, [0, 1, 2, 3])
        run(t, new_store_for(data), make_params(False, grace_period=HUGE), data, 0, data.n)
        sets = {
            tuple(y) for y, k in (data.labels(i, [0, 1, 2, 3]) for i in range(data.n)) if all(k)
        }
        assert t.ls_distinct[t.mslot[0]] == len(sets)


@pytest.mark.parametrize("p_known", [None, 0.6], ids=["complete", "partial"])
def test_binary_sparse_split_is_exact(p_known: float | None) -> None:
    """Binary sparse features: the split at half the one non-zero value separates zeros from
    ones, and the children's estimated label weights are the true counts (known positives);
    their known weights are the side's weight times the leaf's known fraction."""
    rng = np.random.default_rng([9, int(p_known is None)])
    for rep in range(reps(12)):
        data = random_data(rng, int(rng.integers(10, 300)), 4, 3, dense=False, kinds=(2,),
                           p_known=p_known)  # fmt: skip
        t = make_tree(4, [0, 1, 2], seed=rep)
        p = make_params(False, grace_period=HUGE, min_branch_fraction=0.0)
        s = new_store_for(data)
        run(t, s, p, data, 0, data.n)
        X = data.dense_matrix()
        f = int(rng.integers(4))
        if X[:, f].min() == X[:, f].max():
            continue
        o = int(t.oslot[0])
        lr = _leaf_rows(data, list(range(data.n)), [0, 1, 2], [1.0] * data.n)
        merit, thr = K.best_split_for_feature(t, p, o, f, 0.0, *_scratch(3), _q(lr))
        assert thr == 0.5 and merit > -math.inf
        assert K.do_split(t, s, p, 0, f, thr, *_scratch(3))
        Kn = np.ones_like(data.Y) if data.known is None else data.known
        for child, side in ((t.left[0], X[:, f] == 0.0), (t.right[0], X[:, f] == 1.0)):
            pos = data.Y[side] & Kn[side]
            full = Kn[side].all(axis=1)
            assert t.weight[child] == side.sum()
            np.testing.assert_array_equal(t.lw[child, :3], pos.sum(axis=0))
            assert t.lw[child, 3] == np.sum(full & (pos.sum(axis=1) == 0))
            np.testing.assert_allclose(t.kw[child], side.sum() * _q(lr)[:-1], rtol=1e-12)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("max_depth", [1, 5])
def test_do_split_children_ring_and_warm_start(dense: bool, max_depth: int) -> None:
    rng = np.random.default_rng([13, int(dense), max_depth])
    dropped = 0  # recent rows no longer in the store when their leaf split
    for rep in range(reps(10)):
        n, d, L, W = int(rng.integers(5, 120)), 4, 3, int(rng.integers(1, 20))
        if rep == 0:  # a full ring over a store too small for it
            n, W = 60, 16
        data = random_data(rng, n, d, L, dense=dense, p_known=[None, 0.7][rep % 2])
        t = make_tree(d, [0, 1, 2], window=W, seed=rep)
        p = make_params(dense, grace_period=HUGE, max_depth=max_depth)
        # a small store: some of the leaf's recent rows are no longer readable
        G = int(rng.integers(2, 40)) if rep else 5
        s = TS.new_store(G, G * d, L, d)
        tw = TwinStore(G, G * d)
        for i in range(n):
            y, k = data.labels(i, [0, 1, 2])
            tw.append(*data.row(i), y, k)
        run(t, s, p, data, 0, n)
        root = int(t.meta[K.M_ROOT])
        lr = _leaf_rows(data, list(range(n)), [0, 1, 2], [1.0] * n)
        before = snapshot(t)
        m0, o0 = int(t.mslot[root]), int(t.oslot[root])
        f = int(rng.integers(d))
        thr = float(rng.choice(data.dense_matrix()[:, f])) + float(rng.choice([0.0, 0.25]))
        assert K.do_split(t, s, p, root, f, thr, *_scratch(L))
        ln, rn = int(t.left[root]), int(t.right[root])
        # the parent is now a branch
        assert (t.feat[root], t.thr[root], t.oslot[root], t.mslot[root]) == (f, thr, -1, -1)
        assert t.active[root] == 0 and ln != rn and min(ln, rn) > root
        assert t.meta[K.M_SPLITS] == before["meta"][K.M_SPLITS] + 1
        assert t.meta[K.M_LEAVES] == before["meta"][K.M_LEAVES] + 1
        tl, tr = twin_split_at(lr, f, thr)
        for child, side in ((ln, tl), (rn, tr)):
            assert (t.feat[child], t.parent[child], t.depth[child]) == (-1, root, 1)
            assert t.weight[child] == pytest.approx(side[-1], abs=1e-9)
            assert t.last[child] == t.weight[child]
            np.testing.assert_allclose(t.lw[child], side[:-1], atol=1e-9)
            # known weights: the side's weight times the leaf's known fraction of each outcome
            np.testing.assert_allclose(t.kw[child], side[-1] * _q(lr)[:-1], atol=1e-9)
            if max_depth <= 1:
                assert t.active[child] == 0 and t.oslot[child] == -1
            else:
                o = int(t.oslot[child])
                assert t.active[child] == 1 and o >= 0
                assert not t.o_w[o].any() and not t.o_tot[o].any() and not t.o_mass[o].any()
                assert np.isinf(t.o_min[o]).all() and np.isinf(t.o_max[o]).all()
        if max_depth > 1:
            assert o0 in (t.oslot[ln], t.oslot[rn])  # the parent's observer slot was recycled
        else:
            assert t.meta[K.M_DEACTIVATED] == before["meta"][K.M_DEACTIVATED] + 2
        # warm start: the left child keeps the parent's model slot, the right one gets a copy
        assert t.mslot[ln] == m0 and t.mslot[rn] not in (-1, m0)
        for name in ("lr_w", "lr_b", "loss", "ls_hash", "ls_cnt", "ls_bits", "ls_n", "ls_distinct"):
            for child in (ln, rn):
                np.testing.assert_array_equal(getattr(t, name)[t.mslot[child]], before[name][m0])
        # recent rows: the readable ones, oldest first, go where the split sends them
        oldest_first = ring_newest_first(
            before["ring"][m0].tolist(), int(before["ring_n"][m0]), int(before["ring_pos"][m0])
        )[::-1]
        readable = [rid for rid in oldest_first if tw.valid(rid)]
        dropped += len(oldest_first) - len(readable)
        want = {
            ln: [rid for rid in readable if tw.value(rid, f) <= thr],
            rn: [rid for rid in readable if tw.value(rid, f) > thr],
        }
        for child in (ln, rn):
            ms = int(t.mslot[child])
            got = ring_newest_first(t.ring[ms].tolist(), int(t.ring_n[ms]), int(t.ring_pos[ms]))
            assert got[::-1] == want[child]
    assert dropped > 0


# ==================================================================================== leaf models


def _view(t: K.Tree, leaf: int) -> LeafView:
    """The twin's view of a leaf, read from the kernel's arrays."""
    m = int(t.mslot[leaf])
    Lc = t.label_map.shape[0]
    n = int(t.ls_n[m])
    table = TwinSpaceSaving(
        t.ls_cnt.shape[1],
        [(tuple(int(b) for b in t.ls_bits[m, k]), float(t.ls_cnt[m, k])) for k in range(n)],
        float(t.ls_distinct[m]),
    )
    prior = [
        float(t.lw[leaf, c] / t.kw[leaf, c]) if t.kw[leaf, c] > 0.0 else 0.0 for c in range(Lc)
    ]
    return LeafView(
        weight=float(t.weight[leaf]), prior=prior, loss=t.loss[m].tolist(),
        lr_w=t.lr_w[m].tolist(), lr_b=t.lr_b[m].tolist(), ring=t.ring[m].tolist(),
        ring_n=int(t.ring_n[m]), ring_pos=int(t.ring_pos[m]), labelsets=table,
        has_oslot=bool(t.oslot[leaf] >= 0), lw=t.lw[leaf].tolist(), kw=t.kw[leaf].tolist(),
    )  # fmt: skip


def _scaling(s: K.Store) -> Scaling:
    return Scaling(s.scale_mean.tolist(), s.scale_m2.tolist(), float(s.scale_n[0]))


def _mirror_store(data: Data, G: int, E: int, n: int) -> TwinStore:
    """The twin of a store where the first ``n`` rows of ``data`` were appended."""
    tw = TwinStore(G, E)
    for i in range(n):
        y, k = data.labels(i, list(range(data.Y.shape[1])))
        tw.append(*data.row(i), y, k)
    return tw


@settings(max_examples=80, deadline=None)
@given(
    K_=st.integers(1, 5),
    Lc=st.integers(1, 4),
    seq=st.lists(st.tuples(st.integers(0, 15), st.sampled_from([1.0, 2.0, 0.5, 3.0])), max_size=60),
)
def test_update_labelsets_matches_space_saving_twin(
    K_: int, Lc: int, seq: list[tuple[int, float]]
) -> None:
    t = make_tree(1, list(range(Lc)), labelsets=K_)
    m = int(t.mslot[0])
    tw = TwinSpaceSaving(K_)
    for code, w in seq:
        bits = np.array([(code >> c) & 1 for c in range(Lc)], np.uint8)
        K.update_labelsets(t, m, bits, w)
        tw.add(tuple(int(b) for b in bits), w)
        got = [(tuple(int(b) for b in t.ls_bits[m, k]), float(t.ls_cnt[m, k]))
               for k in range(int(t.ls_n[m]))]  # fmt: skip
        assert got == [tuple(e) for e in tw.entries]
        assert t.ls_distinct[m] == tw.distinct
    if len({code & ((1 << Lc) - 1) for code, _ in seq}) <= K_:  # exact while the table holds all
        exact: dict[tuple[int, ...], float] = {}
        for code, w in seq:
            key = tuple((code >> c) & 1 for c in range(Lc))
            exact[key] = exact.get(key, 0.0) + w
        assert tw.as_dict() == exact


def _assert_same_neighbours(
    got_rids: list[int], got_sims: np.ndarray | None, query, ring: list[int], tw, k: int,
    dense: bool, scaling,
) -> list[tuple[int, float]]:  # fmt: skip
    """The kernel's top-``k`` equals the twin's, up to the order of near-ties: similarities are
    summed in a vectorised order in the kernel (the last bits differ from the twin's sequential
    sum), so candidates whose similarities agree to 1e-12 may swap places. Returns the twin's."""
    everyone = twin_knn(query, ring, tw, len(ring) + 1, dense, scaling)
    nb = everyone[:k]
    assert len(got_rids) == len(nb)
    sim_of = dict(everyone)
    for got, (rid, sim) in zip(got_rids, nb):
        if got != rid:
            assert got in sim_of and abs(sim_of[got] - sim) <= 1e-12, (got, rid, everyone)
    if got_sims is not None:
        np.testing.assert_allclose(got_sims, [sim for _, sim in nb], rtol=1e-9, atol=1e-12)
    return nb


def _query(t: K.Tree, s: K.Store, p: K.Params, data: Data, i: int):
    """Row ``i`` as a prediction sees it: its values for the learners (the store's current
    statistics) and the raw and learners' values scattered over the features."""
    d = t.o_w.shape[2]
    idx = np.array(data.row(i)[0], np.int64)
    val = np.array(data.row(i)[1], np.float64)
    indptr = np.array([0, len(idx)], np.int64)
    zval, znorm = TS.prepare(s, bool(p.dense), (indptr, idx, val), 0, 1, False, 0)
    xd, xz = np.zeros(d), np.zeros(d)
    K.scatter_row(idx, val, zval, xd, xz)
    return idx, val, xd, xz, zval, float(znorm[0])


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("p_known", [None, 0.5], ids=["complete", "partial"])
def test_predict_knn_matches_twin(dense: bool, p_known: float | None) -> None:
    rng = np.random.default_rng([17, int(dense), int(p_known is None)])
    compared = ties = 0
    for rep in range(reps(12)):
        n, d, L = int(rng.integers(2, 90)), int(rng.integers(1, 6)), 3
        kinds = (0, 1, 2) if dense else (2, 3, 5)
        data = random_data(rng, n + 20, d, L, dense=dense, p_known=p_known, kinds=kinds,
                           duplicates=0.4)  # fmt: skip
        cols = [2, 0]
        W, G, k = int(rng.integers(1, 30)), int(rng.integers(2, 60)), int(rng.integers(1, 7))
        t = make_tree(d, cols, window=W, seed=rep)
        p = make_params(dense, grace_period=HUGE, knn_k=k)
        s = TS.new_store(G, G * d, L, d)
        run(t, s, p, data, 0, n)
        tw = _mirror_store(data, G, G * d, n)
        if dense:
            twin_remember_learned(tw, [data.row(i) for i in range(n)], 0, d)
        view = _view(t, 0)
        for i in [*range(n, n + 20), *rng.integers(0, n, 5).tolist()]:
            idx, val, xd, xz, _, norm = _query(t, s, p, data, i)
            pm = np.full((K.N_MODELS, 2), -1.0)
            sims, ids = np.zeros(4 * k), np.zeros(4 * k, np.int64)  # as tree_run: 4 knn_k
            ok = K.predict_knn(
                t, s, p, 0, 0, xz, norm, pm, sims, ids, NO_CACHE, NO_COLS, 0,
                int(s.meta[0]), NO_CACHE,
            )  # fmt: skip
            K.clear_row(idx, xd, xz)
            nb = twin_knn(data.row(i), view.ring_newest_first(), tw, 4 * k, dense, _scaling(s))
            assert bool(ok) == bool(nb)
            if not nb:
                continue
            compared += 1
            sim_list = [sim for _, sim in nb]
            ties += len(set(sim_list)) < len(sim_list)
            _assert_same_neighbours(
                [int(s.seq[ids[j]]) for j in range(len(nb))], sims[: len(nb)], data.row(i),
                view.ring_newest_first(), tw, 4 * k, dense, _scaling(s),
            )  # fmt: skip
            if any(int(s.seq[ids[j]]) != nb[j][0] for j in range(len(nb))):
                continue  # near-ties swapped: the votes may differ (compared above)
            np.testing.assert_allclose(
                pm[K.KNN], twin_knn_vote(nb, tw, cols, view.prior, k), atol=1e-15
            )
    # duplicated rows tie in sparse data; dense rows keep the standardisation of the moment
    # they were learned, so duplicates learned at different times no longer tie
    assert compared > 50 * SCALE and (dense or ties > 5 * SCALE), (compared, ties)


def _rid_store(data: Data, G: int) -> tuple[K.Store, TwinStore]:
    s = TS.new_store(G, G * data.d, data.Y.shape[1], data.d)
    return s, TwinStore(G, G * data.d)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_knn_similarity_cache_is_shared_exactly_between_trees(dense: bool) -> None:
    """Trees over the same rows share similarities: a tree reading another's cache predicts
    exactly as without a cache (feature scaling does not depend on bagging weights)."""
    rng = np.random.default_rng([19, int(dense)])
    data = random_data(rng, 300, 5, 3, dense=dense, duplicates=0.2)
    p = make_params(dense, grace_period=40, tau=0.5, bagging_rate=1.0)
    trees = [make_tree(5, [0, 1, 2], window=24, seed=seed) for seed in (1, 2)]
    plain = [copy_tree(t) for t in trees]
    s = new_store_for(data, rows=128)
    for a in range(0, data.n, 50):
        b = min(data.n, a + 50)
        rid0 = int(K.store_append(s, data.indptr, data.indices, data.data, data.Y, data.Kmat,
                                  False, a, b))  # fmt: skip
        cache = np.full((b - a, s.seq.shape[0]), np.nan)  # every store slot cached
        cols = np.arange(s.seq.shape[0])
        csr = (data.indptr, data.indices, data.data)
        prep = TS.prepare(s, dense, csr, a, b, True, rid0)  # once for every tree, as a forest
        for j in range(2):
            trees[j] = TS.ensure_capacity(trees[j], TS.TreeShape(5, 3, 24, 64), 1e12)
            plain[j] = TS.ensure_capacity(plain[j], TS.TreeShape(5, 3, 24, 64), 1e12)
            o1 = run(
                trees[j], s, p, data, a, b, cache=cache, cache_col=cols, rid0=rid0, prepared=prep
            )
            o2 = run(plain[j], s, p, data, a, b, rid0=rid0, prepared=prep)
            np.testing.assert_array_equal(o1[a:b], o2[a:b])
        assert np.isfinite(cache).any()
    for t1, t2 in zip(trees, plain):
        for f in t1._fields:
            np.testing.assert_array_equal(getattr(t1, f), getattr(t2, f), err_msg=f)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("p_known", [None, 0.6], ids=["complete", "partial"])
@pytest.mark.parametrize("bagging", [False, True], ids=["plain", "bagging"])
def test_predict_nb_matches_twin(dense: bool, p_known: float | None, bagging: bool) -> None:
    rng = np.random.default_rng([23, int(dense), int(p_known is None), int(bagging)])
    twin = twin_nb_gaussian if dense else twin_nb_multinomial
    compared = 0
    for rep in range(reps(12)):
        # sparse: counts (non-negative) on even repetitions, signed values on odd ones
        kinds = (0, 1, 2, 3, 4) if dense else [(2, 3, 5), (0, 1, 3)][rep % 2]
        t, _, p, data, lr = _learned_leaf(rng, dense, p_known, bagging, n=int(rng.integers(1, 80)),
                                          kinds=kinds)  # fmt: skip
        extra = random_data(rng, 8, data.d, 1, dense=dense, kinds=kinds)
        o = int(t.oslot[0])
        t.nb_at[o] = -1.0  # parameters from all rows learned (their refresh schedule is
        # compared with the twin's in test_leaf_mixture_and_learning_step_match_twin)
        Lc = lr.n_labels
        has_weight = sum(lr.weights) > 0
        for q in range(extra.n + 3):
            src, i = (extra, q) if q < extra.n else (data, int(rng.integers(data.n)))
            idx, val = (np.array(x, dt) for x, dt in zip(src.row(i), (np.int64, np.float64)))
            pm = np.full((K.N_MODELS, Lc), -1.0)
            logit = np.zeros(Lc)
            ok = K.predict_nb(t, p, o, 0, idx, val, pm, logit)
            assert bool(ok) == has_weight
            if not ok:
                continue
            compared += 1
            tl, tp = twin(lr, src.row(i), p.nb_alpha)
            np.testing.assert_allclose(pm[K.NB], tp, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(logit, tl, rtol=1e-9, atol=1e-9)
    assert compared > 40 * SCALE


_MASKS = {
    "all": 63,
    "mc+knn": 1 | 4,
    "nb+lr": 8 | 16,
    "rec": 2,
    "lr": 16,
    "knn+nb+lr": 28,
    "knn_ls": 32,
}


@pytest.mark.parametrize(
    ("dense", "p_known", "models", "skip_below", "bagging"),
    [
        (True, None, "all", 1e-3, False),
        (False, None, "all", 1e-3, False),
        (True, 0.6, "all", 0.0, False),
        (False, 0.6, "all", 0.2, True),
        (True, None, "knn+nb+lr", 0.05, True),
        (False, 0.8, "mc+knn", 1e-3, False),
        (True, 0.7, "nb+lr", 1e-3, False),
        (False, None, "rec", 1e-3, False),
        (True, None, "lr", 1e-3, True),
        (False, 0.7, "knn_ls", 1e-3, False),
    ],
)
def test_leaf_mixture_and_learning_step_match_twin(
    dense: bool, p_known: float | None, models: str, skip_below: float, bagging: bool
) -> None:
    """Row by row at one leaf: the mixture's prediction, then every learned statistic."""
    rng = np.random.default_rng([29, int(dense), _MASKS[models], int(1000 * skip_below)])
    L, cols, d = 4, [3, 1, 0], 4
    skipped = 0  # rows where the mixture left a negligible model out
    for rep in range(reps(3)):
        n = 150
        data = random_data(rng, n, d, L, dense=dense, p_known=p_known, duplicates=0.2,
                           kinds=(0, 1, 2, 3) if dense else (2, 3, 5))  # fmt: skip
        W, G = int(rng.integers(3, 40)), int(rng.integers(5, 100))
        seed = 100 + rep
        t = make_tree(d, cols, window=W, labelsets=int(rng.integers(1, 6)), seed=seed)
        p = make_params(
            dense, grace_period=HUGE, models_mask=_MASKS[models], skip_below=skip_below,
            knn_k=int(rng.integers(1, 6)), hedge_eta=float(rng.choice([1.0, 5.0])),
            bagging_rate=1.0 if bagging else 0.0, learning_rate=float(rng.choice([0.05, 0.3])),
        )  # fmt: skip
        s, tw = _rid_store(data, G)
        weights = _weights(data, seed, bagging)
        nb_state: dict = {}  # the twin's model of the naive Bayes refreshes
        for i in range(n):
            y, k = data.labels(i, list(range(L)))
            tw.append(*data.row(i), y, k)
            view, scaling = _view(t, 0), _scaling(s)
            if view.weight > 0 and view.ring_pos % 16:
                skipped += any(
                    twin_negligible(view.loss, j, _MASKS[models], p.hedge_eta, skip_below)
                    for j in range(K.N_MODELS)
                    if (_MASKS[models] >> j) & 1
                )
            lr = _leaf_rows(data, list(range(i)), cols, weights)
            want, pm, valid = twin_leaf_predict(
                view, tw, lr, data.row(i), cols, p, scaling, nb_state
            )
            out = run(t, s, p, data, i, i + 1)
            np.testing.assert_allclose(
                out[i, cols], want, rtol=1e-9, atol=1e-12, err_msg=f"row {i}"
            )
            yc, kc = data.labels(i, cols)
            new = twin_leaf_learn(view, data.row(i), yc, kc, weights[i], pm, valid, i, p, scaling)
            if dense:
                tw.remember(i, scaled_row(data.row(i), True, scaling))
            got = _view(t, 0)
            msg = f"row {i}"
            assert (got.weight, got.lw, got.kw) == (new.weight, new.lw, new.kw), msg
            assert (got.ring, got.ring_n, got.ring_pos) == (new.ring, new.ring_n, new.ring_pos), msg
            assert got.labelsets.entries == new.labelsets.entries, msg
            assert got.labelsets.distinct == new.labelsets.distinct, msg
            np.testing.assert_allclose(got.loss, new.loss, rtol=1e-9, atol=1e-12, err_msg=msg)
            np.testing.assert_allclose(got.lr_b, new.lr_b, rtol=1e-9, atol=1e-12, err_msg=msg)
            np.testing.assert_allclose(got.lr_w, new.lr_w, rtol=1e-9, atol=1e-12, err_msg=msg)
    if skip_below >= 0.05:
        assert skipped > 0


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_a_model_skipped_for_one_that_cannot_predict_takes_part(dense: bool) -> None:
    """Negligible models are skipped by their loss against the best enabled model's. When that
    model cannot predict at the row (here the majority label set before any row's label set was
    complete: its loss is still 0), the skipped models are judged again against the models that
    did predict. Before, every model was left out and the leaf predicted its prior (what made
    iHOMER's trees fall to their priors under active learning on 20ng)."""
    rng = np.random.default_rng(7)
    L, cols, d = 3, [0, 1, 2], 4
    data = random_data(rng, 40, d, L, dense=dense, p_known=0.7)
    assert data.known is not None
    data.known[:, 0] = 0  # label 0 is never known: no row's label set is complete
    t = make_tree(d, cols, window=10, labelsets=4, seed=1)
    mc_lr = (1 << K.MC) | (1 << K.LR)
    p = make_params(dense, grace_period=HUGE, models_mask=mc_lr, skip_below=1e-3, hedge_eta=5.0)
    s = new_store_for(data)
    run(t, s, p, data, 0, 31)
    m = int(t.mslot[0])
    assert t.ls_n[m] == 0 and t.weight[0] > 0 and t.ring_pos[m] % 16 != 0
    assert (t.loss[m, :, K.MC] == 0.0).all()  # never predicted
    t.loss[m, :, K.LR] = 5.0  # beyond the gap -ln(1e-3)/5 = 1.38 above the majority's 0
    exact = copy_tree(t)
    got = run(t, s, p, data, 31, 32, learn=False)[31]
    want = run(exact, s, p._replace(skip_below=0.0), data, 31, 32, learn=False)[31]
    np.testing.assert_array_equal(got, want)  # the logistic model's prediction, as unskipped
    prior = [K.leaf_prior(t, 0, c) for c in range(L)]
    assert not np.allclose(got, prior)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
def test_stream_scope_knn_uses_the_latest_rows_and_shares_them(dense: bool) -> None:
    """With ``global_recent`` the candidates are the stream's latest W rows (not the leaf's),
    and a neighbour search kept in ``kres`` is reused verbatim by the next caller."""
    rng = np.random.default_rng([53, int(dense)])
    compared = 0
    for rep in range(reps(8)):
        n, d, L = int(rng.integers(30, 90)), int(rng.integers(1, 6)), 3
        kinds = (0, 1, 2) if dense else (2, 3, 5)
        data = random_data(rng, n + 10, d, L, dense=dense, kinds=kinds)
        cols = [2, 0]
        W, k = int(rng.integers(1, 30)), int(rng.integers(1, 5))
        t = make_tree(d, cols, window=W, seed=rep)
        p = make_params(dense, grace_period=HUGE, knn_k=k, global_recent=1.0)
        s = TS.new_store(256, 256 * d, L, d)
        run(t, s, p, data, 0, n)
        tw = _mirror_store(data, 256, 256 * d, n)
        if dense:
            twin_remember_learned(tw, [data.row(i) for i in range(n)], 0, d)
        latest = [n - b for b in range(1, min(W, n) + 1)]
        kres = np.full((1, 1 + 2 * 4 * k), -1.0)
        for i in range(n, n + 10):
            outs = []
            for _ in range(2):  # the second call reads the shared result
                idx, val, xd, xz, _, norm = _query(t, s, p, data, i)
                pm = np.full((K.N_MODELS, 2), -1.0)
                sims, ids = np.zeros(4 * k), np.zeros(4 * k, np.int64)
                ok = K.predict_knn(
                    t, s, p, 0, 0, xz, norm, pm, sims, ids, NO_CACHE, NO_COLS,
                    0, n, kres,
                )  # fmt: skip
                K.clear_row(idx, xd, xz)
                outs.append((ok, pm[K.KNN].copy(), [int(s.seq[j]) for j in ids[: int(kres[0, 0])]]))
            kres[:] = -1.0
            assert outs[0][0] == outs[1][0]
            np.testing.assert_array_equal(outs[0][1], outs[1][1])
            assert outs[0][2] == outs[1][2]
            nb = twin_knn(data.row(i), latest, tw, 4 * k, dense, _scaling(s))
            assert bool(outs[0][0]) == bool(nb)
            if nb:
                compared += 1
                _assert_same_neighbours(
                    outs[0][2], None, data.row(i), latest, tw, 4 * k, dense, _scaling(s)
                )
    assert compared > 20 * SCALE


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("learn", [True, False], ids=["learning", "predicting"])
def test_knn_search_rows_matches_twin_for_every_row_of_a_chunk(dense: bool, learn: bool) -> None:
    """The chunk-level neighbour search (once for every tree) finds, for each row, what the
    twin finds among the stream's ``W`` rows before it (before the store's next id when only
    predicting), and what a tree's own search would find (the same result in ``kres``)."""
    rng = np.random.default_rng([59, int(dense), int(learn)])
    compared = own_searches = 0
    for rep in range(reps(10)):
        n, m, d, L = int(rng.integers(0, 70)), int(rng.integers(1, 25)), int(rng.integers(1, 6)), 3
        kinds = (0, 1, 2) if dense else (2, 3, 5)
        data = random_data(rng, n + m, d, L, dense=dense, kinds=kinds, duplicates=0.3)
        W, k = int(rng.integers(1, 40)), int(rng.integers(1, 5))
        G = int(rng.integers(W + m + 1, 200))
        t = make_tree(d, [2, 0], window=W, seed=rep)
        p = make_params(dense, grace_period=HUGE, knn_k=k, global_recent=1.0)
        s = TS.new_store(G, G * d, L, d)
        if n:
            run(t, s, p, data, 0, n)
        csr = (data.indptr, data.indices, data.data)
        rid0 = append(s, data, n, n + m) if learn else 0
        zdata, znorm = TS.prepare(s, bool(p.dense), csr, n, n + m, learn, rid0)
        kres = TS.stream_neighbours(s, p, csr, zdata, znorm, n, n + m, rid0, learn, W, d)
        assert kres.shape == (m, 1 + 2 * 4 * k)
        tw = _mirror_store(data, G, G * d, n + m if learn else n)
        rows = [data.row(i) for i in range(n + m)]
        if dense:
            twin_remember_learned(tw, rows[: n + m if learn else n], 0, d)
        for j in range(m):
            cur = n + j if learn else n
            scaling = None
            if dense:
                mean, m2 = twin_scaling(rows[:cur], d)
                scaling = Scaling(mean, m2, float(cur))
            latest = [cur - b for b in range(1, min(W, cur) + 1)]
            count = int(kres[j, 0])
            _assert_same_neighbours(
                [int(s.seq[int(x)]) for x in kres[j, 1 : 1 + count]],
                kres[j, 1 + 4 * k : 1 + 4 * k + count], rows[n + j], latest, tw, 4 * k, dense,
                scaling,
            )  # fmt: skip
            compared += count > 0
        # a tree searching on its own finds the same, bit for bit
        own = np.full_like(kres, -1.0)
        out = np.zeros((data.n, L))
        K.tree_run(
            t, s, p, data.indptr, data.indices, data.data, data.Y, data.Kmat, False, rid0, n,
            n + m, out, t.label_map, True, learn, NO_CACHE, NO_COLS, own, zdata, znorm, False,
        )  # fmt: skip
        searched = own[:, 0] >= 0  # rows where every model skipped kNN did not search
        np.testing.assert_array_equal(own[searched], kres[searched])
        own_searches += int(searched.sum())
    assert compared > 30 * SCALE and own_searches > 30 * SCALE, (compared, own_searches)


def test_logistic_prediction_matches_twin_for_few_and_many_labels() -> None:
    """Both loops of the logistic model (a register per label for 1-4 labels, label-inner for
    more) give the twin's sums, bit for bit, on dense and sparse rows with zeros."""
    rng = np.random.default_rng(83)
    for _ in range(reps(300)):
        Lc = int(rng.integers(1, 9))
        d = int(rng.integers(1, 40))
        M = int(rng.integers(1, 4))
        lr_w = rng.normal(size=(M, d, Lc))
        lr_b = rng.normal(size=(M, Lc))
        n = int(rng.integers(0, d + 1))
        idx = np.sort(rng.choice(d, n, replace=False)).astype(np.int64)
        zval = np.where(rng.random(n) < 0.2, 0.0, rng.normal(size=n))
        m = int(rng.integers(0, M))
        pm = np.zeros((K.N_MODELS, Lc))
        K._predict_lr(lr_w, lr_b, m, idx, zval, pm)
        for c in range(Lc):
            acc = float(lr_b[m, c])
            for e in range(n):
                if zval[e] != 0.0:
                    acc += float(zval[e]) * float(lr_w[m, idx[e], c])
            if acc >= 0.0:  # the kernels' overflow-safe sigmoid
                want = 1.0 / (1.0 + math.exp(-min(acc, 40.0)))
            else:
                want = math.exp(max(acc, -40.0)) / (1.0 + math.exp(max(acc, -40.0)))
            assert pm[K.LR, c] == want, (Lc, c)
