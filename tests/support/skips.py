"""No silent skip under ``make test``: a skipped test is a failure unless it is allowed here.

``make test`` sets ``STREAMLEARN_TEST_REQUIRE_ALL=1``: everything a test needs (the broker, a
broker it may stop, Prometheus, the data sets) is provided, so a skip can only hide a test that
did not run. :class:`SkipGuard` (registered by ``tests/conftest.py``) then turns every skip
(``pytest.skip``, ``skipif``, ``importorskip``, an ``xfail``, a skipped module) into a failure,
unless the test's node id starts with an entry of :data:`ALLOWED_SKIPS`, and prints the allowed
list at the end of every run. Outside ``make test`` (e.g. ``pytest`` without Prometheus
installed) skips stay skips. The list and its rules: docs/testing.md ("No silent skip").
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

ENV_REQUIRE_ALL = "STREAMLEARN_TEST_REQUIRE_ALL"

#: Node-id prefix -> why that test may skip under ``make test``. Empty: no test may.
ALLOWED_SKIPS: dict[str, str] = {}


def _reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


class SkipGuard:
    """Fails skipped tests that :data:`ALLOWED_SKIPS` does not list (when ``strict``)."""

    def __init__(self, strict: bool, allowed: Mapping[str, str] = ALLOWED_SKIPS) -> None:
        self.strict = strict
        self.allowed = dict(allowed)
        self.allowed_seen: list[str] = []

    @classmethod
    def from_env(cls) -> SkipGuard:
        return cls(os.environ.get(ENV_REQUIRE_ALL) == "1")

    def _allowed(self, nodeid: str) -> str | None:
        for prefix, why in self.allowed.items():
            if nodeid.startswith(prefix):
                return why
        return None

    def _judge(self, report: Any) -> None:
        if not report.skipped:
            return
        why = self._allowed(report.nodeid)
        if why is not None:
            self.allowed_seen.append(f"{report.nodeid}: {why}")
            return
        if not self.strict:
            return
        skipped = "xfail" if hasattr(report, "wasxfail") else "skip"
        detail = getattr(report, "wasxfail", "") or _reason(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"{skipped} under make test ({ENV_REQUIRE_ALL}=1) is a failure: {detail}\n"
            "(a test that may skip there must be listed in ALLOWED_SKIPS of "
            "tests/support/skips.py, with its reason, and in docs/testing.md)"
        )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Iterator[None]:
        outcome = yield
        self._judge(outcome.get_result())

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Iterator[None]:
        outcome = yield
        self._judge(outcome.get_result())

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        mode = "skips fail" if self.strict else "skips allowed (not under make test)"
        tr.section("skips", sep="-")
        tr.write_line(
            f"{mode}; allowed under make test (ALLOWED_SKIPS of tests/support/skips.py): "
            + (", ".join(sorted(self.allowed)) or "none")
        )
        for line in self.allowed_seen:
            tr.write_line(f"allowed skip: {line}")
