"""``streamlearn serve`` as users run it, in a subprocess: start, wait, query, stop or kill -9.

Shared by the e2e and reliability suites (and the reliability scripts). The service is three
processes: the HTTP main process, its learning process (``python -m consumers.worker``) and, in
Kafka mode, the output producer (``python -m consumers.output``). :class:`Served` starts the main
process in a session of its own, so :meth:`Served.kill9` can SIGKILL the whole process group —
every process of the service at once, like a machine losing power — and check that none is left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
TINY = "tests.support.learners:CentroidLearner"

__all__ = [
    "ROOT",
    "TINY",
    "Served",
    "check_exposition",
    "free_port",
    "learner_env",
    "metric",
    "metric_sum",
    "warm_default_learner",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def learner_env() -> dict[str, str]:
    """The default learner when this build has one of auto's; else the tests' tiny learner."""
    from streamlearn.multilabel import available_learners
    from streamlearn.service.learners import AUTO_LEARNERS

    if set(AUTO_LEARNERS) & set(available_learners()):
        return {}
    return {"STREAMLEARN_LEARNER": TINY}


def warm_default_learner(n_features: int = 6, n_labels: int = 3) -> None:
    """Compile the default learner's kernels once in this process (numba caches them on disk),
    so service subprocesses load them instead of compiling under a request timeout.

    numba specialises kernels on types, not shapes: ``n_features`` and ``n_labels`` are kept for
    the callers' readability only (:func:`consumers.warmup.warm_up` drives every code path)."""
    if learner_env():
        return
    from consumers.warmup import warm_up

    warm_up("auto")


def metric(text: str, name: str) -> float:
    """The first sample of ``name`` in Prometheus text (AssertionError if absent)."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of ``name`` whose labels include ``labels`` (0 if none)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def check_exposition(text: str) -> None:
    """Valid Prometheus text: parses, and no family appears twice (two registries are merged)."""
    from prometheus_client.parser import text_string_to_metric_families

    names = [f.name for f in text_string_to_metric_families(text)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")]
    assert len(helps) == len(set(helps))


def _group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry))
    return out


class Served:
    """One ``streamlearn serve`` (plus its child processes), logging to ``log``.

    Parameters
    ----------
    args
        Arguments after ``serve`` (``--port`` is added).
    env
        Extra environment (over ``os.environ`` and :func:`learner_env`).
    log
        File that receives the service's stdout and stderr (appended).
    """

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = Path(log)
        full_env = {**os.environ, **learner_env(), **env, "PYTHONUNBUFFERED": "1"}
        self.out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlearn", "serve", "--port", str(self.port), *args],
            cwd=ROOT,
            env=full_env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill9() reaches every process
        )
        self.url = f"http://127.0.0.1:{self.port}"

    # -------------------------------------------------------------- HTTP
    def get(self, path: str, timeout: float = 10.0) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def post(self, path: str, body: Any, timeout: float = 30.0) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=timeout)

    def metrics(self, timeout: float = 15.0) -> str:
        r = self.get("/metrics", timeout)
        assert r.status_code == 200, r.text
        return r.text

    def ready_status(self) -> int | None:
        """``/ready``'s status code, or None when the service does not answer."""
        try:
            return self.get("/ready", timeout=3).status_code
        except httpx.TransportError:
            return None

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"serve exited early:\n{self.tail()}"
            if self.ready_status() == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout}s:\n{self.tail()}")

    def learned(self) -> float:
        """``streamlearn_events_learned_total`` summed over the shards (0 before any)."""
        return metric_sum(self.metrics(), "streamlearn_events_learned_total")

    def wait_learned(self, n: int, timeout: float = 300.0, poll: float = 0.5) -> float:
        """Wait until the exported learned counter reaches ``n``; returns it."""
        deadline = time.monotonic() + timeout
        got = 0.0
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"serve exited:\n{self.tail()}"
            try:
                got = self.learned()
            except httpx.TransportError:
                got = 0.0
            if got >= n:
                return got
            time.sleep(poll)
        raise AssertionError(f"learned {got} < {n} after {timeout}s:\n{self.tail()}")

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # -------------------------------------------------------------- processes
    def pids(self) -> list[int]:
        """Every live process of the service (main, learning, output)."""
        return _group_pids(self.proc.pid)

    def kill9(self, timeout: float = 10.0) -> list[int]:
        """SIGKILL every process of the service at once; returns their pids once all are gone."""
        pids = self.pids()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while self.pids():
            assert time.monotonic() < deadline, f"processes left after SIGKILL: {self.pids()}"
            time.sleep(0.05)
        self.out.close()
        return pids

    def terminate(self, timeout: float = 300.0) -> int:
        """SIGTERM (clean shutdown with a final snapshot); returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.kill9()
            if not self.out.closed:
                self.out.close()

    def close(self) -> None:
        """Make sure nothing of the service is left running (kill -9 if needed)."""
        if self.proc.poll() is None or self.pids():
            self.kill9()
        if not self.out.closed:
            self.out.close()
