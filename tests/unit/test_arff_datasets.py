"""Every real benchmark file against the counts of ../shared/datasets/MANIFEST.md.

The expected numbers are parsed from MANIFEST.md's table (and its per-file "parsed:" lines),
never written here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from streamlearn.base.arrays import CSR
from streamlearn.stream import Dataset, iter_arff, load_arff, read_arff_header

ROW = re.compile(r"^\|\s*`(?P<file>[^`]+\.arff\.gz)`\s*\|(?P<rest>.*)$")
LABEL_COLS = re.compile(
    r"(?P<where>first|last) (?P<n>\d+) \(`-C (?P<c>-?\d+)`\): `(?P<first>[^`]+)` … `(?P<last>[^`]+)`"
)
CARD = re.compile(r"^### `(?P<file>[^`]+)`.*?label cardinality (?P<card>[\d.]+)", re.S | re.M)


def _int(s: str) -> int:
    return int(s.strip().replace(",", ""))


@pytest.fixture(scope="module")
def manifest(datasets_dir: Path) -> dict[str, dict]:
    text = (datasets_dir / "MANIFEST.md").read_text(encoding="utf-8")
    rows: dict[str, dict] = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        cells = [c.strip() for c in m.group("rest").split("|")]
        cols = LABEL_COLS.search(cells[5])
        assert cols, f"cannot read the label columns of {m.group('file')}: {cells[5]!r}"
        rows[m.group("file")] = {
            "instances": _int(cells[1]),
            "features": _int(cells[2]),
            "labels": _int(cells[3]),
            "form": cells[4],
            "where": cols.group("where"),
            "n": int(cols.group("n")),
            "c": int(cols.group("c")),
            "first": cols.group("first"),
            "last": cols.group("last"),
        }
    sections = re.split(r"(?m)^(?=### )", text)
    for sec in sections:
        m = re.match(r"### `([^`]+)`", sec)
        c = re.search(r"label cardinality ([\d.]+)", sec)
        if m and c and m.group(1) in rows:
            rows[m.group(1)]["cardinality"] = c.group(1)
    assert len(rows) >= 20, "MANIFEST.md table not found"
    return rows


@pytest.fixture(scope="module")
def loaded(datasets_dir: Path, manifest: dict[str, dict]) -> dict[str, Dataset]:
    return {f: load_arff(datasets_dir / f) for f in manifest}


def test_every_file_of_the_folder_is_in_the_manifest(
    datasets_dir: Path, manifest: dict[str, dict]
) -> None:
    on_disk = {p.name for p in datasets_dir.glob("*.arff.gz")}
    assert on_disk == set(manifest)


@pytest.mark.slow
def test_counts_labels_and_form_match_the_manifest(
    manifest: dict[str, dict], loaded: dict[str, Dataset]
) -> None:
    problems = []
    for f, want in manifest.items():
        ds = loaded[f]
        got = {
            "instances": len(ds),
            "features": ds.n_features,
            "labels": ds.n_labels,
            "form": "sparse" if ds.schema.sparse else "dense",
            "first": ds.schema.labels[0],
            "last": ds.schema.labels[-1],
            "n": ds.n_labels,
        }
        for key, value in got.items():
            if value != want[key]:
                problems.append(f"{f}: {key} {value!r} != manifest {want[key]!r}")
        if isinstance(ds.X, CSR) != ds.schema.sparse:
            problems.append(f"{f}: X form does not follow schema.sparse")
        if "cardinality" in want:
            digits = len(want["cardinality"].split(".")[1])
            if f"{round(ds.label_cardinality, digits):.{digits}f}" != want["cardinality"]:
                problems.append(
                    f"{f}: label cardinality {ds.label_cardinality} != {want['cardinality']}"
                )
        if ds.name != f.removesuffix(".arff.gz"):
            problems.append(f"{f}: name {ds.name!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_label_positions_follow_meka_c(datasets_dir: Path, manifest: dict[str, dict]) -> None:
    for f, want in manifest.items():
        hdr = read_arff_header(datasets_dir / f)
        assert hdr.c == want["c"], f
        n_attr = hdr.n_attributes
        expect = range(n_attr - want["n"], n_attr) if want["where"] == "last" else range(want["n"])
        assert hdr.label_positions == tuple(expect), f
        assert hdr.sparse == (want["form"] == "sparse"), f


@pytest.mark.slow
def test_arrays_are_well_formed(loaded: dict[str, Dataset]) -> None:
    for f, ds in loaded.items():
        assert ds.Y.dtype == np.uint8 and ds.Y.flags.c_contiguous, f
        assert set(np.unique(ds.Y).tolist()) <= {0, 1}, f
        if isinstance(ds.X, CSR):
            X = ds.X
            assert X.indptr[0] == 0 and X.indptr[-1] == X.indices.size == X.data.size, f
            assert np.all(np.diff(X.indptr) >= 0), f
            assert X.indices.min() >= 0 and X.indices.max() < ds.n_features, f
            assert np.all(X.data != 0.0) and np.isfinite(X.data).all(), f
            # strictly increasing column indices inside each row
            inside = np.ones(X.indices.size, dtype=bool)
            inside[X.indptr[:-1][np.diff(X.indptr) > 0]] = False
            assert np.all(np.diff(X.indices)[inside[1:]] > 0), f
        else:
            assert ds.X.dtype == np.float64 and ds.X.flags.c_contiguous, f
            assert np.isfinite(ds.X).all(), f


@pytest.mark.parametrize("name", ["flags", "medical", "genbase", "yeast", "slashdot"])
def test_iter_arff_agrees_with_load_arff(datasets_dir: Path, name: str) -> None:
    path = datasets_dir / f"{name}.arff.gz"
    ds = load_arff(path)
    n = 0
    for (x, y), (x2, y2) in zip(iter_arff(path), ds.iter_dicts(), strict=True):
        assert x == x2 and y == y2
        n += 1
    assert n == len(ds)
    if ds.schema.sparse:
        assert max(len(x) for x, _ in ds.iter_dicts()) < ds.n_features  # only non-zeros


def test_limit_on_a_real_file(datasets_dir: Path) -> None:
    full = load_arff(datasets_dir / "tmc.arff.gz")
    head = load_arff(datasets_dir / "tmc.arff.gz", limit=1000)
    assert len(head) == 1000
    assert np.array_equal(head.X.toarray(), full.head(1000).X.toarray())
    assert np.array_equal(head.Y, full.Y[:1000])


def test_nominal_features_of_genbase(datasets_dir: Path) -> None:
    ds = load_arff(datasets_dir / "genbase.arff.gz")
    assert ds.schema.features[0] == "protein"
    assert len(ds.schema.nominal["protein"]) == 662
    assert ds.schema.nominal[ds.schema.features[1]] == ["YES", "NO"]
    # one distinct protein per row, encoded as its index in the declared list
    assert sorted(ds.X[:, 0].astype(int).tolist()) == list(range(662))
    assert set(np.unique(ds.X[:, 1:]).tolist()) <= {0.0, 1.0}
