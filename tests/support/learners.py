"""A tiny, deterministic multi-label learner for the service tests.

The service's own learners (iHOMER, MLHAT, the River peers) live on other branches and are
heavy; the service only needs the learner contract. :class:`CentroidLearner` keeps, per label,
the mean feature vector of the positive and of the negative instances and predicts with the
nearer centroid (through a logistic squash). Its state is numpy arrays, it can grow its label
space, and it emits a drift event every ``drift_every`` learned rows, so every branch of the
processor is exercised.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamlearn.base.arrays import CSR
from streamlearn.base.events import DriftEvent
from streamlearn.base.multilabel import MultiLabelClassifier


def _dense(X: Any) -> np.ndarray:
    return X.toarray() if isinstance(X, CSR) else X


class CentroidLearner(MultiLabelClassifier):
    def __init__(self, seed: int = 0, drift_every: int = 0, grows: bool = True) -> None:
        self.seed = seed
        self.drift_every = drift_every
        self.grows = grows

    def _init_state(self) -> None:
        nf, nl = self.schema.n_features, self.schema.n_labels
        self.sum1 = np.zeros((nl, nf))
        self.sum0 = np.zeros((nl, nf))
        self.n1 = np.zeros(nl)
        self.n0 = np.zeros(nl)
        self.rows = 0

    def _on_schema_grow(self, old_nf: int, old_nl: int) -> None:
        if not self.grows:
            return super()._on_schema_grow(old_nf, old_nl)
        nf, nl = self.schema.n_features, self.schema.n_labels
        for name in ("sum1", "sum0"):
            a = np.zeros((nl, nf))
            a[:old_nl, :old_nf] = getattr(self, name)
            setattr(self, name, a)
        for name in ("n1", "n0"):
            a = np.zeros(nl)
            a[:old_nl] = getattr(self, name)
            setattr(self, name, a)

    def _predict_proba_rows(self, X: Any) -> np.ndarray:
        X = _dense(X)
        mu1 = self.sum1 / np.maximum(self.n1, 1)[:, None]
        mu0 = self.sum0 / np.maximum(self.n0, 1)[:, None]
        d1 = ((X[:, None, :] - mu1[None]) ** 2).sum(-1)
        d0 = ((X[:, None, :] - mu0[None]) ** 2).sum(-1)
        both = (self.n1 > 0) & (self.n0 > 0)
        prior = (self.n1 + 1) / (self.n1 + self.n0 + 2)
        p = 1.0 / (1.0 + np.exp(-(d0 - d1)))
        return np.where(both[None, :], p, prior[None, :])

    def _learn_rows(self, X: Any, Y: np.ndarray, known: np.ndarray | None) -> None:
        X = _dense(X)
        for i in range(X.shape[0]):
            k = np.ones(Y.shape[1], bool) if known is None else known[i]
            pos = (Y[i] == 1) & k
            neg = (Y[i] == 0) & k
            self.sum1[pos] += X[i]
            self.n1[pos] += 1
            self.sum0[neg] += X[i]
            self.n0[neg] += 1
            self.rows += 1
            seen = self.rows
            if self.drift_every and seen % self.drift_every == 0:
                kind = "split" if (seen // self.drift_every) % 2 else "drift"
                self._emit(DriftEvent("global", kind, ("all",), seen, "Tiny", 0.5))

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["n_clusters"] = 1
        d["clusters"] = [{"id": 0, "labels": d["labels"]}]
        return d


class PriorLearner(MultiLabelClassifier):
    """Predicts each label's running frequency; vectorised, for measuring service overhead.

    The fused test-then-train pass is exact: row i is predicted from the counts of rows < i.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _init_state(self) -> None:
        self.n1 = np.zeros(self.schema.n_labels)
        self.n = np.zeros(self.schema.n_labels)

    def _on_schema_grow(self, old_nf: int, old_nl: int) -> None:
        nl = self.schema.n_labels
        self.n1 = np.concatenate([self.n1, np.zeros(nl - old_nl)])
        self.n = np.concatenate([self.n, np.zeros(nl - old_nl)])

    def _predict_proba_rows(self, X: Any) -> np.ndarray:
        return np.tile((self.n1 + 1) / (self.n + 2), (X.shape[0], 1))

    def _learn_rows(self, X: Any, Y: np.ndarray, known: np.ndarray | None) -> None:
        k = np.ones(Y.shape, bool) if known is None else known
        self.n1 += (Y * k).sum(0)
        self.n += k.sum(0)

    def _predict_learn_rows(self, X: Any, Y: np.ndarray, known: np.ndarray | None) -> np.ndarray:
        k = np.ones(Y.shape, bool) if known is None else known
        c1 = np.cumsum(Y * k, 0) - Y * k + self.n1
        c = np.cumsum(k, 0) - k + self.n
        self._learn_rows(X, Y, known)
        return (c1 + 1) / (c + 2)
