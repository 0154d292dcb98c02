"""``streamlearn bench-report``: tables, averages and PASS/FAIL verdicts derived from the numbers."""

from __future__ import annotations

import json
import math
import re

import pytest

from streamlearn.benchmarks import report as R
from streamlearn.cli import main
from tests.conftest import ROOT

METRIC_KEYS = [k for k, _, _ in R.METRICS]


# --------------------------------------------------------------------- end to end, --quick
@pytest.fixture(scope="module")
def quick(datasets_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    md, js = out / "bench.md", out / "bench.json"
    argv = ["bench-report", "--dir", str(datasets_dir), "--datasets", "flags,emotions"]
    argv += ["--ablation", "emotions", "--quick", "--quiet", "--out", str(md), "--json", str(js)]
    assert main(argv) == 0
    return md.read_text(encoding="utf-8"), json.loads(js.read_text(encoding="utf-8"))


def test_quick_runs_every_learner_and_our_learners_again_on_the_peers_prefix(quick):
    _, rep = quick
    assert [e["dataset"] for e in rep["datasets"]] == ["flags", "emotions"]
    for e in rep["datasets"]:
        n = min(e["instances"], R.QUICK_INSTANCES)
        assert e["instances"] == n and e["peer_instances"] == R.QUICK_PEER_INSTANCES
        got = sorted((r["learner"], r["run"], r["instances"]) for r in e["runs"])
        want = [(x, "main", n) for x in R.OURS] + [(x, "main", 50) for x in R.PEERS]
        want += [(x, "prefix", 50) for x in R.OURS]
        assert got == sorted(want)
        for r in e["runs"]:
            if r["run"] == "prefix":  # ratios only between runs over the same instances
                for peer in R.PEERS:
                    p = next(q for q in e["runs"] if q["learner"] == peer)
                    assert r[f"speedup_vs_{peer}"] == pytest.approx(p["seconds"] / r["seconds"])
            else:
                assert not any(k.startswith("speedup_vs_") for k in r)
    assert rep["meta"]["quick"] and rep["meta"]["machine"]["nproc"] >= 1
    assert len(rep["meta"]["loadavg_start"]) == 3 and len(rep["meta"]["loadavg_end"]) == 3


def test_quick_averages_are_the_means_of_the_whole_stream_runs(quick):
    _, rep = quick
    for name in R.OURS:
        mains = [
            next(r for r in e["runs"] if r["learner"] == name and r["run"] == "main")
            for e in rep["datasets"]
        ]
        for key in METRIC_KEYS:
            mean = math.fsum(r[key] for r in mains) / len(mains)
            assert rep["averages"]["learners"][name][key] == pytest.approx(mean, abs=1e-15)
    # the peers ran a prefix only: no whole-stream average for them
    assert not set(R.PEERS) & set(rep["averages"]["learners"])
    pub = [R.published()[d]["micro_f1"][0] for d in ("flags", "emotions")]
    assert rep["averages"]["published"]["micro_f1"]["mlhat"] == pytest.approx(sum(pub) / 2)


def test_quick_markdown_has_the_tables_the_averages_and_verdicts_from_the_numbers(quick):
    md, rep = quick
    assert "QUICK SMOKE RUN" in md
    for heading in (
        "## How this was produced",
        "## Acceptance bars",
        "## Averages over the 2 data set(s) (whole-stream runs only)",
        "## Speed over the same instances",
        "### flags: 194 instances, 19 features, 7 labels, dense",
        "### emotions: 200 instances, 72 features, 6 labels, dense",
        "## Ablation of iHOMER's label partition",
    ):
        assert heading in md
    assert "streamlearn bench-report --dir " in md and "--quick" in md
    avg = rep["averages"]["learners"]
    for key, title, _ in R.METRICS:
        row = f"| {title} | {avg['ihomer'][key]:.4f} | {avg['mlhat'][key]:.4f} |"
        assert row in md
    # every average bar's verdict follows from the measured average
    ih, ml = avg["ihomer"], avg["mlhat"]
    expected = {
        "mlhat: average micro-F1 ≥ 0.49": ml["micro_f1"] >= 0.49,
        "ihomer: average micro-F1 ≥ 0.52": ih["micro_f1"] >= 0.52,
        "ihomer: average subset acc. ≥ 0.3": ih["subset_accuracy"] >= 0.30,
        "ihomer: average macro-F1 ≥ 0.4": ih["macro_f1"] >= 0.40,
        "ihomer: average Hamming loss ≤ 0.117": ih["hamming_loss"] <= 0.117,
        "ihomer beats mlhat on average micro-F1": ih["micro_f1"] > ml["micro_f1"],
        "ihomer beats mlhat on average subset acc.": ih["subset_accuracy"] > ml["subset_accuracy"],
    }
    for bar, ok in expected.items():
        verdict = "PASS" if ok else "FAIL"
        line = next(x for x in md.splitlines() if f"| {bar} |" in x)
        assert f"**{verdict}**" in line, line
        assert "NOT the acceptance run" in line
    # the speed bars need yeast, scene, medical and bibtex: not measurable here
    for line in md.splitlines():
        if "× the instances/s of br-ht" in line or "10,000 instances/s" in line:
            assert "**N/A**" in line
    # per-data-set rows: each learner's numbers as measured, and the published rows
    e = rep["datasets"][1]
    r = next(r for r in e["runs"] if r["learner"] == "mlhat" and r["run"] == "main")
    cells = " | ".join(f"{r[k]:.4f}" for k in METRIC_KEYS)
    assert f"| `mlhat` | 200 (whole) | {cells} |" in md
    assert "| best published | whole | 0.6285 (NB) | 0.6243 (NB) |" in md
    # ablation: the 5 variants, random with as many clusters as the default ended with
    runs = rep["ablation"]["runs"]
    assert [x["variant"] for x in runs] == [v[0] for v in R.ablation_variants(1)]
    assert f"n_random_clusters={runs[0]['clusters_at_end']}" in runs[3]["description"]
    for x in runs:
        assert re.search(rf"\| emotions \| `{x['variant']}` \| {x['micro_f1']:.4f} \|", md)


def test_markdown_is_a_pure_function_of_the_json(quick, tmp_path):
    md, rep = quick
    assert R.render_markdown(rep) == md
    js, out = tmp_path / "r.json", tmp_path / "r.md"
    js.write_text(json.dumps(rep), encoding="utf-8")
    assert main(["bench-report", "--from-json", str(js), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == md


def test_missing_data_set_is_a_clear_error(datasets_dir, tmp_path, capsys):
    argv = ["bench-report", "--dir", str(datasets_dir), "--datasets", "flags,nosuch"]
    assert main([*argv, "--quick", "--quiet", "--out", str(tmp_path / "x.md")]) == 2
    assert "no data file nosuch.arff.gz" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


# --------------------------------------------------------------------- verdict logic, synthetic
def _run(learner, n, run="main", **kw):
    d = {"learner": learner, "run": run, "instances": n, "seconds": 1.0}
    d.update({k: 0.5 for k in METRIC_KEYS})
    d["instances_per_second"] = n / d["seconds"]
    d.update(kw)
    return d


def _report(ihomer=None, mlhat=None, speed=None, wins=None, yeast_ips=20_000.0, drop=()):
    """All 14 data sets; our metrics set per learner; br-ht on a 100-instance prefix."""
    entries = []
    for name in R.ACCEPTANCE_DATASETS:
        if name in drop:
            continue
        n = 1000
        runs = [
            _run("ihomer", n, **(ihomer or {})),
            _run("mlhat", n, **(mlhat or {})),
            _run("br-ht", 100, micro_f1=0.4),
            _run("cc-lr", 100),
        ]
        if name == "yeast":
            runs[0]["instances_per_second"] = yeast_ips
        for learner in R.OURS:
            extra = {}
            if name in R.SPEED_DATASETS:
                extra["speedup_vs_br-ht"] = (speed or {}).get((learner, name), 100.0)
                extra["micro_f1"] = (wins or {}).get((learner, name), 0.45)
            runs.append(_run(learner, 100, run="prefix", **extra))
        entries.append({"dataset": name, "instances": n, "peer_instances": 100, "runs": runs})
    rep = {"meta": {"quick": False}, "datasets": entries}
    rep["averages"] = R.averages(rep)
    return {b["bar"]: b for b in R.acceptance(rep)}


def _verdicts(bars):
    return {k: b["verdict"] for k, b in bars.items()}


def test_average_bars_at_and_just_past_the_thresholds():
    at = _report(
        ihomer={"micro_f1": 0.52, "subset_accuracy": 0.30, "macro_f1": 0.40, "hamming_loss": 0.117},
        mlhat={"micro_f1": 0.49, "subset_accuracy": 0.29},
    )
    v = _verdicts(at)
    assert v["mlhat: average micro-F1 ≥ 0.49"] == "PASS"
    for bar in (
        "ihomer: average micro-F1 ≥ 0.52",
        "ihomer: average subset acc. ≥ 0.3",
        "ihomer: average macro-F1 ≥ 0.4",
        "ihomer: average Hamming loss ≤ 0.117",
        "ihomer beats mlhat on average micro-F1",
        "ihomer beats mlhat on average subset acc.",
    ):
        assert v[bar] == "PASS", bar
    assert "14 data set(s)" in at["ihomer: average micro-F1 ≥ 0.52"]["scope"]
    past = _verdicts(
        _report(
            ihomer={
                "micro_f1": 0.5199,
                "subset_accuracy": 0.2999,
                "macro_f1": 0.3999,
                "hamming_loss": 0.1171,
            },
            mlhat={"micro_f1": 0.5199, "subset_accuracy": 0.3},
        )
    )
    for bar in (
        "ihomer: average micro-F1 ≥ 0.52",
        "ihomer: average subset acc. ≥ 0.3",
        "ihomer: average macro-F1 ≥ 0.4",
        "ihomer: average Hamming loss ≤ 0.117",
        "ihomer beats mlhat on average micro-F1",  # a tie does not beat
        "ihomer beats mlhat on average subset acc.",
    ):
        assert past[bar] == "FAIL", bar
    assert past["mlhat: average micro-F1 ≥ 0.49"] == "PASS"


def test_speed_bars_need_every_one_of_the_four_data_sets_at_50x():
    speed_bar = "mlhat ≥ 50× the instances/s of br-ht on yeast, scene, medical, bibtex"
    ih_bar = "ihomer ≥ 50× the instances/s of br-ht on yeast, scene, medical, bibtex"
    ok = _report(speed={("mlhat", d): 50.0 for d in R.SPEED_DATASETS})
    assert ok[speed_bar]["verdict"] == "PASS" and ok[ih_bar]["verdict"] == "PASS"
    assert ok[speed_bar]["values"] == {d: 50.0 for d in R.SPEED_DATASETS}
    slow = _report(speed={("ihomer", "bibtex"): 49.9})
    assert slow[ih_bar]["verdict"] == "FAIL" and slow[speed_bar]["verdict"] == "PASS"
    assert "bibtex 49.9×" in slow[ih_bar]["measured"]
    missing = _report(drop=("scene",))
    assert missing[speed_bar]["verdict"] == "N/A" and "scene" in missing[speed_bar]["scope"]


def test_mlhat_must_match_br_ht_micro_f1_on_three_of_the_four():
    bar = "mlhat micro-F1 ≥ br-ht's on at least 3 of yeast, scene, medical, bibtex"
    three = _report(wins={("mlhat", "yeast"): 0.39})  # br-ht has 0.4 everywhere
    assert three[bar]["verdict"] == "PASS" and three[bar]["measured"].startswith("3 of 4")
    equal = _report(wins={("mlhat", "yeast"): 0.39, ("mlhat", "scene"): 0.4})  # ties count
    assert equal[bar]["verdict"] == "PASS"
    two = _report(wins={("mlhat", "yeast"): 0.39, ("mlhat", "scene"): 0.3999})
    assert two[bar]["verdict"] == "FAIL" and two[bar]["measured"].startswith("2 of 4")


def test_yeast_throughput_bar():
    bar = "ihomer on yeast, whole stream: ≥ 10,000 instances/s"
    assert _report(yeast_ips=10_000.0)[bar]["verdict"] == "PASS"
    assert _report(yeast_ips=9_999.9)[bar]["verdict"] == "FAIL"
    assert _report(drop=("yeast",))[bar]["verdict"] == "N/A"


def test_peer_rule_is_a_function_of_the_shape_only():
    for n in (1, 100, 5000, 10**6):
        for labels in (1, 6, 159, 374):
            p = R.peer_instances(n, labels)
            assert p == min(n, math.ceil(R.PEER_PAIRS / labels))
            assert R.peer_instances(n, labels, peer_limit=700) == min(n, 700)
            assert R.peer_instances(n, labels, pairs=10) == min(n, math.ceil(10 / labels))


def test_the_published_results_are_package_data_for_the_14_data_sets():
    pub = R.published()
    assert tuple(pub) == R.ACCEPTANCE_DATASETS
    assert pub["emotions"]["micro_f1"] == (0.4446, "NB", 0.6285)
    assert "hamming_loss" not in pub["stackex"]  # no row in the study's table
    assert sum(len(v) for v in pub.values()) == 55


def test_docs_benchmarks_md_is_the_rendering_of_docs_benchmarks_json(tmp_path, capsys):
    """The page is generated: re-rendering its JSON (verdicts computed again) gives it back."""
    out = tmp_path / "b.md"
    js = ROOT / "docs" / "benchmarks.json"
    assert main(["bench-report", "--from-json", str(js), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == (ROOT / "docs" / "benchmarks.md").read_text(
        encoding="utf-8"
    )
    assert "FAIL" not in capsys.readouterr().out
