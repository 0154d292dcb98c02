"""A multi-label learner that asks only for the labels it needs (River's active-learning API).

Like ``river.active.EntropySampler``, :meth:`MultiLabelActiveLearner.predict_one` returns the
prediction *and* what to ask: here the list of label names worth paying for. The caller obtains
the true values of those labels (from an annotator, a teacher model...) and hands them to
:meth:`~MultiLabelActiveLearner.learn_one`, which learns from exactly those labels — the
learner's partial-label path (``known=``).

Examples
--------
>>> import random
>>> from streamlearn.multilabel.peers import BinaryRelevanceNaiveBayes
>>> model = MultiLabelActiveLearner(
...     BinaryRelevanceNaiveBayes(), "variable-uncertainty", budget=0.3, label_wise=True,
...     labels=["a", "b", "c"], seed=0,
... )
>>> rng = random.Random(0)
>>> spent = 0
>>> for _ in range(300):
...     x = {"f1": rng.gauss(0, 1), "f2": rng.gauss(0, 1)}
...     truth = {"a": x["f1"] > 0, "b": x["f2"] > 0, "c": x["f1"] + x["f2"] > 1}
...     y_pred, asked = model.predict_one(x)       # e.g. ({'a': True, ...}, ['b'])
...     model.learn_one(x, {lab: truth[lab] for lab in asked})  # the oracle's answers
...     spent += len(asked)
>>> spent == model.labels_asked_ <= 0.3 * 3 * 300
True
>>> model.predict_one({"f1": 2.0, "f2": -2.0})[0]
{'a': True, 'b': False, 'c': False}
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from river import base as river_base

from streamlearn.active.base import Strategy
from streamlearn.active.policy import LabelQueryPolicy
from streamlearn.base.arrays import CSR, InputError, as_known, n_rows

__all__ = ["MultiLabelActiveLearner"]


def _key(x: Mapping[Hashable, Any]) -> frozenset:
    try:
        return frozenset(x.items())
    except TypeError:
        raise InputError("x must map feature names to numbers (hashable values)") from None


def _take(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a dense matrix or :class:`CSR`."""
    if isinstance(X, CSR):
        return CSR.from_rows([X.row(int(i)) for i in idx], X.n_cols)
    if hasattr(X, "tocsr"):
        return X.tocsr()[idx]
    return np.asarray(X)[idx]


