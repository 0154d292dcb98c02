"""Peer baselines: River's own multi-label learners behind streamlearn's learner contract.

They let every benchmark put our learners side by side with what a River user would run:

- ``br-ht``: :class:`BinaryRelevanceHoeffdingTree`, one ``river.tree.HoeffdingTreeClassifier`` per
  label (River's ``multioutput.PerOutputClassifier``);
- ``cc-lr``: :class:`ClassifierChainLogisticRegression`, ``river.multioutput.ClassifierChain`` of
  ``river.linear_model.LogisticRegression``;
- ``br-nb``: :class:`BinaryRelevanceNaiveBayes`, one ``river.naive_bayes.GaussianNB`` per label.

Their natural form is River's (``natural_form = "dicts"``): ``learn_one``/``predict_one`` hand the
feature dict to River untouched. The array API (used by the service and by
``predict_learn_many``) turns each row into the dict River would get from the same instance —
every feature of a dense row, only the stored non-zero features of a CSR row — and calls the same
River objects, so both APIs give identical predictions.

Conventions shared by the three:

- the probability of a label is River's ``P(True)`` normalised by ``P(True) + P(False)``; a label
  no model has learned yet has probability 0; a label is predicted when its probability is
  ``> 0.5`` (River's own ``predict_one`` breaks an exact 0.5 tie by dict order; we break it
  towards "absent");
- ``y`` dicts follow streamlearn's contract: with ``known=None`` a label of the space missing
  from ``y`` is false; with ``known=[...]`` only those labels are learned from (River learns
  only the outputs present in the ``y`` it is given);
- none of the three River models takes a random seed, so they have no ``seed`` parameter and are
  deterministic.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from river import base as river_base

from streamlearn.base.arrays import CSR, Features, InputError, n_rows
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.schema import Schema

__all__ = [
    "BinaryRelevanceHoeffdingTree",
    "BinaryRelevanceNaiveBayes",
    "ClassifierChainLogisticRegression",
]


def _check_x(x: Mapping[Hashable, Any]) -> None:
    for name, v in x.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"feature {name!r} is {v!r}: features must be finite")


def _p_true(proba: Mapping[Any, float] | None) -> float:
    if not proba:
        return 0.0
    t = proba.get(True, 0.0)
    s = t + proba.get(False, 0.0)
    return t / s if s > 0.0 else 0.0


class _RiverPeer(MultiLabelClassifier):
    """A River multi-label model (``self.model_``) behind the learner contract."""

    natural_form = "dicts"

    @abc.abstractmethod
    def _make_model(self) -> river_base.MultiLabelClassifier:
        """A fresh River model with this learner's parameters."""

    # ------------------------------------------------------------------ state
    def _init_state(self) -> None:
        self.model_ = self._make_model()
        self._labels_changed()

    def _on_schema_grow(self, old_n_features: int, old_n_labels: int) -> None:
        if self.schema is not None and self.schema.n_labels != old_n_labels:
            self._labels_changed()

    def _labels_changed(self) -> None:
        """Hook: the label space grew (River creates per-label models lazily)."""

    def _learn_river(self, x: Mapping[Hashable, Any], y: dict[Hashable, bool]) -> None:
        self.model_.learn_one(x, y)

    # ------------------------------------------------------------------ dict API (River's)
    def _see(self, x: Mapping[Hashable, Any], labels: Iterable[Hashable]) -> None:
        """Create or grow the schema for an instance's features and labels."""
        if self.schema is None:
            self.schema = Schema(
                features=sorted(x, key=str), labels=sorted(dict.fromkeys(labels), key=str)
            )
            self._init_state()
            return
        s = self.schema
        new_f = [f for f in x if not s.has_feature(f)]
        new_l = [lab for lab in labels if not s.has_label(lab)]
        if new_f or new_l:
            self._grow(sorted(new_f, key=str), sorted(dict.fromkeys(new_l), key=str))

    def _river_y(
        self, y: Mapping[Hashable, Any], known: list[Hashable] | None
    ) -> dict[Hashable, bool]:
        assert self.schema is not None
        names = self.schema.labels if known is None else known
        return {lab: bool(y.get(lab, False)) for lab in names}

    def learn_one(
        self,
        x: Mapping[Hashable, Any],
        y: Mapping[Hashable, Any],
        known: Iterable[Hashable] | None = None,
    ) -> None:
        """Learn one instance (see :meth:`MultiLabelClassifier.learn_one` for ``known``)."""
        _check_x(x)
        known = None if known is None else list(known)
        self._see(x, [*y, *(known or ())])
        self._learn_river(x, self._river_y(y, known))
        self.n_samples_seen += 1

    def _proba_row(self, x: Mapping[Hashable, Any]) -> list[float]:
        assert self.schema is not None
        probas = self.model_.predict_proba_one(x)
        return [_p_true(probas.get(lab)) for lab in self.schema.labels]

    def predict_proba_one(
        self, x: Mapping[Hashable, Any], **kwargs: Any
    ) -> dict[Hashable, dict[bool, float]]:
        if self.schema is None or self.schema.n_labels == 0:
            return {}
        _check_x(x)
        p = self._proba_row(x)
        return {lab: {False: 1.0 - pi, True: pi} for lab, pi in zip(self.schema.labels, p)}

    def predict_one(self, x: Mapping[Hashable, Any], **kwargs: Any) -> dict[Hashable, bool]:
        if self.schema is None or self.schema.n_labels == 0:
            return {}
        _check_x(x)
        t = self.threshold
        return {lab: pi > t for lab, pi in zip(self.schema.labels, self._proba_row(x))}

    # ------------------------------------------------------------------ array API
    def _row_dicts(self, X: Features) -> Iterator[dict[Hashable, float]]:
        """Each row as the dict River gets for that instance (CSR: non-zero entries only)."""
        assert self.schema is not None
        names = self.schema.features
        if isinstance(X, CSR):
            indptr, indices, data = X.indptr, X.indices.tolist(), X.data.tolist()
            for i in range(n_rows(X)):
                a, b = int(indptr[i]), int(indptr[i + 1])
                yield {names[j]: v for j, v in zip(indices[a:b], data[a:b]) if v != 0.0}
        else:
            for row in X.tolist():
                yield dict(zip(names, row))

    def _y_dict(self, yrow: list[int], krow: list[bool] | None) -> dict[Hashable, bool]:
        assert self.schema is not None
        labels = self.schema.labels
        if krow is None:
            return {lab: v == 1 for lab, v in zip(labels, yrow)}
        return {lab: v == 1 for lab, v, k in zip(labels, yrow, krow) if k}

    def _predict_proba_rows(self, X: Features) -> np.ndarray:
        assert self.schema is not None
        out = np.zeros((n_rows(X), self.schema.n_labels), dtype=np.float64)
        for i, x in enumerate(self._row_dicts(X)):
            out[i] = self._proba_row(x)
        return out

    def _learn_rows(self, X: Features, Y: np.ndarray, known: np.ndarray | None) -> None:
        Yl = Y.tolist()
        Kl = None if known is None else known.tolist()
        for i, x in enumerate(self._row_dicts(X)):
            self._learn_river(x, self._y_dict(Yl[i], None if Kl is None else Kl[i]))

    def _predict_learn_rows(
        self, X: Features, Y: np.ndarray, known: np.ndarray | None
    ) -> np.ndarray:
        assert self.schema is not None
        out = np.zeros((n_rows(X), self.schema.n_labels), dtype=np.float64)
        Yl = Y.tolist()
        Kl = None if known is None else known.tolist()
        for i, x in enumerate(self._row_dicts(X)):
            out[i] = self._proba_row(x)
            self._learn_river(x, self._y_dict(Yl[i], None if Kl is None else Kl[i]))
        return out


