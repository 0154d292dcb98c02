"""DDM: drift detection method (River-equivalent, numba)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from river import base as river_base

from streamlearn._kernels import ddm as _k
from streamlearn.base.drift import DriftAndWarningDetector, as_values

__all__ = ["DDM"]


class DDM(DriftAndWarningDetector, river_base.BinaryDriftAndWarningDetector):
    r"""Drift Detection Method, equivalent to River's ``drift.binary.DDM``.

    Monitors a stream of errors (1 = error, 0 = correct): the running error rate
    :math:`p_i` and its standard deviation :math:`s_i = \sqrt{p_i (1 - p_i) / i}`. Once
    ``warm_start`` values were seen, it records :math:`p_{min}, s_{min}` where
    :math:`p_i + s_i` is minimal, warns when :math:`p_i + s_i > p_{min} + w\, s_{min}` and
    detects a drift when :math:`p_i + s_i > p_{min} + d\, s_{min}`. The update that follows
    a detection starts afresh, as in River. Detections and warnings are bit-identical to
    River 0.26.1's.

    Parameters
    ----------
    warm_start
        Values needed before a change can be detected.
    warning_threshold
        Multiplier :math:`w` of the warning zone.
    drift_threshold
        Multiplier :math:`d` of a drift.

    Examples
    --------
    >>> import random
    >>> from streamlearn.drift import DDM

    >>> rng = random.Random(42)
    >>> ddm = DDM()
    >>> data_stream = rng.choices([0, 1], k=1000)
    >>> data_stream = data_stream + rng.choices([0, 1], k=1000, weights=[0.3, 0.7])
    >>> print_warning = True
    >>> for i, x in enumerate(data_stream):
    ...     ddm.update(x)
    ...     if ddm.warning_detected and print_warning:
    ...         print(f"Warning detected at index {i}")
    ...         print_warning = False
    ...     if ddm.drift_detected:
    ...         print(f"Change detected at index {i}")
    ...         print_warning = True
    Warning detected at index 1084
    Change detected at index 1334
    Warning detected at index 1492

    >>> drifts, warnings = DDM().update_many(data_stream, warnings=True)
    >>> drifts, warnings[0]
    (array([1334]), np.int64(1084))
    """

    _kernel_at = _k.ddm_update_at
    _kernel_many = _k.ddm_update_many
    _DRIFT_SLOT = _k.DRIFT
    _WARNING_SLOT = _k.WARNING

    def __init__(
        self, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0
    ):
        super().__init__()
        self.warm_start = warm_start
        self.warning_threshold = warning_threshold
        self.drift_threshold = drift_threshold
        self._init_state()

    def update_many(self, values: Any, warnings: bool = False) -> Any:
        values = as_values(values)
        if len(values) and (values.min() < 0.0 or values.max() > 1.0):
            bad = int(np.flatnonzero((values < 0.0) | (values > 1.0))[0])
            raise ValueError(
                f"DDM values must lie in [0, 1] (1 = error): values[{bad}] = {float(values[bad])}"
            )
        return super().update_many(values, warnings)

    update_many.__doc__ = DriftAndWarningDetector.update_many.__doc__

    def _new_state(self) -> np.ndarray:
        return _k.ddm_new_state(self.warm_start, self.warning_threshold, self.drift_threshold)

    @property
    def estimation(self) -> float:
        """Running error rate since the last reset."""
        return float(self._state[_k.P])

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"warm_start": 10, "warning_threshold": 1.5, "drift_threshold": 2.5}
