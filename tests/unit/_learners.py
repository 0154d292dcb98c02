"""Tiny test learners and streams shared by the evaluation tests (importable by name, so the
learner registry can point at them)."""

from __future__ import annotations

import numpy as np

from streamlearn.base.arrays import CSR, Features, n_rows
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.schema import Schema
from streamlearn.stream.dataset import Dataset


class Memorizer(MultiLabelClassifier):
    """Predicts the label values it learned last (per label: only known values are learned).

    Its predictions expose the evaluation order exactly: under strict test-then-train the
    prediction for instance ``i`` is built from instances ``< i`` only.
    """

    def __init__(self, delay: int = 0) -> None:
        self.delay = delay  # unused: a parameter so clone() and the registry have one

    def _init_state(self) -> None:
        assert self.schema is not None
        self.last_ = np.zeros(self.schema.n_labels, dtype=np.float64)

    def _on_schema_grow(self, old_n_features: int, old_n_labels: int) -> None:
        assert self.schema is not None
        self.last_ = np.concatenate([self.last_, np.zeros(self.schema.n_labels - old_n_labels)])

    def _predict_proba_rows(self, X: Features) -> np.ndarray:
        return np.tile(self.last_, (n_rows(X), 1))

    def _learn_rows(self, X: Features, Y: np.ndarray, known: np.ndarray | None) -> None:
        for i in range(len(Y)):
            if known is None:
                self.last_ = Y[i].astype(np.float64)
            else:
                self.last_[known[i]] = Y[i][known[i]]


class DictMemorizer(Memorizer):
    """The same learner, fed River-style dicts by the harness."""

    natural_form = "dicts"


def expected_memorizer_predictions(Y: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """What a Memorizer predicts under strict test-then-train (a slow, obvious loop)."""
    last = np.zeros(Y.shape[1], dtype=np.uint8)
    out = np.zeros_like(Y, dtype=np.uint8)
    for i in range(len(Y)):
        out[i] = last
        for j in range(Y.shape[1]):
            if known is None or known[i, j]:
                last[j] = Y[i, j]
    return out


def toy_dataset(
    n: int = 150, *, sparse: bool = False, seed: int = 0, n_features: int = 6, n_labels: int = 4
) -> Dataset:
    """A small multi-label stream with learnable labels, a rare label and empty label sets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    if sparse:
        X[X < 0.4] = 0.0
    cols = [
        X[:, 0] > 0.2,
        X[:, 1] + X[:, 2] > 0.5,
        (X[:, 0] > 0.5) & (X[:, 3] > 0),
        rng.random(n) < 0.03,
    ]
    while len(cols) < n_labels:
        cols.append(X[:, len(cols) % n_features] < -0.3)
    Y = np.stack(cols[:n_labels], axis=1).astype(np.uint8)
    schema = Schema(
        features=[f"f{i:02d}" for i in range(n_features)],
        labels=[f"l{j:02d}" for j in range(n_labels)],
        sparse=sparse,
        name="toy-sparse" if sparse else "toy",
    )
    return Dataset(schema.name, schema, CSR.from_dense(X) if sparse else X, Y)
