"""The headline figures, pinned: real-data results must be exactly those the docs publish.

- **Learners** (docs/benchmarks.json, written by ``streamlearn bench-report``): ``ihomer`` and
  ``mlhat`` at their defaults on dense (yeast, scene), sparse (medical) and many-label streams
  (stackex: 227 labels, dense; bibtex: 159 labels, sparse), on the whole stream or on the
  prefix the report also ran them on, must give every metric the report recorded, to the last
  bit. The twins change with the kernels, so they cannot catch a change of results; this can.
- **Active learning** (docs/accept-active.json, ``streamlearn accept-active --json``): the
  retention of label-wise variable uncertainty at 20 % of the labels (its micro-F1 over the
  full-label run's) and random sampling beside it, on yeast and medical.
- **Drift detectors** (docs/bench-drift.json, ``streamlearn bench-drift --json``): the
  equivalence with River (streams with identical detections) and the quality summary (mean
  delay, false alarms, missed drifts) of every detector, on the streams the bench used.

A change meant to move a figure regenerates the JSON (and its page) with its command in the
same commit; any other change that moves one fails here.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

DOCS = ROOT / "docs"
METRICS = ("micro_f1", "macro_f1", "example_f1", "subset_accuracy", "hamming_loss")

#: (data set, run of the report): dense, sparse, many labels (dense and sparse)
LEARNER_CASES = [
    ("yeast", "main"),
    ("scene", "main"),
    ("medical", "main"),
    ("stackex", "prefix"),
    ("bibtex", "prefix"),
]
ACTIVE_STREAMS = ("yeast", "medical")


def _json(name: str):
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


@cache
def _dataset(path: str, name: str):
    from streamlearn.stream import load_arff

    return load_arff(path, name=name)


# ------------------------------------------------------------------------------ learners
def _recorded(dataset: str, learner: str, run: str) -> dict:
    report = _json("benchmarks.json")
    assert not report["meta"]["quick"], "docs/benchmarks.json must be a full run"
    entry = next(e for e in report["datasets"] if e["dataset"] == dataset)
    return next(r for r in entry["runs"] if r["learner"] == learner and r["run"] == run)


@pytest.mark.parametrize("learner", ["ihomer", "mlhat"])
@pytest.mark.parametrize("dataset,run", LEARNER_CASES)
def test_learners_give_exactly_the_published_results(datasets_dir, dataset, run, learner):
    """As ``bench-report`` runs them: defaults, whole-stream data set, its first n rows."""
    from streamlearn.evaluate.prequential import prequential
    from streamlearn.multilabel import make_learner

    rec = _recorded(dataset, learner, run)
    ds = _dataset(str(datasets_dir / f"{dataset}.arff.gz"), dataset)
    res = prequential(
        make_learner(learner), ds, limit=rec["instances"], curve_points=0, name=learner
    )
    assert res.instances == rec["instances"]
    assert {k: getattr(res, k) for k in METRICS} == {k: rec[k] for k in METRICS}


def test_the_pinned_learner_cases_cover_dense_sparse_and_many_labels():
    entries = {e["dataset"]: e for e in _json("benchmarks.json")["datasets"]}
    shapes = [(entries[d]["sparse"], entries[d]["labels"]) for d, _ in LEARNER_CASES]
    assert (False, 14) in shapes and (True, 45) in shapes
    assert any(s and lab > 100 for s, lab in shapes) and any(
        not s and lab > 100 for s, lab in shapes
    )


# ------------------------------------------------------------------------------ active learning
@pytest.mark.parametrize("stream", ACTIVE_STREAMS)
def test_active_learning_retention_is_the_published_one(datasets_dir, stream):
    from streamlearn.active.evaluate import parse_budget
    from streamlearn.benchmarks.active import accept_active
    from streamlearn.multilabel import make_learner

    rec = _json("accept-active.json")
    want = next(r for r in rec["streams"] if r["dataset"] == stream)
    got = accept_active(
        [_dataset(str(datasets_dir / f"{stream}.arff.gz"), stream)],
        lambda: make_learner(rec["learner"], None, 0),
        learner=rec["learner"],
        budget=parse_budget(rec["budget"]),
        ratio=rec["ratio"],
        need=1,
        thresholds=rec["thresholds"],
        seed=0,
    )["streams"][0]
    assert got == want


# ------------------------------------------------------------------------------ drift detectors
@pytest.mark.parametrize("detector", ["ADWIN", "PageHinkley", "DDM", "EDDM", "HDDM_A", "KSWIN"])
def test_drift_detectors_equivalence_and_quality_are_the_published_ones(detector):
    from streamlearn.benchmarks.drift import QUALITY_KEYS, quality

    rec = next(r for r in _json("bench-drift.json") if r["detector"] == detector)
    got = quality(
        detector, streams=rec["streams"], stream_length=rec["stream_length"], seed=rec["seed"]
    )
    assert got["equivalent_streams"] == got["streams"] == rec["streams"]
    assert {k: got[k] for k in QUALITY_KEYS} == {k: rec[k] for k in QUALITY_KEYS}
