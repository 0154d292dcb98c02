"""The MEKA ARFF reader on hand-written files: forms, quoting, -C, nominal encoding, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamlearn.base.arrays import CSR
from streamlearn.stream import ArffError, iter_arff, load_arff, read_arff_header
from streamlearn.stream.arff import _Reader


def write(tmp_path: Path, text: str | bytes, name: str = "t.arff", gz: bool = False) -> Path:
    path = tmp_path / name
    raw = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def dense_of(X: np.ndarray | CSR) -> np.ndarray:
    return X.toarray() if isinstance(X, CSR) else X


HEADER = """% a comment before everything
@relation 'Toy: -C -2'

@attribute a numeric
@attribute b real
@attribute c {0,1}
@attribute y1 {0,1}
@attribute y2 {0,1}

@data
"""
ROWS = [[1.5, 0.0, 1.0, 1, 0], [0.0, 0.0, 0.0, 0, 0], [0.0, -2.0, 0.0, 1, 1]]
DENSE = HEADER + "1.5,0,1,1,0\n0,0,0,0,0\n0,-2,0,1,1\n"
SPARSE = HEADER + "{0 1.5,2 1,3 1}\n{}\n{1 -2, 3 1, 4 1}\n"


def test_dense_and_sparse_rows_give_the_same_values(tmp_path: Path) -> None:
    d = load_arff(write(tmp_path, DENSE, "d.arff"))
    s = load_arff(write(tmp_path, SPARSE, "s.arff"))
    want = np.array(ROWS)
    assert isinstance(d.X, np.ndarray) and d.X.dtype == np.float64 and d.X.flags.c_contiguous
    assert isinstance(s.X, CSR)
    assert not d.schema.sparse and s.schema.sparse
    assert np.array_equal(d.X, want[:, :3]) and np.array_equal(s.X.toarray(), want[:, :3])
    assert np.array_equal(d.Y, want[:, 3:]) and np.array_equal(s.Y, want[:, 3:])
    assert d.Y.dtype == np.uint8 and s.Y.dtype == np.uint8
    assert d.schema.features == ["a", "b", "c"] and d.schema.labels == ["y1", "y2"]
    assert d.schema.nominal == {"c": ["0", "1"]}
    # CSR holds no explicit zeros, sorted indices
    assert s.X.indptr.tolist() == [0, 2, 2, 3]
    assert s.X.indices.tolist() == [0, 2, 1]


def test_name_defaults_to_the_file_stem_and_gzip_is_detected_by_magic(tmp_path: Path) -> None:
    plain = load_arff(write(tmp_path, DENSE, "yeast.arff"))
    gz = load_arff(write(tmp_path, DENSE, "yeast.arff.gz", gz=True))
    odd = load_arff(write(tmp_path, DENSE, "no_suffix", gz=True))  # gzip without .gz
    assert (plain.name, gz.name, odd.name) == ("yeast", "yeast", "no_suffix")
    assert gz.schema.name == "yeast"
    assert load_arff(write(tmp_path, DENSE, "x.arff"), name="other").name == "other"
    for ds in (gz, odd):
        assert np.array_equal(ds.X, plain.X) and np.array_equal(ds.Y, plain.Y)


def test_limit_reads_the_first_rows(tmp_path: Path) -> None:
    path = write(tmp_path, SPARSE)
    assert len(load_arff(path, limit=2)) == 2
    assert load_arff(path, limit=2).X.toarray().tolist() == load_arff(path).X.toarray()[:2].tolist()
    assert len(load_arff(path, limit=0)) == 0
    assert len(load_arff(path, limit=99)) == 3
    with pytest.raises(ValueError):
        load_arff(path, limit=-1)


def test_meka_c_positive_means_first_attributes_are_labels(tmp_path: Path) -> None:
    text = """@relation 'Lab first: -C 2 -split-percentage 50'