class MultiLabelActiveLearner(river_base.Wrapper, river_base.Base):
    """Wrap a multi-label learner with a label query policy under a budget.

    Parameters
    ----------
    learner
        A :class:`~streamlearn.base.MultiLabelClassifier` (anything with the learner contract:
        ``predict_proba_one``, ``learn_one(x, y, known=...)``, and for the array path
        ``predict_proba_many``, ``learn_many(X, Y, known=...)``, ``n_samples_seen``).
    strategy
        Strategy name or instance (see :class:`~streamlearn.active.policy.LabelQueryPolicy`).
    budget
        Largest share of the labels that may be asked over the window, in ``[0, 1]``.
    label_wise
        Ask single labels (``True``) or whole label sets (``False``).
    window
        Window of the budget's spending estimate, in instances.
    seed
        Seed of the policy.
    thresholds
        ``"shared"`` or ``"per-label"`` adaptive thresholds in label-wise mode.
    warmup
        Below this many learned instances every label counts as maximally uncertain.
    labels
        The label space, when known in advance: needed before the learner has learned anything
        (a fresh learner knows no label names). Labels the learner does not know yet count as
        maximally uncertain and are predicted absent.
    max_pending
        Queries remembered between ``predict_one(x)`` and ``learn_one(x, y)`` (the oldest is
        forgotten first).

    Attributes
    ----------
    policy_
        The :class:`~streamlearn.active.policy.LabelQueryPolicy` (budget and strategy state).
    """

    def __init__(
        self,
        learner: Any,
        strategy: str | Strategy = "variable-uncertainty",
        budget: float = 0.2,
        label_wise: bool = True,
        window: int = 1000,
        seed: int | None = None,
        thresholds: str = "per-label",
        warmup: int = 1,
        labels: Sequence[Hashable] | None = None,
        max_pending: int = 10_000,
    ) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.learner = learner
        self.strategy = strategy
        self.budget = budget
        self.label_wise = label_wise
        self.window = window
        self.seed = seed
        self.thresholds = thresholds
        self.warmup = warmup
        self.labels = labels
        self.max_pending = max_pending
        self.policy_ = LabelQueryPolicy(
            strategy,
            budget=budget,
            label_wise=label_wise,
            window=window,
            thresholds=thresholds,
            decision_threshold=float(getattr(learner, "threshold", 0.5)),
            warmup=warmup,
            seed=seed,
        )
        self.pending_: OrderedDict[frozenset, list[Hashable]] = OrderedDict()

    @property
    def _wrapped_model(self) -> Any:
        return self.learner

    # ------------------------------------------------------------------ bookkeeping
    @property
    def labels_asked_(self) -> int:
        return self.policy_.labels_asked_

    @property
    def labels_available_(self) -> int:
        return self.policy_.labels_available_

    @property
    def budget_used(self) -> float:
        """Labels asked / labels available since the start."""
        return self.policy_.budget_used

    def _n_seen(self) -> int:
        return int(getattr(self.learner, "n_samples_seen", 0))

    def _threshold(self) -> float:
        return float(getattr(self.learner, "threshold", 0.5))

    def _label_space(self) -> list[Hashable]:
        schema = getattr(self.learner, "schema", None)
        known = list(schema.labels) if schema is not None else []
        if self.labels is not None:
            have = set(known)
            known += [lab for lab in self.labels if lab not in have]
        return known

    # ------------------------------------------------------------------ dict API
    def predict_proba_one(
        self, x: Mapping[Hashable, Any]
    ) -> tuple[dict[Hashable, dict[bool, float]], list[Hashable]]:
        """Probabilities of every label, and the labels to ask for (budget charged)."""
        labels = self._label_space()
        if not labels:
            raise InputError(
                "MultiLabelActiveLearner: the label space is unknown; pass labels=[...] or "
                "give the learner a schema (set_schema) before the first prediction"
            )
        tau = self._threshold()
        proba = self.learner.predict_proba_one(x)
        p = np.array(
            [float(proba[lab][True]) if lab in proba else tau for lab in labels], dtype=np.float64
        )
        mask = self.policy_.decide(p, self._n_seen())
        asked = [lab for lab, m in zip(labels, mask.tolist()) if m]
        key = _key(x)
        self.pending_.pop(key, None)
        self.pending_[key] = asked
        while len(self.pending_) > self.max_pending:
            self.pending_.popitem(last=False)
        out = {lab: {False: 1.0 - float(pi), True: float(pi)} for lab, pi in zip(labels, p)}
        for lab in labels:  # labels the learner does not know yet: absent
            if lab not in proba:
                out[lab] = {False: 1.0, True: 0.0}
        return out, asked

    def predict_one(self, x: Mapping[Hashable, Any]) -> tuple[dict[Hashable, bool], list[Hashable]]:
        """``(labels, asked)``: the predicted label set (``{name: bool}``) and the names of
        the labels to ask the oracle for (possibly none)."""
        proba, asked = self.predict_proba_one(x)
        tau = self._threshold()
        return {lab: d[True] > tau for lab, d in proba.items()}, asked

    def learn_one(self, x: Mapping[Hashable, Any], y: Mapping[Hashable, Any]) -> None:
        """Learn the labels asked when ``x`` was predicted, with the values given in ``y``.

        ``y`` maps label names to booleans (an asked label missing from ``y`` is false, as in
        the learner contract); labels of ``y`` that were not asked are ignored.
        """
        key = _key(x)
        asked = self.pending_.pop(key, None)
        if asked is None:
            raise InputError(
                "learn_one: no query is pending for this x; call predict_one(x) first (or the "
                f"query was forgotten after {self.max_pending} newer predictions)"
            )
        if not asked:
            return
        self.learner.learn_one(x, {lab: bool(y.get(lab, False)) for lab in asked}, known=asked)

    # ------------------------------------------------------------------ array API
    def decide_many(self, P: np.ndarray) -> np.ndarray:
        """Ask-mask for each row of a probability matrix from the learner (budget charged)."""
        return self.policy_.decide_many(P, self._n_seen())

    def predict_many(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(Y_pred, asked)``: boolean predictions and boolean ask-masks, ``(n, n_labels)``."""
        P = self.learner.predict_proba_many(X)
        return P > self._threshold(), self.decide_many(P)

    def learn_many(self, X: Any, Y: Any, asked: Any) -> None:
        """Learn the rows of ``X``/``Y`` from the labels in the ``asked`` mask only (rows with
        nothing asked are skipped)."""
        n = n_rows(X) if isinstance(X, CSR) or hasattr(X, "shape") else len(X)
        Y = np.asarray(Y)
        n_labels = Y.shape[1] if Y.ndim == 2 else Y.shape[0]
        mask = as_known(asked, n, n_labels)
        assert mask is not None
        rows = np.flatnonzero(mask.any(axis=1))
        if len(rows) == 0:
            return
        if len(rows) == n:
            self.learner.learn_many(X, Y, known=mask)
            return
        self.learner.learn_many(_take(X, rows), np.atleast_2d(Y)[rows], known=mask[rows])
