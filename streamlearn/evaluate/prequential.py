"""Whole-stream prequential evaluation (test, then train, every instance, no tail windows).

Every instance of the stream is first predicted, then learned from, in stream order, and every
prediction is scored. The learner gets the stream in its *natural form*, prepared before the
clock starts:

- ``natural_form = "arrays"`` (streamlearn's own learners): the schema is set once, then the
  feature matrix is fed in chunks through ``predict_learn_many`` (each row of a chunk is still
  predicted, then learned, before the next row);
- ``natural_form = "dicts"`` (River-backed peers, and any plain River multi-label classifier):
  a list of ``(x, y)`` dicts — only the non-zero features of a sparse row — built beforehand, then
  ``predict_one`` and ``learn_one`` per instance.

Only those predict/learn calls are timed. Scoring happens between timed chunks, on integer
counts (:mod:`streamlearn.metrics`).

Examples
--------
>>> import numpy as np
>>> from streamlearn.schema import Schema
>>> from streamlearn.stream.dataset import Dataset
>>> from streamlearn.multilabel.peers import BinaryRelevanceNaiveBayes
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3))
>>> Y = np.stack([X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(np.uint8)
>>> ds = Dataset("toy", Schema(features=["a", "b", "c"], labels=["p", "q"]), X, Y)
>>> r = prequential(BinaryRelevanceNaiveBayes(), ds, curve_points=4)
>>> r.instances, [c["instances"] for c in r.curve]
(200, [50, 100, 150, 200])
>>> r.micro_f1 > 0.8
True

"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamlearn.base.arrays import InputError, as_known, take_rows
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.metrics import METRICS, MultiLabelMetrics, WindowedMultiLabelMetrics

__all__ = ["PrequentialResult", "ProgressInfo", "learner_name", "prequential"]

#: Rows per ``predict_learn_many`` call for array learners.
ARRAY_CHUNK = 256
#: Instances between two scoring steps for dict learners.
DICT_CHUNK = 32
#: Rows a throw-away clone of the learner processes before timing (JIT, lazy imports).
WARMUP_ROWS = 8
#: Minimum wall-clock seconds between two progress reports.
PROGRESS_EVERY = 0.2


@dataclass(frozen=True)
class ProgressInfo:
    """What a progress callback is told (at most every 0.2 s, and once at the end)."""

    learner: str
    dataset: str
    instances: int
    total: int
    seconds: float  # timed predict+learn seconds so far
    elapsed: float  # wall-clock seconds since the run started (scoring included)
    micro_f1: float
    done: bool

    @property
    def instances_per_second(self) -> float:
        return self.instances / self.seconds if self.seconds > 0 else 0.0


@dataclass
class PrequentialResult:
    """Outcome of one prequential run.

    The metric fields are cumulative over the whole run; ``curve`` holds, at about
    ``curve_points`` evenly spaced checkpoints, the cumulative and the sliding-window metrics.
    """

    learner: str
    dataset: str
    instances: int
    seconds: float
    instances_per_second: float
    micro_f1: float
    macro_f1: float
    example_f1: float
    subset_accuracy: float
    hamming_loss: float
    micro_precision: float
    micro_recall: float
    n_labels: int
    window: int
    natural_form: str
    curve: list[dict[str, Any]] = field(default_factory=list)
    #: ``(instances, n_labels)`` bool matrix of the predictions, when asked for.
    predictions: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self, *, curve: bool = True) -> dict[str, Any]:
        """JSON-able dict of the fields (the predictions are left out)."""
        d = {
            "learner": self.learner,
            "dataset": self.dataset,
            "instances": self.instances,
            "seconds": self.seconds,
            "instances_per_second": self.instances_per_second,
            **{name: getattr(self, name) for name in METRICS},
            "n_labels": self.n_labels,
            "window": self.window,
            "natural_form": self.natural_form,
        }
        if curve:
            d["curve"] = self.curve
        return d


def learner_name(learner: Any) -> str:
    """The registry name of a learner (``br-ht``...), else its class name."""
    from streamlearn.multilabel import LEARNERS

    cls = type(learner)
    target = f"{cls.__module__}:{cls.__qualname__}"
    for name, path in LEARNERS.items():
        if path == target:
            return name
    return cls.__name__


def _checkpoints(n: int, points: int) -> list[int]:
    if points <= 0 or n == 0:
        return []
    return sorted({max(1, round(n * k / points)) for k in range(1, points + 1)})


class Scorer:
    """The scoring half of a test-then-train loop: prequential runs and the service share it.

    Holds the cumulative and the sliding-window metrics (one or several windows), the learning
    curve's checkpoints, the timed seconds (the caller adds to :attr:`seconds`) and the progress
    reports. The loop asks :meth:`chunk_end` where its next chunk ends (never past a
    checkpoint), then hands each chunk's true and predicted labels to :meth:`score`, and calls
    :meth:`done` at the end. An endless stream (the service) gives ``n=None``: no checkpoints;
    its label space may grow (:meth:`grow`); :meth:`values` gives every metric per window.

    >>> import numpy as np
    >>> sc = Scorer(None, 2, windows=(2, 10))
    >>> sc.score(np.array([[1, 0], [0, 1], [1, 1]]), np.array([[1, 0], [0, 0], [1, 1]]))
    >>> sc.grow(3)
    >>> v = sc.values()
    >>> sorted(v), v["cumulative"]["instances"], v["2"]["instances"], v["cumulative"]["n_labels"]
    (['10', '2', 'cumulative'], 3, 2, 3)
    """

    def __init__(
        self,
        n: int | None,
        n_labels: int,
        *,
        learner: str = "",
        dataset: str = "",
        curve_points: int = 0,
        window: int | None = None,
        windows: Sequence[int] = (1000,),
        zero_division: float = 0.0,
        progress: Callable[[ProgressInfo], None] | None = None,
    ) -> None:
        self.n = n
        self.learner = learner
        self.dataset = dataset
        self.cum = MultiLabelMetrics(n_labels, zero_division=zero_division)
        sizes = [int(window)] if window is not None else [int(w) for w in windows]
        self.windows = {
            w: WindowedMultiLabelMetrics(w, n_labels, zero_division=zero_division) for w in sizes
        }
        self.win = self.windows[sizes[0]]  # the window of the learning curve
        self.marks = _checkpoints(n or 0, curve_points)
        self.next_mark = 0
        self.curve: list[dict[str, Any]] = []
        self.seconds = 0.0
        self.progress = progress
        self.t_start = self.last_report = time.perf_counter()

    def grow(self, n_labels: int) -> None:
        """The label space grew to ``n_labels`` (the new labels were never seen)."""
        self.cum.grow(n_labels)
        for m in self.windows.values():
            m.grow(n_labels)

    def values(self) -> dict[str, dict[str, Any]]:
        """``{"cumulative": {...}, "<window>": {...}}``: every metric, with ``instances``."""
        out = {"cumulative": self.cum.to_dict()}
        for w, m in self.windows.items():
            out[str(w)] = m.to_dict()
        return out

    def chunk_end(self, pos: int, chunk: int) -> int:
        """End of the chunk that starts at ``pos``: ``chunk`` rows, cut at the next checkpoint."""
        end = min(self.n, pos + chunk)
        if self.next_mark < len(self.marks) and self.marks[self.next_mark] < end:
            end = self.marks[self.next_mark]
        return end

    def score(self, y_true: np.ndarray, y_pred: np.ndarray, **extra: Any) -> None:
        """Score one chunk; at a checkpoint the curve gets a point (``extra`` goes into it)."""
        self.cum.update_many(y_true, y_pred)
        for m in self.windows.values():
            m.update_many(y_true, y_pred)
        pos = self.cum.n
        if self.next_mark < len(self.marks) and self.marks[self.next_mark] == pos:
            self.curve.append(
                {
                    "instances": pos,
                    "seconds": self.seconds,
                    **extra,
                    "cumulative": self.cum.get(),
                    "windowed": self.win.get(),
                }
            )
            self.next_mark += 1
        now = time.perf_counter()
        if (
            self.progress is not None
            and now - self.last_report >= PROGRESS_EVERY
            and pos < (self.n or 0)
        ):
            self.last_report = now
            self._report(False)

    def done(self) -> dict[str, Any]:
        """The final report; returns the fields every result has: ``learner, dataset,
        instances, seconds, instances_per_second``, the cumulative metrics and ``curve``."""
        self._report(True)
        return {
            "learner": self.learner,
            "dataset": self.dataset,
            "instances": self.n,
            "seconds": self.seconds,
            "instances_per_second": self.n / self.seconds if self.seconds > 0 else 0.0,
            **self.cum.get(),
            "curve": self.curve,
        }

    def _report(self, done: bool) -> None:
        if self.progress is not None:
            self.progress(
                ProgressInfo(
                    self.learner,
                    self.dataset,
                    self.cum.n,
                    self.n,
                    self.seconds,
                    time.perf_counter() - self.t_start,
                    self.cum.get()["micro_f1"],
                    done,
                )
            )


def prequential(
    learner: Any,
    dataset: Any,
    *,
    limit: int | None = None,
    progress: Callable[[ProgressInfo], None] | None = None,
    curve_points: int = 100,
    window: int = 1000,
    known: Any = None,
    name: str | None = None,
    form: str | None = None,
    warmup: bool = True,
    keep_predictions: bool = False,
    zero_division: float = 0.0,
) -> PrequentialResult:
    """Test-then-train ``learner`` over the whole of ``dataset`` (or its first ``limit`` rows).

    Parameters
    ----------
    learner
        A :class:`~streamlearn.base.MultiLabelClassifier` (fed in its ``natural_form``) or any
        River multi-label classifier (fed dicts). It is trained in place.
    dataset
        A :class:`~streamlearn.stream.dataset.Dataset`.
    limit
        Evaluate on the first ``limit`` instances only.
    progress
        Called with a :class:`ProgressInfo` at most every 0.2 s and once at the end (e.g.
        :class:`~streamlearn.evaluate.progress.ProgressBar`).
    curve_points
        Number of evenly spaced checkpoints of the learning curve (0: none).
    window
        Size of the sliding window of the windowed metrics in the curve.
    known
        Optional ``(n, n_labels)`` boolean mask: learn only the known labels of each instance
        (partial labels, active learning). Every instance is still scored on all its labels.
    name
        Name reported for the learner (default: its registry name).
    form
        Force ``"arrays"`` or ``"dicts"`` instead of the learner's natural form.
    warmup
        Let a throw-away clone of the learner process the first rows before timing, so one-off
        costs (JIT compilation, lazy imports) are not counted as learning time.
    keep_predictions
        Keep the predicted label matrix in ``result.predictions``.
    zero_division
        Example-based F1 of an instance with empty true and predicted label sets.
    """
    n_total = len(dataset)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    n = n_total if limit is None else min(limit, n_total)
    schema = dataset.schema
    L = schema.n_labels
    ours = isinstance(learner, MultiLabelClassifier)
    form = form or getattr(learner, "natural_form", "dicts")
    if form not in ("arrays", "dicts"):
        raise ValueError(f"form must be 'arrays' or 'dicts', got {form!r}")
    if form == "arrays" and not ours:
        raise ValueError(f"{type(learner).__name__} has no array API: use form='dicts'")
    lname = name or learner_name(learner)
    K = None
    if known is not None:
        K = np.asarray(known)
        if K.ndim != 2 or K.shape[0] < n:
            raise InputError(
                f"known must be a (n_instances, n_labels) mask covering the {n} instances "
                f"evaluated, got shape {K.shape}"
            )
        K = as_known(K[:n], n, L)

    X = take_rows(dataset.X, 0, n)
    Y = np.ascontiguousarray(dataset.Y[:n], dtype=np.uint8)

    # ------------------------------------------------------------ preparation (not timed)
    if ours:
        learner.set_schema(schema)
    if form == "arrays":
        if warmup and n:
            w = learner.clone()
            w.set_schema(schema)
            m = min(n, WARMUP_ROWS)
            w.predict_learn_many(take_rows(X, 0, m), Y[:m])
        chunk = ARRAY_CHUNK
        xs = ys = ks = None
    else:
        pairs = list(itertools.islice(dataset.iter_dicts(), n))
        xs = [p[0] for p in pairs]
        ys = [p[1] for p in pairs]
        del pairs
        ks = None
        if K is not None:
            labels = schema.labels
            ks = [[lab for lab, k in zip(labels, row) if k] for row in K.tolist()]
            if not ours:  # River convention: a label absent from y is not learned
                ys = [{lab: y[lab] for lab in kl} for y, kl in zip(ys, ks)]
        if warmup and n:
            w = learner.clone()
            if ours:
                w.set_schema(schema)
            for x, y in zip(xs[:WARMUP_ROWS], ys[:WARMUP_ROWS]):
                w.predict_one(x)
                w.learn_one(x, y)
        chunk = DICT_CHUNK
    label_index: dict[Hashable, int] = {lab: j for j, lab in enumerate(schema.labels)}

    sc = Scorer(
        n,
        L,
        learner=lname,
        dataset=dataset.name,
        curve_points=curve_points,
        window=window,
        zero_division=zero_division,
        progress=progress,
    )
    preds_all = np.zeros((n, L), dtype=np.bool_) if keep_predictions else None
    threshold = getattr(learner, "threshold", 0.5)

    pos = 0
    while pos < n:
        end = sc.chunk_end(pos, chunk)
        if form == "arrays":
            Xc = take_rows(X, pos, end)
            Yc = Y[pos:end]
            Kc = None if K is None else K[pos:end]
            t0 = time.perf_counter()
            P = learner.predict_learn_many(Xc, Yc, Kc)
            sc.seconds += time.perf_counter() - t0
            pred = P > threshold
        else:
            out: list[dict[Hashable, bool]] = []
            t0 = time.perf_counter()
            if ks is not None and ours:
                for i in range(pos, end):
                    out.append(learner.predict_one(xs[i]))
                    learner.learn_one(xs[i], ys[i], known=ks[i])
            else:
                for i in range(pos, end):
                    out.append(learner.predict_one(xs[i]))
                    learner.learn_one(xs[i], ys[i])
            sc.seconds += time.perf_counter() - t0
            pred = np.zeros((end - pos, L), dtype=np.bool_)
            for r, d in enumerate(out):
                for lab, v in d.items():
                    if v:
                        j = label_index.get(lab)
                        if j is None:
                            raise ValueError(
                                f"{lname} predicted label {lab!r}, which is not in the label "
                                f"space of {dataset.name}"
                            )
                        pred[r, j] = True
        if preds_all is not None:
            preds_all[pos:end] = pred
        sc.score(Y[pos:end], pred)
        pos = end

    return PrequentialResult(
        **sc.done(), n_labels=L, window=window, natural_form=form, predictions=preds_all
    )
