"""Naive prequential multi-label metrics (recomputed from stored rows) for service tests."""

from __future__ import annotations

import numpy as np


def metric_values(Y: np.ndarray, P: np.ndarray) -> dict[str, float]:
    """micro/macro/example F1, subset accuracy and Hamming loss of 0/1 matrices, plainly."""
    Y = np.asarray(Y, dtype=bool)
    P = np.asarray(P, dtype=bool)
    if Y.size == 0:
        return {}
    tp = (Y & P).sum()
    fp = (~Y & P).sum()
    fn = (Y & ~P).sum()
    micro = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0
    per = []
    for j in range(Y.shape[1]):
        t, f, n = (Y[:, j] & P[:, j]).sum(), (~Y[:, j] & P[:, j]).sum(), (Y[:, j] & ~P[:, j]).sum()
        per.append(2 * t / (2 * t + f + n) if (2 * t + f + n) else 1.0)
    ex = []
    for i in range(Y.shape[0]):
        t, f, n = (Y[i] & P[i]).sum(), (~Y[i] & P[i]).sum(), (Y[i] & ~P[i]).sum()
        ex.append(2 * t / (2 * t + f + n) if (2 * t + f + n) else 1.0)
    return {
        "micro_f1": float(micro),
        "macro_f1": float(np.mean(per)),
        "example_f1": float(np.mean(ex)),
        "subset_accuracy": float((Y == P).all(axis=1).mean()),
        "hamming_loss": float((Y != P).mean()),
    }
