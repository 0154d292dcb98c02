"""``streamlearn serve`` as users run it: a subprocess on a free port, queried over HTTP.

Used by the whole-service tests (tests/e2e). ``warm_learner()`` compiles the default learner's
kernels once in the test process (numba caches them on disk) so that the service subprocesses
load them instead of compiling under a readiness timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TINY = "tests.support.learners:CentroidLearner"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def learner_env() -> dict[str, str]:
    """The default learner when this build has one of auto's; else the tests' tiny learner."""
    from consumers.processor import AUTO_LEARNERS
    from streamlearn.multilabel import available_learners

    if set(AUTO_LEARNERS) & set(available_learners()):
        return {}
    return {"STREAMLEARN_LEARNER": TINY}


def warm_learner() -> None:
    """Compile the default learner's kernels once, here (numba caches them on disk)."""
    if learner_env():
        return
    from consumers.warmup import warm_up

    warm_up("auto")


class Served:
    """``streamlearn serve --port <free> *args`` with ``env`` on top of the test's environment;
    output appended to ``log``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        full_env = {**os.environ, **learner_env(), **env, "PYTHONUNBUFFERED": "1"}
        self.out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlearn", "serve", "--port", str(self.port), *args],
            cwd=ROOT,
            env=full_env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"serve exited early:\n{self.log.read_text()}"
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout}s:\n{self.log.read_text()}")

    def terminate(self, timeout: float = 300.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.out.close()


__all__ = ["ROOT", "TINY", "Served", "free_port", "learner_env", "warm_learner"]
