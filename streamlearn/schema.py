"""Feature and label spaces: names <-> column indices, with a label space that can grow.

A :class:`Schema` is the one place where the names used by the dict API (River style) meet
the column indices used by the array API (the hot path). Feature and label names are kept in
insertion order; a name, once given an index, keeps it for the life of the schema (and of
every snapshot of a model holding it). New names are appended, so arrays built for an older
schema stay valid as a prefix.

Examples
--------
>>> s = Schema(features=["a", "b"], labels=["x", "y"])
>>> s.n_features, s.n_labels
(2, 2)
>>> s.x_to_dense({"b": 2.0, "a": 1.0}).tolist()
[1.0, 2.0]
>>> s.labels_to_row(["y"]).tolist()
[0, 1]
>>> s.add_labels(["z"])
[2]
>>> s.labels
['x', 'y', 'z']

"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Schema", "SchemaError"]


class SchemaError(ValueError):
    """An input does not fit the schema (unknown name under a strict policy, bad value...)."""


@dataclass
class Schema:
    """Ordered feature and label spaces.

    Parameters
    ----------
    features
        Feature names, in column order.
    labels
        Label names, in column order.
    sparse
        Whether instances are naturally sparse (most features zero). Learners use it to pick
        the CSR path for single instances coming through the dict API.
    nominal
        Feature name -> list of nominal values, for features that were declared nominal in the
        source (ARFF). Values are encoded as their index in that list (a ``{0,1}`` attribute
        keeps its numeric meaning).
    name
        A name for the stream (the ARFF relation, a dataset name...).

    """

    features: list[Hashable] = field(default_factory=list)
    labels: list[Hashable] = field(default_factory=list)
    sparse: bool = False
    nominal: dict[Hashable, list[str]] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        self.features = list(self.features)
        self.labels = list(self.labels)
        self._fidx = {f: i for i, f in enumerate(self.features)}
        self._lidx = {lab: i for i, lab in enumerate(self.labels)}
        if len(self._fidx) != len(self.features):
            raise SchemaError("duplicate feature names")
        if len(self._lidx) != len(self.labels):
            raise SchemaError("duplicate label names")

    # ------------------------------------------------------------------ sizes and lookups
    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def feature_index(self, name: Hashable) -> int:
        try:
            return self._fidx[name]
        except KeyError:
            raise SchemaError(f"unknown feature {name!r}") from None

    def label_index(self, name: Hashable) -> int:
        try:
            return self._lidx[name]
        except KeyError:
            raise SchemaError(f"unknown label {name!r}") from None

    def has_feature(self, name: Hashable) -> bool:
        return name in self._fidx

    def has_label(self, name: Hashable) -> bool:
        return name in self._lidx

    # ------------------------------------------------------------------ growth
    def add_features(self, names: Iterable[Hashable]) -> list[int]:
        """Append unseen feature names; return the indices of the ones added."""
        added = []
        for name in names:
            if name not in self._fidx:
                self._fidx[name] = len(self.features)
                self.features.append(name)
                added.append(self._fidx[name])
        return added

    def add_labels(self, names: Iterable[Hashable]) -> list[int]:
        """Append unseen label names; return the indices of the ones added."""
        added = []
        for name in names:
            if name not in self._lidx:
                self._lidx[name] = len(self.labels)
                self.labels.append(name)
                added.append(self._lidx[name])
        return added

    # ------------------------------------------------------------------ conversions
    def x_to_dense(self, x: Mapping[Hashable, Any], *, strict: bool = False) -> np.ndarray:
        """One instance as a dense float64 row. Unknown names are skipped unless ``strict``."""
        row = np.zeros(self.n_features, dtype=np.float64)
        for name, value in x.items():
            i = self._fidx.get(name)
            if i is None:
                if strict:
                    raise SchemaError(f"unknown feature {name!r}")
                continue
            row[i] = self._encode(name, value)
        return row

    def x_to_sparse(
        self, x: Mapping[Hashable, Any], *, strict: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """One instance as sorted (indices int64, values float64), zeros dropped."""
        pairs = []
        for name, value in x.items():
            i = self._fidx.get(name)
            if i is None:
                if strict:
                    raise SchemaError(f"unknown feature {name!r}")
                continue
            v = self._encode(name, value)
            if v != 0.0:
                pairs.append((i, v))
        pairs.sort()
        idx = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        val = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
        return idx, val

    def _encode(self, name: Hashable, value: Any) -> float:
        if isinstance(value, bool | int | float | np.integer | np.floating):
            v = float(value)
        elif name in self.nominal and isinstance(value, str):
            try:
                v = float(self.nominal[name].index(value))
            except ValueError:
                raise SchemaError(f"value {value!r} is not one of feature {name!r}'s") from None
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise SchemaError(f"feature {name!r}: {value!r} is not a number") from None
        if not math.isfinite(v):
            raise SchemaError(f"feature {name!r}: {value!r} is not finite")
        return v

    def labels_to_row(self, labels: Iterable[Hashable], *, strict: bool = True) -> np.ndarray:
        """A label set (names of the true labels) as a uint8 row over the label space."""
        row = np.zeros(self.n_labels, dtype=np.uint8)
        for name in labels:
            i = self._lidx.get(name)
            if i is None:
                if strict:
                    raise SchemaError(f"unknown label {name!r}")
                continue
            row[i] = 1
        return row

    def y_to_rows(
        self, y: Mapping[Hashable, Any], known: Iterable[Hashable] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """River's ``y`` dict as (values uint8, known-mask bool) rows over the label space.

        With ``known=None`` every label of the space is known: labels absent from ``y`` are
        false (River's convention for a full label set). Otherwise only the labels named in
        ``known`` are known, taking their value from ``y`` (absent = false).
        """
        row = np.zeros(self.n_labels, dtype=np.uint8)
        for name, value in y.items():
            if value:
                row[self.label_index(name)] = 1
        if known is None:
            mask = np.ones(self.n_labels, dtype=np.bool_)
        else:
            mask = np.zeros(self.n_labels, dtype=np.bool_)
            for name in known:
                mask[self.label_index(name)] = True
        return row, mask

    def row_to_labels(self, row: np.ndarray) -> list[Hashable]:
        """Names of the labels set in a 0/1 row."""
        return [self.labels[i] for i in np.flatnonzero(row)]

    # ------------------------------------------------------------------ (de)serialisation
    def copy(self) -> Schema:
        return Schema(
            features=list(self.features),
            labels=list(self.labels),
            sparse=self.sparse,
            nominal={k: list(v) for k, v in self.nominal.items()},
            name=self.name,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": list(self.features),
            "labels": list(self.labels),
            "sparse": self.sparse,
            "nominal": {str(k): list(v) for k, v in self.nominal.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Schema:
        return cls(
            features=list(d["features"]),
            labels=list(d["labels"]),
            sparse=bool(d.get("sparse", False)),
            nominal={k: list(v) for k, v in d.get("nominal", {}).items()},
            name=str(d.get("name", "")),
        )

    def __getstate__(self) -> dict[str, Any]:
        return self.to_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**{k: state[k] for k in ("features", "labels", "sparse", "nominal", "name")})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (
            f"Schema(name={self.name!r}, n_features={self.n_features}, "
            f"n_labels={self.n_labels}, sparse={self.sparse})"
        )
