"""A MEKA ARFF reader: dense and sparse rows, gzip or plain, labels from ``-C n``.

MEKA keeps the number of labels in the relation name: ``@relation 'Name: -C n ...'``. With
``n > 0`` the first ``n`` attributes are the labels, with ``n < 0`` the last ``|n|``. Labels are
nominal ``{0,1}`` (or numeric 0/1). Features are numeric (``numeric``, ``real``, ``integer``) or
nominal; a nominal feature is encoded as the index of its value in the declared list (so
``{0,1}`` keeps its meaning) and the lists are kept in ``schema.nominal``.

Data rows are dense (``v1,v2,...``) or sparse (``{i v, j w, ...}``: 0-based attribute indices in
increasing order, omitted attributes are 0, i.e. the first value of a nominal attribute).
Sparse files are read straight into :class:`~streamlearn.base.arrays.CSR` arrays (never
densified); the form of the first data row decides the storage and ``schema.sparse``; rows of
the other form are accepted too.

Malformed input raises :class:`ArffError`, whose message names the file, the line and what is
wrong. Missing values (``?``), string, date and relational attributes and instance weights are
not supported and raise it too.

Speed: the bulk of the data section goes through a numba kernel over raw bytes
(:mod:`streamlearn._kernels.arff`); rows it cannot settle (quoted values, nominal values other
than ``0..k-1``, malformed rows...) are parsed here in Python, which also produces every error
message. Files are read in blocks of a few MiB, so :func:`iter_arff` runs in constant memory.

Examples
--------
>>> import tempfile, pathlib
>>> text = '''@relation 'toy: -C -2'
... @attribute f1 numeric
... @attribute 'f 2' {a,b}
... @attribute y1 {0,1}
... @attribute y2 {0,1}
... @data
... 1.5,b,1,0
... {0 2, 3 1}
... '''
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "toy.arff"
...     _ = path.write_text(text)
...     ds = load_arff(path)
...     pairs = list(iter_arff(path))
>>> ds.name, ds.schema.features, ds.schema.labels, ds.schema.nominal
('toy', ['f1', 'f 2'], ['y1', 'y2'], {'f 2': ['a', 'b']})
>>> ds.X.tolist(), ds.Y.tolist()
([[1.5, 1.0], [2.0, 0.0]], [[1, 0], [0, 1]])
>>> pairs[1]
({'f1': 2.0, 'f 2': 0.0}, {'y1': False, 'y2': True})

"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from streamlearn.base.arrays import CSR
from streamlearn.schema import Schema
from streamlearn.stream.dataset import Dataset

__all__ = [
    "ArffError",
    "ArffHeader",
    "Attribute",
    "iter_arff",
    "load_arff",
    "read_arff_header",
]

#: Bytes of the data section read (and parsed) at a time by :func:`iter_arff`.
BLOCK_SIZE = 1 << 22
#: ... and by :func:`load_arff` without ``limit`` (fewer, larger blocks: no concatenation).
WHOLE_BLOCK_SIZE = 1 << 26

_NUM_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT_RE = re.compile(r"\d+")
_MEKA_C_RE = re.compile(r"(?:^|[\s:'\"])-C\s*(-?\d+)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}
_SPECIAL = frozenset(" \t\r\n,{}'\"%")
_BLANKS = " \t\r\n"
_BLANK_RUN = re.compile(r"[ \t\r\n]+")
_NUMERIC_TYPES = ("numeric", "real", "integer")


class ArffError(ValueError):
    """Malformed or unsupported ARFF input; the message names the file and the line."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.line, self.reason))


class _RowError(Exception):
    """Raised while parsing one line; turned into ArffError with the path and line number."""


# ---------------------------------------------------------------------------------- header
@dataclass(frozen=True)
class Attribute:
    """One ``@attribute`` declaration.

    ``kind`` is ``"numeric"`` (numeric, real, integer) or ``"nominal"``; ``values`` holds the
    nominal values in declaration order (``None`` for numeric); ``line`` is where it was
    declared.
    """

    name: str
    kind: str
    values: tuple[str, ...] | None
    line: int


