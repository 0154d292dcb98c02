"""Slow, obvious twin of :mod:`streamlearn._kernels.arff`: parse one bare ARFF data line.

Bare means no quotes and no ``%`` comment: the kernel leaves such lines to the Python parser.
Returns ``None`` for a line that is not a valid row, else ``(features, labels)`` where
``features`` maps feature column -> value (every feature for a dense row, the listed ones for
a sparse row) and ``labels`` is the set of label columns that are 1.
"""

from __future__ import annotations

import math
import re

NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def twin_value(attr: dict, tok: str) -> float | None:
    """The value of token ``tok`` for attribute ``attr`` (None if invalid).

    ``attr``: ``{"kind": "num" | "nom" | "lab01" | "labnum", "values": [...]}``.
    """
    kind = attr["kind"]
    if kind == "nom":
        if tok in attr["values"]:
            return float(attr["values"].index(tok))
        return None
    if kind == "lab01":
        return float(tok) if tok in ("0", "1") else None
    if not NUMBER.fullmatch(tok):
        return None
    v = float(tok)
    if not math.isfinite(v):
        return None
    if kind == "labnum" and v not in (0.0, 1.0):
        return None
    return v


def twin_parse_line(text: str, attrs: list[dict]) -> tuple[dict[int, float], set[int]] | None:
    """Parse a bare data line against ``attrs`` (each with ``target`` and ``is_label``)."""
    s = text.strip(" \t\r")
    pairs: list[tuple[int, str]] = []
    if s.startswith("{"):
        if not s.endswith("}"):
            return None
        inner = s[1:-1]
        if inner.strip(" \t"):
            for entry in inner.split(","):
                bits = [b for b in re.split(r"[ \t]+", entry) if b]
                if len(bits) != 2 or not bits[0].isdigit():
                    return None
                pairs.append((int(bits[0]), bits[1]))
        idx = [i for i, _ in pairs]
        if any(i >= len(attrs) for i in idx) or any(b <= a for a, b in zip(idx, idx[1:])):
            return None
    else:
        toks = [t.strip(" \t") for t in s.split(",")]
        if len(toks) != len(attrs) or any(not t or " " in t or "\t" in t for t in toks):
            return None
        pairs = list(enumerate(toks))
    features: dict[int, float] = {}
    labels: set[int] = set()
    for i, tok in pairs:
        if any(ch in tok for ch in "{}"):
            return None
        v = twin_value(attrs[i], tok)
        if v is None:
            return None
        if attrs[i]["is_label"]:
            if v == 1.0:
                labels.add(attrs[i]["target"])
        else:
            features[attrs[i]["target"]] = v
    return features, labels
