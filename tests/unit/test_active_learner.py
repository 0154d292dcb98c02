"""The wrapper (River-style dict API and array path), determinism and pickle round-trips."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from streamlearn.active import STRATEGIES, LabelQueryPolicy, MultiLabelActiveLearner
from streamlearn.base.arrays import CSR, InputError
from streamlearn.schema import Schema
from tests.unit._active_learners import PerLabelLogistic

LABELS = ["a", "b", "c", "d"]


def stream(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = {"f1": float(rng.normal()), "f2": float(rng.normal()), "f3": float(rng.normal())}
        y = {
            "a": x["f1"] > 0,
            "b": x["f2"] > 0.5,
            "c": x["f1"] + x["f3"] > 1,
            "d": bool(rng.random() < 0.05),
        }
        yield x, y


def matrix(n: int, seed: int = 0):
    pairs = list(stream(n, seed))
    X = np.array([[x["f1"], x["f2"], x["f3"]] for x, _ in pairs])
    Y = np.array([[y[lab] for lab in LABELS] for _, y in pairs], dtype=np.uint8)
    return X, Y


def schema() -> Schema:
    return Schema(features=["f1", "f2", "f3"], labels=LABELS)


# ---------------------------------------------------------------------------- dict API
def test_predict_one_returns_labels_and_what_to_ask_and_learn_one_learns_only_that():
    learner = PerLabelLogistic(record=True)
    model = MultiLabelActiveLearner(learner, "vu", budget=0.3, labels=LABELS, seed=0)
    asked_all = []
    for x, y in stream(400):
        y_pred, asked = model.predict_one(x)
        assert isinstance(y_pred, dict) and set(y_pred) <= set(LABELS)
        assert all(isinstance(v, bool) for v in y_pred.values())
        assert isinstance(asked, list) and set(asked) <= set(LABELS)
        before = None if learner.schema is None else learner.W_.copy()
        # the oracle answers the asked labels; an extra, unasked label must be ignored
        model.learn_one(x, {**{lab: y[lab] for lab in asked}, "d": True})
        if asked:
            names = learner.schema.labels
            assert learner.masks_[-1].tolist() == [lab in asked for lab in names]
            if before is not None and before.shape == learner.W_.shape:
                unasked = [j for j, lab in enumerate(names) if lab not in asked]
                np.testing.assert_array_equal(before[:, unasked], learner.W_[:, unasked])
        asked_all.append(asked)
    n_asked = sum(len(a) for a in asked_all)
    assert 0 < n_asked <= 0.3 * 4 * 400
    assert model.labels_asked_ == n_asked and model.labels_available_ == 1600
    assert len(learner.masks_) == sum(1 for a in asked_all if a)
    assert model.predict_one({"f1": 3.0, "f2": -3.0, "f3": 0.0})[0]["a"] is True


def test_label_space_must_be_known_for_a_cold_learner():
    model = MultiLabelActiveLearner(PerLabelLogistic(), "vu")
    with pytest.raises(InputError, match="label space is unknown"):
        model.predict_one({"f1": 1.0})


def test_cold_learner_gets_its_first_labels_and_grows_its_schema():
    learner = PerLabelLogistic()
    model = MultiLabelActiveLearner(learner, "vu", budget=1.0, labels=LABELS, seed=0)
    x, y = next(stream(1))
    y_pred, asked = model.predict_one(x)
    assert y_pred == dict.fromkeys(LABELS, False)
    assert asked == LABELS  # nothing learned yet: every label is maximally uncertain
    model.learn_one(x, y)
    assert sorted(learner.schema.labels) == LABELS and learner.n_samples_seen == 1


def test_learn_one_needs_a_pending_query():
    model = MultiLabelActiveLearner(PerLabelLogistic(), "vu", labels=LABELS, max_pending=2)
    with pytest.raises(InputError, match="no query is pending"):
        model.learn_one({"f1": 1.0}, {"a": True})
    xs = [{"f1": float(i)} for i in range(3)]
    for x in xs:
        model.predict_one(x)
    with pytest.raises(InputError, match="no query is pending"):  # forgotten: max_pending=2
        model.learn_one(xs[0], {})
    model.learn_one(dict(reversed(list(xs[2].items()))), {})  # same x, any key order


def test_instance_level_asks_the_whole_label_set():
    model = MultiLabelActiveLearner(
        PerLabelLogistic(), "random", budget=0.5, label_wise=False, labels=LABELS, seed=1
    )
    sizes = set()
    for x, y in stream(200):
        _, asked = model.predict_one(x)
        sizes.add(len(asked))
        model.learn_one(x, y)
    assert sizes == {0, 4}


# ---------------------------------------------------------------------------- array API
def test_array_path_passes_the_masks_to_learn_many():
    X, Y = matrix(300)
    learner = PerLabelLogistic(record=True).set_schema(schema())
    model = MultiLabelActiveLearner(learner, "vu", budget=0.25, seed=0)
    masks = []
    for i in range(0, 300, 10):
        pred, asked = model.predict_many(X[i : i + 10])
        assert pred.shape == asked.shape == (10, 4) and pred.dtype == asked.dtype == np.bool_
        model.learn_many(X[i : i + 10], Y[i : i + 10], asked)
        masks.extend(row for row in asked if row.any())
    assert len(learner.masks_) == len(masks) == learner.n_samples_seen
    for got, want in zip(learner.masks_, masks):
        np.testing.assert_array_equal(got, want)


def test_learn_many_skips_rows_with_nothing_asked_dense_and_csr():
    X, Y = matrix(6)
    asked = np.zeros((6, 4), dtype=bool)
    asked[[1, 4], 2] = True
    for Xin in (X, CSR.from_dense(X)):
        learner = PerLabelLogistic(record=True).set_schema(schema())
        ref = PerLabelLogistic(record=True).set_schema(schema())
        MultiLabelActiveLearner(learner, "vu").learn_many(Xin, Y, asked)
        ref.learn_many(X[[1, 4]], Y[[1, 4]], known=asked[[1, 4]])
        assert learner.n_samples_seen == 2
        np.testing.assert_array_equal(learner.W_, ref.W_)


def test_decide_many_uses_the_learners_count():
    learner = PerLabelLogistic().set_schema(schema())
    model = MultiLabelActiveLearner(learner, "fu", budget=1.0, warmup=1)
    P = np.zeros((3, 4))
    assert model.decide_many(P).all()  # n_samples_seen = 0: cold, all uncertain
    learner.learn_many(np.zeros((1, 3)), np.zeros((1, 4)))
    assert not model.decide_many(P).any()


# ---------------------------------------------------------------------------- state
@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("label_wise", [True, False])
def test_policy_is_deterministic_and_pickles_mid_stream(name, label_wise):
    P = np.random.default_rng(5).random((400, 7))
    a = LabelQueryPolicy(name, budget=0.3, window=50, label_wise=label_wise, seed=11)
    b = LabelQueryPolicy(name, budget=0.3, window=50, label_wise=label_wise, seed=11)
    first = a.decide_many(P[:200], 10)
    np.testing.assert_array_equal(first, b.decide_many(P[:200], 10))
    snap = pickle.loads(pickle.dumps(a))
    rest = a.decide_many(P[200:], 10)
    np.testing.assert_array_equal(rest, snap.decide_many(P[200:], 10))
    np.testing.assert_array_equal(rest, b.decide_many(P[200:], 10))
    # a fresh clone starts over with the same seed
    np.testing.assert_array_equal(a.clone().decide_many(P[:200], 10), first)


def test_random_strategies_depend_on_the_seed():
    P = np.random.default_rng(5).random((300, 6))
    for name in ("random", "randomized-variable-uncertainty", "split"):
        m0 = LabelQueryPolicy(name, budget=0.3, seed=0).decide_many(P, 10)
        m1 = LabelQueryPolicy(name, budget=0.3, seed=1).decide_many(P, 10)
        assert (m0 != m1).any(), name


def test_wrapper_pickles_mid_stream():
    model = MultiLabelActiveLearner(PerLabelLogistic(), "split", budget=0.4, labels=LABELS, seed=3)
    data = list(stream(300, seed=2))
    for x, y in data[:150]:
        _, asked = model.predict_one(x)
        model.learn_one(x, {lab: y[lab] for lab in asked})
    snap = pickle.loads(pickle.dumps(model))
    outs = []
    for m in (model, snap):
        out = []
        for x, y in data[150:]:
            y_pred, asked = m.predict_one(x)
            m.learn_one(x, {lab: y[lab] for lab in asked})
            out.append((y_pred, asked))
        outs.append(out)
    assert outs[0] == outs[1]
    np.testing.assert_array_equal(model.learner.W_, snap.learner.W_)