@dataclass(frozen=True)
class ArffHeader:
    """What the header of a MEKA ARFF file says.

    ``relation`` is the relation name as written (``'Yeast: -C -14'`` unquoted), ``name`` its
    part before ``:``; ``c`` the MEKA ``-C`` value; ``label_positions`` and
    ``feature_positions`` the 0-based attribute indices of labels and features;
    ``data_line`` the line number of ``@data``; ``sparse`` whether the first data row is
    sparse (False when there is no data row).
    """

    path: str
    relation: str
    attributes: tuple[Attribute, ...]
    c: int
    label_positions: tuple[int, ...]
    feature_positions: tuple[int, ...]
    data_line: int
    sparse: bool

    @property
    def name(self) -> str:
        return self.relation.split(":", 1)[0].strip()

    @property
    def n_attributes(self) -> int:
        return len(self.attributes)

    @property
    def n_labels(self) -> int:
        return len(self.label_positions)

    @property
    def n_features(self) -> int:
        return len(self.feature_positions)

    @property
    def label_names(self) -> list[str]:
        return [self.attributes[i].name for i in self.label_positions]

    @property
    def feature_names(self) -> list[str]:
        return [self.attributes[i].name for i in self.feature_positions]

    def schema(self, name: str | None = None) -> Schema:
        """The :class:`Schema` of the stream (nominal value lists of the features kept)."""
        nominal = {
            self.attributes[i].name: list(self.attributes[i].values or ())
            for i in self.feature_positions
            if self.attributes[i].kind == "nominal"
        }
        return Schema(
            features=self.feature_names,
            labels=self.label_names,
            sparse=self.sparse,
            nominal=nominal,
            name=self.name if name is None else name,
        )


def _tokenize(text: str) -> list[tuple[str, str]]:
    """Split a line into tokens ``(kind, text)``: kind ``a`` (bare word), ``q`` (quoted),
    ``,``, ``{`` or ``}``. ``%`` outside quotes starts a comment."""
    toks: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "%":
            break
        elif c in ",{}":
            toks.append((c, c))
            i += 1
        elif c in "'\"":
            j = i + 1
            out: list[str] = []
            while True:
                if j >= n:
                    raise _RowError(f"unterminated quote {c} starting at column {i + 1}")
                ch = text[j]
                if ch == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    out.append(_ESCAPES.get(nxt, nxt))
                    j += 2
                    continue
                if ch == c:
                    break
                out.append(ch)
                j += 1
            toks.append(("q", "".join(out)))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in _SPECIAL:
                j += 1
            toks.append(("a", text[i:j]))
            i = j
    return toks


def _word(tok: tuple[str, str] | None, what: str) -> str:
    if tok is None or tok[0] not in "aq":
        raise _RowError(f"expected {what}, found {_show(tok)}")
    return tok[1]


def _show(tok: tuple[str, str] | None) -> str:
    if tok is None:
        return "end of line"
    return repr(tok[1])


def _parse_nominal(toks: list[tuple[str, str]], k: int) -> tuple[list[str], int]:
    """Parse ``{a, b, ...}`` starting at ``toks[k] == '{'``; return (values, next index)."""
    values: list[str] = []
    k += 1
    expect_value = True
    while True:
        if k >= len(toks):
            raise _RowError("nominal value list is not closed with '}'")
        kind, text = toks[k]
        if kind == "}":
            if expect_value and values:
                raise _RowError("empty value in nominal value list")
            return values, k + 1
        if expect_value:
            if kind not in "aq":
                raise _RowError(f"expected a nominal value, found {text!r}")
            values.append(text)
            expect_value = False
        else:
            if kind != ",":
                raise _RowError(f"expected ',' between nominal values, found {text!r}")
            expect_value = True
        k += 1


def _parse_attribute(toks: list[tuple[str, str]], line: int) -> Attribute:
    name = _word(toks[1] if len(toks) > 1 else None, "an attribute name")
    if len(toks) < 3:
        raise _RowError(f"attribute {name!r} has no type")
    kind, text = toks[2]
    if kind == "{":
        values, k = _parse_nominal(toks, 2)
        if not values:
            raise _RowError(f"nominal attribute {name!r} declares no values")
        if len(set(values)) != len(values):
            raise _RowError(f"nominal attribute {name!r} declares a value twice")
        if k != len(toks):
            raise _RowError(f"unexpected {toks[k][1]!r} after the value list of {name!r}")
        return Attribute(name, "nominal", tuple(values), line)
    if kind != "a":
        raise _RowError(f"attribute {name!r}: expected a type, found {text!r}")
    t = text.lower()
    if t in _NUMERIC_TYPES:
        if len(toks) != 3:
            raise _RowError(f"unexpected {toks[3][1]!r} after the type of {name!r}")
        return Attribute(name, "numeric", None, line)
    if t in ("string", "date", "relational"):
        raise _RowError(f"attribute {name!r}: {t} attributes are not supported")
    raise _RowError(f"attribute {name!r}: unknown type {text!r}")


