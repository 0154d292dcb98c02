"""Label-space drift monitors: per-label error drift and label co-occurrence (Jaccard) drift.

* :class:`LabelErrorMonitor` keeps one drift detector per label on that label's error stream
  (1 = the label was predicted wrongly). All detectors are one stacked ``float64`` array and a
  batch of instances is one compiled call; a mask restricts the update to the labels that are
  known (partial labels, active learning). Detections are ``DriftEvent(level="label")``.
* :class:`CooccurrenceMonitor` watches the dependence structure of the labels: the Jaccard
  index of every pair of labels over a window of recent instances, compared with a
  reference (every instance since the last detection, before the window). Counts are
  updated only for the labels present in an instance. Detections are
  ``DriftEvent(level="global", kind="drift", detector="JaccardCooccurrence")``.

Both are plain numpy state (pickle = exact snapshot) and grow with the label space.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

from streamlearn._kernels import label_drift as _k
from streamlearn.base.arrays import CSR
from streamlearn.base.drift import DriftDetector
from streamlearn.base.events import DriftEvent

__all__ = ["CooccurrenceMonitor", "LabelErrorMonitor"]

_KIND_OF = {
    "ADWIN": "ADWIN",
    "PageHinkley": "PageHinkley",
    "DDM": "DDM",
    "EDDM": "EDDM",
    "HDDM_A": "HDDM_A",
    "KSWIN": "KSWIN",
}


def _label_names(labels: Sequence[Hashable] | int) -> list[Hashable]:
    if isinstance(labels, int | np.integer):
        if labels < 0:
            raise ValueError(f"the number of labels must be >= 0, got {labels}")
        return list(range(int(labels)))
    names = list(labels)
    if len(set(names)) != len(names):
        raise ValueError("label names must be unique")
    return names


class LabelErrorMonitor:
    """One drift detector per label on the label's error stream, vectorised.

    Parameters
    ----------
    detector
        A detector of :mod:`streamlearn.drift` (its parameters are used for every label;
        default ``ADWIN()``). KSWIN detectors all share the template's seed.
    labels
        Label names, or their number (names ``0..n-1``).
    warnings
        Also emit ``kind="warning"`` events (DDM, EDDM, HDDM_A).

    Examples
    --------
    >>> import numpy as np
    >>> from streamlearn.drift import ADWIN
    >>> from streamlearn.drift.label_monitor import LabelErrorMonitor
    >>> rng = np.random.default_rng(7)
    >>> monitor = LabelErrorMonitor(ADWIN(), labels=["a", "b", "c"])
    >>> E = (rng.random((4000, 3)) < [0.1, 0.1, 0.1]).astype(float)
    >>> E[2000:, 1] = rng.random(2000) < 0.6          # label "b" degrades at 2000
    >>> events = monitor.update_many(E)
    >>> [(e.scope, e.index) for e in events]
    [(('b',), 2047)]
    >>> events[0].level, events[0].detector
    ('label', 'ADWIN')
    """

    def __init__(
        self,
        detector: DriftDetector | None = None,
        labels: Sequence[Hashable] | int = 0,
        warnings: bool = False,
    ):
        if detector is None:
            from streamlearn.drift.adwin import ADWIN

            detector = ADWIN()
        name = type(detector).__name__
        if name not in _KIND_OF or not isinstance(detector, DriftDetector):
            raise TypeError(
                f"detector must be one of streamlearn.drift's {sorted(_KIND_OF)}, got {name}"
            )
        self.detector = detector
        self.warnings = warnings
        self._kind = _k.KINDS[_KIND_OF[name]]
        self._detector_name = name
        self._fresh = detector._new_state()
        self.labels: list[Hashable] = []
        self.states = np.zeros((0, self._fresh.shape[0]), dtype=np.float64)
        self.n_seen = 0
        self.add_labels(_label_names(labels))

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def add_labels(self, names: Iterable[Hashable]) -> None:
        """Append labels (each with a fresh detector)."""
        names = list(names)
        dup = set(names) & set(self.labels)
        if dup or len(set(names)) != len(names):
            raise ValueError(f"labels already monitored or repeated: {sorted(map(str, dup))}")
        fresh = np.broadcast_to(self._fresh, (len(names), self._fresh.shape[0]))
        self.states = np.ascontiguousarray(np.vstack([self.states, fresh]))
        self.labels.extend(names)

    def estimates(self) -> np.ndarray:
        """Each label's detector estimate (ADWIN: windowed error rate; DDM/HDDM_A/
        PageHinkley: running mean; EDDM: mean distance between errors; KSWIN: p-value)."""
        return np.array(
            [_k.detector_estimation(self._kind, self.states[j]) for j in range(self.n_labels)]
        )

    def update_one(self, errors: Any, mask: Any = None) -> list[DriftEvent]:
        """Update with one instance's error row (``n_labels`` values) and optional mask."""
        e = np.asarray(errors, dtype=np.float64)
        if e.ndim != 1:
            raise ValueError(f"errors must be one row of {self.n_labels} values, got {e.shape}")
        return self.update_many(e[None, :], None if mask is None else np.asarray(mask)[None, :])

    def update_many(self, E: Any, mask: Any = None) -> list[DriftEvent]:
        """Update with a batch ``E[n, n_labels]`` of errors, in row order.

        ``mask[i, j]`` false skips label ``j`` of row ``i`` (its detector is not updated).
        Returns the events, in stream order (``index`` counts every row ever passed).
        """
        E = np.ascontiguousarray(np.asarray(E, dtype=np.float64))
        if E.ndim != 2 or E.shape[1] != self.n_labels:
            raise ValueError(
                f"errors must have shape (n, {self.n_labels}) (one column per label), got {E.shape}"
            )
        if not np.isfinite(E).all():
            i, j = np.argwhere(~np.isfinite(E))[0]
            raise ValueError(f"errors[{i}, {j}] is not finite")
        if mask is None:
            M = np.zeros((1, 1), dtype=np.bool_)
            use_mask = False
        else:
            M = np.ascontiguousarray(np.asarray(mask, dtype=np.bool_))
            if M.shape != E.shape:
                raise ValueError(f"mask must have the shape of errors {E.shape}, got {M.shape}")
            use_mask = True
        report = 3 if self.warnings else 1
        cap = max(1024, self.n_labels)
        rows = np.empty(cap, np.int64)
        labs = np.empty(cap, np.int64)
        codes = np.empty(cap, np.int64)
        est = np.empty(cap, np.float64)
        events: list[DriftEvent] = []
        start, n = 0, E.shape[0]
        while start < n:
            k, start = _k.errors_update(
                self._kind, self.states, E, M, use_mask, start, rows, labs, codes, est, report
            )
            for r in range(k):
                c = int(codes[r])
                j = int(labs[r])
                for bit, kind in ((1, "drift"), (2, "warning")):
                    if c & bit & report:
                        events.append(
                            DriftEvent(
                                level="label",
                                kind=kind,
                                scope=(str(self.labels[j]),),
                                index=self.n_seen + int(rows[r]),
                                detector=self._detector_name,
                                statistic=float(est[r]),
                                detail={"label_index": j},
                            )
                        )
        self.n_seen += n
        return events

    def update_from_predictions(
        self, Y_true: Any, Y_pred: Any, known: Any = None
    ) -> list[DriftEvent]:
        """Errors ``Y_true != Y_pred`` per label (both ``(n, n_labels)``), then
        :meth:`update_many` with ``known`` as the mask."""
        yt = np.asarray(Y_true).astype(bool)
        yp = np.asarray(Y_pred).astype(bool)
        if yt.shape != yp.shape:
            raise ValueError(f"Y_true {yt.shape} and Y_pred {yp.shape} differ in shape")
        return self.update_many((yt != yp).astype(np.float64), known)


