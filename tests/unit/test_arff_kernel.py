"""The ARFF byte kernel against its slow twin (tests/twins/arff_twin.py), on random lines."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from streamlearn._kernels.arff import parse_chunk, parse_number
from streamlearn.stream.arff import Attribute, _Layout, _RowError
from tests.twins.arff_twin import twin_parse_line

# ---------------------------------------------------------------------------------- numbers


def _random_number(rng: np.random.Generator) -> tuple[str, bool]:
    """A random number text and whether it lies in the kernel's exact fast path."""
    sign = rng.choice(["", "-", "+"], p=[0.7, 0.2, 0.1])
    kind = rng.integers(6)
    if kind == 0:  # short decimal
        s = f"{rng.integers(0, 10 ** rng.integers(1, 8))}.{rng.integers(0, 10**6):06d}"
    elif kind == 1:  # integer with trailing zeros
        s = str(rng.integers(1, 1000)) + "0" * int(rng.integers(0, 12))
    elif kind == 2:  # shortest repr of a random double
        s = repr(float(rng.standard_normal() * 10.0 ** rng.integers(-30, 30)))
        s = s.lstrip("-")
    elif kind == 3:  # explicit exponent
        s = f"{rng.integers(1, 99999)}e{rng.integers(-40, 40)}"
    elif kind == 4:  # many digits (beyond 2**53)
        s = "".join(str(d) for d in rng.integers(0, 10, size=rng.integers(15, 25))) + ".5"
    else:  # leading / trailing zeros, bare point forms
        s = rng.choice(["0.000123", "000.5", ".25", "5.", "0", "0.0", "1.50", "007", "1E+3"])
    text = sign + s
    # exact fast path: mantissa digits without outer zeros <= 2**53 and |exponent| <= 22
    mant, _, exp = text.lstrip("+-").lower().partition("e")
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    trailing = len(digits) - len(digits.rstrip("0"))
    digits = digits.rstrip("0")
    e10 = (int(exp) if exp else 0) - len(fp) + trailing
    simple = not digits or (int(digits) <= 2**53 and -22 <= e10 <= 22)
    return str(text), simple


def _bits(v: float) -> int:
    return struct.unpack("<q", struct.pack("<d", v))[0]


def test_parse_number_matches_python_float_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    accepted = 0
    for _ in range(20_000):
        text, simple = _random_number(rng)
        buf = np.frombuffer((text + ",").encode(), dtype=np.uint8)
        ok, v, end, _ = parse_number(buf, 0, buf.size)
        if ok:
            accepted += 1
            assert end == len(text), text
            assert _bits(v) == _bits(float(text)), (text, v, float(text))
        else:
            assert not simple, f"{text!r} is in the exact fast path but was refused"
    assert accepted > 10_000


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("0", True), ("7", True), ("12", True), ("007", False), ("+1", False), ("-0", False),
     ("1.0", False), ("1e0", False), ("1.", False)],
)  # fmt: skip
def test_parse_number_canonical_integer_flag(text: str, canonical: bool) -> None:
    buf = np.frombuffer(text.encode(), dtype=np.uint8)
    ok, _, _, canon = parse_number(buf, 0, buf.size)
    assert ok and bool(canon) == canonical


@pytest.mark.parametrize("text", ["", ".", "-", "+.", "e5", "1e", "1e+", "?", "nan", "inf"])
def test_parse_number_rejects_non_numbers(text: str) -> None:
    buf = np.frombuffer((text + ",").encode(), dtype=np.uint8)
    ok, _, end, _ = parse_number(buf, 0, buf.size)
    assert not ok or end < len(text)


# ---------------------------------------------------------------------------------- rows

SPECS = {
    "num": lambda: Attribute("a", "numeric", None, 1),
    "nom01": lambda: Attribute("a", "nominal", ("0", "1"), 1),
    "nom012": lambda: Attribute("a", "nominal", ("0", "1", "2"), 1),
    "nomtab": lambda: Attribute("a", "nominal", ("YES", "NO", "x-1", "2"), 1),
    "nomnum": lambda: Attribute("a", "nominal", ("2", "10", "1", "7"), 1),
}