@attribute y1 {0,1}
@attribute y2 {0,1}
@attribute a numeric
@attribute b numeric
@data
1,0,0.5,2
{1 1, 3 4}
"""
    ds = load_arff(write(tmp_path, text))
    assert ds.schema.labels == ["y1", "y2"] and ds.schema.features == ["a", "b"]
    assert ds.Y.tolist() == [[1, 0], [0, 1]]
    assert ds.X.tolist() == [[0.5, 2.0], [0.0, 4.0]]
    hdr = read_arff_header(write(tmp_path, text, "h.arff"))
    assert hdr.c == 2 and hdr.label_positions == (0, 1) and hdr.feature_positions == (2, 3)
    assert hdr.name == "Lab first" and hdr.relation.startswith("Lab first: -C 2")
    assert hdr.sparse is False


@pytest.mark.parametrize(
    "relation",
    [
        "'R: -C -2'",
        '"R: -C -2"',
        "R:-C-2",
        "'R: -split 3 -C -2 -other x'",
        "'R: -C -2-weka.filters'",
    ],
)
def test_meka_c_negative_and_option_forms(tmp_path: Path, relation: str) -> None:
    text = f"@relation {relation}\n@attribute a numeric\n@attribute y1 {{0,1}}\n@attribute y2 {{0,1}}\n@data\n3,1,0\n"
    ds = load_arff(write(tmp_path, text))
    assert ds.schema.labels == ["y1", "y2"] and ds.X.tolist() == [[3.0]]


def test_quoted_names_and_values(tmp_path: Path) -> None:
    text = r"""@RELATION "Quoted: -C -1"
@ATTRIBUTE 'my feature' NUMERIC
@Attribute "say \"hi\"" Real
@attribute 'it\'s, 50% {x}' {'a b', "c,d", plain}
@attribute date integer
@attribute 'lab el' {0,1}
@DATA
1,2,'a b',4,1
5 , 6 , "c,d" , 7 , '0'   % trailing comment, ignored
{0 9, 2 plain}
"""
    ds = load_arff(write(tmp_path, text))
    assert ds.schema.features == ["my feature", 'say "hi"', "it's, 50% {x}", "date"]
    assert ds.schema.labels == ["lab el"]
    assert ds.schema.nominal == {"it's, 50% {x}": ["a b", "c,d", "plain"]}
    assert ds.X.tolist() == [[1, 2, 0, 4], [5, 6, 1, 7], [9, 0, 2, 0]]
    assert ds.Y.tolist() == [[1], [0], [0]]


def test_nominal_features_are_encoded_as_value_indices(tmp_path: Path) -> None:
    text = """@relation 'N: -C -1'
