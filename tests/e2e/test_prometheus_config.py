"""promtool on the deployment's Prometheus files: the config checks, the alert rules pass their
unit tests (docker/prometheus/alerts_test.yml), and a changed rule makes those tests fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.prometheus import require_binary

pytestmark = pytest.mark.prometheus

PROM_DIR = Path(__file__).resolve().parents[2] / "docker" / "prometheus"


def promtool(*args: str, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_promtool_check_config() -> None:
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 5 rules found" in r.stdout + r.stderr


def test_promtool_check_rules() -> None:
    r = promtool("check", "rules", "alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_test_rules() -> None:
    r = promtool("test", "rules", "alerts_test.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    rules = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((PROM_DIR / "alerts_test.yml").read_text())
    firing: set[str] = set()
    silent: set[str] = set()
    for t in tests["tests"]:
        for case in t.get("alert_rule_test", []):
            name = case["alertname"]
            if case.get("exp_alerts"):
                firing.add(name)
            if not case.get("exp_alerts"):
                silent.add(name)
            # series given but not expected (the healthy shards of each case) must stay silent
            expected = {tuple(sorted(a["exp_labels"].items())) for a in case.get("exp_alerts", [])}
            assert len(expected) == len(case.get("exp_alerts", []))
    assert firing == alerts
    assert silent == alerts


@pytest.mark.parametrize(
    ("alert", "old", "new"),
    [
        ("StreamlearnDriftStorm", "> 10", "> 100"),
        ("StreamlearnDLQRateHigh", "> 0.05", "> 0.5"),
        ("StreamlearnConsumerLagGrowing", "> 1000", "> 100"),
        ("StreamlearnSnapshotTooOld", "> 600", "> 6000"),
        ("StreamlearnLearningStalled", "for: 5m", "for: 30m"),
    ],
)
def test_a_changed_rule_fails_its_tests(tmp_path: Path, alert: str, old: str, new: str) -> None:
    text = (PROM_DIR / "alerts.yml").read_text()
    start = text.index(f"- alert: {alert}")
    end = text.find("- alert:", start + 1)
    end = len(text) if end < 0 else end
    block = text[start:end]
    assert old in block
    (tmp_path / "alerts.yml").write_text(text[:start] + block.replace(old, new, 1) + text[end:])
    shutil.copy(PROM_DIR / "alerts_test.yml", tmp_path)
    r = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert r.returncode != 0, r.stdout
    assert alert in r.stdout + r.stderr
