"""A whole multi-label stream held in memory, in stream order.

A :class:`Dataset` is what :func:`~streamlearn.stream.load_arff` and
:func:`~streamlearn.stream.make_stream` return: the feature matrix (dense ``float64`` or
:class:`~streamlearn.base.arrays.CSR` for sparse sources), the ``uint8`` label matrix and the
:class:`~streamlearn.schema.Schema` naming their columns. Rows are in stream order; nothing here
shuffles.

Examples
--------
>>> import numpy as np
>>> from streamlearn.schema import Schema
>>> ds = Dataset(
...     name="tiny",
...     schema=Schema(features=["a", "b"], labels=["x", "y"]),
...     X=np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]),
...     Y=np.array([[1, 0], [0, 1], [1, 1]], dtype=np.uint8),
... )
>>> len(ds), ds.n_features, ds.n_labels, round(ds.label_cardinality, 3)
(3, 2, 2, 1.333)
>>> next(ds.iter_dicts())
({'a': 1.0, 'b': 0.0}, {'x': True, 'y': False})
>>> [len(Xb) for Xb, Yb in ds.batches(2)]
[2, 1]
>>> len(ds.slice(1, 3)), ds.head(1).Y.tolist()
(2, [[1, 0]])

"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from streamlearn.base.arrays import CSR
from streamlearn.schema import Schema

__all__ = ["Dataset"]


@dataclass
class Dataset:
    """A whole stream held in memory (rows in stream order).

    Parameters
    ----------
    name
        Name of the stream (an ARFF file's stem, ``"synthetic"``...).
    schema
        Feature and label names, the sparse flag and the nominal value lists.
    X
        Features: dense ``float64`` ``(n, n_features)`` C-contiguous, or :class:`CSR` for
        sparse sources (sorted column indices, no explicit zeros).
    Y
        Labels: ``uint8`` ``(n, n_labels)``, 0/1.

    """

    name: str
    schema: Schema
    X: np.ndarray | CSR
    Y: np.ndarray

    def __post_init__(self) -> None:
        if isinstance(self.X, CSR):
            n, d = self.X.shape
        else:
            if not isinstance(self.X, np.ndarray) or self.X.ndim != 2:
                raise ValueError("Dataset.X must be a 2-d numpy array or a CSR matrix")
            if self.X.dtype != np.float64 or not self.X.flags.c_contiguous:
                self.X = np.ascontiguousarray(self.X, dtype=np.float64)
            n, d = self.X.shape
        if not isinstance(self.Y, np.ndarray) or self.Y.ndim != 2:
            raise ValueError("Dataset.Y must be a 2-d numpy array")
        if self.Y.dtype != np.uint8:
            self.Y = np.ascontiguousarray(self.Y, dtype=np.uint8)
        if self.Y.shape[0] != n:
            raise ValueError(f"Dataset: X has {n} rows but Y has {self.Y.shape[0]}")
        if d != self.schema.n_features:
            raise ValueError(f"Dataset: X has {d} columns, the schema {self.schema.n_features}")
        if self.Y.shape[1] != self.schema.n_labels:
            raise ValueError(
                f"Dataset: Y has {self.Y.shape[1]} columns, the schema {self.schema.n_labels}"
            )

    # ------------------------------------------------------------------ sizes
    def __len__(self) -> int:
        return int(self.Y.shape[0])

    @property
    def n_features(self) -> int:
        return self.schema.n_features

    @property
    def n_labels(self) -> int:
        return self.schema.n_labels

    @property
    def sparse(self) -> bool:
        """Whether ``X`` is held as :class:`CSR`."""
        return isinstance(self.X, CSR)

    @property
    def label_cardinality(self) -> float:
        """Mean number of true labels per instance (0.0 for an empty stream)."""
        if len(self) == 0:
            return 0.0
        return float(self.Y.sum(dtype=np.int64)) / len(self)

    # ------------------------------------------------------------------ sub-streams
    def slice(self, start: int, stop: int) -> Dataset:
        """Rows ``start:stop`` (Python slice semantics, step 1) as a new Dataset.

        Arrays are views where possible; the schema is copied, so growing one does not grow
        the other.
        """
        a, b, _ = slice(start, stop).indices(len(self))
        b = max(a, b)
        X = self.X.slice(a, b) if isinstance(self.X, CSR) else self.X[a:b]
        return Dataset(name=self.name, schema=self.schema.copy(), X=X, Y=self.Y[a:b])

    def head(self, n: int) -> Dataset:
        """The first ``n`` rows."""
        if n < 0:
            raise ValueError(f"head: n must be >= 0, got {n}")
        return self.slice(0, n)

    # ------------------------------------------------------------------ iteration
    def iter_dicts(self) -> Iterator[tuple[dict[str, float], dict[str, bool]]]:
        """River-style ``(x, y)`` pairs in stream order.

        ``x`` maps feature names to values: every feature for dense data, only the non-zero
        features for sparse data (as a River user feeds sparse rows). ``y`` maps every label
        name to a bool.
        """
        features = list(self.schema.features)
        labels = list(self.schema.labels)
        Y = self.Y
        if isinstance(self.X, CSR):
            names = np.empty(len(features), dtype=object)
            names[:] = features
            indptr, indices, data = self.X.indptr, self.X.indices, self.X.data
            for i in range(len(self)):
                a, b = indptr[i], indptr[i + 1]
                x = dict(zip(names[indices[a:b]].tolist(), data[a:b].tolist()))
                yield x, dict(zip(labels, Y[i].astype(bool).tolist()))
        else:
            X = self.X
            for i in range(len(self)):
                yield (
                    dict(zip(features, X[i].tolist())),
                    dict(zip(labels, Y[i].astype(bool).tolist())),
                )

    def batches(self, size: int) -> Iterator[tuple[np.ndarray | CSR, np.ndarray]]:
        """Consecutive ``(X, Y)`` blocks of ``size`` rows (the last may be shorter)."""
        if size < 1:
            raise ValueError(f"batches: size must be >= 1, got {size}")
        n = len(self)
        for a in range(0, n, size):
            b = min(a + size, n)
            X = self.X.slice(a, b) if isinstance(self.X, CSR) else self.X[a:b]
            yield X, self.Y[a:b]

    def __repr__(self) -> str:
        form = "sparse" if self.sparse else "dense"
        return (
            f"Dataset(name={self.name!r}, instances={len(self)}, features={self.n_features}, "
            f"labels={self.n_labels}, {form})"
        )