def _random_layout(rng: np.random.Generator) -> tuple[_Layout, list[dict]]:
    n_feat = int(rng.integers(1, 7))
    n_lab = int(rng.integers(1, 4))
    kinds = rng.choice(list(SPECS), size=n_feat)
    feats = [Attribute(f"f{i}", SPECS[k]().kind, SPECS[k]().values, 1) for i, k in enumerate(kinds)]
    labs = [
        Attribute(f"y{i}", "nominal", ("0", "1"), 1)
        if rng.random() < 0.7
        else Attribute(f"y{i}", "numeric", None, 1)
        for i in range(n_lab)
    ]
    c = n_lab if rng.random() < 0.5 else -n_lab
    attributes = labs + feats if c > 0 else feats + labs
    layout = _Layout("mem.arff", attributes, c)
    twin_attrs = []
    for i, a in enumerate(attributes):
        if layout.is_label[i]:
            kind = "labnum" if a.kind == "numeric" else "lab01"
        else:
            kind = "num" if a.kind == "numeric" else "nom"
        twin_attrs.append(
            {
                "kind": kind,
                "values": list(a.values or ()),
                "target": int(layout.targets[i]),
                "is_label": bool(layout.is_label[i]),
            }
        )
    return layout, twin_attrs


def _random_token(rng: np.random.Generator, attr: dict) -> tuple[str, bool]:
    if attr["kind"] == "nom":
        if rng.random() < 0.9:
            return str(rng.choice(attr["values"])), True
        return str(rng.choice(["3", "yes", "01", "?", "1.0"])), True
    if attr["kind"] in ("lab01", "labnum"):
        return str(rng.choice(["0", "1"] if rng.random() < 0.95 else ["2", "1.0", "-1"])), True
    return _random_number(rng)


def _random_line(rng: np.random.Generator, attrs: list[dict]) -> tuple[str, bool]:
    """A random data line (mostly valid) and whether all its numbers are simple."""
    sp = lambda: str(rng.choice(["", "", "", " ", "\t", "  "]))  # noqa: E731
    simple = True
    if rng.random() < 0.5:
        parts = []
        for a in attrs:
            tok, s = _random_token(rng, a)
            simple &= s
            parts.append(sp() + tok + sp())
        line = ",".join(parts)
    else:
        chosen = sorted(rng.choice(len(attrs), size=rng.integers(0, len(attrs) + 1), replace=False))
        entries = []
        for i in chosen:
            tok, s = _random_token(rng, attrs[i])
            simple &= s
            entries.append(f"{sp()}{i}{rng.choice([' ', '  ', chr(9)])}{tok}{sp()}")
        line = "{" + ",".join(entries) + "}"
    if rng.random() < 0.25:  # corrupt it (it may stay valid, with other numbers)
        simple = False
        pos = int(rng.integers(0, len(line) + 1))
        op = rng.integers(3)
        if op == 0:
            line = line[:pos] + str(rng.choice(list(",{} 0123456789.eE+-?x"))) + line[pos:]
        elif op == 1 and line:
            line = line[:pos] + line[pos + 1 :]
        else:
            line = line[:pos] + line[pos:].replace(",", ",,", 1)
    return sp() + line + sp(), simple


