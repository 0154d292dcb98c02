"""Byte-level parsing of the data section of an ARFF file (dense and sparse rows).

:func:`parse_chunk` reads whole lines from a ``uint8`` buffer and writes the rows it is sure
about straight into the output arrays: a dense feature matrix, or CSR entries (explicit zeros
dropped), plus the label matrix. Every row it cannot decide on its own — quoted values,
comments after values, nominal values that are not ``0..k-1``, numbers outside the exact fast
path below, and every malformed row — is flagged for the pure-Python parser of
:mod:`streamlearn.stream.arff`, which parses it fully (or raises the error naming the line).
So the kernel never rejects anything itself and never accepts anything the Python parser
would not accept with the same value.

Numbers follow ``[+-]?(digits[.digits*] | .digits)([eE][+-]?digits)?``. A number is converted
here only when it is exactly ``m * 10**e`` with an integer ``m <= 2**53`` and ``|e| <= 22``:
then one IEEE multiplication or division of two exact operands gives the correctly rounded
result, bit for bit what Python's ``float()`` returns (Clinger's fast path). Anything else goes
to Python.

Attribute kinds (``kinds[a]``):

- ``K_NUM``: numeric feature;
- ``K_NOM``: nominal feature whose values are ``"0", "1", ..., str(maxv[a])`` in that order, so a
  value's index equals its text (a canonical decimal integer is required);
- ``K_LAB01``: label declared nominal ``{0,1}`` (canonical ``0`` or ``1``);
- ``K_LABNUM``: label declared numeric (any number equal to 0 or 1);
- ``K_TAB``: any other nominal feature, looked up in a table of its values (bare words only;
  quoted values go to Python);
- ``K_PY``: anything else (left to Python).

``targets[a]`` is the attribute's column: a feature column for features, a label column for
labels.
"""

from __future__ import annotations

import numpy as np

from streamlearn._kernels._config import njit

__all__ = [
    "K_LAB01",
    "K_LABNUM",
    "K_NOM",
    "K_NUM",
    "K_PY",
    "K_TAB",
    "lookup_nominal",
    "parse_chunk",
    "parse_number",
]

K_NUM = 0
K_NOM = 1
K_LAB01 = 2
K_LABNUM = 3
K_PY = 4
K_TAB = 5

_TWO53 = 9007199254740992
_POW10 = np.array([float(10**k) for k in range(23)], dtype=np.float64)


@njit
def parse_number(buf: np.ndarray, p: int, end: int) -> tuple[bool, float, int, bool]:
    """Parse a number starting at ``buf[p]``; stop at the first byte that cannot continue it.

    Returns ``(ok, value, next_position, canonical_int)``. ``ok`` is False when there is no
    number at ``p`` or it lies outside the exact fast path. ``canonical_int`` tells that the
    text was a plain decimal integer without sign and leading zeros (``0``, ``7``, ``12``).
    """
    pow10 = _POW10
    start = p
    neg = False
    if p < end and (buf[p] == 43 or buf[p] == 45):  # + -
        neg = buf[p] == 45
        p += 1
    m = 0
    pending = 0  # zeros seen after the last non-zero digit, not yet folded into m
    frac = 0  # digits after the decimal point
    nd = 0  # digits in the mantissa
    ok = True
    while p < end and 48 <= buf[p] <= 57:
        d = int(buf[p]) - 48
        nd += 1
        if d == 0:
            if m != 0:
                pending += 1
        else:
            for _ in range(pending + 1):
                if m > _TWO53 // 10:
                    ok = False
                m *= 10
            m += d
            pending = 0
            if m > _TWO53:
                ok = False
        p += 1
    int_digits = nd
    dot = False
    if p < end and buf[p] == 46:  # .
        dot = True
        p += 1
        while p < end and 48 <= buf[p] <= 57:
            d = int(buf[p]) - 48
            nd += 1
            frac += 1
            if d == 0:
                if m != 0:
                    pending += 1
            else:
                for _ in range(pending + 1):
                    if m > _TWO53 // 10:
                        ok = False
                    m *= 10
                m += d
                pending = 0
                if m > _TWO53:
                    ok = False
            p += 1
    if nd == 0:
        return False, 0.0, p, False
    exp = 0
    has_exp = False
    if p < end and (buf[p] == 101 or buf[p] == 69):  # e E
        q = p + 1
        eneg = False
        if q < end and (buf[q] == 43 or buf[q] == 45):
            eneg = buf[q] == 45
            q += 1
        ed = 0
        while q < end and 48 <= buf[q] <= 57:
            if exp < 100000:
                exp = exp * 10 + (int(buf[q]) - 48)
            ed += 1
            q += 1
        if ed == 0:
            return False, 0.0, q, False
        has_exp = True
        if eneg:
            exp = -exp
        p = q
    canonical = (
        (not has_exp)
        and (not dot)
        and buf[start] != 43
        and buf[start] != 45
        and (int_digits == 1 or buf[start] != 48)
    )
    if not ok:
        return False, 0.0, p, canonical
    if m == 0:
        v = 0.0
    else:
        e10 = pending + exp - frac
        if 0 <= e10 <= 22:
            v = float(m) * pow10[e10]
        elif -22 <= e10 < 0:
            v = float(m) / pow10[-e10]
        else:
            return False, 0.0, p, canonical
    if neg:
        v = -v
    return True, v, p, canonical


