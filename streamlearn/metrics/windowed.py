"""Multi-label metrics over a sliding window of the most recent instances.

Examples
--------
>>> import numpy as np
>>> w = WindowedMultiLabelMetrics(window=2, n_labels=2)
>>> w.update([1, 0], [0, 0])          # a miss
>>> w.update_many(np.array([[1, 1], [0, 1]]), np.array([[1, 1], [0, 1]]))  # two hits
>>> w.n, w.get()["subset_accuracy"]   # only the last two instances count
(2, 1.0)

"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamlearn.base.arrays import InputError
from streamlearn.metrics._core import METRICS, add_keys, as_label_matrix, formulas, row_counts

__all__ = ["WindowedMultiLabelMetrics"]


class WindowedMultiLabelMetrics:
    """The metrics of :class:`~streamlearn.metrics.MultiLabelMetrics` over the last ``window``
    instances.

    The window's rows (truth and prediction) are kept in a ring buffer; the integer counts are
    updated by adding each new row and subtracting the row that leaves the window, so the values
    are exactly those of a batch recompute over the last ``window`` rows.

    Parameters
    ----------
    window
        Number of most recent instances the metrics cover.
    n_labels
        Size of the label space to start with (it can grow with :meth:`grow`).
    zero_division
        Example-based F1 of an instance with empty true and predicted label sets (see
        :class:`~streamlearn.metrics.MultiLabelMetrics`).
    """

    def __init__(self, window: int = 1000, n_labels: int = 0, zero_division: float = 0.0) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if n_labels < 0:
            raise ValueError(f"n_labels must be >= 0, got {n_labels}")
        self.window = int(window)
        self.zero_division = float(zero_division)
        self.tp = np.zeros(n_labels, dtype=np.int64)
        self.fp = np.zeros(n_labels, dtype=np.int64)
        self.fn = np.zeros(n_labels, dtype=np.int64)
        self.n_exact = 0
        self.example_keys: dict[int, int] = {}
        # ring buffer: rows start, start+1, ..., start+n-1 (mod window), oldest first
        self._true = np.zeros((self.window, n_labels), dtype=np.bool_)
        self._pred = np.zeros((self.window, n_labels), dtype=np.bool_)
        self._exact = np.zeros(self.window, dtype=np.bool_)
        self._keys = np.zeros(self.window, dtype=np.int64)
        self._start = 0
        self.n = 0

    @property
    def n_labels(self) -> int:
        return len(self.tp)

    def grow(self, n_labels: int) -> None:
        """Extend the label space to ``n_labels`` labels (false for the rows already held)."""
        if n_labels < self.n_labels:
            raise InputError(f"cannot shrink the label space from {self.n_labels} to {n_labels}")
        extra = n_labels - self.n_labels
        if extra:
            pad = np.zeros(extra, dtype=np.int64)
            self.tp = np.concatenate([self.tp, pad])
            self.fp = np.concatenate([self.fp, pad])
            self.fn = np.concatenate([self.fn, pad])
            cols = np.zeros((self.window, extra), dtype=np.bool_)
            self._true = np.concatenate([self._true, cols], axis=1)
            self._pred = np.concatenate([self._pred, cols], axis=1)

    def update(self, y_true: Any, y_pred: Any) -> None:
        """Score one instance: two 0/1 (or bool) rows over the label space."""
        self.update_many(y_true, y_pred)

    def update_many(self, Y_true: Any, Y_pred: Any) -> None:
        """Score a batch of instances: two ``(m, n_labels)`` 0/1 (or bool) matrices."""
        yt = as_label_matrix(Y_true, self.n_labels, "y_true")
        yp = as_label_matrix(Y_pred, self.n_labels, "y_pred")
        if yt.shape[0] != yp.shape[0]:
            raise InputError(f"y_true has {yt.shape[0]} rows but y_pred has {yp.shape[0]}")
        m = yt.shape[0]
        if m == 0:
            return
        if m > self.window:  # earlier rows of the batch would leave the window at once
            yt, yp, m = yt[-self.window :], yp[-self.window :], self.window
        W = self.window
        evict = self.n + m - W
        if evict > 0:
            old = (self._start + np.arange(evict)) % W
            tp, fp, fn, _, _ = row_counts(self._true[old], self._pred[old])
            self.tp -= tp
            self.fp -= fp
            self.fn -= fn
            self.n_exact -= int(self._exact[old].sum())
            add_keys(self.example_keys, self._keys[old], sign=-1)
            self._start = (self._start + evict) % W
            self.n -= evict
        tp, fp, fn, exact, keys = row_counts(yt, yp)
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.n_exact += int(exact.sum())
        add_keys(self.example_keys, keys)
        pos = (self._start + self.n + np.arange(m)) % W
        self._true[pos] = yt
        self._pred[pos] = yp
        self._exact[pos] = exact
        self._keys[pos] = keys
        self.n += m

    def get(self) -> dict[str, float]:
        """Every metric over the window, by name."""
        return formulas(
            self.tp, self.fp, self.fn, self.n, self.n_exact, self.example_keys, self.zero_division
        )

    def to_dict(self) -> dict[str, Any]:
        """The metrics plus ``instances`` (in the window), ``window`` and ``n_labels``."""
        return {"instances": self.n, "window": self.window, "n_labels": self.n_labels, **self.get()}

    def __getitem__(self, name: str) -> float:
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; one of {', '.join(METRICS)}")
        return self.get()[name]

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:.4f}" for k, v in self.get().items())
        return f"{type(self).__name__}(window={self.window}, n={self.n}, {vals})"
