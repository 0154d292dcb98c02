"""The River peer baselines are River's own models: same probabilities, label by label."""

from __future__ import annotations

import numpy as np
import pytest
from river import linear_model, multioutput, naive_bayes, tree

from streamlearn.multilabel import make_learner
from streamlearn.multilabel.peers import (
    BinaryRelevanceHoeffdingTree,
    BinaryRelevanceNaiveBayes,
    ClassifierChainLogisticRegression,
)
from streamlearn.schema import Schema
from tests.unit._learners import toy_dataset


def _normalised(proba: dict | None) -> float:
    if not proba:
        return 0.0
    t, f = proba.get(True, 0.0), proba.get(False, 0.0)
    return t / (t + f) if t + f > 0 else 0.0


def _river_reference(name: str, labels: list):
    if name == "br-ht":
        return multioutput.PerOutputClassifier(tree.HoeffdingTreeClassifier(grace_period=30))
    if name == "br-nb":
        return multioutput.PerOutputClassifier(naive_bayes.GaussianNB())
    return multioutput.ClassifierChain(linear_model.LogisticRegression(), order=list(labels))


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name", ["br-ht", "cc-lr", "br-nb"])
def test_peer_gives_rivers_probabilities(name, sparse):
    ds = toy_dataset(400, sparse=sparse, seed=1)
    params = {"grace_period": 30} if name == "br-ht" else {}
    ours = make_learner(name, params).set_schema(ds.schema)
    ref = _river_reference(name, ds.schema.labels)
    P = ours.predict_learn_many(ds.X, ds.Y)
    expected = np.zeros_like(P)
    learned: set = set()  # our convention: 0 for a label no model has learned yet
    for i, (x, y) in enumerate(ds.iter_dicts()):
        proba = ref.predict_proba_one(x)
        expected[i] = [
            _normalised(proba.get(lab)) if lab in learned else 0.0 for lab in ds.schema.labels
        ]
        ref.learn_one(x, y)
        learned.update(y)
    assert np.array_equal(P, expected)
    if name == "br-ht":  # the trees did grow, so the comparison covers splits
        assert any(t.n_nodes > 1 for t in ours.model_.values())


@pytest.mark.parametrize("name", ["br-ht", "cc-lr", "br-nb"])
def test_a_label_never_learned_has_probability_zero(name):
    ds = toy_dataset(120, seed=2)
    learner = make_learner(name).set_schema(ds.schema)
    known = np.ones(ds.Y.shape, dtype=bool)
    known[:, 1] = False  # label l01 is never known
    P = learner.predict_learn_many(ds.X, ds.Y, known)
    assert np.all(P[:, 1] == 0.0)
    # a label that joins the space later has probability 0 until learned
    grown = Schema(features=ds.schema.features, labels=[*ds.schema.labels, "new"])
    learner.set_schema(grown)
    x, _ = next(ds.iter_dicts())
    assert learner.predict_proba_one(x)["new"] == {False: 1.0, True: 0.0}
    assert learner.predict_one(x)["new"] is False
    X2 = ds.X[:5]
    assert np.all(learner.predict_proba_many(X2)[:, -1] == 0.0)


def test_binary_relevance_learns_each_label_independently_of_unknown_ones():
    """With a label always unknown, the other labels' models equal those of a full run."""
    ds = toy_dataset(300, seed=4)
    known = np.ones(ds.Y.shape, dtype=bool)
    known[:, 2] = False
    for name in ("br-ht", "br-nb"):
        full = make_learner(name).set_schema(ds.schema).predict_learn_many(ds.X, ds.Y)
        part = make_learner(name).set_schema(ds.schema).predict_learn_many(ds.X, ds.Y, known)
        keep = [0, 1, 3]
        assert np.array_equal(full[:, keep], part[:, keep])
        assert np.all(part[:, 2] == 0.0)


def test_dict_api_grows_the_label_space_and_the_chain():
    cc = ClassifierChainLogisticRegression()
    cc.learn_one({"a": 1.0}, {"x": True})
    cc.learn_one({"a": 0.0, "b": 2.0}, {"x": False, "y": True})
    assert cc.schema.labels == ["x", "y"] and cc.schema.features == ["a", "b"]
    assert cc.model_.order == ["x", "y"]
    # a label absent from y is false (full label set), and is learned as such
    cc.learn_one({"a": 1.0}, {"x": True})
    assert set(cc.predict_one({"a": 1.0})) == {"x", "y"}


def test_parameters_reach_the_river_models():
    ht = BinaryRelevanceHoeffdingTree(grace_period=17, delta=0.01, leaf_prediction="mc")
    ht.learn_one({"a": 1.0}, {"x": True})
    tree_ = ht.model_["x"]
    assert (tree_.grace_period, tree_.delta, tree_.leaf_prediction) == (17, 0.01, "mc")
    cc = ClassifierChainLogisticRegression(lr=0.5, l2=0.1)
    cc.learn_one({"a": 1.0}, {"x": True})
    lr = cc.model_["x"]
    assert lr.optimizer.learning_rate == 0.5 and lr.l2 == 0.1
    nb = BinaryRelevanceNaiveBayes()
    assert nb.natural_form == ht.natural_form == cc.natural_form == "dicts"