class BinaryRelevanceHoeffdingTree(_RiverPeer):
    """Binary relevance of River's Hoeffding tree (``br-ht``), a peer baseline.

    One ``river.tree.HoeffdingTreeClassifier`` per label, through River's
    ``multioutput.PerOutputClassifier``. Parameters are those of the tree, with River's defaults.

    Parameters
    ----------
    grace_period
        Instances a leaf observes between split attempts.
    max_depth
        Maximum depth of each tree (``None``: unbounded).
    split_criterion
        ``"info_gain"``, ``"gini"`` or ``"hellinger"``.
    delta
        Significance level of the Hoeffding bound.
    tau
        Threshold below which a split is forced to break ties.
    leaf_prediction
        ``"mc"`` (majority class), ``"nb"`` (naive Bayes) or ``"nba"`` (adaptive naive Bayes).
    nb_threshold
        Instances a leaf must observe before naive Bayes is used.

    Examples
    --------
    >>> model = BinaryRelevanceHoeffdingTree()
    >>> model.learn_one({"a": 1.0, "b": 0.0}, {"x": True, "y": False})
    >>> model.predict_one({"a": 1.0, "b": 0.0})
    {'x': True, 'y': False}

    """

    def __init__(
        self,
        grace_period: int = 200,
        max_depth: int | None = None,
        split_criterion: str = "info_gain",
        delta: float = 1e-7,
        tau: float = 0.05,
        leaf_prediction: str = "nba",
        nb_threshold: int = 0,
    ) -> None:
        self.grace_period = grace_period
        self.max_depth = max_depth
        self.split_criterion = split_criterion
        self.delta = delta
        self.tau = tau
        self.leaf_prediction = leaf_prediction
        self.nb_threshold = nb_threshold

    def _make_model(self) -> river_base.MultiLabelClassifier:
        from river import multioutput, tree

        return multioutput.PerOutputClassifier(
            tree.HoeffdingTreeClassifier(
                grace_period=self.grace_period,
                max_depth=self.max_depth,
                split_criterion=self.split_criterion,
                delta=self.delta,
                tau=self.tau,
                leaf_prediction=self.leaf_prediction,
                nb_threshold=self.nb_threshold,
            )
        )

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"grace_period": 10, "delta": 0.01, "leaf_prediction": "mc"}  # trees that split


