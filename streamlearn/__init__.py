"""streamlearn: streaming online multi-label learning.

The library (this package) is importable without Kafka or a server: learners, drift detectors,
active-learning policies, metrics and evaluation are pure computation. The Kafka side lives in
the top-level ``consumers`` package and the HTTP layer in :mod:`streamlearn.serving`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
