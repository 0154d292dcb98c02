"""Page-Hinkley drift detector (River-equivalent, numba)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from streamlearn._kernels import page_hinkley as _k
from streamlearn.base.drift import DriftDetector

__all__ = ["PageHinkley"]


class PageHinkley(DriftDetector):
    r"""Page-Hinkley test, equivalent to River's ``drift.PageHinkley``.

    Cumulates the deviations of the values from their running mean, faded by ``alpha``,
    minus (plus) ``delta``: :math:`m_t = \alpha m_{t-1} + (x_t - \bar x_t) - \delta`. A drift
    is detected when a cumulative sum departs from its extreme so far by more than
    ``threshold`` (upwards, downwards or both), once ``min_instances`` values were seen. The
    update that follows a detection starts afresh, as in River. Detections are bit-identical
    to River 0.26.1's.

    Parameters
    ----------
    min_instances
        Values needed before a change can be detected.
    delta
        Magnitude of changes that are tolerated.
    threshold
        The detection threshold (lambda).
    alpha
        Fading factor of the cumulative sums.
    mode
        ``"up"``, ``"down"`` or ``"both"``: which changes of the mean to detect.

    Examples
    --------
    >>> import random
    >>> from streamlearn.drift import PageHinkley

    >>> rng = random.Random(12345)
    >>> ph = PageHinkley()
    >>> data_stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> for i, val in enumerate(data_stream):
    ...     ph.update(val)
    ...     if ph.drift_detected:
    ...         print(f"Change detected at index {i}, input value: {val}")
    Change detected at index 1006, input value: 5

    >>> PageHinkley().update_many(data_stream)
    array([1006])
    """

    _kernel_at = _k.ph_update_at
    _kernel_many = _k.ph_update_many
    _DRIFT_SLOT = _k.DRIFT

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ):
        super().__init__()
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        self._init_state()

    def _new_state(self) -> np.ndarray:
        return _k.ph_new_state(
            self.min_instances, self.delta, self.threshold, self.alpha, self.mode
        )

    @property
    def estimation(self) -> float:
        """Running mean of the values since the last reset."""
        return float(self._state[_k.MEAN])

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"min_instances": 10, "threshold": 5.0, "mode": "up"}
