"""Every dashboard query against a real Prometheus scraping the real service.

``streamlearn serve`` runs on its embedded default (no Kafka): the synthetic stream with a
planted drift every ``DRIFT_EVERY`` events, labels ``LABEL_DELAY`` events late (so stream
predictions, the pending store and late-label joins happen), the rvu active-learning policy,
snapshots every 2 s. A real Prometheus (Debian's package) scrapes it every second with the
deployment's own config (docker/prometheus/prometheus.yml, target replaced) and alert rules,
while a client sends HTTP requests (some of them wrong, so the error panel has data).

Then every panel target and annotation query of every dashboard, with its template variables
substituted as Grafana would (``$shard`` = a value of the dashboard's own ``$shard`` query,
``$__rate_interval`` for a 1 s scrape interval, the data source removed), must return at least
one finite value; the drift panel must show drift detected after the planted drift; and a
dashboard whose metric name is wrong fails the same check.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from tests.support.dashboards import (
    live_problems,
    load_dashboards,
    run_queries,
    static_problems,
    substitute,
    variable_values,
)
from tests.support.prometheus import PrometheusServer, require_binary
from tests.support.served import ROOT, Served, warm_default_learner

pytestmark = pytest.mark.prometheus

DRIFT_EVERY = 3000
RATE = 1000  # events/s
LABEL_DELAY = 20
SCRAPE = "1s"
#: Grafana's $__rate_interval is max($__interval + scrape interval, 4 x scrape interval).
INTERVALS = {"__rate_interval": "5s", "__interval": "2s"}
PROM_DIR = ROOT / "docker" / "prometheus"


class Traffic:
    """A client calling the HTTP API every 0.2 s: good predictions, and wrong requests."""

    def __init__(self, url: str, n_features: int) -> None:
        self.url = url
        self.x = [0.5] * n_features
        self.stop_event = threading.Event()
        self.counts: dict[int, int] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self.stop_event.is_set():
                for method, path, body in (
                    ("POST", "/v1/predict", {"x": self.x}),
                    ("POST", "/v1/predict", {"instances": [self.x, self.x]}),
                    ("POST", "/v1/predict", {"x": [1.0]}),  # 422: wrong dimensions
                    ("GET", "/v1/model?shard=7", None),  # 404: no such shard
                ):
                    try:
                        r = client.request(method, path, json=body)
                        self.counts[r.status_code] = self.counts.get(r.status_code, 0) + 1
                    except httpx.HTTPError:
                        pass
                self.stop_event.wait(0.2)

    def start(self) -> Traffic:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


@dataclass
class Live:
    service: Served
    prom: PrometheusServer
    start: float
    dashboards: dict[str, dict[str, Any]]

    def values(self, dashboard: dict[str, Any]) -> dict[str, str]:
        """Template variable values: the first value of each query variable (a real shard)."""
        out = dict(INTERVALS)
        for name, found in variable_values(self.prom, dashboard).items():
            out[name] = found[0] if found else "<no value>"
        return out

    def check(self, dashboard: dict[str, Any]) -> list[str]:
        return live_problems(
            self.prom, dashboard, self.values(dashboard), start=self.start, end=time.time()
        )


def prometheus_config(target: str) -> dict[str, Any]:
    """docker/prometheus/prometheus.yml with the test's target and a 1 s scrape interval."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=SCRAPE, evaluation_interval=SCRAPE)
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [target]}]
    return config


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    binary = require_binary("prometheus")
    warm_default_learner()
    tmp = tmp_path_factory.mktemp("dashboards")
    env = {
        "STREAMLEARN_SNAPSHOT_DIR": str(tmp / "snaps"),
        "STREAMLEARN_RATE": str(RATE),
        "STREAMLEARN_SYNTH_DRIFT_EVERY": str(DRIFT_EVERY),
        "STREAMLEARN_LABEL_DELAY": str(LABEL_DELAY),
        "STREAMLEARN_ACTIVE_LEARNING": "rvu",
        "STREAMLEARN_SNAPSHOT_INTERVAL_SECONDS": "2",
        "STREAMLEARN_PUBLISH_INTERVAL_MS": "500",
    }
    service = Served([], env, tmp / "serve.log")
    prom: PrometheusServer | None = None
    traffic: Traffic | None = None
    try:
        service.wait_ready()
        start = time.time()
        prom = PrometheusServer(
            prometheus_config(f"127.0.0.1:{service.port}"),
            tmp / "prometheus",
            files={"alerts.yml": (PROM_DIR / "alerts.yml").read_text()},
            binary=binary,
        ).start()
        n_features = httpx.get(service.url + "/v1/model").json()["n_features"]
        traffic = Traffic(service.url, n_features).start()
        prom.wait_for_targets_up()
        # learning past the first planted drift (a cold numba cache compiles first)
        prom.wait_for_query(
            f"streamlearn_events_learned_total >= {DRIFT_EVERY + 2000}", timeout=300
        )
        prom.wait_for_query('streamlearn_http_requests_total{status="200",route="/v1/predict"}')
        time.sleep(6)  # a few scrapes more: every rate() window holds several samples
        yield Live(service, prom, start, load_dashboards())
    finally:
        if traffic is not None:
            traffic.stop()
        if prom is not None:
            prom.stop()
        code = service.terminate()
        assert code == 0, (tmp / "serve.log").read_text()[-3000:]