class CooccurrenceMonitor:
    r"""Drift in the co-occurrence (Jaccard) structure of the labels.

    For every pair of labels :math:`(a, b)` it counts, over the current window of
    ``window_size`` instances and over the reference (all instances since the last drift
    that precede the window), :math:`u` = instances with :math:`a` or :math:`b` and
    :math:`n_{11}` = instances with both; the Jaccard index is :math:`J = n_{11} / u`. When
    the window is full, every pair with :math:`u \ge` ``min_support`` in both is tested:
    given the union counts, :math:`J` is the mean of :math:`u` Bernoulli trials ("both
    present"), so under no change Hoeffding's inequality for the difference of two
    independent means of [0, 1] variables gives
    :math:`P(|\hat J_{cur} - \hat J_{ref}| \ge \epsilon) \le 2 \exp(-2\epsilon^2 /
    (1/u_{ref} + 1/u_{cur}))`. With Bonferroni's correction over the :math:`m` pairs tested,
    :math:`\epsilon = \sqrt{(1/u_{ref} + 1/u_{cur}) \ln(2m/\delta) / 2}` bounds the
    probability of a false alarm of each test by ``delta``. A drift is reported when some
    pair has :math:`|\Delta J| > \epsilon`; the statistic is :math:`\max |\Delta J| /
    \epsilon` (> 1). The window then becomes the new reference; otherwise it is merged into
    the reference. The first window only starts the reference.

    Updates touch only the labels present in an instance (:math:`O(k^2)` for :math:`k`
    positive labels); memory is two dense :math:`L \times L` count matrices (``int64``).

    Parameters
    ----------
    labels
        Label names, or their number.
    window_size
        Instances per test window.
    delta
        Bound on the probability of a false alarm per test.
    min_support
        Minimum number of instances with either label of a pair, in both the window and
        the reference, for the pair to be tested.
    top_pairs
        How many of the most changed pairs an event reports.

    Examples
    --------
    >>> import numpy as np
    >>> from streamlearn.drift.label_monitor import CooccurrenceMonitor
    >>> rng = np.random.default_rng(3)
    >>> n = 3000
    >>> a = rng.random(n) < 0.4
    >>> b = np.where(np.arange(n) < 1500, a, rng.random(n) < 0.4)  # b stops following a
    >>> Y = np.column_stack([a, b, rng.random(n) < 0.3]).astype(np.uint8)
    >>> monitor = CooccurrenceMonitor(labels=["a", "b", "c"], window_size=250)
    >>> events = monitor.update_many(Y)
    >>> [(e.index, e.scope[:2]) for e in events]
    [(1749, ('a', 'b'))]
    """

    def __init__(
        self,
        labels: Sequence[Hashable] | int = 0,
        window_size: int = 500,
        delta: float = 0.001,
        min_support: int = 30,
        top_pairs: int = 10,
    ):
        if int(window_size) != window_size or window_size < 1:
            raise ValueError(f"window_size must be a positive integer, got {window_size!r}")
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        if min_support < 1:
            raise ValueError(f"min_support must be >= 1, got {min_support!r}")
        self.window_size = int(window_size)
        self.delta = float(delta)
        self.min_support = int(min_support)
        self.top_pairs = int(top_pairs)
        self.labels: list[Hashable] = []
        self.ref_n1 = np.zeros(0, np.int64)
        self.ref_n11 = np.zeros((0, 0), np.int64)
        self.cur_n1 = np.zeros(0, np.int64)
        self.cur_n11 = np.zeros((0, 0), np.int64)
        self.ref_count = np.zeros(1, np.int64)
        self.cur_count = np.zeros(1, np.int64)
        self.n_seen = 0
        self.n_tests = 0
        self.last_statistic: float | None = None
        self.add_labels(_label_names(labels))

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def add_labels(self, names: Iterable[Hashable]) -> None:
        """Append labels (never seen so far: zero counts)."""
        names = list(names)
        dup = set(names) & set(self.labels)
        if dup or len(set(names)) != len(names):
            raise ValueError(f"labels already monitored or repeated: {sorted(map(str, dup))}")
        L0, L = self.n_labels, self.n_labels + len(names)
        for attr in ("ref_n1", "cur_n1"):
            v = np.zeros(L, np.int64)
            v[:L0] = getattr(self, attr)
            setattr(self, attr, v)
        for attr in ("ref_n11", "cur_n11"):
            m = np.zeros((L, L), np.int64)
            m[:L0, :L0] = getattr(self, attr)
            setattr(self, attr, m)
        self.labels.extend(names)

    @staticmethod
    def _jaccard(n1: np.ndarray, n11: np.ndarray) -> np.ndarray:
        both = np.triu(n11, 1)
        both = both + both.T
        union = n1[:, None] + n1[None, :] - both
        with np.errstate(invalid="ignore", divide="ignore"):
            J = np.where(union > 0, both / np.maximum(union, 1), np.nan)
        np.fill_diagonal(J, np.nan)
        return J

    def jaccard(self, which: str = "current") -> np.ndarray:
        """``(L, L)`` Jaccard indices of the current window or the reference (NaN where
        neither label occurred, and on the diagonal)."""
        if which == "current":
            return self._jaccard(self.cur_n1, self.cur_n11)
        if which == "reference":
            return self._jaccard(self.ref_n1, self.ref_n11)
        raise ValueError(f"which must be 'current' or 'reference', got {which!r}")

    def _positives(self, Y: Any) -> tuple[np.ndarray, np.ndarray, int]:
        L = self.n_labels
        if isinstance(Y, CSR) or hasattr(Y, "tocsr"):
            if not isinstance(Y, CSR):
                Y = Y.tocsr()
            indptr = np.asarray(Y.indptr, np.int64)
            n, n_cols = Y.shape
            if n_cols != L:
                raise ValueError(f"label matrix must have {L} columns, got {n_cols}")
            keep = np.asarray(Y.data) != 0
            row_of = np.repeat(np.arange(n), np.diff(indptr))[keep]
            idx = np.asarray(Y.indices, np.int64)[keep]
            if len(idx) and (idx.min() < 0 or idx.max() >= L):
                raise ValueError("label index out of range")
            order = np.lexsort((idx, row_of))
            new_ptr = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(row_of, minlength=n), out=new_ptr[1:])
            return new_ptr, np.ascontiguousarray(idx[order]), n
        arr = np.asarray(Y)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != L:
            raise ValueError(f"label matrix must have shape (n, {L}), got {arr.shape}")
        nz_rows, nz_cols = np.nonzero(arr)
        indptr = np.zeros(arr.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(nz_rows, minlength=arr.shape[0]), out=indptr[1:])
        return indptr, nz_cols.astype(np.int64), arr.shape[0]

    def update_one(self, y: Any) -> list[DriftEvent]:
        """Update with one instance's 0/1 label row."""
        return self.update_many(np.asarray(y)[None, :] if np.ndim(y) == 1 else y)

    def update_many(self, Y: Any) -> list[DriftEvent]:
        """Update with a batch of label rows (``(n, L)`` 0/1 matrix, CSR or scipy.sparse)."""
        indptr, indices, n = self._positives(Y)
        events: list[DriftEvent] = []
        i = 0
        while i < n:
            i = _k.cooc_absorb(
                indptr, indices, i, self.cur_n1, self.cur_n11, self.cur_count, self.window_size
            )
            if self.cur_count[0] == self.window_size:
                ev = self._end_window(self.n_seen + i - 1)
                if ev is not None:
                    events.append(ev)
        self.n_seen += n
        return events

    def _end_window(self, index: int) -> DriftEvent | None:
        event = None
        if self.ref_count[0] == 0:
            drift = False
        else:
            m, pa, pb, jr, jc, ratio = _k.cooc_test(
                self.ref_n1, self.ref_n11, self.cur_n1, self.cur_n11, self.delta, self.min_support
            )
            self.n_tests += 1
            stat = float(ratio[0]) if m else 0.0
            self.last_statistic = stat
            drift = stat > 1.0
            if drift:
                top = [
                    [
                        str(self.labels[pa[r]]),
                        str(self.labels[pb[r]]),
                        float(jr[r]),
                        float(jc[r]),
                        float(ratio[r]),
                    ]
                    for r in range(min(self.top_pairs, m))
                    if ratio[r] > 1.0
                ]
                scope: list[str] = []
                for a, b, *_ in top:
                    for lab in (a, b):
                        if lab not in scope:
                            scope.append(lab)
                event = DriftEvent(
                    level="global",
                    kind="drift",
                    scope=tuple(scope),
                    index=index,
                    detector="JaccardCooccurrence",
                    statistic=stat,
                    detail={
                        "pairs": top,
                        "pairs_drifted": int((ratio > 1.0).sum()),
                        "pairs_tested": int(m),
                        "window_size": self.window_size,
                        "reference_size": int(self.ref_count[0]),
                        "delta": self.delta,
                    },
                )
        if drift or self.ref_count[0] == 0:
            self.ref_n1[:] = self.cur_n1
            self.ref_n11[:] = self.cur_n11
            self.ref_count[0] = self.cur_count[0]
        else:
            self.ref_n1 += self.cur_n1
            self.ref_n11 += self.cur_n11
            self.ref_count[0] += self.cur_count[0]
        self.cur_n1[:] = 0
        self.cur_n11[:] = 0
        self.cur_count[0] = 0
        return event
