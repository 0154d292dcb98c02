"""Behaviour of MLHAT (streamlearn.multilabel.mlhat) as docs/learners.md promises it.

The kernels are compared with their twins in test_mltree_kernels.py and the generic contract
(determinism, pickling, partial labels, bad input, call splitting) is in
test_estimator_checks.py; these tests check what the learner does on streams built so that the
promised behaviour is visible through the public API: ``describe()["tree"]``,
``predict_learn_many`` / ``predict_proba_many`` and the constructor parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from streamlearn._kernels import mltree as K
from streamlearn.base.arrays import CSR
from streamlearn.multilabel.mlhat import MLHAT
from streamlearn.schema import Schema
from streamlearn.stream.synth import make_stream

THR = 0.4  # MLHAT's default decision threshold


def _acc(P: np.ndarray, Y: np.ndarray) -> float:
    """Label-wise (Hamming) accuracy of the decisions ``P > THR``."""
    return float(((P > THR) == Y.astype(bool)).mean())


def _schema(d: int, L: int, sparse: bool = False) -> Schema:
    return Schema(
        features=[f"f{j}" for j in range(d)], labels=[f"y{j}" for j in range(L)], sparse=sparse
    )


def _threshold_labels(X: np.ndarray, f: int, rng: np.random.Generator, flip: float) -> np.ndarray:
    """3 labels decided by the sign of feature ``f``: ``x_f > 0`` -> {y0, y1}, else {y2};
    each label flipped with probability ``flip``."""
    hi = X[:, f] > 0
    Y = np.zeros((len(X), 3), np.uint8)
    Y[hi, 0] = Y[hi, 1] = 1
    Y[~hi, 2] = 1
    return Y ^ (rng.random(Y.shape) < flip).astype(np.uint8)


def _threshold_stream(n: int, seed: int, d: int = 5, flip: float = 0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, _threshold_labels(X, 0, rng, flip)


def _tree(model: MLHAT) -> dict:
    return model.describe()["tree"]


# ---------------------------------------------------------------------------------- splits


def test_splits_on_the_feature_that_decides_the_labels_and_not_within_the_grace_period():
    X, Y = _threshold_stream(3000, seed=1)
    model = MLHAT(grace_period=200).set_schema(_schema(5, 3))
    model.learn_many(X[:199], Y[:199])
    t = _tree(model)
    assert t["n_splits"] == 0 and t["n_leaves"] == 1 and t["depth"] == 0
    model.learn_many(X[199:], Y[199:])
    t = _tree(model)
    assert t["n_splits"] >= 1
    assert t["n_leaves"] > 1 and t["depth"] >= 1
    assert t["n_nodes"] == 2 * t["n_leaves"] - 1  # binary splits
    # and the split is the informative one: the tree predicts the labels well
    P = model.predict_proba_many(X[-500:])
    assert _acc(P, Y[-500:]) > 0.9


def test_no_split_on_labels_that_do_not_depend_on_the_features():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 5))
    Y = (rng.random((3000, 3)) < 0.4).astype(np.uint8)
    model = MLHAT(grace_period=20).set_schema(_schema(5, 3))
    model.learn_many(X, Y)
    t = _tree(model)
    assert t["n_splits"] == 0 and t["n_leaves"] == 1 and t["depth"] == 0


@pytest.mark.parametrize("preprune", [True, False])
def test_no_split_candidate_wins_only_with_pre_pruning(preprune):
    """Constant features offer no split: with ``merit_preprune`` the "no split" candidate wins
    and the leaf stops splitting (deactivated); without it the leaf stays active, waiting."""
    rng = np.random.default_rng(3)
    X = np.ones((500, 3))
    Y = (rng.random((500, 3)) < 0.5).astype(np.uint8)
    model = MLHAT(grace_period=20, merit_preprune=preprune).set_schema(_schema(3, 3))
    P = model.predict_learn_many(X, Y)
    t = _tree(model)
    assert t["n_splits"] == 0 and t["n_leaves"] == 1
    if preprune:
        assert t["n_deactivated"] == 1 and t["n_active_leaves"] == 0
    else:
        assert t["n_deactivated"] == 0 and t["n_active_leaves"] == 1
    assert np.isfinite(P).all()


def test_max_depth_bounds_the_tree():
    X, Y = _threshold_stream(3000, seed=4)
    deep = MLHAT(grace_period=20, tau=0.5).set_schema(_schema(5, 3))
    deep.learn_many(X, Y)
    assert _tree(deep)["depth"] > 1  # the stream makes deep trees with this tie threshold
    shallow = MLHAT(grace_period=20, tau=0.5, max_depth=1).set_schema(_schema(5, 3))
    shallow.learn_many(X, Y)
    t = _tree(shallow)
    assert t["depth"] == 1 and t["n_leaves"] == 2
    assert t["n_active_leaves"] == 0  # leaves at the maximum depth stop splitting


# ---------------------------------------------------------------------------------- sparse


@pytest.fixture(scope="module")
def sparse_stream():
    return make_stream(1200, n_features=60, n_labels=6, n_groups=2, sparse=True, seed=2).dataset


def test_sparse_model_predicts_the_same_from_csr_scipy_and_dense_input(sparse_stream):
    """A sparse-schema model learns a row at the cost of its non-zeros: how the same matrix is
    given (CSR, scipy.sparse, dense ndarray) does not change a single prediction."""
    ds = sparse_stream
    Xd = ds.X.toarray()
    runs = []
    for X in (ds.X, sp.csr_matrix(Xd), Xd):
        model = MLHAT(grace_period=20).set_schema(ds.schema)
        runs.append(model.predict_learn_many(X, ds.Y))
    for P in runs[1:]:
        np.testing.assert_array_equal(P, runs[0])
    assert _acc(runs[0][600:], ds.Y[600:]) > 0.85  # and it does learn


def test_dense_model_predicts_the_same_from_csr_and_dense_input(sparse_stream):
    ds = sparse_stream
    schema = ds.schema.copy()
    schema.sparse = False
    Xd = ds.X.toarray()
    a = MLHAT(grace_period=20).set_schema(schema).predict_learn_many(Xd, ds.Y)
    b = MLHAT(grace_period=20).set_schema(schema).predict_learn_many(ds.X, ds.Y)
    assert abs(_acc(a, ds.Y) - _acc(b, ds.Y)) < 0.02
    np.testing.assert_allclose(a, b, atol=1e-9)


# ---------------------------------------------------------------------------------- leaves


def _majority_labelset_baseline(Y: np.ndarray) -> np.ndarray:
    """Prequential baseline: predict the most frequent label set seen so far."""
    counts: dict[bytes, int] = {}
    best, best_n = np.zeros(Y.shape[1], np.uint8), 0
    out = np.zeros(Y.shape)
    for i, y in enumerate(Y):
        out[i] = best
        k = y.tobytes()
        counts[k] = counts.get(k, 0) + 1
        if counts[k] > best_n:
            best, best_n = y.copy(), counts[k]
    return out


def test_leaf_model_mixture_beats_the_majority_labelset_and_matches_the_best_model():
    ds = make_stream(2000, n_features=12, n_labels=6, n_groups=2, seed=8).dataset
    mixed = MLHAT(grace_period=20).set_schema(ds.schema).predict_learn_many(ds.X, ds.Y)
    acc_mixed = _acc(mixed, ds.Y)
    assert acc_mixed > _acc(_majority_labelset_baseline(ds.Y), ds.Y) + 0.2
    singles = {}
    for name in K.MODEL_NAMES:
        model = MLHAT(grace_period=20, leaf_models=(name,)).set_schema(ds.schema)
        singles[name] = _acc(model.predict_learn_many(ds.X, ds.Y), ds.Y)
    # the majority-label-set leaf alone is the baseline's level, far below the mixture
    assert singles["majority_labelset"] < acc_mixed - 0.2
    # Hedge: close to "pick the most accurate model"
    assert acc_mixed >= max(singles.values()) - 0.02, singles


def test_unknown_leaf_model_is_refused():
    with pytest.raises(ValueError, match="unknown leaf models"):
        MLHAT(leaf_models=("knn", "random_forest"))


# ---------------------------------------------------------------------------------- drift


def _concept_switch(seed: int, n: int = 3000):
    """``n`` rows where feature 0 decides the labels, then ``n`` where feature 1 does."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2 * n, 4))
    Y = np.vstack([_threshold_labels(X[:n], 0, rng, 0.03), _threshold_labels(X[n:], 1, rng, 0.03)])
    return X, Y


