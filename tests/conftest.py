"""Shared test configuration: markers by folder, paths to the benchmark datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.skips import SkipGuard

ROOT = Path(__file__).resolve().parent.parent


def _find_datasets() -> Path:
    """$STREAMLEARN_DATASETS, else the nearest ``shared/datasets`` beside the checkout or above it."""
    env = os.environ.get("STREAMLEARN_DATASETS")
    if env:
        return Path(env)
    for parent in ROOT.parents:
        candidate = parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return ROOT.parent / "shared" / "datasets"


DATASETS = _find_datasets()

_FOLDER_MARKS = {"unit": "unit", "integration": "integration", "e2e": "e2e", "reliability": "e2e"}


def pytest_configure(config: pytest.Config) -> None:
    """Under ``make test`` a skip is a failure unless allowed (tests/support/skips.py)."""
    if not config.pluginmanager.has_plugin("streamlearn-skip-guard"):
        config.pluginmanager.register(SkipGuard.from_env(), "streamlearn-skip-guard")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        if not path.is_relative_to(ROOT / "tests"):
            item.add_marker(pytest.mark.unit)  # doctests of the package
            continue
        parts = path.relative_to(ROOT / "tests").parts
        mark = _FOLDER_MARKS.get(parts[0]) if len(parts) > 1 else None
        if mark is not None:
            item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The real benchmark streams (../shared/datasets beside the checkout, or $STREAMLEARN_DATASETS)."""
    if not (DATASETS / "MANIFEST.md").exists():
        pytest.fail(
            f"benchmark datasets not found at {DATASETS}: put shared/ beside the checkout "
            "or set STREAMLEARN_DATASETS"
        )
    return DATASETS
