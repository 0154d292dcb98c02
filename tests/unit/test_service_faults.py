"""The test-only fault points of the learning process (streamlearn/service/faults.py)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from streamlearn.service import faults


@pytest.fixture
def reload_faults(monkeypatch: pytest.MonkeyPatch):
    def arm(spec: str | None, mark: Path | None = None):
        for name in ("STREAMLEARN_FAULT_PAUSE", "STREAMLEARN_FAULT_MARK"):
            monkeypatch.delenv(name, raising=False)
        if spec is not None:
            monkeypatch.setenv("STREAMLEARN_FAULT_PAUSE", spec)
        if mark is not None:
            monkeypatch.setenv("STREAMLEARN_FAULT_MARK", str(mark))
        monkeypatch.setenv("STREAMLEARN_FAULT_SECONDS", "0")
        return importlib.reload(faults)

    yield arm
    monkeypatch.delenv("STREAMLEARN_FAULT_PAUSE", raising=False)
    importlib.reload(faults)


def test_unarmed_points_do_nothing(reload_faults, tmp_path: Path) -> None:
    f = reload_faults(None, tmp_path / "mark")
    for name in f.POINTS:
        f.point(name)
        assert not f.armed(name)
    assert not (tmp_path / "mark").exists()


def test_an_armed_point_pauses_at_its_nth_hit(reload_faults, tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    f = reload_faults("commit-before:2", mark)
    assert f.armed("commit-before") and not f.armed("batch")
    f.point("batch")
    f.point("commit-before")
    assert not mark.exists()
    f.point("commit-before")
    f.point("commit-before")
    (line,) = mark.read_text().splitlines()
    assert line.split()[:2] == ["commit-before", "2"]


def test_an_unknown_point_is_refused(reload_faults) -> None:
    with pytest.raises(ValueError, match="unknown point"):
        reload_faults("snapshot-nowhere")
