"""Acceptance (issue 9): ``streamlearn evaluate --data yeast --learner br-ht --json`` reports the
metrics River's own ``metrics.multioutput`` gives on the same predictions.

Runs on a prefix of yeast to stay fast; the CLI itself is run once through a subprocess.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from river import metrics, multioutput, tree

from streamlearn.evaluate.prequential import prequential
from streamlearn.multilabel import make_learner
from tests.unit.test_evaluate_cli import run_cli

pytestmark = pytest.mark.slow

PREFIX = 300
TOL = 1e-12


def river_metrics(dataset, predictions: np.ndarray) -> dict[str, float]:
    """River's own multi-output metrics over (truth, our predictions), instance by instance."""
    labels = dataset.schema.labels
    ms = {
        "micro_f1": metrics.multioutput.MicroAverage(metrics.F1()),
        "macro_f1": metrics.multioutput.MacroAverage(metrics.F1()),
        "example_f1": metrics.multioutput.SampleAverage(metrics.F1()),
        "subset_accuracy": metrics.multioutput.ExactMatch(),
        "hamming_score": metrics.multioutput.MicroAverage(metrics.Accuracy()),
        "micro_precision": metrics.multioutput.MicroAverage(metrics.Precision()),
        "micro_recall": metrics.multioutput.MicroAverage(metrics.Recall()),
    }
    for (_, y), row in zip(dataset.iter_dicts(), predictions):
        y_pred = {lab: bool(v) for lab, v in zip(labels, row)}
        for m in ms.values():
            m.update(y, y_pred)
    out = {k: m.get() for k, m in ms.items()}
    out["hamming_loss"] = 1.0 - out.pop("hamming_score")
    return out


@pytest.fixture(scope="module")
def yeast(datasets_dir):
    from streamlearn.stream.arff import load_arff

    return load_arff(datasets_dir / "yeast.arff.gz", limit=PREFIX)


@pytest.fixture(scope="module")
def br_ht_run(yeast):
    return prequential(make_learner("br-ht"), yeast, keep_predictions=True)


def test_our_metrics_equal_rivers_on_the_same_predictions(yeast, br_ht_run):
    r = br_ht_run
    assert r.instances == len(yeast) == PREFIX
    ref = river_metrics(yeast, r.predictions)
    for name, value in ref.items():
        assert abs(getattr(r, name) - value) <= TOL, (name, getattr(r, name), value)
    assert r.micro_f1 > 0.3  # it did learn something


def test_br_ht_predictions_are_rivers_binary_relevance_hoeffding_trees(yeast, br_ht_run):
    """The peer is River's model: a River user's predict_one/learn_one loop predicts the same."""
    model = multioutput.PerOutputClassifier(tree.HoeffdingTreeClassifier())
    labels = yeast.schema.labels
    preds = np.zeros((len(yeast), len(labels)), dtype=bool)
    for i, (x, y) in enumerate(yeast.iter_dicts()):
        p = model.predict_one(x)
        preds[i] = [bool(p.get(lab, False)) for lab in labels]
        model.learn_one(x, y)
    assert np.array_equal(preds, br_ht_run.predictions)


def test_cli_json_reports_the_same_metrics(datasets_dir, br_ht_run):
    p = run_cli(
        "evaluate",
        "--data",
        str(datasets_dir / "yeast.arff.gz"),
        "--learner",
        "br-ht",
        "--limit",
        str(PREFIX),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["learner"] == "br-ht" and d["instances"] == PREFIX
    assert d["seconds"] > 0 and d["instances_per_second"] > 0
    for name in ("micro_f1", "macro_f1", "example_f1", "subset_accuracy", "hamming_loss"):
        assert d[name] == getattr(br_ht_run, name), name
    assert "br-ht on" in p.stderr  # the progress bar went to stderr
