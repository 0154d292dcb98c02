"""An in-memory multi-label stream: a feature matrix, a label bit-matrix and their schema.

(Minimal version on the ``eval`` branch, with the interface agreed with the ``streams`` branch;
the lead keeps that branch's version when they are merged.)

Examples
--------
>>> import numpy as np
>>> from streamlearn.schema import Schema
>>> ds = Dataset("toy", Schema(features=["a", "b"], labels=["x", "y"]),
...              np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1, 0], [0, 1]], dtype=np.uint8))
>>> len(ds), ds.n_features, ds.n_labels
(2, 2, 2)
>>> next(ds.iter_dicts())
({'a': 1.0, 'b': 0.0}, {'x': True, 'y': False})

"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass

import numpy as np

from streamlearn.base.arrays import CSR, Features, n_rows, take_rows
from streamlearn.schema import Schema

__all__ = ["Dataset"]


@dataclass
class Dataset:
    """A whole stream held in memory, in stream order.

    Parameters
    ----------
    name
        Name of the stream (file stem, relation...).
    schema
        Feature and label names, in column order.
    X
        ``(n, n_features)`` dense float64 matrix or :class:`~streamlearn.base.arrays.CSR`.
    Y
        ``(n, n_labels)`` uint8 0/1 label matrix.
    """

    name: str
    schema: Schema
    X: Features
    Y: np.ndarray

    def __len__(self) -> int:
        return n_rows(self.X)

    @property
    def n_features(self) -> int:
        return self.schema.n_features

    @property
    def n_labels(self) -> int:
        return self.schema.n_labels

    def head(self, n: int) -> Dataset:
        return self.slice(0, min(n, len(self)))

    def slice(self, start: int, stop: int) -> Dataset:
        return Dataset(self.name, self.schema, take_rows(self.X, start, stop), self.Y[start:stop])

    def iter_dicts(self) -> Iterator[tuple[dict[Hashable, float], dict[Hashable, bool]]]:
        """River-style ``(x, y)`` pairs; a sparse row gives only its non-zero features."""
        features, labels = self.schema.features, self.schema.labels
        X = self.X
        for i in range(len(self)):
            if isinstance(X, CSR):
                idx, val = X.row(i)
                x = {features[j]: v for j, v in zip(idx.tolist(), val.tolist()) if v != 0.0}
            else:
                x = dict(zip(features, X[i].tolist()))
            y = dict(zip(labels, (bool(v) for v in self.Y[i].tolist())))
            yield x, y

    def batches(self, size: int) -> Iterator[tuple[Features, np.ndarray]]:
        for a in range(0, len(self), size):
            b = min(a + size, len(self))
            yield take_rows(self.X, a, b), self.Y[a:b]