@attribute landmass {1, 2, 3, 4}
@attribute answer {YES,NO}
@attribute word {0,1}
@attribute y {0,1}
@data
1,NO,1,1
4,YES,0,0
{0 3, 1 NO}
{}
"""
    ds = load_arff(write(tmp_path, text))
    # value "1" of {1,2,3,4} is index 0; an omitted sparse nominal is its first value
    assert ds.X.tolist() == [[0, 1, 1], [3, 0, 0], [2, 1, 0], [0, 0, 0]]
    assert ds.schema.nominal == {
        "landmass": ["1", "2", "3", "4"],
        "answer": ["YES", "NO"],
        "word": ["0", "1"],
    }


def test_label_values_are_literal_whatever_the_declared_order(tmp_path: Path) -> None:
    text = "@relation 'L: -C 2'\n@attribute y1 {1,0}\n@attribute y2 numeric\n@attribute a numeric\n@data\n1,0,5\n0,1.0,6\n"
    ds = load_arff(write(tmp_path, text))
    assert ds.Y.tolist() == [[1, 0], [0, 1]]


def test_mixed_rows_crlf_blank_lines_and_comments(tmp_path: Path) -> None:
    text = (
        HEADER.replace("\n", "\r\n")
        + "\r\n{0 1.5,2 1,3 1}\r\n% c\r\n\r\n0,0,0,0,0\r\n{1 -2,3 1,4 1}"
    )
    ds = load_arff(write(tmp_path, text))
    assert ds.schema.sparse and isinstance(ds.X, CSR)
    assert np.array_equal(ds.X.toarray(), np.array(ROWS)[:, :3])
    dense_first = HEADER + "1.5,0,1,1,0\n{}\n{1 -2,3 1,4 1}\n"
    dd = load_arff(write(tmp_path, dense_first, "d.arff"))
    assert not dd.schema.sparse and np.array_equal(dd.X, np.array(ROWS)[:, :3])


def test_empty_data_section(tmp_path: Path) -> None:
    ds = load_arff(write(tmp_path, HEADER + "% nothing\n"))
    assert len(ds) == 0 and ds.X.shape == (0, 3) and ds.Y.shape == (0, 2)
    assert ds.label_cardinality == 0.0
    assert list(iter_arff(write(tmp_path, HEADER, "e.arff"))) == []


def test_read_arff_header(tmp_path: Path) -> None:
    hdr = read_arff_header(write(tmp_path, SPARSE, gz=True))
    assert hdr.relation == "Toy: -C -2" and hdr.name == "Toy" and hdr.c == -2
    assert [a.name for a in hdr.attributes] == ["a", "b", "c", "y1", "y2"]
    assert [a.kind for a in hdr.attributes] == [
        "numeric",
        "numeric",
        "nominal",
        "nominal",
        "nominal",
    ]
    assert hdr.attributes[2].values == ("0", "1") and hdr.attributes[2].line == 6
    assert hdr.label_positions == (3, 4) and hdr.feature_positions == (0, 1, 2)
    assert hdr.n_labels == 2 and hdr.n_features == 3 and hdr.data_line == 10
    assert hdr.label_names == ["y1", "y2"] and hdr.sparse is True
    assert hdr.schema().name == "Toy"


def test_iter_arff_yields_river_style_dicts(tmp_path: Path) -> None:
    sparse = list(iter_arff(write(tmp_path, SPARSE, "s.arff")))
    dense = list(iter_arff(write(tmp_path, DENSE, "d.arff")))
    assert sparse[0] == ({"a": 1.5, "c": 1.0}, {"y1": True, "y2": False})
    assert sparse[1] == ({}, {"y1": False, "y2": False})
    assert dense[1] == ({"a": 0.0, "b": 0.0, "c": 0.0}, {"y1": False, "y2": False})
    assert all(type(v) is bool for _, y in dense for v in y.values())


def _many_rows(n: int, sparse: bool, seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.round(rng.standard_normal((n, 3)), 3) * (rng.random((n, 3)) < 0.6)
    X[:, 2] = rng.integers(0, 2, n)
    Y = rng.integers(0, 2, (n, 2))
    lines = []
    for x, y in zip(X, Y):
        vals = [*x.tolist(), *y.tolist()]
        if sparse:
            lines.append("{" + ",".join(f"{i} {v:g}" for i, v in enumerate(vals) if v) + "}")
        else:
            lines.append(",".join(f"{v:g}" for v in vals))
    return HEADER + "\n".join(lines) + "\n", X, Y


@pytest.mark.parametrize("sparse", [False, True])
def test_small_blocks_split_lines_anywhere(tmp_path: Path, sparse: bool) -> None:
    text, X, Y = _many_rows(400, sparse)
    path = write(tmp_path, text, gz=True)
    reader = _Reader(path)
    try:
        blocks = list(reader.blocks(block_size=37))
    finally:
        reader.close()
    assert len(blocks) > 50
    got_Y = np.concatenate([b.Y for b in blocks])
    lines = np.concatenate([b.lines for b in blocks])
    assert np.array_equal(got_Y, Y)
    assert lines.tolist() == list(range(11, 411))  # data starts after @data on line 10
    ds = load_arff(path)
    assert np.array_equal(dense_of(ds.X), X) and np.array_equal(ds.Y, Y)
    pairs = list(iter_arff(path))
    assert len(pairs) == 400
    for (x, y), row, yrow in zip(pairs, dense_of(ds.X), ds.Y):
        want = dict(zip("abc", row.tolist()))
        if sparse:
            want = {k: v for k, v in want.items() if v != 0.0}
        assert x == want and y == {"y1": bool(yrow[0]), "y2": bool(yrow[1])}


# ---------------------------------------------------------------------------------- errors

GOOD = HEADER + "1,2,1,0,1\n" * 30  # data rows on lines 11..40
BAD_AT = 41


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("@attribute a numeric\n", 1, "expected @relation"),
        ("% c\n@relation foo\n@attribute a numeric\n@data\n", 2, "-C n"),
        ("@relation 'x: -C -3'\n@attribute a numeric\n@attribute y {0,1}\n@data\n", 1, "-C -3"),
        ("@relation 'x: -C 0'\n@attribute a numeric\n@data\n", 1, "-C 0"),
        ("@relation 'x: -C -1'\n@attribute a blah\n", 2, "unknown type 'blah'"),
        ("@relation 'x: -C -1'\n@attribute s string\n", 2, "string attributes are not supported"),
        ("@relation 'x: -C -1'\n@attribute d date 'yyyy'\n", 2, "date attributes are not"),
        ("@relation 'x: -C -1'\n@attribute 'open numeric\n", 2, "unterminated quote"),
        ("@relation 'x: -C -1'\n@attribute a numeric\n\n@attribute a numeric\n", 4, "declared twice (first on line 2)"),
        ("@relation 'x: -C -1'\n@attribute a {x,y\n", 2, "not closed"),
        ("@relation 'x: -C -1'\n@attribute a\n", 2, "has no type"),
        ("@relation 'x: -C -1'\n@attribute a numeric\n@attribute y {a,b}\n@data\n", 3, "must be nominal {0,1}"),
        ("@relation 'x: -C -1'\n@attribute a numeric\n@attribute y {0,1}\n", 3, "end of file before @data"),
        ("@relation 'x: -C -1'\nhello\n", 2, "expected @attribute or @data"),
        ("@relation 'x: -C -1'\n@attribute a numeric\n@attribute y {0,1}\n@end\n", 4, "unsupported header keyword"),
        (GOOD + "1,2,1,0\n", BAD_AT, "expected 5 comma-separated values, found 4"),
        (GOOD + "1,2,1,0,1,0\n", BAD_AT, "expected 5 comma-separated values, found 6"),
        (GOOD + "1,abc,1,0,1\n", BAD_AT, "value 'abc' of numeric attribute 'b' (#2) is not a number"),
        (GOOD + "1,nan,1,0,1\n", BAD_AT, "is not a number"),
        (GOOD + "1,1e999,1,0,1\n", BAD_AT, "out of range"),
        (GOOD + "1,2,3,0,1\n", BAD_AT, "value '3' of nominal attribute 'c' (#3) is not one of {0,1}"),
        (GOOD + "1,2,1,2,1\n", BAD_AT, "label 'y1' (#4) must be 0 or 1, found '2'"),
        (GOOD + "1,?,1,0,1\n", BAD_AT, "missing value '?' in attribute 'b' (#2)"),
        (GOOD + "1,,1,0,1\n", BAD_AT, "empty value at position 2"),
        (GOOD + "1 2,1,0,1\n", BAD_AT, "expected ',' between values"),
        (GOOD + "1,'2,1,0,1\n", BAD_AT, "unterminated quote"),
        (GOOD + "1,2,1,0,1,{3}\n", BAD_AT, "instance weights are not supported"),
        (GOOD + "{0 1, 5 1}\n", BAD_AT, "sparse index 5 out of range (attributes are 0..4)"),
        (GOOD + "{3 1, 1 1}\n", BAD_AT, "sparse indices must increase: 1 after 3"),
        (GOOD + "{0 1, 1 1}\n", BAD_AT, None),  # valid: no error expected
        (GOOD + "{0 1, 1 1\n", BAD_AT, "not closed"),
        (GOOD + "{0 1 2}\n", BAD_AT, "is not 'index value'"),
        (GOOD + "{x 1}\n", BAD_AT, "sparse index 'x' is not a non-negative integer"),
        (GOOD + "{3 5}\n", BAD_AT, "label 'y1' (#4) must be 0 or 1, found '5'"),
        (GOOD + "1,2,1,0,1\n1,2,x,0,1\n" + "1,2,x,0,y\n", BAD_AT + 1, "value 'x' of nominal"),
    ],
)  # fmt: skip
def test_malformed_input_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str | None
) -> None:
    for gz in (False, True):
        path = write(tmp_path, text, "bad.arff.gz" if gz else "bad.arff", gz=gz)
        if fragment is None:
            assert len(load_arff(path)) == 31
            continue
        with pytest.raises(ArffError) as info:
            load_arff(path)
        err = info.value
        assert err.line == line, str(err)
        assert str(err).startswith(f"{path}, line {line}: "), str(err)
        assert fragment in str(err)
        assert isinstance(err, ValueError)
        # streaming reports the same error, once the line is reached
        with pytest.raises(ArffError) as info2:
            for _ in iter_arff(path):
                pass
        assert str(info2.value) == str(err)


def test_non_utf8_bytes_are_reported_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.encode() + b"1,2,1,0,\xff\n")
    with pytest.raises(ArffError, match=r", line 41: not valid UTF-8"):
        load_arff(path)


def test_truncated_and_corrupt_gzip(tmp_path: Path) -> None:
    raw = gzip.compress((GOOD * 1).encode() + b"1,2,1,0,1\n" * 20_000)
    trunc = tmp_path / "trunc.arff.gz"
    trunc.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArffError, match="gzip stream is truncated") as info:
        load_arff(trunc)
    assert info.value.line is not None and info.value.line > 10
    corrupt = tmp_path / "corrupt.arff.gz"
    corrupt.write_bytes(raw[:20] + bytes(b ^ 0x55 for b in raw[20:60]) + raw[60:])
    with pytest.raises(ArffError, match=r"corrupt\.arff\.gz"):
        load_arff(corrupt)


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ArffError, match="cannot open"):
        load_arff(tmp_path / "nope.arff")
    with pytest.raises(ArffError, match="no @relation"):
        load_arff(write(tmp_path, ""))


def test_error_pickles() -> None:
    import pickle

    err = ArffError("f.arff", 3, "bad")
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.line, back.reason, str(back)) == ("f.arff", 3, "bad", str(err))


# ---------------------------------------------------------------------------------- property

NAME_CHARS = st.characters(
    codec="utf-8", exclude_characters="\n\r\x00", exclude_categories=("Cs", "Cc")
)


def _quote(s: str, q: str) -> str:
    return q + s.replace("\\", "\\\\").replace(q, "\\" + q) + q


def _maybe_quote(s: str, q: str) -> str:
    special = set(" \t,{}'\"%\\") | {"\u3000", "\x0b", "\x0c"}
    if (
        s
        and not (set(s) & special)
        and not s.startswith("@")
        and s != "?"
        and s.isprintable()
        and not any(c.isspace() for c in s)
    ):
        return s
    return _quote(s, q)


@st.composite
def datasets(draw: st.DrawFn) -> dict:
    n_feat = draw(st.integers(1, 5))
    n_lab = draw(st.integers(1, 3))
    names = draw(
        st.lists(st.text(NAME_CHARS, min_size=1, max_size=8), min_size=n_feat + n_lab,
                 max_size=n_feat + n_lab, unique=True)
    )  # fmt: skip
    kinds = draw(st.lists(st.sampled_from(["num", "nom"]), min_size=n_feat, max_size=n_feat))
    values = {
        i: draw(st.lists(st.text(NAME_CHARS, min_size=1, max_size=5), min_size=1, max_size=4, unique=True))
        for i, k in enumerate(kinds)
        if k == "nom"
    }  # fmt: skip
    n = draw(st.integers(0, 12))
    floats = st.one_of(
        st.just(0.0), st.just(1.0), st.floats(allow_nan=False, allow_infinity=False),
        st.floats(-1e6, 1e6).map(lambda v: round(v, 3)),
    )  # fmt: skip
    X = np.zeros((n, n_feat))
    for j, k in enumerate(kinds):
        col = st.integers(0, len(values[j]) - 1).map(float) if k == "nom" else floats
        X[:, j] = draw(st.lists(col, min_size=n, max_size=n))
    Y = np.array(draw(st.lists(st.lists(st.integers(0, 1), min_size=n_lab, max_size=n_lab),
                               min_size=n, max_size=n)), dtype=np.uint8).reshape(n, n_lab)  # fmt: skip
    return {
        "features": names[:n_feat],
        "labels": names[n_feat:],
        "kinds": kinds,
        "values": values,
        "X": X,
        "Y": Y,
        "labels_first": draw(st.booleans()),
        "quote": draw(st.sampled_from(["'", '"'])),
        "pad": draw(st.sampled_from(["", " ", "\t"])),
        "upper": draw(st.booleans()),
    }


def _render(d: dict, sparse: bool) -> str:
    q, pad = d["quote"], d["pad"]
    n_lab = len(d["labels"])
    kw = (lambda s: s.upper()) if d["upper"] else (lambda s: s)
    c = n_lab if d["labels_first"] else -n_lab
    feat_decl = []
    for j, name in enumerate(d["features"]):
        if d["kinds"][j] == "nom":
            typ = "{" + ",".join(_maybe_quote(v, q) for v in d["values"][j]) + "}"
        else:
            typ = kw("numeric")
        feat_decl.append(f"{kw('@attribute')} {_maybe_quote(name, q)} {typ}")
    lab_decl = [f"{kw('@attribute')} {_maybe_quote(name, q)} {{0,1}}" for name in d["labels"]]
    decl = lab_decl + feat_decl if d["labels_first"] else feat_decl + lab_decl
    lines = [f"{kw('@relation')} {_quote(f'gen: -C {c}', q)}", *decl, kw("@data")]
    for x, y in zip(d["X"], d["Y"]):
        fvals = []  # (text, is zero)
        for j, v in enumerate(x.tolist()):
            if d["kinds"][j] == "nom":
                fvals.append((_maybe_quote(d["values"][j][int(v)], q), v == 0))
            else:
                fvals.append((repr(v), v == 0))
        lvals = [(str(int(b)), b == 0) for b in y]
        vals = lvals + fvals if d["labels_first"] else fvals + lvals
        if sparse:
            entries = [f"{i} {v}" for i, (v, zero) in enumerate(vals) if not zero]
            lines.append("{" + f",{pad}".join(entries) + "}")
        else:
            lines.append(f",{pad}".join(v for v, _ in vals))
    return "\n".join(lines) + "\n"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(d=datasets())
def test_random_datasets_round_trip_dense_and_sparse(tmp_path: Path, d: dict) -> None:
    dense_path = write(tmp_path, _render(d, sparse=False), "dense.arff")
    sparse_path = write(tmp_path, _render(d, sparse=True), "sparse.arff.gz", gz=True)
    dense = load_arff(dense_path)
    sparse = load_arff(sparse_path)
    n = len(d["Y"])
    assert len(dense) == len(sparse) == n
    for ds in (dense, sparse):
        assert ds.schema.features == d["features"]
        assert ds.schema.labels == d["labels"]
        assert ds.schema.nominal == {d["features"][j]: v for j, v in d["values"].items()}
        assert np.array_equal(ds.Y, d["Y"])
        assert np.array_equal(dense_of(ds.X), d["X"])
    assert isinstance(dense.X, np.ndarray)
    assert dense.schema.sparse is False
    if n:
        assert isinstance(sparse.X, CSR) and sparse.schema.sparse is True
        assert not np.any(sparse.X.data == 0.0)
    # the streaming reader agrees
    for (x, y), (x2, y2) in zip(iter_arff(sparse_path), sparse.iter_dicts()):
        assert x == x2 and y == y2
