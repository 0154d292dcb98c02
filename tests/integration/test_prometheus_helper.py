"""The Prometheus test helper runs a real server that scrapes our /metrics and evaluates rules."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.support.kafka import free_port
from tests.support.prometheus import scrape_config

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]

RULES = """\
groups:
  - name: helper-test
    rules:
      - record: helper_test_value_doubled
        expr: 2 * helper_test_value
"""


def test_prometheus_scrapes_and_evaluates_rules(prometheus_server) -> None:
    registry = CollectorRegistry()
    value = float(random.randint(1, 10_000))
    Gauge("helper_test_value", "a value set by the test", registry=registry).set(value)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prom = prometheus_server(
            scrape_config([f"127.0.0.1:{port}"], rule_files=["rules.yml"]),
            files={"rules.yml": RULES},
        )
        targets = prom.wait_for_targets_up()
        assert [t["scrapeUrl"] for t in targets] == [f"http://127.0.0.1:{port}/metrics"]

        scraped = prom.wait_for_query("helper_test_value")
        assert float(scraped[0]["value"][1]) == value
        doubled = prom.wait_for_query("helper_test_value_doubled")
        assert float(doubled[0]["value"][1]) == 2 * value
    finally:
        server.shutdown()
        thread.join(timeout=5)