class ClassifierChainLogisticRegression(_RiverPeer):
    """River's classifier chain of logistic regressions (``cc-lr``), a peer baseline.

    ``river.multioutput.ClassifierChain(river.linear_model.LogisticRegression(...))`` with the
    chain in label-space order (a label that joins the space is appended to the chain). Each
    regression gets the features plus the probabilities predicted for the labels before it.

    Parameters
    ----------
    lr
        Learning rate of the regressions' SGD optimiser (River's default ``optim.SGD(0.01)``).
    l2
        L2 regularisation of the weights.
    intercept_lr
        Learning rate of the intercepts.

    Examples
    --------
    >>> model = ClassifierChainLogisticRegression()
    >>> for _ in range(20):
    ...     model.learn_one({"a": 1.0}, {"x": True, "y": False})
    >>> model.predict_one({"a": 1.0})
    {'x': True, 'y': False}

    """

    def __init__(self, lr: float = 0.01, l2: float = 0.0, intercept_lr: float = 0.01) -> None:
        self.lr = lr
        self.l2 = l2
        self.intercept_lr = intercept_lr

    def _make_model(self) -> river_base.MultiLabelClassifier:
        from river import linear_model, multioutput, optim

        return multioutput.ClassifierChain(
            linear_model.LogisticRegression(
                optimizer=optim.SGD(self.lr), l2=self.l2, intercept_lr=self.intercept_lr
            ),
            order=[],
        )

    def _init_state(self) -> None:
        self.learned_: set[Hashable] = set()  # labels the chain has learned from
        super()._init_state()

    def _labels_changed(self) -> None:
        assert self.schema is not None
        order = self.model_.order
        order.extend(self.schema.labels[len(order) :])

    def _learn_river(self, x: Mapping[Hashable, Any], y: dict[Hashable, bool]) -> None:
        self.model_.learn_one(x, y)
        if len(self.learned_) < len(self.model_.order):
            self.learned_.update(y)

    def _proba_row(self, x: Mapping[Hashable, Any]) -> list[float]:
        # River's chain answers 0.5 for a label it never learned (a fresh regression); we
        # report 0 for it, like the binary-relevance peers (the decision is "absent" either way)
        p = super()._proba_row(x)
        if len(self.learned_) < len(p):
            assert self.schema is not None
            p = [pi if lab in self.learned_ else 0.0 for lab, pi in zip(self.schema.labels, p)]
        return p


class BinaryRelevanceNaiveBayes(_RiverPeer):
    """Binary relevance of River's Gaussian naive Bayes (``br-nb``), a peer baseline.

    One ``river.naive_bayes.GaussianNB`` per label, through River's
    ``multioutput.PerOutputClassifier``. GaussianNB has no parameter.

    Examples
    --------
    >>> model = BinaryRelevanceNaiveBayes()
    >>> for a in (1.0, 1.5, 2.0):
    ...     model.learn_one({"a": a}, {"x": True, "y": False})
    ...     model.learn_one({"a": a + 4.0}, {"x": False, "y": True})
    >>> model.predict_one({"a": 5.5})
    {'x': False, 'y': True}

    """

    def _make_model(self) -> river_base.MultiLabelClassifier:
        from river import multioutput, naive_bayes

        return multioutput.PerOutputClassifier(naive_bayes.GaussianNB())