@pytest.mark.parametrize("sparse_out", [False, True])
def test_kernel_agrees_with_twin_on_random_chunks(sparse_out: bool) -> None:
    rng = np.random.default_rng(1 if sparse_out else 2)
    checked_accept = checked_fallback = 0
    for _ in range(300):
        layout, attrs = _random_layout(rng)
        lines, expect = [], []
        for _ in range(int(rng.integers(1, 30))):
            r = rng.random()
            if r < 0.08:
                lines.append(str(rng.choice(["", "  ", "% a comment, {1 2}", "\t%x"])))
                continue
            line, simple = _random_line(rng, attrs)
            if not line.strip(" \t"):
                line = "?"
            if line.strip(" \t").startswith("%"):
                line = "x" + line
            lines.append(line)
            expect.append((len(lines) - 1, line, simple, twin_parse_line(line, attrs)))
        eol = str(rng.choice(["\n", "\r\n"]))
        text = eol.join(lines) + (eol if rng.random() < 0.5 else "")
        buf = np.frombuffer(text.encode(), dtype=np.uint8)
        cap = len(lines) + 1
        n_ent = int(np.count_nonzero(buf == 44)) + cap
        X = np.zeros((cap, layout.n_features))
        Y = np.zeros((cap, layout.n_labels), dtype=np.uint8)
        ent_idx = np.zeros(n_ent, dtype=np.int64)
        ent_val = np.zeros(n_ent)
        rp, rn, rl, rs, re_ = (np.zeros(cap, dtype=np.int64) for _ in range(5))
        py = np.zeros(cap, dtype=np.bool_)
        rows, n_lines, used, _ = parse_chunk(
            buf, layout.kinds, layout.targets, layout.maxv, layout.tab_lo, layout.tab_hi,
            layout.tab_off, layout.tab_len, layout.tab_code, layout.tab_bytes, sparse_out, cap,
            X, Y, ent_idx, ent_val, rp, rn, rl, rs, re_, py,
        )  # fmt: skip
        assert rows == len(expect)
        assert used == buf.size
        for r, (line_no, line, simple, twin) in enumerate(expect):
            assert rl[r] == line_no
            assert buf[rs[r] : re_[r]].tobytes().decode() == line.strip(" \t\r")
            # the Python row parser agrees with the twin on validity and values
            try:
                _, cols, vals, labs = layout.parse_row(line)
                py_result = (dict(zip(cols, vals)), set(labs))
            except _RowError:
                py_result = None
            assert py_result == twin, line
            if py[r]:
                checked_fallback += 1
                # a valid row of simple tokens is always taken by the kernel
                assert twin is None or not simple, line
                continue
            checked_accept += 1
            assert twin is not None, f"kernel accepted an invalid row {line!r}"
            feats, labels = twin
            assert set(np.flatnonzero(Y[r]).tolist()) == labels, line
            if sparse_out:
                a = rp[r]
                got = dict(zip(ent_idx[a : a + rn[r]].tolist(), ent_val[a : a + rn[r]].tolist()))
                assert got == {c: v for c, v in feats.items() if v != 0.0}, line
                assert list(got) == sorted(got)
            else:
                want = np.zeros(layout.n_features)
                for c, v in feats.items():
                    want[c] = v
                assert np.array_equal(X[r], want), line
    assert checked_accept > 500 and checked_fallback > 100


def test_kernel_stops_after_max_rows() -> None:
    layout = _Layout(
        "m", [Attribute("f", "numeric", None, 1), Attribute("y", "numeric", None, 2)], -1
    )
    buf = np.frombuffer(b"1,0\n\n2,1\n3,0\n", dtype=np.uint8)
    X = np.zeros((2, 1))
    Y = np.zeros((2, 1), dtype=np.uint8)
    z = np.zeros(2, dtype=np.int64)
    rows, lines, used, _ = parse_chunk(
        buf, layout.kinds, layout.targets, layout.maxv, layout.tab_lo, layout.tab_hi,
        layout.tab_off, layout.tab_len, layout.tab_code, layout.tab_bytes, False, 2, X, Y,
        np.zeros(0, dtype=np.int64), np.zeros(0), z.copy(), z.copy(), z.copy(), z.copy(),
        z.copy(), np.zeros(2, dtype=np.bool_),
    )  # fmt: skip
    assert (rows, lines, used) == (2, 3, 9)
    assert X[:, 0].tolist() == [1.0, 2.0] and Y[:, 0].tolist() == [0, 1]
