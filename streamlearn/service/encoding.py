"""Rows for the learner: an event's features and a label set as rows over the shard's spaces.

One conversion for every form an event's ``x`` takes — a dense list or ``float64`` array, sparse
``{indices, values}`` (:class:`~streamlearn.service.contract.SparseFeatures`) or an ``(indices,
values)`` pair of arrays, named ``{feature: value}`` — built on the
:class:`~streamlearn.schema.Schema`, with one error type: :class:`~streamlearn.service.contract.
DecodeError` and its DLQ reason (``wrong_dimensions``, ``unknown_feature``, ``non_finite``).

Dense schemas give ``float64`` rows of length ``n_features`` (a validated list is returned as
it is: a batch of them becomes one matrix in a single ``np.array`` call); sparse schemas give
sorted ``(indices int64, values float64)`` pairs without zeros.

:class:`LabelEncoder` turns the label names of a record into a 0/1 row under the unknown-label
policy (``ignore``, ``grow`` the space, ``reject`` the record: ``unknown_label``).

Examples
--------
>>> from streamlearn.schema import Schema
>>> enc = FeatureEncoder(Schema(features=["a", "b", "c"]))
>>> enc.row([1.0, 2.0, 3.0]), enc.row({"c": 5}).tolist()
([1.0, 2.0, 3.0], [0.0, 0.0, 5.0])
>>> enc.row([1, 2])
Traceback (most recent call last):
...
streamlearn.service.contract.DecodeError: wrong_dimensions: x has 2 values, the feature space has 3
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from streamlearn.base.arrays import CSR
from streamlearn.schema import Schema, SchemaError
from streamlearn.service.contract import (
    NON_FINITE,
    TOO_MANY_LABELS,
    UNKNOWN_FEATURE,
    UNKNOWN_LABEL,
    WRONG_DIMENSIONS,
    DecodeError,
    SparseFeatures,
)

__all__ = ["FeatureEncoder", "LabelEncoder", "Row", "schema_from_event", "stack"]

Row = np.ndarray | list | tuple[np.ndarray, np.ndarray]


class FeatureEncoder:
    """Turns the ``x`` of events into rows over ``schema``'s feature space.

    A dense array must have exactly ``n_features`` values; sparse indices must be below
    ``n_features``; names must be in the schema unless ``unknown_features="ignore"``; array
    input (which did not go through JSON validation) must be finite.
    """

    def __init__(
        self, schema: Schema, unknown_features: Literal["ignore", "reject"] = "reject"
    ) -> None:
        self.schema = schema
        self.n = schema.n_features
        self.sparse = schema.sparse
        self.strict = unknown_features == "reject"

    def row(self, x: Any) -> Row:
        if isinstance(x, list):
            self._check_length(len(x))
            if self.sparse:
                return self._from_dense(np.asarray(x, dtype=np.float64))
            return x  # validated floats: the batch is made an array at once
        if isinstance(x, np.ndarray):
            self._check_length(x.shape[0] if x.ndim == 1 else -1)
            _check_finite(x)
            return self._from_dense(x) if self.sparse else x
        if isinstance(x, SparseFeatures | tuple):
            idx, val = (x.indices, x.values) if isinstance(x, SparseFeatures) else x
            return self._from_sparse(np.asarray(idx, np.int64), np.asarray(val, np.float64))
        try:  # named features
            if self.sparse:
                return self.schema.x_to_sparse(x, strict=self.strict)
            return self.schema.x_to_dense(x, strict=self.strict)
        except SchemaError as exc:
            raise DecodeError(UNKNOWN_FEATURE, f"x has {exc}") from None

    def _check_length(self, n: int) -> None:
        if n != self.n:
            raise DecodeError(WRONG_DIMENSIONS, f"x has {n} values, the feature space has {self.n}")

    @staticmethod
    def _from_dense(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nz = np.flatnonzero(arr)
        return nz.astype(np.int64), arr[nz].astype(np.float64, copy=False)

    def _from_sparse(self, idx: np.ndarray, val: np.ndarray) -> Row:
        if idx.shape != val.shape or idx.ndim != 1:
            raise DecodeError(WRONG_DIMENSIONS, "x.indices and x.values differ in length")
        _check_finite(val)
        if idx.size and (int(idx.max()) >= self.n or int(idx.min()) < 0):
            bad = int(idx.max()) if int(idx.max()) >= self.n else int(idx.min())
            raise DecodeError(
                WRONG_DIMENSIONS,
                f"x.indices has column {bad}, the feature space has {self.n} columns",
            )
        if self.sparse:
            order = np.argsort(idx, kind="stable")
            keep = val[order] != 0.0
            return idx[order][keep], val[order][keep]
        out = np.zeros(self.n, dtype=np.float64)
        out[idx] = val
        return out


class LabelEncoder:
    """Label sets (lists of names) as ``uint8`` rows over ``schema``'s label space.

    ``row(names, what, record_id)`` returns ``(row, [])``, or ``(None, unknown)`` when the
    policy is ``grow`` and the set has labels the space does not have yet (the caller grows the
    space, then asks again with a new encoder). ``reject`` raises ``unknown_label``; ``ignore``
    drops unknown names. A set of more than ``max_per_record`` names, or one that would grow
    the space beyond ``max_labels``, raises ``too_many_labels``. Rows of label sets already seen
    are remembered (a stream has few distinct label sets): the row returned is shared and
    read-only.

    >>> enc = LabelEncoder(Schema(labels=["a", "b"]), "grow")
    >>> enc.row(["b"], "event", "e1")[0].tolist(), enc.row(["a", "c"], "event", "e2")
    ([0, 1], (None, ['c']))
    """

    #: Most label-set rows remembered.
    MAX_ROWS = 4096

    def __init__(
        self,
        schema: Schema,
        unknown_labels: Literal["ignore", "grow", "reject"] | str,
        max_labels: int = 10_000,
        max_per_record: int = 1000,
    ) -> None:
        self.schema = schema
        self.policy = unknown_labels
        self.max_labels = max_labels
        self.max_per_record = max_per_record
        self._index = {lab: i for i, lab in enumerate(schema.labels)}
        self._rows: dict[tuple, np.ndarray] = {}

    def row(
        self, names: Sequence[str], what: str, record_id: str
    ) -> tuple[np.ndarray | None, list[str]]:
        if len(names) > self.max_per_record:
            raise DecodeError(
                TOO_MANY_LABELS,
                f"{what} {record_id!r} names {len(names)} labels (max_labels_per_record "
                f"{self.max_per_record})",
            )
        key = tuple(names)
        rows = self._rows
        row = rows.get(key)
        if row is not None:
            return row, []
        index = self._index
        try:  # every name is known
            row = np.zeros(len(index), dtype=np.uint8)
            row[[index[n] for n in names]] = 1
        except KeyError:
            pass
        else:
            if len(rows) >= self.MAX_ROWS:
                rows.clear()
            row.flags.writeable = False
            rows[key] = row
            return row, []
        distinct = list(dict.fromkeys(names))
        unknown = [n for n in distinct if n not in index]
        if self.policy == "reject":
            raise DecodeError(
                UNKNOWN_LABEL,
                f"{what} {record_id!r} has label(s) {', '.join(map(repr, unknown))} "
                "not in the label space",
            )
        if self.policy == "grow":
            if len(index) + len(unknown) > self.max_labels:
                raise DecodeError(
                    TOO_MANY_LABELS,
                    f"{what} {record_id!r} would grow the label space to "
                    f"{len(index) + len(unknown)} labels (max_labels {self.max_labels})",
                )
            return None, unknown
        return self.schema.labels_to_row([n for n in distinct if n in index]), []


def _check_finite(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        k = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DecodeError(NON_FINITE, f"x.{k}: not a finite number ({values[k]!r})")


def schema_from_event(
    x: Any, *, features: Sequence[str] | None, n_features: int | None, sparse: bool | None
) -> Schema:
    """The feature space implied by the first event (when the settings do not give it)."""
    if features is not None:
        names = list(features)
    elif n_features is not None:
        names = [f"x{i}" for i in range(n_features)]
    elif isinstance(x, list | np.ndarray):
        names = [f"x{i}" for i in range(len(x))]
    elif isinstance(x, SparseFeatures | tuple):
        raise DecodeError(
            WRONG_DIMENSIONS,
            "sparse x needs a known feature space: set STREAMLEARN_N_FEATURES or "
            "STREAMLEARN_FEATURES",
        )
    else:
        names = sorted(x)
    is_sparse = isinstance(x, SparseFeatures | tuple) if sparse is None else sparse
    return Schema(features=names, labels=[], sparse=is_sparse)


def stack(rows: Sequence[Row], schema: Schema) -> np.ndarray | CSR:
    """Rows made by :class:`FeatureEncoder` as the learner's input matrix."""
    if schema.sparse:
        return CSR.from_rows(list(rows), schema.n_features)
    if not rows:
        return np.zeros((0, schema.n_features))
    return np.array(rows, dtype=np.float64)  # rows: float lists or arrays of one length
