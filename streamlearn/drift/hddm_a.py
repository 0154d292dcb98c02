"""HDDM_A: Hoeffding drift detection with the moving-average test (River-equivalent, numba)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from river import base as river_base

from streamlearn._kernels import hddm_a as _k
from streamlearn.base.drift import DriftAndWarningDetector

__all__ = ["HDDM_A", "HDDMA"]


class HDDM_A(DriftAndWarningDetector, river_base.BinaryDriftAndWarningDetector):
    r"""HDDM with the A-test (moving averages), equivalent to River's ``drift.binary.HDDMA``.

    Keeps the running mean :math:`\bar z` of the monitored errors and the prefix where the
    mean plus its Hoeffding bound was lowest (``x_min``); a drift (warning) is detected when
    :math:`\bar z - \bar x_{min} \ge \sqrt{m/2 \cdot \ln(2/c)}` with confidence ``c`` =
    ``drift_confidence`` (``warning_confidence``), :math:`m = (n_z - n_x)/(n_x n_z)`.
    ``two_sided_test`` also tracks decreases. The update that follows a detection starts
    afresh, as in River. Bit-identical to River 0.26.1.

    Parameters
    ----------
    drift_confidence
        Confidence of a drift.
    warning_confidence
        Confidence of a warning.
    two_sided_test
        Also detect decreases of the mean.

    Examples
    --------
    >>> import random
    >>> from streamlearn.drift import HDDM_A

    >>> rng = random.Random(42)
    >>> hddm_a = HDDM_A()
    >>> data_stream = rng.choices([0, 1], k=1000)
    >>> data_stream = data_stream + rng.choices([0, 1], k=1000, weights=[0.3, 0.7])
    >>> print_warning = True
    >>> for i, x in enumerate(data_stream):
    ...     hddm_a.update(x)
    ...     if hddm_a.warning_detected and print_warning:
    ...         print(f"Warning detected at index {i}")
    ...         print_warning = False
    ...     if hddm_a.drift_detected:
    ...         print(f"Change detected at index {i}")
    ...         print_warning = True
    Warning detected at index 451
    Change detected at index 1206

    >>> HDDM_A().update_many(data_stream)
    array([1206])
    """

    _kernel_at = _k.hddm_a_update_at
    _kernel_many = _k.hddm_a_update_many
    _DRIFT_SLOT = _k.DRIFT
    _WARNING_SLOT = _k.WARNING

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        two_sided_test: bool = False,
    ):
        super().__init__()
        self.drift_confidence = drift_confidence
        self.warning_confidence = warning_confidence
        self.two_sided_test = two_sided_test
        self._init_state()

    def _new_state(self) -> np.ndarray:
        return _k.hddm_a_new_state(
            self.drift_confidence, self.warning_confidence, self.two_sided_test
        )

    @property
    def estimation(self) -> float:
        """Running mean of the values since the last reset."""
        return float(self._state[_k.Z_MEAN])

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"drift_confidence": 0.01, "warning_confidence": 0.05, "two_sided_test": True}


#: River's name for the same detector.
HDDMA = HDDM_A
