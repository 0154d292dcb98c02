"""Active prequential evaluation, ``evaluate --active`` and ``bench-active``; label-wise
variable uncertainty against random sampling on a synthetic stream."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamlearn import multilabel
from streamlearn.active import LabelQueryPolicy
from streamlearn.active.evaluate import active_prequential, parse_budget
from streamlearn.benchmarks.active import bench_active
from streamlearn.cli import main
from streamlearn.evaluate import commands
from streamlearn.evaluate.prequential import prequential
from streamlearn.metrics import MultiLabelMetrics
from streamlearn.stream import make_stream
from tests.unit._active_learners import PerLabelLogistic
from tests.unit._learners import Memorizer, expected_memorizer_predictions, toy_dataset

BENCH_KEYS = (
    "dataset",
    "learner",
    "strategy",
    "label_wise",
    "budget",
    "labels_asked",
    "labels_available",
    "micro_f1",
    "full_label_micro_f1",
)


def metrics(Y: np.ndarray, P: np.ndarray) -> dict:
    m = MultiLabelMetrics(Y.shape[1])
    m.update_many(Y, P)
    return m.get()


def test_every_instance_is_scored_and_only_asked_labels_are_learned():
    """Random ignores the predictions, so its masks can be replayed: the Memorizer must then
    predict exactly what it would after learning those masks."""
    ds = toy_dataset(600, seed=2)
    r = active_prequential(Memorizer(), ds, LabelQueryPolicy("random", budget=0.3, seed=4))
    masks = LabelQueryPolicy("random", budget=0.3, seed=4).decide_many(np.zeros((600, 4)), 1)
    want = metrics(ds.Y, expected_memorizer_predictions(ds.Y, masks).astype(bool))
    assert {k: getattr(r, k) for k in want} == want
    assert r.instances == 600 and r.labels_available == 2400
    assert r.labels_asked == masks.sum() <= 0.3 * 2400
    assert r.budget_used == r.labels_asked / 2400


def test_full_label_run_is_the_prequential_run():
    ds = toy_dataset(400, seed=1)
    a = active_prequential(PerLabelLogistic(), ds, None, curve_points=4)
    b = prequential(PerLabelLogistic(), ds, curve_points=4, warmup=False)
    for key in ("micro_f1", "macro_f1", "example_f1", "subset_accuracy", "hamming_loss"):
        assert getattr(a, key) == getattr(b, key)
    assert a.labels_asked == a.labels_available == 1600 and a.strategy == "full"
    assert [c["instances"] for c in a.curve] == [100, 200, 300, 400]
    assert a.curve[-1]["labels_asked"] == 1600


def test_policy_threshold_must_match_the_learner():
    learner = PerLabelLogistic()
    learner.threshold = 0.3
    with pytest.raises(ValueError, match="decision_threshold"):
        active_prequential(learner, toy_dataset(10), LabelQueryPolicy("vu"))


def test_parse_budget():
    assert parse_budget("20%") == 0.2 and parse_budget("0.05") == 0.05 and parse_budget(1) == 1.0
    for bad in ("120%", "-0.1", "lots"):
        with pytest.raises(ValueError, match="budget"):
            parse_budget(bad)


def test_label_wise_variable_uncertainty_beats_random_on_a_synthetic_stream():
    """Many groups of co-occurring labels, few true per instance: at 20 % of the labels, asking
    the uncertain labels learns more than asking random ones (every seed)."""
    for seed in range(3):
        ds = make_stream(1500, n_labels=20, n_groups=10, noise=0.01, seed=seed).dataset
        f = {}
        for name in ("random", "variable-uncertainty"):
            policy = LabelQueryPolicy(name, budget=0.2, label_wise=True, seed=0)
            r = active_prequential(PerLabelLogistic(), ds, policy)
            assert r.budget_used <= 0.2
            f[name] = r.micro_f1
        assert f["variable-uncertainty"] > f["random"] + 0.02, (seed, f)


# ---------------------------------------------------------------------------- CLI
@pytest.fixture
def toy(monkeypatch):
    ds = toy_dataset(300, seed=7)
    monkeypatch.setattr(
        commands, "load_data", lambda data, limit, seed: ds if limit is None else ds.head(limit)
    )
    monkeypatch.setitem(
        multilabel.LEARNERS, "test-lr", "tests.unit._active_learners:PerLabelLogistic"
    )
    return ds


def test_evaluate_active_json(toy, capsys):
    argv = ["evaluate", "--data", "toy", "--learner", "test-lr", "--json", "--quiet"]
    assert main([*argv, "--active", "vu", "--budget", "20%", "--label-wise"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["instances"] == 300 and d["labels_available"] == 1200
    assert 0 < d["labels_asked"] <= 240 and d["budget_used"] == d["labels_asked"] / 1200
    assert d["strategy"] == "variable-uncertainty" and d["label_wise"] is True
    assert main([*argv, "--active", "random", "--budget", "0.5", "--seed", "1"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["label_wise"] is False and d["labels_asked"] % 4 == 0
    assert main(argv) == 0  # without --active: the plain prequential output
    assert "labels_asked" not in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--active", "nope"], "unknown active-learning strategy 'nope'"),
        (["--active", "vu", "--budget", "150%"], "budget must be in [0, 1]"),
        (["--budget", "0.2"], "--budget and --label-wise need --active"),
    ],
)
def test_evaluate_active_errors(toy, capsys, extra, message):
    assert main(["evaluate", "--data", "toy", "--learner", "test-lr", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bench_active_json_table_and_plot(toy, capsys, tmp_path):
    png = tmp_path / "active.png"
    argv = ["bench-active", "--data", "toy", "--learner", "test-lr", "--quiet", "--limit", "120"]
    assert main([*argv, "--json", "--plot", str(png)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 + 5 * 5 * 2
    assert rows[0]["strategy"] == "full" and rows[0]["labels_asked"] == 480
    for r in rows:
        for key in BENCH_KEYS:
            assert key in r
        assert r["dataset"] == "toy" and r["learner"] == "test-lr"
        assert r["full_label_micro_f1"] == rows[0]["micro_f1"]
        assert r["labels_asked"] <= r["budget"] * r["labels_available"]
    combos = {(r["strategy"], r["label_wise"], r["budget"]) for r in rows[1:]}
    assert len(combos) == 50
    assert {r["budget"] for r in rows[1:]} == {0.05, 0.1, 0.2, 0.5, 1.0}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*argv, "--strategies", "vu,random", "--budgets", "10%,0.3", "--modes",
                 "label-wise"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "variable-uncertainty" in out and "random" in out and "30%" in out
    assert len(out.strip().splitlines()) == 3 + 1 + 4 + 1
    assert "median of 1 timed run(s) of every configuration, interleaved" in out
    # smoke: every configuration timed alike, --repeat times, the median kept
    assert main([*argv, "--json", "--strategies", "random", "--budgets", "20%", "--repeat",
                 "3"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3
    for r in rows:
        assert r["repeat"] == 3 and r["statistic"] == "median" and len(r["seconds_runs"]) == 3
        assert r["seconds"] == sorted(r["seconds_runs"])[1] and min(r["seconds_runs"]) > 0
        assert 0.0 <= r["micro_f1"] <= 1.0 and 0.0 <= r["budget_used"] <= r["budget"]


def test_bench_active_errors(toy, capsys):
    assert main(["bench-active", "--data", "toy", "--learner", "nope"]) == 2
    assert "unknown learner 'nope'" in capsys.readouterr().err
    assert main(["bench-active", "--data", "toy", "--learner", "test-lr", "--strategies", "x"]) == 2
    assert "unknown active-learning strategy 'x'" in capsys.readouterr().err


def test_bench_active_function_ratio():
    ds = toy_dataset(200, seed=3)
    rows = bench_active(
        ds, PerLabelLogistic, learner="lr", strategies=["vu"], budgets=[0.2], modes=(True,)
    )
    assert [r["strategy"] for r in rows] == ["full", "variable-uncertainty"]
    assert rows[1]["ratio_to_full"] == rows[1]["micro_f1"] / rows[0]["micro_f1"]


def test_accept_active_verdict_follows_the_rules(toy, capsys, tmp_path):
    for stem in ("s1", "s2"):
        (tmp_path / f"{stem}.arff").write_text("")  # the loader is swapped for the toy stream
    argv = ["accept-active", "--dir", str(tmp_path), "--streams", "s1,s2", "--learner", "test-lr"]
    rc = main([*argv, "--need", "2", "--json", "--quiet", "--limit", "150"])
    d = json.loads(capsys.readouterr().out)
    assert [r["dataset"] for r in d["streams"]] == ["toy", "toy"]
    for r in d["streams"]:
        assert r["reaches_ratio"] == (r["vu_micro_f1"] >= 0.9 * r["full_label_micro_f1"])
        assert r["beats_random"] == (r["vu_micro_f1"] > r["random_micro_f1"])
        assert r["vu_budget_used"] <= 0.2 and r["random_budget_used"] <= 0.2
    assert d["passed"] == (d["reaches_ratio"] >= 2 and d["beats_random"] >= 2)
    assert rc == (0 if d["passed"] else 1)
    assert main([*argv, "--need", "0", "--quiet", "--limit", "150"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["accept-active", "--dir", str(tmp_path), "--streams", "nope"]) == 2
    assert "no nope.arff" in capsys.readouterr().err
