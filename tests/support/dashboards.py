"""Checks of the Grafana dashboards (dashboards/*.json) and Prometheus rules against the service.

No Grafana server runs here, so a dashboard is checked the way Grafana would use it:

- :func:`static_problems` — the JSON validates against the committed schema
  (``grafana-dashboard.schema.json`` beside this module), panel ids and target refIds are
  unique, panels fit the 24-column grid without overlapping, every Prometheus data source is the
  ``${datasource}`` template variable, every ``$variable`` used is defined (or one of Grafana's
  built-ins), and every metric name in a query is one that
  ``streamlearn/observability/metrics.py`` defines (with its ``_total``/``_bucket``/... suffix);
- :func:`live_problems` — every query (panel targets, annotation queries, template variable
  queries) with its template variables substituted as Grafana would (``$shard`` = a real shard
  of the variable's own query, ``$__rate_interval`` = an interval that suits the scrape
  interval, the data source removed) is run against a real Prometheus over a time range, and
  must return at least one series with a finite value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
SCHEMA = Path(__file__).with_name("grafana-dashboard.schema.json")

#: Grafana's global variables that a query may use without defining them.
BUILTIN_VARIABLES = frozenset(
    {
        "__interval",
        "__interval_ms",
        "__rate_interval",
        "__range",
        "__range_s",
        "__range_ms",
        "__from",
        "__to",
        "__dashboard",
        "__org",
        "__user",
    }
)

METRIC_RE = re.compile(r"\bstreamlearn_[A-Za-z0-9_]+")
VARIABLE_RE = re.compile(r"\$\{(\w+)(?::[\w-]+)?\}|\[\[(\w+)\]\]|\$(\w+)")
LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$")


def load_dashboards(directory: Path = DASHBOARDS) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` dashboard of ``directory``, by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())


def exported_metric_names() -> set[str]:
    """The sample names the service exports: every metric of ``ServiceMetrics`` with the
    suffixes of its type (counter ``_total``, histogram ``_bucket``/``_sum``/``_count``,
    info ``_info``, gauge as is)."""
    from prometheus_client import CollectorRegistry

    from streamlearn.observability.metrics import ServiceMetrics

    names: set[str] = set()
    for metric in ServiceMetrics(CollectorRegistry()).registry.collect():
        if metric.type == "counter":
            names.add(metric.name + "_total")
        elif metric.type == "histogram":
            names.update(metric.name + s for s in ("_bucket", "_sum", "_count"))
        elif metric.type == "info":
            names.add(metric.name + "_info")
        else:
            names.add(metric.name)
    return names


@dataclass(frozen=True)
class Query:
    """One query of a dashboard: ``where`` names it for messages; ``kind`` is ``panel``,
    ``annotation`` or ``variable``."""

    where: str
    expr: str
    kind: str
    instant: bool = False


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included (rows themselves too)."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variable_query(var: Mapping[str, Any]) -> str:
    q = var.get("query", "")
    return q.get("query", "") if isinstance(q, dict) else q


def queries(dashboard: Mapping[str, Any]) -> list[Query]:
    """The panel targets, annotation queries and query-variable queries of a dashboard."""
    out: list[Query] = []
    for panel in iter_panels(dashboard):
        for t in panel.get("targets", []):
            instant = bool(t.get("instant")) and not t.get("range", True)
            where = f"panel {panel.get('title')!r} target {t.get('refId')}"
            out.append(Query(where, t.get("expr", ""), "panel", instant))
    for ann in dashboard.get("annotations", {}).get("list", []):
        if ann.get("builtIn") == 1:
            continue
        out.append(Query(f"annotation {ann.get('name')!r}", ann.get("expr", ""), "annotation"))
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            out.append(Query(f"variable ${var.get('name')}", variable_query(var), "variable"))
    return out


def used_variables(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in VARIABLE_RE.finditer(text)}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with every ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]`` replaced
    by ``values[name]`` (a KeyError names a variable without a value)."""

    def repl(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        return values[name]

    return VARIABLE_RE.sub(repl, expr)


def _datasource_refs(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key}"
            if key == "datasource":
                yield here, value
            yield from _datasource_refs(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _datasource_refs(value, f"{path}/{i}")


def _overlap(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def static_problems(
    dashboard: Mapping[str, Any], metric_names: set[str] | None = None
) -> list[str]:
    """Everything wrong with a dashboard that can be seen without Prometheus (empty = fine)."""
    import jsonschema

    problems: list[str] = []
    validator = jsonschema.Draft202012Validator(load_schema())
    for err in sorted(validator.iter_errors(dashboard), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        problems.append(f"schema: {where}: {err.message}")
    if problems:
        return problems
    names = exported_metric_names() if metric_names is None else metric_names

    panels = list(iter_panels(dashboard))
    ids = [p["id"] for p in panels]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"panel id {dup} is used more than once")
    top = dashboard["panels"]
    for p in top:
        g = p["gridPos"]
        if g["x"] + g["w"] > 24:
            problems.append(f"panel {p['title']!r} is wider than the 24-column grid: {g}")
    for i, a in enumerate(top):
        for b in top[i + 1 :]:
            if _overlap(a["gridPos"], b["gridPos"]):
                problems.append(f"panels {a['title']!r} and {b['title']!r} overlap")
    for p in panels:
        refs = [t["refId"] for t in p.get("targets", [])]
        if len(refs) != len(set(refs)):
            problems.append(f"panel {p['title']!r} repeats a refId: {refs}")

    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables.get("datasource")
    if ds is None or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no template variable 'datasource' of type datasource (prometheus)")
    for path, ref in _datasource_refs(dashboard):
        if isinstance(ref, dict) and ref.get("type") == "grafana":
            continue  # the built-in annotations
        if ref != {"type": "prometheus", "uid": "${datasource}"}:
            problems.append(f"{path}: data source {ref!r} is not the ${{datasource}} variable")

    defined = set(variables) | BUILTIN_VARIABLES
    for q in queries(dashboard):
        if not q.expr.strip():
            problems.append(f"{q.where}: empty query")
            continue
        for name in sorted(used_variables(q.expr) - defined):
            problems.append(f"{q.where}: undefined variable ${name}")
        for name in sorted(set(METRIC_RE.findall(q.expr)) - names):
            problems.append(f"{q.where}: metric {name} is not exported by the service")
        if not METRIC_RE.search(q.expr):
            problems.append(f"{q.where}: queries no streamlearn_ metric: {q.expr!r}")
    return problems


# ------------------------------------------------------------------------------- live checks
@dataclass
class LiveResult:
    query: Query
    promql: str
    series: list[dict[str, Any]]
    error: str | None = None

    def finite_points(self) -> list[tuple[float, float]]:
        """Every (time, value) of every series whose value is a finite number."""
        out = []
        for s in self.series:
            points = s.get("values") or ([s["value"]] if "value" in s else [])
            for t, v in points:
                f = float(v)
                if math.isfinite(f):
                    out.append((float(t), f))
        return out


def variable_values(prom: Any, dashboard: Mapping[str, Any]) -> dict[str, list[str]]:
    """The values of each query variable, evaluated on Prometheus like Grafana does
    (``label_values(metric, label)`` = the label's values on the series of the metric)."""
    out: dict[str, list[str]] = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        m = LABEL_VALUES_RE.match(variable_query(var))
        if m is None:
            raise ValueError(f"variable ${var['name']}: only label_values(...) is supported")
        metric, label = m.group(1), m.group(2)
        params = {"match[]": metric} if metric else {}
        out[var["name"]] = sorted(prom.api(f"label/{label}/values", **params))
    return out


def run_queries(
    prom: Any,
    dashboard: Mapping[str, Any],
    values: Mapping[str, str],
    *,
    start: float,
    end: float,
    step: float = 1.0,
) -> list[LiveResult]:
    """Run every panel and annotation query of a dashboard (variables substituted with
    ``values``) over ``[start, end]``; instant targets at ``end``. Variable queries are
    checked by :func:`variable_values`."""
    import urllib.error

    results = []
    for q in queries(dashboard):
        if q.kind == "variable":
            continue
        promql = substitute(q.expr, values)
        try:
            if q.instant:
                series = prom.api("query", query=promql, time=end)["result"]
            else:
                series = prom.api("query_range", query=promql, start=start, end=end, step=step)[
                    "result"
                ]
            results.append(LiveResult(q, promql, series))
        except urllib.error.HTTPError as exc:  # a query Prometheus refuses (bad PromQL)
            body = exc.read().decode(errors="replace")
            results.append(LiveResult(q, promql, [], f"HTTP {exc.code}: {body}"))
    return results


def live_problems(
    prom: Any,
    dashboard: Mapping[str, Any],
    values: Mapping[str, str],
    *,
    start: float,
    end: float,
    step: float = 1.0,
) -> list[str]:
    """Every query that returns no finite data (or an error) on ``prom`` (empty = fine); and
    every query variable whose query returns no value."""
    problems = []
    for name, found in variable_values(prom, dashboard).items():
        if not found:
            problems.append(f"variable ${name}: its query returns no value")
    for r in run_queries(prom, dashboard, values, start=start, end=end, step=step):
        if r.error is not None:
            problems.append(f"{r.query.where}: {r.error} (query {r.promql})")
        elif not r.finite_points():
            problems.append(f"{r.query.where}: no data (query {r.promql})")
    return problems


__all__ = [
    "BUILTIN_VARIABLES",
    "DASHBOARDS",
    "SCHEMA",
    "LiveResult",
    "Query",
    "exported_metric_names",
    "iter_panels",
    "live_problems",
    "load_dashboards",
    "load_schema",
    "queries",
    "run_queries",
    "static_problems",
    "substitute",
    "used_variables",
    "variable_values",
]
