"""The prequential harness: strict test-then-train, every instance scored, curves, known masks."""

from __future__ import annotations

import numpy as np
import pytest
from river import multioutput, naive_bayes

from streamlearn.base.arrays import InputError
from streamlearn.evaluate.prequential import ProgressInfo, learner_name, prequential
from streamlearn.metrics import MultiLabelMetrics
from streamlearn.multilabel import make_learner
from tests.unit._learners import (
    DictMemorizer,
    Memorizer,
    expected_memorizer_predictions,
    toy_dataset,
)


def batch_metrics(Yt: np.ndarray, Yp: np.ndarray) -> dict:
    m = MultiLabelMetrics(Yt.shape[1])
    m.update_many(Yt, Yp)
    return m.get()


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("cls", [Memorizer, DictMemorizer], ids=["arrays", "dicts"])
def test_every_instance_is_predicted_before_it_is_learned_and_scored(cls, sparse):
    ds = toy_dataset(1000, sparse=sparse, seed=3)
    r = prequential(cls(), ds, curve_points=20, window=64, keep_predictions=True)
    expected = expected_memorizer_predictions(ds.Y)
    assert r.natural_form == cls.natural_form
    assert r.instances == 1000
    assert np.array_equal(r.predictions, expected.astype(bool))
    assert {k: getattr(r, k) for k in batch_metrics(ds.Y, expected)} == batch_metrics(
        ds.Y, expected
    )
    # the curve: 20 evenly spaced checkpoints, cumulative and windowed metrics at each
    assert [c["instances"] for c in r.curve] == list(range(50, 1001, 50))
    for c in r.curve:
        i = c["instances"]
        assert c["cumulative"] == batch_metrics(ds.Y[:i], expected[:i])
        lo = max(0, i - 64)
        assert c["windowed"] == batch_metrics(ds.Y[lo:i], expected[lo:i])
    assert [c["seconds"] for c in r.curve] == sorted(c["seconds"] for c in r.curve)
    assert r.seconds > 0 and r.instances_per_second == pytest.approx(1000 / r.seconds)


@pytest.mark.parametrize("cls", [Memorizer, DictMemorizer], ids=["arrays", "dicts"])
def test_known_mask_learns_only_known_labels_but_scores_everything(cls):
    ds = toy_dataset(500, seed=4)
    known = np.random.default_rng(4).random(ds.Y.shape) < 0.3
    r = prequential(cls(), ds, known=known, keep_predictions=True, curve_points=0)
    expected = expected_memorizer_predictions(ds.Y, known)
    assert np.array_equal(r.predictions, expected.astype(bool))
    assert r.micro_f1 == batch_metrics(ds.Y, expected)["micro_f1"]
    assert r.instances == 500 and r.curve == []


def test_known_mask_for_a_plain_river_model_drops_unknown_labels_from_y():
    ds = toy_dataset(300, seed=6)
    known = np.ones(ds.Y.shape, dtype=bool)
    known[:, 0] = False
    river_model = multioutput.PerOutputClassifier(naive_bayes.GaussianNB())
    r = prequential(river_model, ds, known=known, keep_predictions=True)
    assert not r.predictions[:, 0].any()  # label 0 was never learned, so never predicted
    assert "l00" not in river_model  # no model was even created for it


def test_limit_and_curve_points_and_window():
    ds = toy_dataset(300, seed=1)
    r = prequential(Memorizer(), ds, limit=123, curve_points=7, window=10)
    assert r.instances == 123
    assert r.curve[-1]["instances"] == 123 and len(r.curve) == 7
    assert r.window == 10
    assert prequential(Memorizer(), ds, limit=0).instances == 0
    with pytest.raises(ValueError, match="limit"):
        prequential(Memorizer(), ds, limit=-1)


def test_a_peer_gives_the_same_result_in_both_forms_and_as_a_plain_river_model():
    ds = toy_dataset(400, seed=2)
    a = prequential(make_learner("br-nb"), ds, keep_predictions=True)
    b = prequential(make_learner("br-nb"), ds, keep_predictions=True, form="arrays")
    c = prequential(
        multioutput.PerOutputClassifier(naive_bayes.GaussianNB()), ds, keep_predictions=True
    )
    assert a.natural_form == "dicts" and b.natural_form == "arrays"
    assert a.learner == "br-nb" and c.learner == "PerOutputClassifier"
    assert np.array_equal(a.predictions, b.predictions)
    assert np.array_equal(a.predictions, c.predictions)
    assert a.to_dict(curve=False).keys() == b.to_dict(curve=False).keys()
    for k in ("micro_f1", "macro_f1", "example_f1", "subset_accuracy", "hamming_loss"):
        assert getattr(a, k) == getattr(b, k) == getattr(c, k)


def test_progress_reports_and_final_call():
    ds = toy_dataset(300, seed=5)
    seen: list[ProgressInfo] = []
    prequential(make_learner("br-ht"), ds, progress=seen.append)
    assert seen and seen[-1].done and seen[-1].instances == 300 and seen[-1].total == 300
    assert [p.instances for p in seen] == sorted(p.instances for p in seen)
    assert sum(p.done for p in seen) == 1


def test_to_dict_is_json_ready():
    import json

    ds = toy_dataset(100, seed=5)
    d = prequential(make_learner("cc-lr"), ds, curve_points=5).to_dict()
    assert json.loads(json.dumps(d)) == d
    for key in (
        "learner",
        "dataset",
        "instances",
        "seconds",
        "instances_per_second",
        "micro_f1",
        "macro_f1",
        "subset_accuracy",
        "hamming_loss",
        "example_f1",
        "micro_precision",
        "micro_recall",
        "curve",
    ):
        assert key in d
    assert d["learner"] == "cc-lr" and d["dataset"] == "toy"


def test_bad_arguments():
    ds = toy_dataset(50)
    with pytest.raises(InputError, match="known"):
        prequential(Memorizer(), ds, known=np.ones((10, 4), dtype=bool))
    with pytest.raises(ValueError, match="form"):
        prequential(Memorizer(), ds, form="rows")
    with pytest.raises(ValueError, match="array API"):
        prequential(multioutput.PerOutputClassifier(naive_bayes.GaussianNB()), ds, form="arrays")

    class Stray(DictMemorizer):
        def predict_one(self, x, **kw):
            return {"not-a-label": True}

    with pytest.raises(ValueError, match="not-a-label"):
        prequential(Stray(), ds)


def test_learner_name():
    assert learner_name(make_learner("br-ht")) == "br-ht"
    assert learner_name(Memorizer()) == "Memorizer"
