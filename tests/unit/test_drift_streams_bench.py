"""Synthetic drift streams, detection scoring and the ``bench-drift`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamlearn.benchmarks.commands import DETECTORS as COMMAND_DETECTORS
from streamlearn.benchmarks.drift import DETECTORS, QUALITY_KEYS
from streamlearn.cli import main
from streamlearn.drift.streams import (
    DriftStream,
    bernoulli_stream,
    drift_suite,
    gaussian_stream,
    score_detections,
)


def test_streams_are_reproducible_and_follow_their_concepts() -> None:
    a = bernoulli_stream(20_000, [0.1, 0.6, 0.2], drifts=[8000, 14_000], seed=4)
    b = bernoulli_stream(20_000, [0.1, 0.6, 0.2], drifts=[8000, 14_000], seed=4)
    np.testing.assert_array_equal(a.values, b.values)
    assert set(np.unique(a.values)) <= {0.0, 1.0}
    for lo, hi, p in ((0, 8000, 0.1), (8000, 14_000, 0.6), (14_000, 20_000, 0.2)):
        assert abs(a.values[lo:hi].mean() - p) < 0.03
    g = gaussian_stream(
        30_000, [0.0, 5.0], [1.0, 2.0], drifts=[15_000], kind="gradual", width=2000, seed=1
    )
    assert abs(g.values[:13_000].mean()) < 0.05 and abs(g.values[17_000:].mean() - 5) < 0.1
    assert abs(g.values[17_000:].std() - 2.0) < 0.1
    # gradual: the transition mixes both concepts around the drift point
    mid = g.values[14_500:15_500]
    assert 1.0 < mid.mean() < 4.0
    none = gaussian_stream(100, [0.0], drifts=[50], kind="none")
    assert none.drifts.tolist() == [] and none.kind == "none"


def test_stream_argument_errors() -> None:
    with pytest.raises(ValueError, match="increasing"):
        bernoulli_stream(100, [0.1, 0.2], drifts=[150])
    with pytest.raises(ValueError, match="levels"):
        bernoulli_stream(100, [0.1], drifts=[50])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_stream(100, [0.1, 1.5], drifts=[50])
    with pytest.raises(ValueError, match="kind"):
        gaussian_stream(100, [0.0], kind="sudden")


def test_suite_mixes_families_and_kinds() -> None:
    suite = drift_suite(12, n=2000, seed=3)
    assert {s.family for s in suite} == {"bernoulli", "gaussian"}
    assert {s.kind for s in suite} == {"abrupt", "gradual", "none"}
    for s in suite:
        assert isinstance(s, DriftStream) and len(s) == 2000
        assert (len(s.drifts) == 0) == (s.kind == "none")
        assert np.all(np.diff(s.drifts) > 0)
    again = drift_suite(12, n=2000, seed=3)
    assert all(np.array_equal(x.values, y.values) for x, y in zip(suite, again))
    assert not np.array_equal(suite[0].values, drift_suite(1, n=2000, seed=4)[0].values)


def test_score_detections() -> None:
    s = bernoulli_stream(3000, [0.1, 0.5, 0.1], drifts=[1000, 2000], seed=0)
    assert score_detections([], s) == {"delays": [], "false_alarms": 0, "missed": 2, "detected": 0}
    got = score_detections([500, 1040, 1050, 2600], s, max_delay=300)
    # 500: before the drift; 1050: second detection of the same drift; 2600: too late
    assert got == {"delays": [40], "false_alarms": 3, "missed": 1, "detected": 1}
    g = gaussian_stream(3000, [0.0, 3.0], drifts=[1500], kind="gradual", width=400, seed=0)
    # a gradual drift may be caught before its centre (from the start of the transition)
    assert score_detections([1350], g)["delays"] == [-150]
    assert score_detections([1250], g)["false_alarms"] == 1


def test_bench_drift_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Shape and sanity on small input: River and ours timed alike (3 interleaved runs each,
    their median), every speed figure backed by its runs, no figure that was not measured."""
    argv = ["bench-drift", "--json", "--n", "3000", "--streams", "3", "--stream-length", "1500"]
    argv += ["--kswin-n", "300", "--kswin-stream-length", "300", "--repeat", "3"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["detector"] for r in rows] == list(DETECTORS)
    contenders = ("river", "single", "array", "river_check", "single_check")
    for r in rows:
        assert set(r) == {
            "detector", *QUALITY_KEYS, "stream_length", "families", "seed", "speed_n", "check_n",
            "speed_stream", "repeat", "statistic", "array_speedup_vs_river",
            "single_speedup_vs_river", "single_check_speedup_vs_river",
            *[f"{c}_ns_per_update" for c in ("river", "single", "array", "river_check",
                                            "single_check")],
            *[f"{c}_ns_runs" for c in contenders],
        } | ({"params"} if r["detector"] == "KSWIN" else set()), r["detector"]  # fmt: skip
        assert r["equivalent_streams"] == r["streams"] == 3
        assert r["repeat"] == 3 and r["statistic"].startswith("median of 3 interleaved runs")
        for c in contenders:
            runs = r[f"{c}_ns_runs"]
            assert len(runs) == 3 and all(v > 0 for v in runs), (r["detector"], c)
            assert r[f"{c}_ns_per_update"] == pytest.approx(sorted(runs)[1], abs=0.06)  # rounding
        med = {c: sorted(r[f"{c}_ns_runs"])[1] for c in contenders}
        assert r["array_speedup_vs_river"] == pytest.approx(med["river"] / med["array"], abs=0.06)
        assert r["mean_delay"] is None or r["mean_delay"] >= -r["stream_length"]
    assert rows[-1]["speed_n"] == 300 and rows[-1]["stream_length"] == 300
    assert rows[0]["speed_n"] == 3000 and rows[0]["check_n"] == 3000


def test_bench_drift_table_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "bench-drift",
                "--n",
                "500",
                "--streams",
                "1",
                "--stream-length",
                "600",
                "--detectors",
                "DDM",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("| detector |") and "| DDM |" in out
    assert "Speed: median of 3 interleaved runs (thread CPU time), River and ours alike." in out
    assert main(["bench-drift", "--n", "0"]) == 2


def test_the_command_offers_the_detectors_of_the_bench() -> None:
    assert COMMAND_DETECTORS == DETECTORS