@pytest.mark.parametrize("seed", [0, 1])
def test_node_detectors_and_alternates_recover_from_an_abrupt_drift(seed):
    n = 3000
    X, Y = _concept_switch(seed, n)
    runs = {}
    for drift in (True, False):
        model = MLHAT(grace_period=20, drift_window_threshold=100, drift_detection=drift)
        model.set_schema(_schema(4, 3))
        P1 = model.predict_learn_many(X[:n], Y[:n])
        before = _tree(model)
        P2 = model.predict_learn_many(X[n:], Y[n:])
        runs[drift] = (before, _tree(model), P1, P2)
    before, after, P1, P2 = runs[True]
    assert before["n_splits"] >= 1  # the first concept was learned by a split
    assert after["n_node_drifts"] > before["n_node_drifts"]
    assert after["n_alternate_started"] > before["n_alternate_started"]
    assert after["n_alternate_swapped"] >= 1
    # recovered: the last 500 rows as accurate as the last 500 before the drift, give or take
    assert _acc(P2[-500:], Y[-500:]) >= _acc(P1[-500:], Y[n - 500 : n]) - 0.03
    assert _acc(P2[-500:], Y[-500:]) > 0.93
    # and faster than the same tree without detectors (which only grows under the old split)
    _, plain, _, Q2 = runs[False]
    assert plain["n_node_drifts"] == plain["n_alternate_started"] == 0
    assert plain["n_alternate_swapped"] == plain["n_alternate_pruned"] == 0
    assert _acc(P2[500:], Y[n + 500 :]) > _acc(Q2[500:], Y[n + 500 :]) + 0.01


