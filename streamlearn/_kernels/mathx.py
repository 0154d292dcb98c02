"""Scalar math shared by kernels: normal CDF/log-density, binary and multi-label entropy."""

from __future__ import annotations

import math

import numpy as np

from streamlearn._kernels._config import njit

_SQRT2 = math.sqrt(2.0)
_LOG_2PI = math.log(2.0 * math.pi)


@njit
def normal_cdf(x: float, mean: float, std: float) -> float:
    """P(X <= x) for X ~ N(mean, std^2); a point mass at ``mean`` when ``std <= 0``."""
    if std <= 0.0:
        return 1.0 if x >= mean else 0.0
    return 0.5 * (1.0 + math.erf((x - mean) / (std * _SQRT2)))


@njit
def normal_logpdf(x: float, mean: float, var: float) -> float:
    d = x - mean
    return -0.5 * (_LOG_2PI + math.log(var)) - d * d / (2.0 * var)


@njit
def binary_entropy(p: float) -> float:
    """Entropy in bits of a Bernoulli(p); 0 at p <= 0 or p >= 1."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    q = 1.0 - p
    return -(p * math.log2(p) + q * math.log2(q))


@njit
def multilabel_entropy(counts: np.ndarray, total: float) -> float:
    """Entropy of a multivariate Bernoulli with independent outcomes: sum of binary entropies.

    ``counts[k]`` is the weight of instances where outcome ``k`` (a label, or "no label") holds,
    out of ``total``.
    """
    if total <= 0.0:
        return 0.0
    h = 0.0
    for k in range(counts.shape[0]):
        h += binary_entropy(counts[k] / total)
    return h
