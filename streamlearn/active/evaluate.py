"""Prequential evaluation of active learning: score every instance, learn only what was asked.

:func:`active_prequential` is the active-learning twin of
:func:`~streamlearn.evaluate.prequential.prequential`: instance by instance, in stream order,
the learner predicts the probabilities of every label, the prediction is scored on **all** the
instance's labels, the :class:`~streamlearn.active.policy.LabelQueryPolicy` decides from those
probabilities which labels to ask, and the learner learns the instance from the asked labels
only (``learn_many(x, y, known=mask)``; an instance with nothing asked is not learned). With
``policy=None`` every label is learned: the full-label reference run, through the same loop.

The benchmark of the strategies (every strategy x budget x mode on a stream, ``streamlearn
bench-active``) is :func:`streamlearn.benchmarks.active.bench_active`.

Examples
--------
>>> from streamlearn.stream import make_stream
>>> from streamlearn.multilabel.peers import BinaryRelevanceNaiveBayes
>>> from streamlearn.active import LabelQueryPolicy
>>> ds = make_stream(300, n_labels=6, seed=0).dataset
>>> policy = LabelQueryPolicy("variable-uncertainty", budget=0.2, seed=0)
>>> r = active_prequential(BinaryRelevanceNaiveBayes(), ds, policy)
>>> r.instances, r.labels_available, r.labels_asked <= 0.2 * r.labels_available
(300, 1800, True)

"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamlearn.active.policy import LabelQueryPolicy, strategy_name
from streamlearn.base.arrays import take_rows
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.evaluate.prequential import (
    PrequentialResult,
    ProgressInfo,
    Scorer,
    learner_name,
)

__all__ = ["ActivePrequentialResult", "active_prequential", "parse_budget"]


def parse_budget(text: str | float) -> float:
    """A budget from ``0.2``, ``"0.2"`` or ``"20%"``; must end up in ``[0, 1]``."""
    if isinstance(text, str):
        raw = text.strip()
        try:
            value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
        except ValueError:
            raise ValueError(f"budget {text!r} is not a number (give 0.2 or 20%)") from None
    else:
        value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"budget must be in [0, 1] (or 0% to 100%), got {text!r}")
    return value


@dataclass
class ActivePrequentialResult(PrequentialResult):
    """A :class:`~streamlearn.evaluate.prequential.PrequentialResult` plus what was asked.

    ``labels_available`` = instances x labels; ``budget_used`` = labels_asked / that.
    ``strategy`` is ``"full"`` (and ``budget`` 1.0) for the full-label run.
    """

    strategy: str = "full"
    label_wise: bool = True
    budget: float = 1.0
    labels_asked: int = 0
    labels_available: int = 0
    budget_used: float = 1.0

    def to_dict(self, *, curve: bool = True) -> dict[str, Any]:
        d = super().to_dict(curve=curve)
        d.update(
            strategy=self.strategy,
            label_wise=self.label_wise,
            budget=self.budget,
            labels_asked=self.labels_asked,
            labels_available=self.labels_available,
            budget_used=self.budget_used,
        )
        return d


def active_prequential(
    learner: MultiLabelClassifier,
    dataset: Any,
    policy: LabelQueryPolicy | None,
    *,
    limit: int | None = None,
    progress: Callable[[ProgressInfo], None] | None = None,
    curve_points: int = 0,
    window: int = 1000,
    name: str | None = None,
    chunk: int = 256,
) -> ActivePrequentialResult:
    """Test-then-train over the stream, learning only the labels ``policy`` asks for.

    Parameters
    ----------
    learner
        A :class:`~streamlearn.base.MultiLabelClassifier` (array API with ``known=`` masks);
        trained in place. Its schema is set to the dataset's.
    dataset
        A :class:`~streamlearn.stream.Dataset`.
    policy
        The query policy (fresh: its budget starts empty), or ``None`` to learn every label.
    limit
        Evaluate the first ``limit`` instances only.
    progress
        Progress callback (as for ``prequential``).
    curve_points, window
        Checkpoints of the curve (cumulative and windowed metrics, plus ``labels_asked``) and
        the sliding window of the windowed metrics.
    name
        Learner name reported (default: its registry name).
    chunk
        Instances scored together (scoring only: learning is strictly per instance).
    """
    if not isinstance(learner, MultiLabelClassifier):
        raise ValueError(
            f"active learning needs a streamlearn learner (partial-label array API), got "
            f"{type(learner).__name__}"
        )
    n_total = len(dataset)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    n = n_total if limit is None else min(limit, n_total)
    L = dataset.n_labels
    lname = name or learner_name(learner)
    learner.set_schema(dataset.schema)
    threshold = float(getattr(learner, "threshold", 0.5))
    if policy is not None and policy.decision_threshold != threshold:
        raise ValueError(
            f"the policy's decision_threshold ({policy.decision_threshold}) differs from the "
            f"learner's threshold ({threshold})"
        )
    X, Y = dataset.X, dataset.Y
    sc = Scorer(
        n,
        L,
        learner=lname,
        dataset=dataset.name,
        curve_points=curve_points,
        window=window,
        progress=progress,
    )
    asked_total = 0
    pred = np.zeros((chunk, L), dtype=np.bool_)
    all_known = np.ones((1, L), dtype=np.bool_)

    pos = 0
    while pos < n:
        end = sc.chunk_end(pos, chunk)
        t0 = time.perf_counter()
        for i in range(pos, end):
            x = take_rows(X, i, i + 1)
            p = learner.predict_proba_many(x)[0]
            pred[i - pos] = p > threshold
            if policy is None:
                mask = all_known
            else:
                mask = policy.decide(p, learner.n_samples_seen)[None, :]
                if not mask.any():
                    continue
            learner.learn_many(x, Y[i : i + 1], known=mask)
            asked_total += int(mask.sum())
        sc.seconds += time.perf_counter() - t0
        sc.score(Y[pos:end], pred[: end - pos], labels_asked=asked_total)
        pos = end
    available = n * L
    return ActivePrequentialResult(
        **sc.done(),
        n_labels=L,
        window=window,
        natural_form="arrays",
        strategy="full" if policy is None else strategy_name(policy.strategy_),
        label_wise=True if policy is None else bool(policy.label_wise),
        budget=1.0 if policy is None else float(policy.budget),
        labels_asked=asked_total,
        labels_available=available,
        budget_used=asked_total / available if available else 0.0,
    )
