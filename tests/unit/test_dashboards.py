"""The Grafana dashboards (dashboards/*.json): schema, structure, and what they must show.

Their queries are run against a real Prometheus scraping the real service in
tests/e2e/test_dashboards_live.py; here everything that needs no server.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pytest

from tests.support.dashboards import (
    exported_metric_names,
    iter_panels,
    load_dashboards,
    load_schema,
    queries,
    static_problems,
    substitute,
    used_variables,
)

DASHBOARDS = load_dashboards()
NAMES = exported_metric_names()


def test_there_are_the_four_dashboards() -> None:
    assert set(DASHBOARDS) == {
        "streamlearn-overview.json",
        "streamlearn-quality.json",
        "streamlearn-drift.json",
        "streamlearn-active.json",
    }
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids)


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_validates_and_passes_the_static_checks(name: str) -> None:
    dashboard = DASHBOARDS[name]
    jsonschema.validate(dashboard, load_schema(), cls=jsonschema.Draft202012Validator)
    assert static_problems(dashboard, NAMES) == []


def _first_panel(d: dict[str, Any]) -> dict[str, Any]:
    return d["panels"][0]


# (what is broken, how) -> the schema refuses the dashboard
SCHEMA_BREAKAGES = {
    "old schemaVersion": lambda d: d.update(schemaVersion=36),
    "unknown top-level key": lambda d: d.update(rows=[]),
    "uid too long": lambda d: d.update(uid="x" * 41),
    "panel without gridPos": lambda d: _first_panel(d).pop("gridPos"),
    "panel wider than the grid": lambda d: _first_panel(d)["gridPos"].update(w=25),
    "legacy graph panel": lambda d: _first_panel(d).update(type="graph"),
    "misspelt panel key": lambda d: _first_panel(d).update(gridpos={}),
    "target without expr": lambda d: _first_panel(d)["targets"][0].pop("expr"),
    "empty expr": lambda d: _first_panel(d)["targets"][0].update(expr=""),
    "legacy string data source": lambda d: _first_panel(d).update(datasource="Prometheus"),
    "non-prometheus target": lambda d: _first_panel(d)["targets"][0].update(
        datasource={"type": "loki", "uid": "${datasource}"}
    ),
    "bad refId": lambda d: _first_panel(d)["targets"][0].update(refId="a1"),
    "unknown variable type": lambda d: d["templating"]["list"][0].update(type="magic"),
    "query variable without data source": lambda d: d["templating"]["list"][1].pop("datasource"),
    "prometheus annotation without expr": lambda d: d["annotations"]["list"][1].pop("expr"),
    "bad annotation step": lambda d: d["annotations"]["list"][1].update(step="one minute"),
    "threshold without color": lambda d: _first_panel(d)["fieldConfig"]["defaults"]["thresholds"][
        "steps"
    ][0].pop("color"),
}


@pytest.mark.parametrize("breakage", sorted(SCHEMA_BREAKAGES))
def test_the_schema_refuses_a_broken_dashboard(breakage: str) -> None:
    d = copy.deepcopy(DASHBOARDS["streamlearn-quality.json"])  # has both kinds of annotations
    SCHEMA_BREAKAGES[breakage](d)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, load_schema(), cls=jsonschema.Draft202012Validator)
    assert any(p.startswith("schema: ") for p in static_problems(d, NAMES))


def test_a_wrong_metric_name_fails_the_static_check() -> None:
    d = copy.deepcopy(DASHBOARDS["streamlearn-overview.json"])
    panel = next(p for p in d["panels"] if p["title"] == "Snapshot age")
    panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace(
        "streamlearn_snapshot_age_seconds", "streamlearn_snapshot_age"
    )
    problems = static_problems(d, NAMES)
    assert problems == [
        "panel 'Snapshot age' target A: metric streamlearn_snapshot_age is not exported by the "
        "service"
    ]


def test_a_counter_without_its_total_suffix_fails_the_static_check() -> None:
    d = copy.deepcopy(DASHBOARDS["streamlearn-drift.json"])
    for ann in d["annotations"]["list"]:
        if ann["name"] == "Restructure":
            ann["expr"] = ann["expr"].replace("restructures_total", "restructures")
    assert static_problems(d, NAMES) == [
        "annotation 'Restructure': metric streamlearn_restructures is not exported by the service"
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["panels"][1].update(gridPos=dict(d["panels"][0]["gridPos"])),
            "overlap",
        ),
        (lambda d: d["panels"][1].update(id=d["panels"][0]["id"]), "used more than once"),
        (
            lambda d: d["panels"][0].update(datasource={"type": "prometheus", "uid": "P1809F"}),
            "is not the ${datasource} variable",
        ),
        (
            lambda d: d["panels"][0]["targets"][0].update(
                expr=d["panels"][0]["targets"][0]["expr"].replace("$shard", "$shards")
            ),
            "undefined variable $shards",
        ),
        (
            lambda d: d["panels"][0]["targets"].append(dict(d["panels"][0]["targets"][0])),
            "repeats a refId",
        ),
        (
            lambda d: d["panels"][0]["gridPos"].update(x=20, w=12),
            "wider than the 24-column grid",
        ),
        (lambda d: d["panels"][0]["targets"][0].update(expr="vector(1)"), "no streamlearn_"),
    ],
)
def test_the_structural_checks_catch_mistakes(mutate: Any, expected: str) -> None:
    d = copy.deepcopy(DASHBOARDS["streamlearn-active.json"])
    mutate(d)
    problems = static_problems(d, NAMES)
    assert any(expected in p for p in problems), problems


def test_substitution_of_template_variables() -> None:
    expr = 'rate(x{shard=~"$shard", a="${shard}", b="${shard:regex}", c="[[shard]]"}[$__rate_interval])'
    assert used_variables(expr) == {"shard", "__rate_interval"}
    out = substitute(expr, {"shard": "0", "__rate_interval": "15s"})
    assert out == 'rate(x{shard=~"0", a="0", b="0", c="0"}[15s])'
    with pytest.raises(KeyError):
        substitute("$nope", {})


# ------------------------------------------------------------------ what the issue asks for
def _exprs(d: dict[str, Any], kind: str | None = None) -> list[str]:
    return [q.expr for q in queries(d) if kind is None or q.kind == kind]


def _metrics(exprs: list[str]) -> set[str]:
    return {m for e in exprs for m in re.findall(r"streamlearn_\w+", e)}


REQUIRED = {
    "streamlearn-overview.json": {
        "streamlearn_events_consumed_total",
        "streamlearn_events_learned_total",
        "streamlearn_learn_seconds_bucket",
        "streamlearn_predict_seconds_bucket",
        "streamlearn_consumer_lag",
        "streamlearn_dlq_total",
        "streamlearn_snapshot_age_seconds",
        "streamlearn_http_requests_total",
    },
    "streamlearn-quality.json": {
        "streamlearn_prequential_micro_f1",
        "streamlearn_prequential_macro_f1",
        "streamlearn_prequential_subset_accuracy",
        "streamlearn_prequential_hamming_loss",
    },
    "streamlearn-drift.json": {
        "streamlearn_drift_events_total",
        "streamlearn_clusters",
        "streamlearn_restructures_total",
    },
    "streamlearn-active.json": {
        "streamlearn_labels_requested_total",
        "streamlearn_label_budget_used",
        "streamlearn_pending_size",
        "streamlearn_pending_evictions_total",
    },
}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_each_dashboard_shows_what_the_issue_lists(name: str) -> None:
    d = DASHBOARDS[name]
    assert REQUIRED[name] <= _metrics(_exprs(d, "panel"))
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["shard"]["type"] == "query"
    per_shard = [e for e in _exprs(d, "panel") if "shard" in e or "partition" in e]
    assert all("$shard" in e for e in per_shard), per_shard


def test_latency_panels_use_histogram_quantile_over_buckets() -> None:
    d = DASHBOARDS["streamlearn-overview.json"]
    for title in ("Learn latency", "Predict latency"):
        panel = next(p for p in d["panels"] if p["title"] == title)
        quantiles = [t["expr"] for t in panel["targets"] if "histogram_quantile" in t["expr"]]
        assert len(quantiles) >= 2, title
        for e in quantiles:
            assert re.search(
                r"histogram_quantile\(0\.\d+, sum by \(le, shard\) \(rate\(\w+_bucket", e
            )


def test_quality_panels_show_cumulative_and_windowed_values_per_shard() -> None:
    d = DASHBOARDS["streamlearn-quality.json"]
    for panel in iter_panels(d):
        exprs = [t["expr"] for t in panel["targets"]]
        assert any('window="cumulative"' in e for e in exprs), panel["title"]
        assert any('window!="cumulative"' in e for e in exprs), panel["title"]
        assert all('shard=~"$shard"' in e for e in exprs)
        legends = [t["legendFormat"] for t in panel["targets"]]
        assert all("{{shard}}" in legend for legend in legends)


@pytest.mark.parametrize("name", ["streamlearn-quality.json", "streamlearn-drift.json"])
def test_drift_events_are_annotations(name: str) -> None:
    anns = {a["name"]: a for a in DASHBOARDS[name]["annotations"]["list"]}
    assert "streamlearn_drift_events_total" in anns["Drift"]["expr"]
    assert 'kind="drift"' in anns["Drift"]["expr"]
    assert "streamlearn_restructures_total" in anns["Restructure"]["expr"]
    assert all(a["enable"] for a in anns.values())


def test_dashboards_are_stored_formatted() -> None:
    """One canonical form (2-space JSON, trailing newline) keeps diffs reviewable."""
    from tests.support.dashboards import DASHBOARDS as folder

    for path in sorted(folder.glob("*.json")):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), indent=2) + "\n", path.name
