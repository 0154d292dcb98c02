"""ADWIN: adaptive windowing drift detector (River-equivalent, numba)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from streamlearn._kernels import adwin as _k
from streamlearn._kernels._entry import entry_point
from streamlearn.base.drift import DriftDetector, as_values

#: largest buffer of the single-point path (a clock above it flushes more often)
_BUFFER_CAP = 1024

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

    _kernel_many = _k.adwin_update_many

    #: set by every update (a plain attribute: River's ADWIN flags only change on updates)
    drift_detected: bool = False  # type: ignore[assignment]

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

    # ------------------------------------------------------------------ single-point path
    # River's ADWIN can only detect a drift on the updates where its tick reaches a multiple
    # of ``clock``; the values of the other updates are buffered here (drift_detected is
    # False for them, as in River) and the whole buffer goes through the kernel in one call
    # at the update that can detect. Everything that reads the state flushes first.

    def _bind(self) -> None:
        state = self._state
        self._buffer = np.zeros(min(int(self.clock), _BUFFER_CAP), dtype=np.float64)
        self._buffer_view = memoryview(self._buffer)
        self._n_buffered = 0
        entry = entry_point(_k.adwin_update_buffer_at, 0, 0, 0, 0)
        self._flush_at = functools.partial(entry, state.ctypes.data, self._buffer.ctypes.data)
        self._flush_at.keep_alive = (state, self._buffer)  # type: ignore[attr-defined]
        self._until = min(_k.adwin_updates_to_check(state), len(self._buffer))
        self.drift_detected = bool(state[_k.DRIFT] != 0.0)

    def update(self, x: float) -> None:  # type: ignore[override]
        """Update the detector with a single value (sets ``drift_detected``)."""
        n = self._n_buffered + 1
        self._buffer_view[n - 1] = x
        if n < self._until:
            self._n_buffered = n
            self.drift_detected = False
            return
        r = self._flush_at(n, len(self._buffer))
        self._n_buffered = 0
        self._until = r >> 1
        self.drift_detected = r & 1 == 1

    def _flush(self) -> None:
        n = self._n_buffered
        if n:
            r = self._flush_at(n, len(self._buffer))
            self._n_buffered = 0
            self._until = r >> 1

    def update_many(self, values: Any) -> np.ndarray:
        """Update with every value in order; return the indices where a drift was detected."""
        values = as_values(values)
        self._flush()
        out = _k.adwin_update_many(self._state, values)
        self._until = min(_k.adwin_updates_to_check(self._state), len(self._buffer))
        if len(values):
            self.drift_detected = bool(self._state[_k.DRIFT] != 0.0)
        return out

    def _reset(self) -> None:
        if hasattr(self, "_state"):
            self._n_buffered = 0
            self._state[:] = self._new_state()
            self._until = min(_k.adwin_updates_to_check(self._state), len(self._buffer))
            self.drift_detected = False
        else:
            super()._reset()

    def __getstate__(self) -> dict[str, Any]:
        self._flush()
        d = super().__getstate__()
        for k in ("_buffer", "_buffer_view", "_flush_at", "_n_buffered", "_until"):
            d.pop(k, None)
        return d

    @property
    def state(self) -> np.ndarray:
        self._flush()
        return super().state

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
        self._flush()
        return int(self._state[_k.WIDTH])

    @property
    def n_detections(self) -> int:
        """Detections since the last reset (River resets after each detection)."""
        self._flush()
        return int(self._state[_k.N_DETECTIONS])

    @property
    def variance(self) -> float:
        """Sum of squared deviations in the window (River's ``variance``)."""
        self._flush()
        return float(self._state[_k.VARIANCE])

    @property
    def total(self) -> float:
        """Sum of the values in the window."""
        self._flush()
        return float(self._state[_k.TOTAL])

    @property
    def estimation(self) -> float:
        """Mean of the window."""
        self._flush()
        w = self._state[_k.WIDTH]
        return 0.0 if w == 0.0 else float(self._state[_k.TOTAL] / w)

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"delta": 0.01, "clock": 1, "max_buckets": 3, "min_window_length": 2}
