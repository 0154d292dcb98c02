"""``streamlearn evaluate`` / ``bench``: output contracts and errors.

In-process runs use a stream built from arrays (the loader is swapped); a few run on real data
and the synthetic stream.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from streamlearn.cli import main
from streamlearn.evaluate import commands
from tests.conftest import ROOT
from tests.unit._learners import toy_dataset

REQUIRED = (
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
)


@pytest.fixture
def toy(monkeypatch):
    ds = toy_dataset(300, seed=7)
    monkeypatch.setattr(
        commands, "load_data", lambda data, limit, seed: ds if limit is None else ds.head(limit)
    )
    return ds


def test_evaluate_json_is_one_object_and_progress_goes_to_stderr(toy, capsys):
    assert main(["evaluate", "--data", "toy", "--learner", "br-nb", "--json"]) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert out.count("\n") == 1
    for key in REQUIRED:
        assert key in d
    assert d["learner"] == "br-nb" and d["dataset"] == "toy" and d["instances"] == 300
    assert "curve" not in d
    assert "br-nb on toy" in err and "300/300" in err


def test_evaluate_options(toy, capsys, tmp_path):
    png = tmp_path / "curves.png"
    argv = ["evaluate", "--data", "toy", "--learner", "br-ht", "--limit", "120"]
    argv += ["--param", "grace_period=40", "--plot", str(png), "--json", "--curve", "--quiet"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert d["instances"] == 120 and len(d["curve"]) == 100 and err == ""
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["evaluate", "--data", "toy", "--learner", "cc-lr", "--quiet"]) == 0
    out, _ = capsys.readouterr()
    assert "micro_f1" in out and "instances_per_second" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--learner", "nope"], "unknown learner 'nope'"),
        (["--learner", "br-ht", "--param", "bogus=1"], "no parameter 'bogus'"),
        (["--learner", "br-ht", "--limit", "-3"], "--limit"),
    ],
)
def test_evaluate_errors_are_one_clear_line(toy, capsys, argv, message):
    assert main(["evaluate", "--data", "toy", *argv]) == 2
    _, err = capsys.readouterr()
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--data", "toy", "--learner", "br-nb"],
        ["bench-active", "--data", "toy", "--learner", "br-nb", "--strategies", "random"],
    ],
)
def test_plot_without_matplotlib_is_a_clear_error_before_any_run(toy, monkeypatch, capsys, argv):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    ran = []
    monkeypatch.setattr(commands, "load_data", lambda *a: ran.append(a))
    assert main([*argv, "--plot", "out.png", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--plot needs matplotlib" in err and "pip install 'streamlearn[plot]'" in err
    assert "Traceback" not in err and ran == []


def test_missing_data_file(capsys, tmp_path):
    missing = str(tmp_path / "nope.arff")
    assert main(["evaluate", "--data", missing, "--learner", "br-ht"]) == 2
    assert "no such data file" in capsys.readouterr().err


def test_bench_json_and_table(toy, capsys):
    """Smoke test of ``bench``: JSON shape and sanity on a small stream."""
    argv = ["bench", "--data", "toy", "--learners", "br-nb,cc-lr", "--peer-limit", "100"]
    assert main([*argv, "--json", "--quiet", "--repeat", "3"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["learner"], r["instances"]) for r in rows] == [("br-nb", 100), ("cc-lr", 100)]
    for r in rows:
        for key in (*REQUIRED, "run", "repeat", "statistic", "seconds_runs"):
            assert key in r
        assert r["repeat"] == 3 and r["statistic"] == "median"
        assert len(r["seconds_runs"]) == 3 and min(r["seconds_runs"]) > 0
        assert r["seconds"] == sorted(r["seconds_runs"])[1]
        assert 0.0 <= r["micro_f1"] <= 1.0 and 0.0 <= r["hamming_loss"] <= 1.0
    assert main([*argv, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "br-nb" in out and "cc-lr" in out and "inst/s" in out
    assert "median of 1 timed run(s) of each learner, interleaved" in out
    assert main([*argv, "--repeat", "0"]) == 2
    assert main(["bench", "--data", "toy", "--learners", "br-nb,nope"]) == 2
    assert "unknown learner 'nope'" in capsys.readouterr().err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "evaluate" in out and "bench" in out


# ------------------------------------------------------------------ real data
def run_cli(*argv: str) -> subprocess.CompletedProcess:
    """``python -m streamlearn ...`` from the checkout root (so the checkout's package runs)."""
    return subprocess.run(
        [sys.executable, "-m", "streamlearn", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bench_cli_on_yeast(datasets_dir):
    p = run_cli(
        "bench",
        "--data",
        str(datasets_dir / "yeast.arff.gz"),
        "--learners",
        "br-nb,cc-lr",
        "--limit",
        "150",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [(r["learner"], r["instances"]) for r in rows] == [("br-nb", 150), ("cc-lr", 150)]


def test_evaluate_synthetic(capsys):
    argv = ["evaluate", "--data", "synthetic", "--learner", "br-nb", "--limit", "600"]
    assert main([*argv, "--json", "--quiet", "--seed", "3"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["instances"] == 600