@njit
def _token_end(buf: np.ndarray, p: int, end: int) -> int:
    """End of the bare word starting at ``p`` (stops at blanks and ``,{}'"%``)."""
    while p < end:
        c = buf[p]
        if c == 44 or c == 32 or c == 9 or c == 13 or c == 123 or c == 125:
            break
        if c == 39 or c == 34 or c == 37:
            break
        p += 1
    return p


@njit
def lookup_nominal(
    buf: np.ndarray,
    p: int,
    q: int,
    lo: int,
    hi: int,
    tab_off: np.ndarray,
    tab_len: np.ndarray,
    tab_code: np.ndarray,
    tab_bytes: np.ndarray,
) -> int:
    """Index of the value ``buf[p:q]`` among table entries ``lo:hi`` (sorted bytewise), or -1."""
    while lo < hi:
        mid = (lo + hi) // 2
        off = tab_off[mid]
        ln = tab_len[mid]
        n = q - p
        m = n if n < ln else ln
        cmp = 0
        for j in range(m):
            x = buf[p + j]
            y = tab_bytes[off + j]
            if x != y:
                cmp = -1 if x < y else 1
                break
        if cmp == 0 and n != ln:
            cmp = -1 if n < ln else 1
        if cmp == 0:
            return tab_code[mid]
        if cmp < 0:
            hi = mid
        else:
            lo = mid + 1
    return -1


