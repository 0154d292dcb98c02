"""Shared pieces of the multi-label metrics: input checks, per-row counts, the formulas.

Everything a metric needs is kept as integers:

- per label ``j``: true positives ``tp[j]``, false positives ``fp[j]``, false negatives ``fn[j]``;
- the number of instances ``n`` and of exactly matched instances ``n_exact``;
- for example-based F1, a multiset of the per-instance fractions ``2|T∩P| / (|T|+|P|)``, kept as
  a counter of ``(2|T∩P|, |T|+|P|)`` pairs (two integers packed into one key).

So a value never depends on the order the instances came in, a batch update gives exactly the
state of the same rows fed one by one, and a sliding window can remove a row exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streamlearn.base.arrays import InputError

__all__ = ["METRICS", "as_label_matrix", "formulas", "pack_keys", "row_counts"]

#: Names of the metrics every metrics object reports, in display order.
METRICS: tuple[str, ...] = (
    "micro_f1",
    "macro_f1",
    "example_f1",
    "subset_accuracy",
    "hamming_loss",
    "micro_precision",
    "micro_recall",
)

_SHIFT = 32  # key = (2|T∩P|) << 32 | (|T| + |P|)
_LOW = (1 << _SHIFT) - 1


def as_label_matrix(Y: Any, n_labels: int, what: str) -> np.ndarray:
    """A 0/1 (or bool) matrix ``(m, n_labels)`` as a bool array; 1-d input is one row."""
    arr = np.asarray(Y)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InputError(f"{what} must be a 0/1 row or matrix, got {arr.ndim} dimensions")
    if arr.shape[1] != n_labels:
        raise InputError(
            f"{what} has {arr.shape[1]} label columns but the metrics track {n_labels} labels "
            "(call grow() when the label space grows)"
        )
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{what} must be 0/1, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > 1 or not np.isin(arr, (0, 1)).all()):
        raise InputError(f"{what} must contain only 0 and 1")
    return arr.astype(np.bool_)


def pack_keys(inter: np.ndarray, n_true: np.ndarray, n_pred: np.ndarray) -> np.ndarray:
    """Per-row example-F1 fractions as packed integer keys."""
    return ((2 * inter.astype(np.int64)) << _SHIFT) | (n_true + n_pred).astype(np.int64)


def row_counts(yt: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-label (tp, fp, fn) column sums, and per-row (exact, key) of bool matrices."""
    tp_m = yt & yp
    tp = tp_m.sum(axis=0, dtype=np.int64)
    n_true_col = yt.sum(axis=0, dtype=np.int64)
    n_pred_col = yp.sum(axis=0, dtype=np.int64)
    inter = tp_m.sum(axis=1, dtype=np.int64)
    n_true = yt.sum(axis=1, dtype=np.int64)
    n_pred = yp.sum(axis=1, dtype=np.int64)
    exact = (n_true + n_pred - 2 * inter) == 0
    return tp, n_pred_col - tp, n_true_col - tp, exact, pack_keys(inter, n_true, n_pred)


def add_keys(counter: dict[int, int], keys: np.ndarray, sign: int = 1) -> None:
    """Add (or, with ``sign=-1``, remove) packed keys to a counter; drop keys that reach 0."""
    if keys.size == 1:
        uniq, cnt = keys.tolist(), [1]
    else:
        u, c = np.unique(keys, return_counts=True)
        uniq, cnt = u.tolist(), c.tolist()
    for k, c in zip(uniq, cnt):
        v = counter.get(k, 0) + sign * c
        if v:
            counter[k] = v
        else:
            del counter[k]


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def formulas(
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    n: int,
    n_exact: int,
    keys: dict[int, int],
    zero_division: float,
) -> dict[str, float]:
    """Every metric from the integer counts (0.0 for a metric over no instance)."""
    n_labels = len(tp)
    TP, FP, FN = int(tp.sum()), int(fp.sum()), int(fn.sum())
    denom = 2 * tp + fp + fn
    per_label = [_ratio(2 * int(a), int(d)) for a, d in zip(tp.tolist(), denom.tolist())]
    terms = []
    for key, count in keys.items():
        num, den = key >> _SHIFT, key & _LOW
        terms.append(count * num / den if den else count * zero_division)
    return {
        "micro_f1": _ratio(2 * TP, 2 * TP + FP + FN),
        "macro_f1": math.fsum(per_label) / n_labels if n_labels else 0.0,
        "example_f1": math.fsum(terms) / n if n else 0.0,
        "subset_accuracy": _ratio(n_exact, n),
        "hamming_loss": _ratio(FP + FN, n * n_labels),
        "micro_precision": _ratio(TP, TP + FP),
        "micro_recall": _ratio(TP, TP + FN),
    }
