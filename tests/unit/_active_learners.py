"""A small learner over the base contract for the active-learning tests: one online logistic
regression per label (SGD), learning only the known labels of each row."""

from __future__ import annotations

import numpy as np

from streamlearn.base.arrays import CSR, Features, n_rows
from streamlearn.base.multilabel import MultiLabelClassifier


class PerLabelLogistic(MultiLabelClassifier):
    """Online binary relevance with logistic regression; records every learn call's mask."""

    def __init__(self, lr: float = 0.5, l2: float = 1e-4, record: bool = False) -> None:
        self.lr = lr
        self.l2 = l2
        self.record = record

    def _init_state(self) -> None:
        assert self.schema is not None
        d, L = self.schema.n_features, self.schema.n_labels
        self.W_ = np.zeros((d, L))
        self.b_ = np.zeros(L)
        self.g2_ = np.full(L, 1e-8)  # AdaGrad accumulator of the intercept gradients
        self.G2_ = np.full((d, L), 1e-8)
        self.masks_: list[np.ndarray] = []

    def _on_schema_grow(self, old_n_features: int, old_n_labels: int) -> None:
        assert self.schema is not None
        d, L = self.schema.n_features, self.schema.n_labels
        W = np.zeros((d, L))
        W[: self.W_.shape[0], : self.W_.shape[1]] = self.W_
        G = np.full((d, L), 1e-8)
        G[: self.G2_.shape[0], : self.G2_.shape[1]] = self.G2_
        self.W_, self.G2_ = W, G
        self.b_ = np.concatenate([self.b_, np.zeros(L - len(self.b_))])
        self.g2_ = np.concatenate([self.g2_, np.full(L - len(self.g2_), 1e-8)])

    def _row(self, X: Features, i: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(X, CSR):
            return X.row(i)
        nz = np.flatnonzero(X[i])
        return nz, X[i, nz]

    def _predict_proba_rows(self, X: Features) -> np.ndarray:
        n = n_rows(X)
        out = np.empty((n, len(self.b_)))
        for i in range(n):
            idx, val = self._row(X, i)
            z = val @ self.W_[idx] + self.b_
            out[i] = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
        return out

    def _learn_rows(self, X: Features, Y: np.ndarray, known: np.ndarray | None) -> None:
        for i in range(n_rows(X)):
            k = np.ones(Y.shape[1], dtype=bool) if known is None else known[i]
            if self.record:
                self.masks_.append(k.copy())
            idx, val = self._row(X, i)
            z = val @ self.W_[idx] + self.b_
            p = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
            g = np.where(k, p - Y[i], 0.0)
            gw = np.outer(val, g) + self.l2 * self.W_[idx] * k
            self.G2_[idx] += gw * gw
            self.W_[idx] -= self.lr * gw / np.sqrt(self.G2_[idx])
            self.g2_ += g * g
            self.b_ -= self.lr * g / np.sqrt(self.g2_)
