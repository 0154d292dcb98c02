"""EDDM: early drift detection method (River-equivalent, numba)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from river import base as river_base

from streamlearn._kernels import eddm as _k
from streamlearn.base.drift import DriftAndWarningDetector

__all__ = ["EDDM"]


class EDDM(DriftAndWarningDetector, river_base.BinaryDriftAndWarningDetector):
    r"""Early Drift Detection Method, equivalent to River's ``drift.binary.EDDM``.

    Monitors the distance between consecutive errors (1 = error): its running mean
    :math:`p'_i` and standard deviation :math:`s'_i`. With :math:`(p'_{max}, s'_{max})` taken
    where :math:`p'_i + 2 s'_i` is maximal, it warns when
    :math:`(p'_i + 2 s'_i) / (p'_{max} + 2 s'_{max}) < \alpha` and detects a drift below
    :math:`\beta`. As in River, the warning flag is only re-evaluated on errors, and the
    update that follows a detection starts afresh. Bit-identical to River 0.26.1.

    Parameters
    ----------
    warm_start
        Values and errors needed before a change can be detected.
    alpha
        Warning threshold (in (0, 1], at least ``beta``).
    beta
        Drift threshold.

    Examples
    --------
    >>> import random
    >>> from streamlearn.drift import EDDM

    >>> rng = random.Random(42)
    >>> eddm = EDDM(alpha=0.8, beta=0.75)
    >>> data_stream = rng.choices([0, 1], k=1000)
    >>> data_stream = data_stream + rng.choices([0, 1], k=1000, weights=[0.3, 0.7])
    >>> print_warning = True
    >>> for i, x in enumerate(data_stream):
    ...     eddm.update(x)
    ...     if eddm.warning_detected and print_warning:
    ...         print(f"Warning detected at index {i}")
    ...         print_warning = False
    ...     if eddm.drift_detected:
    ...         print(f"Change detected at index {i}")
    ...         print_warning = True
    Warning detected at index 1059
    Change detected at index 1278

    >>> EDDM(alpha=0.8, beta=0.75).update_many(data_stream)
    array([1278])
    """

    _kernel_at = _k.eddm_update_at
    _kernel_many = _k.eddm_update_many
    _DRIFT_SLOT = _k.DRIFT
    _WARNING_SLOT = _k.WARNING

    def __init__(self, warm_start: int = 30, alpha: float = 0.95, beta: float = 0.9):
        super().__init__()
        self.warm_start = warm_start
        self.alpha = alpha
        self.beta = beta
        self._init_state()

    def _new_state(self) -> np.ndarray:
        return _k.eddm_new_state(self.warm_start, self.alpha, self.beta)

    @property
    def estimation(self) -> float:
        """Running mean distance between errors since the last reset."""
        return float(self._state[_k.VAR_MEAN])

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"warm_start": 10, "alpha": 0.9, "beta": 0.8}
