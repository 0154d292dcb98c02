"""Cumulative multi-label metrics over a label space that can grow.

Examples
--------
>>> import numpy as np
>>> m = MultiLabelMetrics(n_labels=3)
>>> m.update([1, 0, 1], [1, 0, 0])
>>> m.update_many(np.array([[0, 1, 0], [0, 0, 0]]), np.array([[0, 1, 0], [0, 0, 0]]))
>>> r = m.get()
>>> round(r["micro_f1"], 4), round(r["hamming_loss"], 4), r["subset_accuracy"]
(0.8, 0.1111, 0.6666666666666666)
>>> m.grow(4)  # a fourth label appears: false (truth and prediction) for earlier instances
>>> m.update([0, 0, 0, 1], [0, 0, 0, 1])
>>> m.n_labels, m.n
(4, 4)

"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamlearn.base.arrays import InputError
from streamlearn.metrics._core import METRICS, add_keys, as_label_matrix, formulas, row_counts

__all__ = ["MultiLabelMetrics"]


class MultiLabelMetrics:
    """Prequential multi-label metrics over every instance seen so far.

    Keeps integer counts only (per-label true/false positives and false negatives, exact
    matches, and a counter of per-instance F1 fractions), so the values are exact, do not depend
    on the order of the instances, and ``update_many`` on a batch gives exactly the state of
    ``update`` row by row.

    Parameters
    ----------
    n_labels
        Size of the label space to start with (it can grow with :meth:`grow`).
    zero_division
        Example-based F1 of an instance whose true and predicted label sets are both empty.
        ``0.0`` (default) is River's convention (``SampleAverage(F1)``) and scikit-learn's
        ``f1_score(average="samples", zero_division=0)``; ``1.0`` counts it as a perfect match.

    Notes
    -----
    Definitions (``L`` labels, ``n`` instances, counts summed over the instances):

    - ``hamming_loss`` = (FP + FN) / (n L)
    - ``subset_accuracy`` = instances whose whole label set is right / n
    - ``micro_f1`` = 2 TP / (2 TP + FP + FN); ``micro_precision`` = TP / (TP + FP);
      ``micro_recall`` = TP / (TP + FN)
    - ``macro_f1`` = mean over **every** label of the space of 2 tp / (2 tp + fp + fn), where a
      label never true and never predicted scores 0 (River's ``MacroAverage(F1)``)
    - ``example_f1`` = mean over instances of 2 |T ∩ P| / (|T| + |P|) (``zero_division`` when
      both sets are empty)

    A ratio with a zero denominator is 0. When the label space grows, the new labels count as
    false (in truth and prediction) for the instances seen before.
    """

    def __init__(self, n_labels: int = 0, zero_division: float = 0.0) -> None:
        if n_labels < 0:
            raise ValueError(f"n_labels must be >= 0, got {n_labels}")
        self.zero_division = float(zero_division)
        self.tp = np.zeros(n_labels, dtype=np.int64)
        self.fp = np.zeros(n_labels, dtype=np.int64)
        self.fn = np.zeros(n_labels, dtype=np.int64)
        self.n = 0
        self.n_exact = 0
        self.example_keys: dict[int, int] = {}

    @property
    def n_labels(self) -> int:
        return len(self.tp)

    def grow(self, n_labels: int) -> None:
        """Extend the label space to ``n_labels`` labels (new ones are appended)."""
        if n_labels < self.n_labels:
            raise InputError(f"cannot shrink the label space from {self.n_labels} to {n_labels}")
        extra = n_labels - self.n_labels
        if extra:
            pad = np.zeros(extra, dtype=np.int64)
            self.tp = np.concatenate([self.tp, pad])
            self.fp = np.concatenate([self.fp, pad])
            self.fn = np.concatenate([self.fn, pad])

    def update(self, y_true: Any, y_pred: Any) -> None:
        """Score one instance: two 0/1 (or bool) rows over the label space."""
        self.update_many(y_true, y_pred)

    def update_many(self, Y_true: Any, Y_pred: Any) -> None:
        """Score a batch of instances: two ``(m, n_labels)`` 0/1 (or bool) matrices."""
        yt = as_label_matrix(Y_true, self.n_labels, "y_true")
        yp = as_label_matrix(Y_pred, self.n_labels, "y_pred")
        if yt.shape[0] != yp.shape[0]:
            raise InputError(f"y_true has {yt.shape[0]} rows but y_pred has {yp.shape[0]}")
        if yt.shape[0] == 0:
            return
        tp, fp, fn, exact, keys = row_counts(yt, yp)
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.n += yt.shape[0]
        self.n_exact += int(exact.sum())
        add_keys(self.example_keys, keys)

    def get(self) -> dict[str, float]:
        """Every metric, by name (see the class notes for the definitions)."""
        return formulas(
            self.tp, self.fp, self.fn, self.n, self.n_exact, self.example_keys, self.zero_division
        )

    def to_dict(self) -> dict[str, Any]:
        """The metrics plus ``instances`` and ``n_labels`` (JSON-able)."""
        return {"instances": self.n, "n_labels": self.n_labels, **self.get()}

    def __getitem__(self, name: str) -> float:
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; one of {', '.join(METRICS)}")
        return self.get()[name]

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:.4f}" for k, v in self.get().items())
        return f"{type(self).__name__}(n={self.n}, {vals})"
