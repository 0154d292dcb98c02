"""Drift-detector contract: River's API plus an array path that runs the loop in numba."""

from __future__ import annotations

import abc

import numpy as np
from river import base as river_base

__all__ = ["DriftDetector"]


class DriftDetector(river_base.DriftDetector):
    """A drift detector with River's single-point API and a compiled array path.

    ``update(x)`` updates with one value and sets ``drift_detected`` (and
    ``warning_detected`` where the detector has warnings). ``update_many(values)`` feeds a
    whole array through the same logic inside one compiled loop and returns the 0-based
    positions (within ``values``) where a drift was detected. State is plain numpy arrays and
    scalars, so a pickled detector restores exactly.
    """

    @abc.abstractmethod
    def update_many(self, values: np.ndarray) -> np.ndarray:
        """Update with every value in order; return the indices where a drift was detected."""