@njit
def parse_chunk(
    buf: np.ndarray,
    kinds: np.ndarray,
    targets: np.ndarray,
    maxv: np.ndarray,
    tab_lo: np.ndarray,
    tab_hi: np.ndarray,
    tab_off: np.ndarray,
    tab_len: np.ndarray,
    tab_code: np.ndarray,
    tab_bytes: np.ndarray,
    sparse_out: bool,
    max_rows: int,
    X: np.ndarray,
    Y: np.ndarray,
    ent_idx: np.ndarray,
    ent_val: np.ndarray,
    row_ptr: np.ndarray,
    row_nnz: np.ndarray,
    row_line: np.ndarray,
    row_start: np.ndarray,
    row_end: np.ndarray,
    row_py: np.ndarray,
) -> tuple[int, int, int, int]:
    """Parse the data lines of ``buf`` (whole lines; the last may lack its newline).

    Blank lines and lines starting with ``%`` are skipped. For each row ``r``: ``row_line[r]``
    is its line offset within the chunk (0-based), ``row_start[r]:row_end[r]`` its bytes
    without surrounding blanks, ``row_py[r]`` whether Python must parse it. Dense output
    (``sparse_out`` False) goes to ``X[r]`` and ``Y[r]`` (both zero on entry); sparse output
    writes the row's non-zero features to ``ent_idx/ent_val[row_ptr[r]:row_ptr[r] +
    row_nnz[r]]``. For a row left to Python, that region holds room for ``commas + 1``
    entries and ``row_nnz[r]`` is 0 (``X[r]``/``Y[r]`` may hold partial values).

    Nominal features of kind ``K_TAB`` are looked up in a value table: entries
    ``tab_lo[a]:tab_hi[a]`` of (``tab_off``, ``tab_len``) slices of ``tab_bytes``, sorted
    bytewise, with their value index in ``tab_code``.

    Stops after ``max_rows`` rows. Returns ``(rows, lines_consumed, bytes_consumed,
    entries_used)``.
    """
    n = buf.size
    n_attr = kinds.size
    pos = 0
    line = 0
    r = 0
    e = 0
    while pos < n and r < max_rows:
        le = pos
        while le < n and buf[le] != 10:
            le += 1
        nxt = le + 1
        a = pos
        while a < le and (buf[a] == 32 or buf[a] == 9 or buf[a] == 13):
            a += 1
        b = le
        while b > a and (buf[b - 1] == 32 or buf[b - 1] == 9 or buf[b - 1] == 13):
            b -= 1
        if a == b or buf[a] == 37:  # blank or % comment
            line += 1
            pos = nxt
            continue
        row_line[r] = line
        row_start[r] = a
        row_end[r] = b
        row_ptr[r] = e
        e0 = e
        good = True
        is_sparse = buf[a] == 123  # {
        p = a + 1 if is_sparse else a
        attr = -1
        done = False
        if is_sparse:
            while p < b and (buf[p] == 32 or buf[p] == 9):
                p += 1
            if p < b and buf[p] == 125:  # {}
                p += 1
                done = True
        while not done:
            while p < b and (buf[p] == 32 or buf[p] == 9):
                p += 1
            if is_sparse:
                idx = 0
                nd = 0
                while p < b and 48 <= buf[p] <= 57:
                    if idx < 1000000000000:
                        idx = idx * 10 + (int(buf[p]) - 48)
                    nd += 1
                    p += 1
                if nd == 0 or p >= b or not (buf[p] == 32 or buf[p] == 9):
                    good = False
                    break
                while p < b and (buf[p] == 32 or buf[p] == 9):
                    p += 1
                if idx >= n_attr or idx <= attr:
                    good = False
                    break
                attr = idx
            else:
                attr += 1
            k = kinds[attr]
            t = targets[attr]
            if k == K_TAB:
                q = _token_end(buf, p, b)
                code = -1
                if q > p:
                    code = lookup_nominal(
                        buf, p, q, tab_lo[attr], tab_hi[attr], tab_off, tab_len, tab_code,
                        tab_bytes,
                    )  # fmt: skip
                if code < 0:
                    good = False
                    break
                v = float(code)
                canon = True
                p = q
            else:
                ok, v, p, canon = parse_number(buf, p, b)
                if not ok:
                    good = False
                    break
            if k == K_NUM or k == K_NOM or k == K_TAB:
                if k == K_NOM and not (canon and v <= maxv[attr]):
                    good = False
                    break
                if sparse_out:
                    if v != 0.0:
                        ent_idx[e] = t
                        ent_val[e] = v
                        e += 1
                else:
                    X[r, t] = v
            elif k == K_LAB01 or k == K_LABNUM:
                if k == K_LAB01 and not canon:
                    good = False
                    break
                if v == 1.0:
                    Y[r, t] = 1
                elif v != 0.0:
                    good = False
                    break
            else:
                good = False
                break
            while p < b and (buf[p] == 32 or buf[p] == 9):
                p += 1
            if is_sparse:
                if p < b and buf[p] == 44:
                    p += 1
                elif p < b and buf[p] == 125:
                    p += 1
                    done = True
                else:
                    good = False
                    break
            elif attr < n_attr - 1:
                if p < b and buf[p] == 44:
                    p += 1
                else:
                    good = False
                    break
            else:
                done = True
        if good:
            while p < b and (buf[p] == 32 or buf[p] == 9):
                p += 1
            if p != b:
                good = False
        if good:
            row_py[r] = False
            row_nnz[r] = e - e0
        else:
            row_py[r] = True
            row_nnz[r] = 0
            e = e0
            if sparse_out:
                commas = 0
                for j in range(a, b):
                    if buf[j] == 44:
                        commas += 1
                e = e0 + commas + 1
        r += 1
        line += 1
        pos = nxt
    if pos > n:
        pos = n
    return r, line, pos, e
