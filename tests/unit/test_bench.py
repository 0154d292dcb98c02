"""The bench harness: same stream, one run per learner, ratios only over the same instances."""

from __future__ import annotations

import statistics

import pytest

from streamlearn.benchmarks import bench as B
from streamlearn.benchmarks.bench import METRIC_KEYS, bench
from streamlearn.multilabel import LEARNERS, make_learner
from tests.unit._learners import toy_dataset


@pytest.fixture
def memo(monkeypatch):
    """Register an array-form learner (ours land later; the harness must not care)."""
    monkeypatch.setitem(LEARNERS, "memo", "tests.unit._learners:Memorizer")
    return "memo"


def test_peer_on_a_prefix_gets_compared_only_with_our_run_on_that_prefix(memo):
    ds = toy_dataset(400, seed=1)
    rows = bench(ds, [memo, "br-nb", "cc-lr"], peer_limit=150)
    main = [r for r in rows if r["run"] == "main"]
    extra = [r for r in rows if r["run"] == "prefix"]
    assert [(r["learner"], r["instances"]) for r in main] == [
        ("memo", 400),
        ("br-nb", 150),
        ("cc-lr", 150),
    ]
    assert [(r["learner"], r["instances"]) for r in extra] == [("memo", 150)]
    full, prefix = main[0], extra[0]
    assert not any(k.startswith("speedup_vs_") for k in full)  # no peer ran 400 instances
    for peer in main[1:]:
        assert prefix[f"speedup_vs_{peer['learner']}"] == peer["seconds"] / prefix["seconds"]
        assert not any(k.startswith("speedup_vs_") for k in peer)
    for r in rows:
        assert r["dataset"] == "toy"


def test_whole_stream_for_everyone_without_peer_limit(memo):
    ds = toy_dataset(200, seed=2)
    rows = bench(ds, ["br-nb", memo], limit=120)
    assert [(r["learner"], r["instances"], r["run"]) for r in rows] == [
        ("br-nb", 120, "main"),
        ("memo", 120, "main"),
    ]
    assert rows[1]["speedup_vs_br-nb"] == rows[0]["seconds"] / rows[1]["seconds"]


def test_peer_limit_larger_than_the_stream_changes_nothing(memo):
    ds = toy_dataset(100, seed=3)
    rows = bench(ds, [memo, "br-nb"], peer_limit=10_000)
    assert [r["instances"] for r in rows] == [100, 100]


def test_make_learner_params_and_seed():
    ht = make_learner("br-ht", {"grace_period": 50}, seed=3)  # no seed parameter: not passed
    assert ht.grace_period == 50
    with pytest.raises(ValueError, match="no parameter 'bogus'"):
        make_learner("br-ht", {"bogus": 1})
    with pytest.raises(ValueError, match="unknown learner"):
        make_learner("nope")


def test_ours_and_peers_alike_one_warm_up_then_repeats_interleaved_and_their_median(
    memo, monkeypatch
):
    """Every learner (ours and the peers) is warmed up once over the most instances it is
    timed on, then every run is timed ``repeat`` times, one of each in turn; the time of a run
    is the median of its repetitions, and a ratio is between two medians."""
    calls = []
    real = B.prequential

    def spy(learner, dataset, **kw):
        calls.append((kw.get("name"), kw.get("limit")))
        return real(learner, dataset, **kw)

    monkeypatch.setattr(B, "prequential", spy)
    ds = toy_dataset(300, seed=4)
    rows = bench(ds, [memo, "br-nb"], peer_limit=120, repeat=3)
    warm = [(None, 300), (None, 120)]  # warm_up passes no name
    timed = [("memo", 300), ("br-nb", 120), ("memo", 120)]
    assert calls == warm + timed * 3
    for r in rows:
        assert r["repeat"] == 3 and r["statistic"] == "median" and len(r["seconds_runs"]) == 3
        assert r["seconds"] == statistics.median(r["seconds_runs"])
        assert r["instances_per_second"] == r["instances"] / r["seconds"]
    prefix = next(r for r in rows if r["run"] == "prefix")
    peer = next(r for r in rows if r["learner"] == "br-nb")
    assert prefix["speedup_vs_br-nb"] == peer["seconds"] / prefix["seconds"]
    one = bench(ds, [memo, "br-nb"], peer_limit=120)
    for a, b in zip(rows, one):  # the metrics do not depend on the repetitions
        assert {k: a[k] for k in METRIC_KEYS} == {k: b[k] for k in METRIC_KEYS}


def test_repeat_must_be_positive(memo):
    with pytest.raises(ValueError, match="repeat"):
        bench(toy_dataset(20), [memo], repeat=0)
