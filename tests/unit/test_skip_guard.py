"""Under ``make test`` (``STREAMLEARN_TEST_REQUIRE_ALL=1``) a skip is a failure unless allowed.

Each case runs pytest in a subprocess on a small test file whose conftest registers the guard
as ``tests/conftest.py`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.support.skips import ALLOWED_SKIPS, ENV_REQUIRE_ALL

TESTS = """
import pytest

def test_runs():
    pass

def test_skips():
    pytest.skip("no broker here")

@pytest.mark.skipif(True, reason="not on this branch")
def test_skipif():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

def test_fixture_skips(needs_something):
    pass

@pytest.fixture
def needs_something():
    pytest.skip("missing binary")
"""


def _run(tmp_path: Path, strict: bool, allowed: dict[str, str]) -> subprocess.CompletedProcess:
    (tmp_path / "test_cases.py").write_text(TESTS, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(
        "from tests.support.skips import SkipGuard\n\n"
        "def pytest_configure(config):\n"
        f"    config.pluginmanager.register(SkipGuard(SkipGuard.from_env().strict, {allowed!r}))\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(ENV_REQUIRE_ALL, None)
    if strict:
        env[ENV_REQUIRE_ALL] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_nothing_may_skip_under_make_test_today():
    assert ALLOWED_SKIPS == {}


def test_every_kind_of_skip_fails_under_make_test(tmp_path: Path) -> None:
    p = _run(tmp_path, strict=True, allowed={})
    out = p.stdout
    assert p.returncode == 1, out
    # a skip while running fails the test; one while setting it up is an error
    assert "2 failed, 1 passed, 2 errors" in out, out
    for outcome, name, reason in (
        ("FAILED", "test_skips", "no broker here"),
        ("ERROR", "test_skipif", "not on this branch"),
        ("FAILED", "test_xfail", "known bug"),
        ("ERROR", "test_fixture_skips", "missing binary"),
    ):
        assert f"{outcome} test_cases.py::{name}" in out, out
        assert reason in out
    assert (
        "skips fail; allowed under make test (ALLOWED_SKIPS of tests/support/skips.py): none"
        in (out)
    )


def test_allowed_skips_skip_and_are_printed(tmp_path: Path) -> None:
    allowed = {"test_cases.py::test_skips": "documented reason"}
    p = _run(tmp_path, strict=True, allowed=allowed)
    out = p.stdout
    assert "1 failed, 1 passed, 1 skipped, 2 errors" in out, out
    assert "allowed skip: test_cases.py::test_skips: documented reason" in out


def test_outside_make_test_skips_stay_skips(tmp_path: Path) -> None:
    p = _run(tmp_path, strict=False, allowed={})
    assert p.returncode == 0, p.stdout
    assert "1 passed, 3 skipped, 1 xfailed" in p.stdout, p.stdout
    assert "skips allowed (not under make test)" in p.stdout
