"""A real Prometheus server for tests, started on a free 127.0.0.1 port with a temp TSDB.

``make test`` installs the binary (``docker/local/prometheus.sh install``). Run by hand without
it, tests that need Prometheus are skipped with the command to run — unless
``STREAMLEARN_TEST_REQUIRE_ALL=1`` (set by ``make test``), where a missing binary fails them.

Fixture (re-exported by the integration and e2e ``conftest.py``):

``prometheus_server``
    ``prometheus_server(config, *, files=None) -> PrometheusServer``: started and ready;
    ``config`` is a whole prometheus.yml (dict or YAML text), ``files`` other files (rule files)
    written beside it. Build a scrape config with :func:`scrape_config`. Stopped after the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kafka import free_port
from tests.support.skips import ENV_REQUIRE_ALL

INSTALL_HINT = "docker/local/prometheus.sh install"


def prometheus_binary() -> str | None:
    """Path of the ``prometheus`` server binary, or None."""
    found = shutil.which("prometheus")
    if found:
        return found
    return "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None


def promtool_binary() -> str | None:
    found = shutil.which("promtool")
    if found:
        return found
    return "/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK) else None


def require_binary(name: str = "prometheus") -> str:
    """The binary's path; skips the test (or fails it under ``make test``) when it is missing."""
    path = prometheus_binary() if name == "prometheus" else promtool_binary()
    if path is None:
        message = f"{name} is not installed (run: {INSTALL_HINT}; make test does it)"
        if os.environ.get(ENV_REQUIRE_ALL) == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def scrape_config(
    targets: list[str] | dict[str, list[str]],
    *,
    interval: str = "1s",
    rule_files: list[str] | None = None,
    metrics_path: str = "/metrics",
) -> dict[str, Any]:
    """A prometheus.yml dict scraping ``targets`` (a list for job ``test``, or job -> targets)."""
    jobs = targets if isinstance(targets, dict) else {"test": list(targets)}
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": metrics_path,
                "scrape_interval": interval,
                "static_configs": [{"targets": list(job_targets)}],
            }
            for job, job_targets in jobs.items()
        ],
    }
    if rule_files:
        config["rule_files"] = list(rule_files)
    return config


class PrometheusError(RuntimeError):
    """The Prometheus server failed to start or answer."""


class PrometheusServer:
    """One ``prometheus`` process on ``127.0.0.1:<port>`` with its config and TSDB in ``directory``."""

    def __init__(
        self,
        config: dict[str, Any] | str,
        directory: Path,
        *,
        files: dict[str, str] | None = None,
        port: int | None = None,
        binary: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.binary = binary or prometheus_binary()
        if self.binary is None:
            raise PrometheusError(f"prometheus is not installed (run: {INSTALL_HINT})")
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in (files or {}).items():
            (self.directory / name).write_text(text)
        self.config_file = self.directory / "prometheus.yml"
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_file.write_text(text)
        self.log_file = self.directory / "prometheus.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> PrometheusServer:
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_file}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--storage.tsdb.path={self.directory / 'tsdb'}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with {self._proc.returncode} during start-up:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise PrometheusError(f"prometheus not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # --- HTTP API ---------------------------------------------------------------------------

    def api(self, path: str, **params: Any) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data`` (raises on an error status)."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise PrometheusError(f"{url}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the list of ``{"metric": {...}, "value": [ts, "v"]}`` results."""
        return self.api("query", query=expr)["result"]

    def targets(self) -> list[dict[str, Any]]:
        return self.api("targets")["activeTargets"]

    def rules(self) -> list[dict[str, Any]]:
        return self.api("rules")["groups"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]

    def reload(self) -> None:
        """Re-read the config file (after rewriting ``config_file``)."""
        req = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def wait_for_targets_up(self, timeout: float = 30) -> list[dict[str, Any]]:
        """Wait until every target has been scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            targets = self.targets()
            if targets and all(t.get("health") == "up" for t in targets):
                return targets
            time.sleep(0.25)
        raise PrometheusError(f"targets not all up within {timeout:.0f} s: {targets}")

    def wait_for_query(
        self,
        expr: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 30,
    ) -> list[dict[str, Any]]:
        """Poll ``expr`` until ``predicate(result)`` holds (default: a non-empty result)."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.25)
        raise PrometheusError(f"query {expr!r} did not match within {timeout:.0f} s: {result}")


@pytest.fixture
def prometheus_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PrometheusServer]]:
    """``prometheus_server(config, *, files=None) -> PrometheusServer``, started; stopped after."""
    binary = require_binary("prometheus")
    servers: list[PrometheusServer] = []

    def start(
        config: dict[str, Any] | str, *, files: dict[str, str] | None = None
    ) -> PrometheusServer:
        directory = tmp_path_factory.mktemp("prometheus")
        server = PrometheusServer(config, directory, files=files, binary=binary)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
