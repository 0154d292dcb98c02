"""The multi-label learner contract (DESIGN §2).

River-compatible dict API (``learn_one``, ``predict_proba_one``, ``predict_one``) on top of an
array API that is the hot path (``learn_many``, ``predict_proba_many``, ``predict_many`` and the
fused strict test-then-train ``predict_learn_many``). The dict API converts once at the boundary
through the learner's :class:`~streamlearn.schema.Schema` and calls the same row methods.

A subclass implements four hooks over validated arrays:

- ``_init_state()``: allocate learned state once ``self.schema`` is known;
- ``_on_schema_grow(old_n_features, old_n_labels)``: resize it when features/labels appear;
- ``_predict_proba_rows(X) -> P``: ``P[i, j]`` is the probability that label ``j`` is true;
- ``_learn_rows(X, Y, known)``: learn rows in order (``known`` masks partial label sets).

and may override ``_predict_learn_rows`` with a fused kernel that, row by row, predicts and then
learns (strict prequential order) in one call.

Learners keep their state in numpy arrays and plain scalars (never numba objects), so pickling a
learner is an exact snapshot: RNG included, the restored learner continues bit for bit.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Self

import numpy as np
from river import base as river_base

from streamlearn.base.arrays import (
    CSR,
    Features,
    InputError,
    as_features,
    as_known,
    as_labels,
    n_rows,
    take_rows,
)
from streamlearn.base.events import DriftEvent
from streamlearn.schema import Schema

__all__ = ["MultiLabelClassifier"]


class MultiLabelClassifier(river_base.MultiLabelClassifier):
    """Base class of every multi-label learner of streamlearn.

    Learned state is created lazily: from the first dict seen by ``learn_one``, or explicitly
    with :meth:`set_schema` before the array API is used.
    """

    #: Feature and label spaces of the learned state (``None`` before anything was seen).
    schema: Schema | None = None
    #: Instances learned so far (each row of ``learn_many`` counts once, whatever its weight).
    n_samples_seen: int = 0
    #: Probability above which a label is predicted true.
    threshold: float = 0.5
    #: How the evaluation harness feeds this learner a stream: ``"arrays"`` (schema set once,
    #: then ``predict_learn_many`` over chunks of a feature matrix) or ``"dicts"`` (River style:
    #: ``predict_one`` then ``learn_one`` per instance, on dicts prepared before timing).
    natural_form: str = "arrays"

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _init_state(self) -> None:
        """Allocate the learned state for ``self.schema``."""

    def _on_schema_grow(self, old_n_features: int, old_n_labels: int) -> None:
        """Resize the learned state after ``self.schema`` grew (new columns are appended)."""
        raise InputError(
            f"{type(self).__name__} cannot grow its feature/label space after it started learning"
        )

    @abc.abstractmethod
    def _predict_proba_rows(self, X: Features) -> np.ndarray:
        """Probabilities ``(n, n_labels)`` float64 that each label is true."""

    @abc.abstractmethod
    def _learn_rows(self, X: Features, Y: np.ndarray, known: np.ndarray | None) -> None:
        """Learn the rows of ``X``/``Y`` in order; ``known`` (or None = all) masks labels."""

    def _predict_learn_rows(
        self, X: Features, Y: np.ndarray, known: np.ndarray | None
    ) -> np.ndarray:
        """Strict test-then-train: for each row, predict it, then learn it."""
        n = n_rows(X)
        out = np.empty((n, Y.shape[1]), dtype=np.float64)
        for i in range(n):
            xi = take_rows(X, i, i + 1)
            out[i] = self._predict_proba_rows(xi)[0]
            self._learn_rows(xi, Y[i : i + 1], None if known is None else known[i : i + 1])
        return out

    # ------------------------------------------------------------------ schema
    def set_schema(self, schema: Schema) -> Self:
        """Fix (or extend) the feature and label spaces before using the array API."""
        if self.schema is None:
            self.schema = schema.copy()
            self._init_state()
            return self
        nf, nl = self.schema.n_features, self.schema.n_labels
        if (
            list(schema.features[:nf]) != self.schema.features
            or list(schema.labels[:nl]) != self.schema.labels
        ):
            raise InputError("the new schema does not extend the model's schema")
        self._grow(schema.features[nf:], schema.labels[nl:])
        return self

    def _grow(self, features: Iterable[Hashable], labels: Iterable[Hashable]) -> None:
        assert self.schema is not None
        nf, nl = self.schema.n_features, self.schema.n_labels
        before = self.schema.copy()
        self.schema.add_features(features)
        self.schema.add_labels(labels)
        if (self.schema.n_features, self.schema.n_labels) != (nf, nl):
            try:
                self._on_schema_grow(nf, nl)
            except Exception:
                self.schema = before  # a learner that refuses to grow keeps its spaces
                raise

    def _require_schema(self) -> Schema:
        if self.schema is None:
            raise InputError(
                f"{type(self).__name__} has no schema yet: call set_schema() or learn_one() first"
            )
        return self.schema

    # ------------------------------------------------------------------ array API
    def learn_many(self, X: Any, Y: Any, known: Any = None) -> None:
        """Learn a batch of rows, in order.

        Parameters
        ----------
        X
            ``(n, n_features)`` dense matrix, :class:`~streamlearn.base.arrays.CSR` or any
            ``scipy.sparse`` matrix.
        Y
            ``(n, n_labels)`` 0/1 matrix.
        known
            Optional ``(n, n_labels)`` boolean mask of the labels that are known; unknown labels
            are not learned from (partial label sets, active learning, late labels).
        """
        s = self._require_schema()
        X = as_features(X, s.n_features)
        n = n_rows(X)
        Y = as_labels(Y, n, s.n_labels)
        self._learn_rows(X, Y, as_known(known, n, s.n_labels))
        self.n_samples_seen += n

    def predict_proba_many(self, X: Any) -> np.ndarray:
        """``(n, n_labels)`` probabilities that each label is true."""
        s = self._require_schema()
        return self._predict_proba_rows(as_features(X, s.n_features))

    def predict_many(self, X: Any) -> np.ndarray:
        """``(n, n_labels)`` boolean label decisions."""
        return self.predict_proba_many(X) > self.threshold

    def predict_learn_many(self, X: Any, Y: Any, known: Any = None) -> np.ndarray:
        """Strict prequential pass: each row is predicted, then learned, in order.

        Returns the probabilities predicted for each row *before* it was learned.
        """
        s = self._require_schema()
        X = as_features(X, s.n_features)
        n = n_rows(X)
        Y = as_labels(Y, n, s.n_labels)
        out = self._predict_learn_rows(X, Y, as_known(known, n, s.n_labels))
        self.n_samples_seen += n
        return out

    # ------------------------------------------------------------------ dict API
    def _x_row(self, x: Mapping[Hashable, Any]) -> Features:
        s = self._require_schema()
        if s.sparse:
            idx, val = s.x_to_sparse(x)
            return CSR(np.array([0, len(idx)], dtype=np.int64), idx, val, s.n_features)
        return s.x_to_dense(x)[None, :]

    def learn_one(
        self,
        x: Mapping[Hashable, Any],
        y: Mapping[Hashable, Any],
        known: Iterable[Hashable] | None = None,
    ) -> None:
        """Learn one instance.

        ``y`` maps label names to booleans (River's convention). With ``known=None`` the label
        set is complete: labels of the space absent from ``y`` are false. Otherwise only the
        labels named in ``known`` are learned from.
        """
        known = None if known is None else list(known)
        new_labels = [*y, *(known or ())]
        if self.schema is None:
            self.schema = Schema(
                features=sorted(x, key=str), labels=sorted(dict.fromkeys(new_labels), key=str)
            )
            self._init_state()
        else:
            self._grow(
                sorted((f for f in x if not self.schema.has_feature(f)), key=str),
                sorted(
                    (lab for lab in dict.fromkeys(new_labels) if not self.schema.has_label(lab)),
                    key=str,
                ),
            )
        yrow, krow = self.schema.y_to_rows(y, known)
        self._learn_rows(self._x_row(x), yrow[None, :], None if known is None else krow[None, :])
        self.n_samples_seen += 1

    def predict_proba_one(
        self, x: Mapping[Hashable, Any], **kwargs: Any
    ) -> dict[Hashable, dict[bool, float]]:
        if self.schema is None or self.schema.n_labels == 0:
            return {}
        p = self._predict_proba_rows(self._x_row(x))[0]
        return {
            lab: {False: 1.0 - float(pi), True: float(pi)} for lab, pi in zip(self.schema.labels, p)
        }

    def predict_one(self, x: Mapping[Hashable, Any], **kwargs: Any) -> dict[Hashable, bool]:
        if self.schema is None or self.schema.n_labels == 0:
            return {}
        p = self._predict_proba_rows(self._x_row(x))[0]
        return {lab: bool(pi > self.threshold) for lab, pi in zip(self.schema.labels, p)}

    # ------------------------------------------------------------------ introspection
    def pop_events(self) -> list[DriftEvent]:
        """Structural events (drifts, restructures) since the last call, oldest first."""
        events = getattr(self, "_events", None)
        if not events:
            return []
        self._events = []
        return events

    def _emit(self, event: DriftEvent) -> None:
        events = getattr(self, "_events", None)
        if events is None:
            self._events = events = []
        events.append(event)

    def memory_bytes(self) -> int:
        """Bytes held by the learned state's numpy arrays (recursively through attributes)."""
        seen: set[int] = set()

        def size(obj: Any, depth: int = 0) -> int:
            if id(obj) in seen or depth > 6:
                return 0
            seen.add(id(obj))
            if isinstance(obj, np.ndarray):
                return int(obj.nbytes)
            if isinstance(obj, dict):
                return sum(size(v, depth + 1) for v in obj.values())
            if isinstance(obj, list | tuple):
                return sum(size(v, depth + 1) for v in obj)
            if hasattr(obj, "__dict__") and not isinstance(obj, type):
                return sum(size(v, depth + 1) for v in vars(obj).values())
            return 0

        return size(self)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary of the model for the HTTP API and logs."""
        s = self.schema
        return {
            "learner": type(self).__name__,
            "n_features": 0 if s is None else s.n_features,
            "n_labels": 0 if s is None else s.n_labels,
            "labels": [] if s is None else [str(lab) for lab in s.labels],
            "n_samples_seen": int(self.n_samples_seen),
            "memory_bytes": self.memory_bytes(),
        }
