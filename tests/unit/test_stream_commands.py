"""`streamlearn datasets`: table and JSON listing of a folder of ARFF files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from streamlearn.cli import main

HEADER = "@relation 'T: -C -2'\n@attribute a numeric\n@attribute b numeric\n@attribute y1 {0,1}\n@attribute y2 {0,1}\n@data\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "dense.arff").write_text(HEADER + "1,2,1,1\n3,4,0,1\n5,6,0,0\n")
    (tmp_path / "sparse.arff.gz").write_bytes(gzip.compress((HEADER + "{0 1,2 1}\n{}\n").encode()))
    (tmp_path / "notes.txt").write_text("not a dataset")
    return tmp_path


def test_json_listing(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--dir", str(folder), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {"name": "dense", "file": "dense.arff", "instances": 3, "features": 2, "labels": 2,
         "sparse": False, "label_cardinality": 1.0},
        {"name": "sparse", "file": "sparse.arff.gz", "instances": 2, "features": 2, "labels": 2,
         "sparse": True, "label_cardinality": 0.5},
    ]  # fmt: skip


def test_table_listing_and_env_default(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMLEARN_DATASETS", str(folder))
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "instances", "features", "labels", "form", "cardinality"]
    assert out[1].split() == ["dense", "3", "2", "2", "dense", "1.0000"]
    assert out[2].split() == ["sparse", "2", "2", "2", "sparse", "0.5000"]


def test_missing_dir_is_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STREAMLEARN_DATASETS", raising=False)
    assert main(["datasets"]) == 2
    assert "--dir" in capsys.readouterr().err
    assert main(["datasets", "--dir", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_a_bad_file_is_reported_with_its_line(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "bad.arff").write_text(HEADER + "1,2,1,1\n1,x,0,0\n")
    assert main(["datasets", "--dir", str(folder), "--json"]) == 1
    captured = capsys.readouterr()
    assert [r["name"] for r in json.loads(captured.out)] == ["dense", "sparse"]
    assert "bad.arff, line 8:" in captured.err
