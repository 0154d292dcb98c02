"""Slow, obvious twins of :mod:`streamlearn._kernels.mathx` (plain ``math``, no numpy)."""

from __future__ import annotations

import math


def twin_normal_cdf(x: float, mean: float, std: float) -> float:
    """P(X <= x) for X ~ N(mean, std^2); a point mass at ``mean`` when ``std <= 0``."""
    if std <= 0.0:
        return 1.0 if x >= mean else 0.0
    return 0.5 * (1.0 + math.erf((x - mean) / (std * math.sqrt(2.0))))


def twin_normal_logpdf(x: float, mean: float, var: float) -> float:
    """log of exp(-(x - mean)^2 / (2 var)) / sqrt(2 pi var)."""
    return -0.5 * math.log(2.0 * math.pi * var) - (x - mean) ** 2 / (2.0 * var)


def twin_binary_entropy(p: float) -> float:
    """Entropy in bits of a Bernoulli(p); 0 outside (0, 1)."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -p * math.log2(p) - (1.0 - p) * math.log2(1.0 - p)


def twin_multilabel_entropy(counts: list[float], total: float) -> float:
    """Sum over outcomes of the binary entropy of ``count / total``; 0 when ``total <= 0``."""
    if total <= 0.0:
        return 0.0
    return sum(twin_binary_entropy(c / total) for c in counts)