# ---------------------------------------------------------------------------------- bagging


def test_online_bagging_is_seeded():
    ds = make_stream(1500, n_features=12, n_labels=6, n_groups=2, seed=5).dataset

    def run(bagging: bool, seed: int) -> np.ndarray:
        model = MLHAT(grace_period=20, bagging=bagging, seed=seed).set_schema(ds.schema)
        return model.predict_learn_many(ds.X, ds.Y)

    a, b, c = run(True, 1), run(True, 1), run(True, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # different Poisson(1) weights
    assert abs(_acc(a, ds.Y) - _acc(c, ds.Y)) < 0.03  # ... the same learner
    # without bagging the seed draws nothing
    np.testing.assert_array_equal(run(False, 1), run(False, 2))
    assert not np.array_equal(run(False, 1), a)


# ---------------------------------------------------------------------------------- memory


def _splitting_stream(n: int = 6000):
    """4 labels, each the sign of its own feature: with ``tau=0.5`` the tree keeps splitting."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6))
    Y = ((X[:, :4] > 0) ^ (rng.random((n, 4)) < 0.03)).astype(np.uint8)
    return X, Y


def _learn_in_batches(model: MLHAT, X: np.ndarray, Y: np.ndarray, size: int = 500):
    mem, P = [], []
    for a in range(0, len(X), size):
        P.append(model.predict_learn_many(X[a : a + size], Y[a : a + size]))
        mem.append(model.describe()["memory_bytes"])
    return np.array(mem), np.vstack(P)


def test_past_the_memory_budget_the_tree_stops_growing_and_keeps_learning():
    X, Y = _splitting_stream()
    kw = dict(grace_period=20, tau=0.5, store_size=256, knn_window=32)
    free = MLHAT(**kw).set_schema(_schema(6, 4))
    mem_free, P_free = _learn_in_batches(free, X, Y)
    budget_mb = 0.2
    assert mem_free[-1] > 1.5 * budget_mb * 2**20  # unbounded, the model outgrows the budget
    bounded = MLHAT(**kw, max_size_mb=budget_mb).set_schema(_schema(6, 4))
    mem, P = _learn_in_batches(bounded, X, Y)
    t, t_free = _tree(bounded), _tree(free)
    assert t["n_splits"] < t_free["n_splits"]
    assert mem[-1] < mem_free[-1]
    # over the last 3000 rows the unbounded tree still grows; the bounded one no longer
    # grows at all, while learning goes on
    assert mem_free[-1] > mem_free[-6]
    assert (mem[-6:] == mem[-6]).all()
    assert bounded.n_samples_seen == len(X)
    assert np.isfinite(P).all() and ((P >= 0) & (P <= 1)).all()
    # and predictions stay as good as the unbounded tree's, give or take
    assert _acc(P[-1000:], Y[-1000:]) > _acc(P_free[-1000:], Y[-1000:]) - 0.03


def test_memory_stays_within_the_budget():
    X, Y = _splitting_stream()
    budget = 0.2 * 2**20
    model = MLHAT(grace_period=20, tau=0.5, store_size=256, knn_window=32, max_size_mb=0.2)
    model.set_schema(_schema(6, 4))
    assert model.describe()["memory_bytes"] < budget  # the empty model fits
    mem, _ = _learn_in_batches(model, X, Y)
    assert mem.max() <= 1.1 * budget


# ---------------------------------------------------------------------------------- partial


def test_a_label_never_known_is_never_learned():
    """Every statistic counts known labels only: a label whose values are never known is not
    predicted, even when its hidden values are all positive."""
    ds = make_stream(1500, n_features=12, n_labels=6, n_groups=2, seed=7).dataset
    Y = ds.Y.copy()
    Y[:, 5] = 1
    known = np.ones(Y.shape, bool)
    known[:, 5] = False
    model = MLHAT(grace_period=20).set_schema(ds.schema)
    P = model.predict_learn_many(ds.X, Y, known)
    assert (P[:, 5] <= THR).all()
    assert (model.predict_proba_many(ds.X[:200])[:, 5] <= THR).all()
    # the known labels are learned as usual
    assert _acc(P[500:, :5], Y[500:, :5]) > 0.95


def test_a_label_known_on_few_rows_is_learned_nearly_as_well():
    ds = make_stream(2000, n_features=12, n_labels=6, n_groups=2, seed=7).dataset
    rng = np.random.default_rng(0)
    full = MLHAT(grace_period=20).set_schema(ds.schema).predict_learn_many(ds.X, ds.Y)
    known = np.ones(ds.Y.shape, bool)
    known[:, 0] = rng.random(len(ds.Y)) < 0.1
    part = MLHAT(grace_period=20).set_schema(ds.schema).predict_learn_many(ds.X, ds.Y, known)
    y0 = ds.Y[1000:, 0]
    assert _acc(part[1000:, 0], y0) > _acc(full[1000:, 0], y0) - 0.03
    assert _acc(part[1000:, 0], y0) > 0.9


# ---------------------------------------------------------------------------------- growth


def test_a_label_added_mid_stream_is_learned_without_disturbing_the_others():
    ds = make_stream(2000, n_features=12, n_labels=6, n_groups=2, seed=8).dataset
    model = MLHAT(grace_period=20).set_schema(
        Schema(features=ds.schema.features, labels=ds.schema.labels[:5])
    )
    model.learn_many(ds.X[:1000], ds.Y[:1000, :5])
    before = model.predict_proba_many(ds.X[1000:1200])
    model.set_schema(ds.schema)
    after = model.predict_proba_many(ds.X[1000:1200])
    assert after.shape == (200, 6)
    np.testing.assert_allclose(after[:, :5], before, atol=0.02)
    assert (after[:, 5] <= THR).all()  # nothing known about the new label yet
    P = model.predict_learn_many(ds.X[1000:], ds.Y[1000:])
    assert _acc(P[500:, 5], ds.Y[1500:, 5]) > 0.9


def test_a_feature_added_mid_stream_is_used():
    """The sparse schema grows by the feature that alone carries the labels: the model learns
    it (it splits on it and predicts well afterwards)."""
    rng = np.random.default_rng(9)
    n = 2000
    X = rng.normal(size=(n, 5))
    Y = _threshold_labels(X, 4, rng, 0.03)
    X[:, 4] = (X[:, 4] > 0).astype(np.float64)  # a binary word feature
    model = MLHAT(grace_period=20).set_schema(
        Schema(features=[f"f{j}" for j in range(4)], labels=["y0", "y1", "y2"], sparse=True)
    )
    P1 = model.predict_learn_many(CSR.from_dense(X[:500, :4]), Y[:500])
    assert _acc(P1[-200:], Y[300:500]) < 0.8  # f4 unseen: the labels are unpredictable
    model.set_schema(
        Schema(features=[f"f{j}" for j in range(5)], labels=["y0", "y1", "y2"], sparse=True)
    )
    P2 = model.predict_learn_many(CSR.from_dense(X[500:]), Y[500:])
    assert _acc(P2[-500:], Y[-500:]) > 0.93
    assert _tree(model)["n_splits"] >= 1


def test_leaf_priors_stay_probabilities_when_knowing_depends_on_the_split() -> None:
    """Under partial labelling, where a label is known can depend on the split feature (an
    active learner asks where it is unsure). A split's children estimate their known weight
    from the leaf's known fraction, which can fall below their positives: the prior lw / kw a
    fresh leaf predicts with must still be a probability (it reached the active-learning
    policy as 1.32 on tmc)."""
    rng = np.random.default_rng(4)
    n = 4000
    X = rng.random((n, 3))
    Y = np.zeros((n, 2), np.uint8)
    Y[:, 0] = X[:, 0] > 0.5
    Y[:, 1] = rng.random(n) < 0.3
    known = np.ones((n, 2), bool)
    known[:, 0] = (X[:, 0] > 0.5) | (rng.random(n) < 0.1)  # label 0 mostly known where true
    model = MLHAT(grace_period=20).set_schema(_schema(3, 2))
    P = model.predict_learn_many(X, Y, known)
    t = model._tree
    leaves = np.flatnonzero((t.feat == -1) & (t.mslot >= 0))
    assert t.meta[K.M_SPLITS] >= 1
    priors = [K.leaf_prior(t, int(leaf), c) for leaf in leaves for c in range(3)]
    assert all(0.0 <= q <= 1.0 for q in priors)
    assert ((P >= 0) & (P <= 1)).all()
    assert (
        (model.predict_proba_many(X[:500]) >= 0) & (model.predict_proba_many(X[:500]) <= 1)
    ).all()