class _Source:
    """A binary stream over a plain or gzip file; I/O and gzip errors become ArffError."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        try:
            raw = open(path, "rb")  # closed in close()
        except OSError as exc:
            raise ArffError(path, None, f"cannot open: {exc.strerror or exc}") from None
        magic = raw.read(2)
        raw.seek(0)
        self.gzip = magic == b"\x1f\x8b"
        self._raw = raw
        self.f: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if self.gzip else raw  # type: ignore[assignment]
        self.line = 0  # lines fully read so far

    def _fail(self, exc: Exception) -> ArffError:
        if isinstance(exc, EOFError):
            why = "the gzip stream is truncated"
        elif isinstance(exc, gzip.BadGzipFile | zlib.error):
            why = f"corrupt gzip data ({exc})"
        else:
            why = f"read error ({exc})"
        return ArffError(self.path, self.line + 1, f"{why} (after line {self.line})")

    def readline(self) -> bytes:
        try:
            return self.f.readline()
        except (EOFError, OSError, zlib.error) as exc:
            raise self._fail(exc) from None

    def read(self, n: int) -> bytes:
        try:
            return self.f.read(n)
        except (EOFError, OSError, zlib.error) as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        try:
            if self.gzip:
                self.f.close()
        finally:
            self._raw.close()

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode(src: _Source, raw: bytes, line: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArffError(src.path, line, f"not valid UTF-8 ({exc.reason})") from None
    if line == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return text


def _read_header(src: _Source) -> tuple[str, list[Attribute], int, int]:
    """Read up to and including ``@data``; return (relation, attributes, c, data_line)."""
    relation: str | None = None
    relation_line = 0
    attributes: list[Attribute] = []
    seen: dict[str, int] = {}
    while True:
        raw = src.readline()
        if not raw:
            if relation is None:
                raise ArffError(src.path, None, "no @relation line: not an ARFF file")
            raise ArffError(src.path, src.line, "end of file before @data")
        src.line += 1
        line = src.line
        text = _decode(src, raw, line).strip()
        if not text or text.startswith("%"):
            continue
        try:
            toks = _tokenize(text)
            if not toks:
                continue
            key = toks[0][1].lower() if toks[0][0] == "a" else ""
            if relation is None and key != "@relation":
                raise _RowError(f"expected @relation, found {toks[0][1]!r}")
            if key == "@relation":
                if relation is not None:
                    raise _RowError("second @relation line")
                relation = _word(toks[1] if len(toks) > 1 else None, "a relation name")
                if len(toks) > 2:
                    raise _RowError(f"unexpected {toks[2][1]!r} after the relation name (quote it)")
                relation_line = line
            elif key == "@attribute":
                attr = _parse_attribute(toks, line)
                if attr.name in seen:
                    raise _RowError(
                        f"attribute {attr.name!r} declared twice (first on line {seen[attr.name]})"
                    )
                seen[attr.name] = line
                attributes.append(attr)
            elif key == "@data":
                if len(toks) > 1:
                    raise _RowError("unexpected text after @data")
                break
            elif key.startswith("@"):
                raise _RowError(f"unsupported header keyword {toks[0][1]!r}")
            else:
                raise _RowError(f"expected @attribute or @data, found {toks[0][1]!r}")
        except _RowError as exc:
            raise ArffError(src.path, line, str(exc)) from None
    assert relation is not None
    if not attributes:
        raise ArffError(src.path, line, "@data before any @attribute")
    m = _MEKA_C_RE.search(relation)
    if m is None:
        raise ArffError(
            src.path,
            relation_line,
            f"@relation {relation!r} has no MEKA option '-C n' giving the number of labels",
        )
    c = int(m.group(1))
    if c == 0 or abs(c) > len(attributes):
        raise ArffError(
            src.path,
            relation_line,
            f"-C {c}: the number of labels must be between 1 and {len(attributes)} "
            f"(the number of attributes) in absolute value",
        )
    return relation, attributes, c, line


def _positions(n_attr: int, c: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if c > 0:
        return tuple(range(c)), tuple(range(c, n_attr))
    return tuple(range(n_attr + c, n_attr)), tuple(range(n_attr + c))


def _check_labels(path: str, attributes: list[Attribute], labels: tuple[int, ...]) -> None:
    for i in labels:
        a = attributes[i]
        if a.kind == "nominal" and not set(a.values or ()) <= {"0", "1"}:
            shown = ",".join(a.values or ())
            raise ArffError(
                path,
                a.line,
                f"label attribute {a.name!r} must be nominal {{0,1}} or numeric, found {{{shown}}}",
            )


# ---------------------------------------------------------------------------------- rows
class _Layout:
    """Per-attribute parsing tables shared by the kernel and the Python row parser."""

    def __init__(self, path: str, attributes: list[Attribute], c: int) -> None:
        from streamlearn._kernels import arff as K

        self.path = path
        self.attributes = attributes
        self.n_attr = len(attributes)
        self.labels, self.features = _positions(self.n_attr, c)
        self.n_labels = len(self.labels)
        self.n_features = len(self.features)
        n = self.n_attr
        self.kinds = np.empty(n, dtype=np.int64)
        self.targets = np.empty(n, dtype=np.int64)
        self.maxv = np.zeros(n, dtype=np.float64)
        self.is_label = np.zeros(n, dtype=np.bool_)
        self.tab_lo = np.zeros(n, dtype=np.int64)
        self.tab_hi = np.zeros(n, dtype=np.int64)
        tab: list[tuple[bytes, int]] = []
        self.converters: list[Callable[[str, bool], float]] = []
        for col, i in enumerate(self.features):
            self.targets[i] = col
        for col, i in enumerate(self.labels):
            self.targets[i] = col
            self.is_label[i] = True
        for i, a in enumerate(attributes):
            if self.is_label[i]:
                if a.kind == "numeric":
                    self.kinds[i] = K.K_LABNUM
                elif set(a.values or ()) == {"0", "1"}:
                    self.kinds[i] = K.K_LAB01
                else:
                    self.kinds[i] = K.K_PY
                self.converters.append(self._label_converter(i, a))
            elif a.kind == "numeric":
                self.kinds[i] = K.K_NUM
                self.converters.append(self._numeric_converter(i, a))
            else:
                vals = a.values or ()
                if list(vals) == [str(k) for k in range(len(vals))]:
                    self.kinds[i] = K.K_NOM
                    self.maxv[i] = len(vals) - 1
                else:
                    self.kinds[i] = K.K_TAB
                    lo = len(tab)
                    tab.extend(sorted((v.encode("utf-8"), k) for k, v in enumerate(vals)))
                    self.tab_lo[i], self.tab_hi[i] = lo, len(tab)
                self.converters.append(self._nominal_converter(i, a))
        # value tables of the K_TAB nominal features, for the kernel
        self.tab_off = np.zeros(len(tab), dtype=np.int64)
        self.tab_len = np.zeros(len(tab), dtype=np.int64)
        self.tab_code = np.zeros(len(tab), dtype=np.int64)
        off = 0
        for j, (raw, code) in enumerate(tab):
            self.tab_off[j], self.tab_len[j], self.tab_code[j] = off, len(raw), code
            off += len(raw)
        self.tab_bytes = np.frombuffer(b"".join(raw for raw, _ in tab), dtype=np.uint8).copy()

    # Python converters: token text (+ quoted flag) -> float, or _RowError.
    @staticmethod
    def _where(i: int, a: Attribute) -> str:
        return f"attribute {a.name!r} (#{i + 1})"

    def _missing(self, i: int, a: Attribute) -> _RowError:
        return _RowError(
            f"missing value '?' in {self._where(i, a)}: missing values are not supported"
        )

    def _numeric_converter(self, i: int, a: Attribute) -> Callable[[str, bool], float]:
        def conv(tok: str, quoted: bool) -> float:
            if _NUM_RE.fullmatch(tok):
                v = float(tok)
                if math.isfinite(v):
                    return v
                raise _RowError(f"value {tok!r} of {self._where(i, a)} is out of range")
            if tok == "?" and not quoted:
                raise self._missing(i, a)
            raise _RowError(f"value {tok!r} of numeric {self._where(i, a)} is not a number")

        return conv

    def _nominal_converter(self, i: int, a: Attribute) -> Callable[[str, bool], float]:
        index = {v: float(k) for k, v in enumerate(a.values or ())}

        def conv(tok: str, quoted: bool) -> float:
            v = index.get(tok)
            if v is not None:
                return v
            if tok == "?" and not quoted:
                raise self._missing(i, a)
            shown = ",".join(a.values or ())
            if len(shown) > 60:
                shown = shown[:57] + "..."
            raise _RowError(
                f"value {tok!r} of nominal {self._where(i, a)} is not one of {{{shown}}}"
            )

        return conv

    def _label_converter(self, i: int, a: Attribute) -> Callable[[str, bool], float]:
        allowed = set(a.values or ())

        def conv(tok: str, quoted: bool) -> float:
            if a.kind == "numeric":
                if _NUM_RE.fullmatch(tok) and float(tok) in (0.0, 1.0):
                    return float(tok)
            elif tok in allowed:
                return float(tok)
            if tok == "?" and not quoted:
                raise self._missing(i, a)
            raise _RowError(f"label {a.name!r} (#{i + 1}) must be 0 or 1, found {tok!r}")

        return conv

    # ------------------------------------------------------------------ one row in Python
    def parse_row(self, text: str) -> tuple[bool, list[int], list[float], list[int]]:
        """Parse one data line: (was_sparse, feature columns, values, true label columns).

        Dense rows give every feature; sparse rows the listed ones (zeros included).
        """
        if "'" in text or '"' in text or "%" in text:
            toks = _tokenize(text)
        else:
            toks = None
        sparse = (toks[0][0] == "{") if toks else text.lstrip(_BLANKS).startswith("{")
        if sparse:
            pairs = self._sparse_tokens(text, toks)
            return (True, *self._convert_sparse(pairs))
        values = self._dense_tokens(text, toks)
        if len(values) != self.n_attr:
            raise _RowError(f"expected {self.n_attr} comma-separated values, found {len(values)}")
        cols: list[int] = []
        vals: list[float] = []
        labs: list[int] = []
        targets = self.targets
        for i, (tok, quoted) in enumerate(values):
            v = self.converters[i](tok, quoted)
            if self.is_label[i]:
                if v == 1.0:
                    labs.append(int(targets[i]))
            else:
                cols.append(int(targets[i]))
                vals.append(v)
        return False, cols, vals, labs

    @staticmethod
    def _dense_tokens(text: str, toks: list[tuple[str, str]] | None) -> list[tuple[str, bool]]:
        if toks is None:
            if "{" in text or "}" in text:
                toks = _tokenize(text)
            else:
                out = []
                for k, part in enumerate(text.split(",")):
                    tok = part.strip(_BLANKS)
                    if not tok:
                        raise _RowError(f"empty value at position {k + 1}")
                    if " " in tok or "\t" in tok:
                        raise _RowError(f"expected ',' between values, found {tok!r}")
                    out.append((tok, False))
                return out
        out = []
        expect_value = True
        for kind, tok in toks:
            if kind in "aq":
                if not expect_value:
                    raise _RowError(f"expected ',' between values, found {tok!r}")
                out.append((tok, kind == "q"))
                expect_value = False
            elif kind == ",":
                if expect_value:
                    raise _RowError(f"empty value at position {len(out) + 1}")
                expect_value = True
            else:
                raise _RowError(
                    f"unexpected {tok!r} in a dense row (instance weights are not supported)"
                )
        if expect_value:
            raise _RowError(f"empty value at position {len(out) + 1}")
        return out

    @staticmethod
    def _sparse_tokens(
        text: str, toks: list[tuple[str, str]] | None
    ) -> list[tuple[str, str, bool]]:
        if toks is None:
            s = text.strip(_BLANKS)
            if s.endswith("}") and s.count("{") == 1 and s.count("}") == 1:
                inner = s[1:-1].strip(_BLANKS)
                if not inner:
                    return []
                out = []
                for part in inner.split(","):
                    bits = _BLANK_RUN.split(part.strip(_BLANKS))
                    if len(bits) != 2:
                        raise _RowError(f"sparse entry {part.strip()!r} is not 'index value'")
                    out.append((bits[0], bits[1], False))
                return out
            toks = _tokenize(text)
        # general path (quotes, comments, stray braces)
        if not toks or toks[0][0] != "{":
            raise _RowError("a sparse row must start with '{'")
        out = []
        k = 1
        if k < len(toks) and toks[k][0] == "}":
            k += 1
        else:
            while True:
                if k + 1 >= len(toks):
                    raise _RowError("sparse row is not closed with '}'")
                idx, val = toks[k], toks[k + 1]
                if idx[0] != "a" or val[0] not in "aq":
                    raise _RowError(f"sparse entry starting with {idx[1]!r} is not 'index value'")
                out.append((idx[1], val[1], val[0] == "q"))
                k += 2
                if k >= len(toks):
                    raise _RowError("sparse row is not closed with '}'")
                if toks[k][0] == ",":
                    k += 1
                    continue
                if toks[k][0] == "}":
                    k += 1
                    break
                raise _RowError(f"expected ',' or '}}' in sparse row, found {toks[k][1]!r}")
        if k != len(toks):
            raise _RowError(
                f"unexpected {toks[k][1]!r} after the sparse row "
                "(instance weights are not supported)"
            )
        return out

    def _convert_sparse(
        self, pairs: list[tuple[str, str, bool]]
    ) -> tuple[list[int], list[float], list[int]]:
        cols: list[int] = []
        vals: list[float] = []
        labs: list[int] = []
        prev = -1
        for idx_tok, tok, quoted in pairs:
            if not _INT_RE.fullmatch(idx_tok):
                raise _RowError(f"sparse index {idx_tok!r} is not a non-negative integer")
            i = int(idx_tok)
            if i >= self.n_attr:
                raise _RowError(
                    f"sparse index {i} out of range (attributes are 0..{self.n_attr - 1})"
                )
            if i <= prev:
                raise _RowError(f"sparse indices must increase: {i} after {prev}")
            prev = i
            v = self.converters[i](tok, quoted)
            if self.is_label[i]:
                if v == 1.0:
                    labs.append(int(self.targets[i]))
            else:
                cols.append(int(self.targets[i]))
                vals.append(v)
        return cols, vals, labs


@dataclass
class _Block:
    """Rows parsed from one block of the data section."""

    X: np.ndarray | None  # dense (rows, n_features)
    indptr: np.ndarray | None  # sparse: CSR of the block
    indices: np.ndarray | None
    data: np.ndarray | None
    Y: np.ndarray
    lines: np.ndarray  # file line number of each row

    def __len__(self) -> int:
        return int(self.Y.shape[0])


class _Reader:
    """Header + blocks of parsed rows of one ARFF file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self.src = _Source(path)
        try:
            relation, attributes, c, data_line = _read_header(self.src)
            labels, features = _positions(len(attributes), c)
            _check_labels(self.path, attributes, labels)
            self.layout = _Layout(self.path, attributes, c)
            self.relation = relation
            self.attributes = attributes
            self.c = c
            self.data_line = data_line
            self._pending = b""
            self._eof = False
            self.sparse = self._peek_sparse()
        except BaseException:
            self.src.close()
            raise

    def header(self) -> ArffHeader:
        return ArffHeader(
            path=self.path,
            relation=self.relation,
            attributes=tuple(self.attributes),
            c=self.c,
            label_positions=self.layout.labels,
            feature_positions=self.layout.features,
            data_line=self.data_line,
            sparse=self.sparse,
        )

    def close(self) -> None:
        self.src.close()

    def _fill(self, block_size: int) -> bytes | None:
        """The next run of whole lines (None at the end)."""
        while not self._eof:
            data = self.src.read(block_size)
            if not data:
                self._eof = True
                break
            buf = self._pending + data
            cut = buf.rfind(b"\n")
            if cut < 0:
                self._pending = buf
                continue
            self._pending = buf[cut + 1 :]
            return buf[: cut + 1]
        if self._pending:
            buf, self._pending = self._pending, b""
            return buf
        return None

    def _peek_sparse(self) -> bool:
        """Whether the first data row is sparse (reads ahead; the bytes stay pending)."""
        head = b""
        while True:
            for raw in head.split(b"\n")[:-1] if not self._eof else head.split(b"\n"):
                s = raw.strip()
                if s and not s.startswith(b"%"):
                    self._pending = head + self._pending
                    return s.startswith(b"{")
            if self._eof:
                self._pending = head
                return False
            more = self.src.read(1 << 12)
            if not more:
                self._eof = True
            head += more

    def blocks(self, limit: int | None = None, block_size: int = BLOCK_SIZE) -> Iterator[_Block]:
        """Parsed blocks in file order, ``limit`` rows at most in all."""
        from streamlearn._kernels.arff import parse_chunk

        lay = self.layout
        left = np.iinfo(np.int64).max if limit is None else int(limit)
        line0 = self.data_line  # lines before the current chunk
        sparse_out = self.sparse
        while left > 0:
            self.src.line = line0
            chunk = self._fill(block_size)
            if chunk is None:
                return
            buf = np.frombuffer(chunk, dtype=np.uint8)
            while buf.size and left > 0:
                nl = int(np.count_nonzero(buf == 10))
                cap = min(nl + 1, left)
                Y = np.zeros((cap, lay.n_labels), dtype=np.uint8)
                if sparse_out:
                    X = np.zeros((0, lay.n_features), dtype=np.float64)
                    n_ent = int(np.count_nonzero(buf == 44)) + cap
                else:
                    X = np.zeros((cap, lay.n_features), dtype=np.float64)
                    n_ent = 0
                ent_idx = np.zeros(n_ent, dtype=np.int64)
                ent_val = np.zeros(n_ent, dtype=np.float64)
                row_ptr = np.zeros(cap, dtype=np.int64)
                row_nnz = np.zeros(cap, dtype=np.int64)
                row_line = np.zeros(cap, dtype=np.int64)
                row_start = np.zeros(cap, dtype=np.int64)
                row_end = np.zeros(cap, dtype=np.int64)
                row_py = np.zeros(cap, dtype=np.bool_)
                rows, lines, used, _ = parse_chunk(
                    buf,
                    lay.kinds,
                    lay.targets,
                    lay.maxv,
                    lay.tab_lo,
                    lay.tab_hi,
                    lay.tab_off,
                    lay.tab_len,
                    lay.tab_code,
                    lay.tab_bytes,
                    sparse_out,
                    cap,
                    X,
                    Y,
                    ent_idx,
                    ent_val,
                    row_ptr,
                    row_nnz,
                    row_line,
                    row_start,
                    row_end,
                    row_py,
                )
                row_line = row_line[:rows] + (line0 + 1)
                for r in np.flatnonzero(row_py[:rows]):
                    self._python_row(
                        chunk_bytes=buf[row_start[r] : row_end[r]].tobytes(),
                        line=int(row_line[r]),
                        r=int(r),
                        X=X,
                        Y=Y,
                        ent_idx=ent_idx,
                        ent_val=ent_val,
                        row_ptr=row_ptr,
                        row_nnz=row_nnz,
                        sparse_out=sparse_out,
                    )
                line0 += lines
                buf = buf[used:]
                left -= rows
                if rows == 0:
                    continue
                if sparse_out:
                    nnz = row_nnz[:rows]
                    indptr = np.zeros(rows + 1, dtype=np.int64)
                    np.cumsum(nnz, out=indptr[1:])
                    total = int(indptr[-1])
                    starts = row_ptr[:rows]
                    if total and not np.array_equal(starts, indptr[:-1]):
                        pos = np.repeat(starts - indptr[:-1], nnz) + np.arange(total)
                        indices, data = ent_idx[pos], ent_val[pos]
                    else:
                        indices, data = ent_idx[:total].copy(), ent_val[:total].copy()
                    yield _Block(None, indptr, indices, data, Y[:rows], row_line)
                else:
                    yield _Block(X[:rows], None, None, None, Y[:rows], row_line)

    def _python_row(
        self,
        *,
        chunk_bytes: bytes,
        line: int,
        r: int,
        X: np.ndarray,
        Y: np.ndarray,
        ent_idx: np.ndarray,
        ent_val: np.ndarray,
        row_ptr: np.ndarray,
        row_nnz: np.ndarray,
        sparse_out: bool,
    ) -> None:
        text = _decode(self.src, chunk_bytes, line)
        try:
            _, cols, vals, labs = self.layout.parse_row(text)
        except _RowError as exc:
            raise ArffError(self.path, line, str(exc)) from None
        Y[r, :] = 0
        Y[r, labs] = 1
        if sparse_out:
            k = int(row_ptr[r])
            for c, v in zip(cols, vals):
                if v != 0.0:
                    ent_idx[k] = c
                    ent_val[k] = v
                    k += 1
            row_nnz[r] = k - int(row_ptr[r])
        else:
            X[r, :] = 0.0
            X[r, cols] = vals


