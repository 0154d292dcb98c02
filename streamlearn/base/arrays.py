"""Array inputs of the hot path: dense feature matrices, CSR feature matrices, label matrices.

The learners' array API takes either a dense ``float64`` matrix of shape ``(n, n_features)`` or a
sparse matrix in compressed-sparse-row form. Sparse input is carried as :class:`CSR`, a tiny
holder of the three CSR arrays that numba kernels take directly (``indptr``, ``indices``,
``data``); ``scipy.sparse`` matrices are accepted and converted once at the boundary.
Label matrices are ``uint8`` 0/1 of shape ``(n, n_labels)``; an optional ``known`` mask of the
same shape (``bool``) says which labels of each row are known (partial label sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CSR",
    "Features",
    "InputError",
    "as_features",
    "as_known",
    "as_labels",
    "n_rows",
    "take_rows",
]


class InputError(ValueError):
    """Array input with the wrong shape, dtype or values; the message says which."""


@dataclass(frozen=True)
class CSR:
    """A compressed-sparse-row feature matrix (the three arrays numba kernels take).

    Column indices are sorted within each row and every stored value is finite.
    """

    indptr: np.ndarray  # int64, shape (n + 1,)
    indices: np.ndarray  # int64, shape (nnz,)
    data: np.ndarray  # float64, shape (nnz,)
    n_cols: int

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.indptr) - 1, self.n_cols)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.indptr[i], self.indptr[i + 1]
        return self.indices[a:b], self.data[a:b]

    def slice(self, start: int, stop: int) -> CSR:
        a, b = int(self.indptr[start]), int(self.indptr[stop])
        return CSR(
            self.indptr[start : stop + 1] - a, self.indices[a:b], self.data[a:b], self.n_cols
        )

    def toarray(self) -> np.ndarray:
        n = len(self.indptr) - 1
        out = np.zeros((n, self.n_cols), dtype=np.float64)
        for i in range(n):
            a, b = self.indptr[i], self.indptr[i + 1]
            out[i, self.indices[a:b]] = self.data[a:b]
        return out

    @classmethod
    def from_rows(cls, rows: list[tuple[np.ndarray, np.ndarray]], n_cols: int) -> CSR:
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        for i, (idx, _) in enumerate(rows):
            indptr[i + 1] = indptr[i] + len(idx)
        if rows:
            indices = np.concatenate([np.asarray(r[0], dtype=np.int64) for r in rows])
            data = np.concatenate([np.asarray(r[1], dtype=np.float64) for r in rows])
        else:
            indices = np.zeros(0, dtype=np.int64)
            data = np.zeros(0, dtype=np.float64)
        return cls(indptr, indices, data, n_cols)

    @classmethod
    def from_dense(cls, X: np.ndarray) -> CSR:
        X = np.asarray(X, dtype=np.float64)
        rows = []
        for r in X:
            nz = np.flatnonzero(r)
            rows.append((nz, r[nz]))
        return cls.from_rows(rows, X.shape[1])


Features = np.ndarray | CSR


def n_rows(X: Features) -> int:
    return X.shape[0]


def take_rows(X: Features, start: int, stop: int) -> Features:
    if isinstance(X, CSR):
        return X.slice(start, stop)
    return X[start:stop]


def as_features(X: Any, n_features: int | None = None) -> Features:
    """Validate a feature matrix and bring it to the kernels' form (no copy when already there)."""
    if isinstance(X, CSR):
        out = X
    elif hasattr(X, "tocsr"):  # any scipy.sparse matrix or array
        m = X.tocsr()
        m.sort_indices()
        out = CSR(
            np.asarray(m.indptr, dtype=np.int64),
            np.asarray(m.indices, dtype=np.int64),
            np.asarray(m.data, dtype=np.float64),
            int(m.shape[1]),
        )
    else:
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise InputError(f"features must be a 2-d matrix, got {arr.ndim} dimensions")
        if arr.dtype.kind not in "biuf":
            raise InputError(f"features must be numeric, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise InputError("features contain NaN or infinite values")
        if n_features is not None and arr.shape[1] != n_features:
            raise InputError(f"expected {n_features} feature columns, got {arr.shape[1]}")
        return arr
    if not np.isfinite(out.data).all():
        raise InputError("features contain NaN or infinite values")
    if n_features is not None and out.n_cols != n_features:
        raise InputError(f"expected {n_features} feature columns, got {out.n_cols}")
    if out.nnz and (out.indices.min() < 0 or out.indices.max() >= out.n_cols):
        raise InputError("sparse column index out of range")
    return out


def as_labels(Y: Any, n: int, n_labels: int) -> np.ndarray:
    """Validate a 0/1 label matrix of shape (n, n_labels) and return it as uint8."""
    arr = np.asarray(Y)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape != (n, n_labels):
        raise InputError(f"expected a label matrix of shape {(n, n_labels)}, got {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "biuf":
            raise InputError(f"labels must be 0/1, got dtype {arr.dtype}")
        if not np.isin(arr, (0, 1)).all():
            raise InputError("labels must be 0/1")
        arr = arr.astype(np.uint8)
    elif arr.size and arr.max() > 1:
        raise InputError("labels must be 0/1")
    return np.ascontiguousarray(arr)


def as_known(known: Any, n: int, n_labels: int) -> np.ndarray | None:
    """Validate an optional known-labels mask; ``None`` means every label is known."""
    if known is None:
        return None
    arr = np.asarray(known)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape != (n, n_labels):
        raise InputError(f"expected a known-mask of shape {(n, n_labels)}, got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.bool_)
