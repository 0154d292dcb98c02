"""ADWIN: adaptive windowing drift detector (River-equivalent, numba)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from streamlearn._kernels import adwin as _k
from streamlearn.base.drift import DriftDetector

__all__ = ["ADWIN"]


class ADWIN(DriftDetector):
    r"""Adaptive Windowing (ADWIN) drift detector, equivalent to River's ``drift.ADWIN``.

    ADWIN keeps a variable-length window of recent values, compressed into exponential
    buckets (ADWIN2), and every ``clock`` updates checks every cut of the window into an
    older part :math:`W_0` and a newer part :math:`W_1`: when their means differ by more than
    :math:`\epsilon_{cut} = \sqrt{2 m^{-1} \sigma^2_W \delta'} + \frac{2}{3} \delta' m^{-1}`
    (:math:`m^{-1} = 1/(n_0 - l + 1) + 1/(n_1 - l + 1)`, :math:`l` the minimum sub-window
    length, :math:`\delta' = \ln(2 \ln |W| / \delta)`), the oldest bucket is dropped and a
    drift is reported. As in River, the update that follows a detection starts from an empty
    window.

    Detections, ``width``, ``total``, ``variance`` and ``estimation`` are bit-identical to
    River 0.26.1's. The state is one ``float64`` vector (see :mod:`streamlearn._kernels.adwin`)
    with a fixed capacity of ``max_rows`` bucket rows: at least ``max_buckets * (2**max_rows
    - 1)`` values (about 2e10 with the defaults), beyond which the oldest bucket is dropped
    instead of adding a row.

    Parameters
    ----------
    delta
        Significance value.
    clock
        How often (in updates) ADWIN checks for a change.
    max_buckets
        Buckets of each size kept before two are merged (at least 2; River crashes below).
    min_window_length
        Minimum length of each sub-window for a cut to be tested (at least 1).
    grace_period
        No change is tested until the window holds more than this many values.
    max_rows
        Capacity of the state in bucket rows (not a River parameter).

    Examples
    --------
    >>> import random
    >>> from streamlearn.drift import ADWIN

    >>> rng = random.Random(12345)
    >>> adwin = ADWIN()
    >>> data_stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> for i, val in enumerate(data_stream):
    ...     adwin.update(val)
    ...     if adwin.drift_detected:
    ...         print(f"Change detected at index {i}, input value: {val}")
    Change detected at index 1023, input value: 4

    The array path runs the same loop in one compiled call:

    >>> ADWIN().update_many(data_stream)
    array([1023])
    """

    _kernel_update = _k.adwin_update
    _kernel_many = _k.adwin_update_many
    _DRIFT_SLOT = _k.DRIFT

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
        max_rows: int = _k.DEFAULT_MAX_ROWS,
    ):
        super().__init__()
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.max_rows = max_rows
        self._init_state()

    def _new_state(self) -> np.ndarray:
        return _k.adwin_new_state(
            self.delta,
            self.clock,
            self.max_buckets,
            self.min_window_length,
            self.grace_period,
            self.max_rows,
        )

    @property
    def width(self) -> int:
        """Window size."""
        return int(self._state[_k.WIDTH])

    @property
    def n_detections(self) -> int:
        """Detections since the last reset (River resets after each detection)."""
        return int(self._state[_k.N_DETECTIONS])

    @property
    def variance(self) -> float:
        """Sum of squared deviations in the window (River's ``variance``)."""
        return float(self._state[_k.VARIANCE])

    @property
    def total(self) -> float:
        """Sum of the values in the window."""
        return float(self._state[_k.TOTAL])

    @property
    def estimation(self) -> float:
        """Mean of the window."""
        w = self._state[_k.WIDTH]
        return 0.0 if w == 0.0 else float(self._state[_k.TOTAL] / w)

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"delta": 0.01, "clock": 1, "max_buckets": 3, "min_window_length": 2}