def _stem(path: str | os.PathLike[str]) -> str:
    name = Path(path).name
    for suffix in (".gz", ".arff"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


# ---------------------------------------------------------------------------------- API
def read_arff_header(path: str | os.PathLike[str]) -> ArffHeader:
    """Read and check the header of a MEKA ARFF file (and peek at the first data row).

    Raises
    ------
    ArffError
        If the header is malformed, has no ``-C n``, or declares unsupported attributes.

    """
    reader = _Reader(path)
    reader.close()
    return reader.header()


def load_arff(
    path: str | os.PathLike[str], *, limit: int | None = None, name: str | None = None
) -> Dataset:
    """Load a MEKA ARFF file (plain or gzip) into a :class:`Dataset`.

    Parameters
    ----------
    path
        The ``.arff`` or ``.arff.gz`` file (gzip is recognised by its magic bytes).
    limit
        Read at most this many instances (the first ones, in file order).
    name
        Name of the dataset; default: the file name without ``.arff`` / ``.arff.gz``.

    Returns
    -------
    Dataset
        ``X`` dense ``float64`` for dense files, :class:`CSR` for sparse ones (never
        densified); ``Y`` ``uint8``. ``schema.name`` equals ``name``.

    Raises
    ------
    ArffError
        Malformed or unsupported input; the message names the file and the line.

    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    reader = _Reader(path)
    try:
        ds_name = _stem(path) if name is None else name
        schema = reader.header().schema(ds_name)
        # One big block when the whole file is wanted: no concatenation of the arrays.
        size = WHOLE_BLOCK_SIZE if limit is None else BLOCK_SIZE
        blocks = list(reader.blocks(limit, size))
    finally:
        reader.close()
    n_lab = reader.layout.n_labels
    n_feat = reader.layout.n_features
    Y = np.concatenate([b.Y for b in blocks]) if blocks else np.zeros((0, n_lab), dtype=np.uint8)
    X: np.ndarray | CSR
    if reader.sparse:
        if blocks:
            indices = np.concatenate([b.indices for b in blocks])  # type: ignore[misc]
            data = np.concatenate([b.data for b in blocks])  # type: ignore[misc]
            counts = np.concatenate([np.diff(b.indptr) for b in blocks])  # type: ignore[arg-type]
            indptr = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
        else:
            indptr = np.zeros(1, dtype=np.int64)
            indices = np.zeros(0, dtype=np.int64)
            data = np.zeros(0, dtype=np.float64)
        X = CSR(indptr, indices, data, n_feat)
    elif len(blocks) == 1:
        X = np.ascontiguousarray(blocks[0].X)
    elif blocks:
        X = np.concatenate([b.X for b in blocks])  # type: ignore[misc]
    else:
        X = np.zeros((0, n_feat), dtype=np.float64)
    return Dataset(name=ds_name, schema=schema, X=X, Y=np.ascontiguousarray(Y))


def iter_arff(path: str | os.PathLike[str]) -> Iterator[tuple[dict[str, float], dict[str, bool]]]:
    """Stream a MEKA ARFF file as River-style ``(x, y)`` dict pairs, in constant memory.

    ``x`` holds every feature for dense rows and only the non-zero features for sparse
    files; ``y`` maps every label to a bool. Values are those of :func:`load_arff`.

    Raises
    ------
    ArffError
        As :func:`load_arff`, when the offending line is reached.

    """
    reader = _Reader(path)
    try:
        features = reader.header().feature_names
        labels = reader.header().label_names
        names = np.empty(len(features), dtype=object)
        names[:] = features
        for block in reader.blocks():
            Yb = block.Y.astype(bool)
            if block.X is None:
                indptr, indices, data = block.indptr, block.indices, block.data
                assert indptr is not None and indices is not None and data is not None
                for i in range(len(block)):
                    a, b = indptr[i], indptr[i + 1]
                    x = dict(zip(names[indices[a:b]].tolist(), data[a:b].tolist()))
                    yield x, dict(zip(labels, Yb[i].tolist()))
            else:
                Xb = block.X
                for i in range(len(block)):
                    yield dict(zip(features, Xb[i].tolist())), dict(zip(labels, Yb[i].tolist()))
    finally:
        reader.close()