def test_the_shard_variable_finds_the_service_shard(live: Live) -> None:
    for name, d in live.dashboards.items():
        assert variable_values(live.prom, d) == {"shard": ["0"]}, name


@pytest.mark.parametrize(
    "name",
    [
        "streamlearn-overview.json",
        "streamlearn-quality.json",
        "streamlearn-drift.json",
        "streamlearn-active.json",
    ],
)
def test_every_query_of_the_dashboard_returns_data(live: Live, name: str) -> None:
    d = live.dashboards[name]
    assert static_problems(d) == []
    assert live.check(d) == []


def _series_at(series: dict[str, Any], t: float) -> float:
    """The value of a range-query series at the last point at or before t (0 before any)."""
    value = 0.0
    for ts, v in series.get("values", []):
        if float(ts) <= t:
            value = float(v)
    return value


def test_the_drift_panel_shows_the_planted_drift(live: Live) -> None:
    prom = live.prom
    d = live.dashboards["streamlearn-drift.json"]
    values = live.values(d)
    # when the model reached the first planted drift (events are learned in stream order)
    learned = prom.api(
        "query_range",
        query='streamlearn_events_learned_total{shard="0"}',
        start=live.start,
        end=time.time(),
        step=1,
    )["result"][0]["values"]
    t_drift = next(float(t) for t, v in learned if float(v) >= DRIFT_EVERY)
    panel = next(p for p in d["panels"] if p["title"] == "Drift events by level")
    expr = substitute(panel["targets"][0]["expr"], values)
    deadline = time.monotonic() + 120
    while True:
        result = prom.api("query_range", query=expr, start=live.start, end=time.time(), step=1)
        series = {s["metric"].get("level"): s for s in result["result"]}
        if "global" in series:
            before = _series_at(series["global"], t_drift)
            after = float(series["global"]["values"][-1][1])
            if after > before:
                break
        assert time.monotonic() < deadline, (
            f"no global drift detected after the planted drift: {result}"
        )
        time.sleep(1)
    # the drift annotation marks it: a point at or after the planted drift
    ann = next(a for a in d["annotations"]["list"] if a.get("name") == "Drift")
    marks = prom.api(
        "query_range",
        query=substitute(ann["expr"], values),
        start=t_drift,
        end=time.time(),
        step=1,
    )["result"]
    assert any(float(v) > 0 for s in marks for _, v in s["values"]), marks


def test_a_panel_with_a_wrong_metric_name_fails_the_check(live: Live) -> None:
    original = live.dashboards["streamlearn-overview.json"]
    assert live.check(original) == []
    broken = copy.deepcopy(original)
    panel = next(p for p in broken["panels"] if p["title"] == "Event rate")
    target = panel["targets"][2]
    target["expr"] = target["expr"].replace(
        "streamlearn_events_learned_total", "streamlearn_events_learnt_total"
    )
    problems = live.check(broken)
    assert len(problems) == 1, problems
    assert problems[0].startswith("panel 'Event rate' target C: no data")
    assert any("streamlearn_events_learnt_total" in p for p in static_problems(broken))


def test_a_wrong_label_matcher_fails_the_check(live: Live) -> None:
    """A metric name can be right and the panel still empty: only the live check sees it."""
    broken = copy.deepcopy(live.dashboards["streamlearn-quality.json"])
    target = broken["panels"][0]["targets"][0]
    target["expr"] = target["expr"].replace('window="cumulative"', 'window="cumulatve"')
    assert static_problems(broken) == []
    problems = live.check(broken)
    assert problems == [
        f"panel 'Micro-F1' target A: no data (query {target['expr']})".replace('"$shard"', '"0"')
    ]


def test_a_variable_query_without_values_fails_the_check(live: Live) -> None:
    broken = copy.deepcopy(live.dashboards["streamlearn-active.json"])
    (shard,) = [v for v in broken["templating"]["list"] if v["name"] == "shard"]
    shard["query"]["query"] = "label_values(streamlearn_events_learned_total, partition)"
    assert "variable $shard: its query returns no value" in live.check(broken)


def test_the_alert_rules_evaluate_against_the_service(live: Live) -> None:
    deadline = time.monotonic() + 30
    while True:
        rules = [r for g in live.prom.rules() for r in g["rules"]]
        if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules):
            break
        assert time.monotonic() < deadline, rules
        time.sleep(0.5)
    assert len(rules) == 5
    assert all(r["health"] == "ok" for r in rules), rules


def test_the_embedded_consumer_lag_is_exported(live: Live) -> None:
    lag = live.prom.query("streamlearn_consumer_lag")
    assert [s["metric"]["topic"] for s in lag] == ["embedded.events"]
    assert all(math.isfinite(float(s["value"][1])) and float(s["value"][1]) >= 0 for s in lag)


def test_run_queries_reports_bad_promql(live: Live) -> None:
    broken = copy.deepcopy(live.dashboards["streamlearn-active.json"])
    broken["panels"][0]["targets"][0]["expr"] = "sum by (shard (streamlearn_pending_size)"
    results = run_queries(live.prom, broken, live.values(broken), start=live.start, end=time.time())
    assert results[0].error is not None and "HTTP 400" in results[0].error
