"""DDM (drift detection method) as numba kernels over one flat ``float64`` state vector.

Reproduces River 0.26.1's ``drift.binary.DDM`` operation for operation, including the reset
on the update that follows a detection.

State of ONE detector (``float64``, length ``DDM_SIZE`` = 10; stack along a leading axis)::

    [0] n         values seen since the last reset
    [1] p         running error rate
    [2] p_min     [3] s_min     [4] ps_min (starts at +inf)
    [5] drift     [6] warning   (flags of the last update)
    [7] warm_start  [8] warning_threshold  [9] drift_threshold

Kernels return a code: bit 0 = drift, bit 1 = warning.
``ddm_update(state, x) -> int``, ``ddm_update_many(state, values) -> (drifts, warnings)``
(int64 positions), ``ddm_update_rows(states, values, mask, out) -> int`` (``out[i]`` = code),
``ddm_estimation(state)`` (the error rate). ``ddm_update_at(address, x)`` is the same on the state vector at ``address``
(``state.ctypes.data``), returning nothing: the Python class's single-point entry point.
Python: ``ddm_new_state``, ``ddm_new_stacked``.
"""

from __future__ import annotations

import math

import numpy as np

from streamlearn._kernels._config import njit
from streamlearn._kernels._ptr import f64_view

__all__ = [
    "DDM_SIZE",
    "ddm_estimation",
    "ddm_new_stacked",
    "ddm_new_state",
    "ddm_reset",
    "ddm_update",
    "ddm_update_at",
    "ddm_update_many",
    "ddm_update_rows",
]

N, P, P_MIN, S_MIN, PS_MIN, DRIFT, WARNING = 0, 1, 2, 3, 4, 5, 6
WARM_START, WARNING_THRESHOLD, DRIFT_THRESHOLD = 7, 8, 9
DDM_SIZE = 10


def ddm_new_stacked(
    n: int, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0
) -> np.ndarray:
    """States of ``n`` fresh DDM detectors, shape ``(n, DDM_SIZE)``."""
    for name, v in (
        ("warm_start", warm_start),
        ("warning_threshold", warning_threshold),
        ("drift_threshold", drift_threshold),
    ):
        if not math.isfinite(float(v)):
            raise ValueError(f"DDM {name} must be finite, got {v!r}")
    states = np.zeros((int(n), DDM_SIZE), dtype=np.float64)
    states[:, PS_MIN] = math.inf
    states[:, WARM_START] = float(warm_start)
    states[:, WARNING_THRESHOLD] = float(warning_threshold)
    states[:, DRIFT_THRESHOLD] = float(drift_threshold)
    return states


def ddm_new_state(
    warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0
) -> np.ndarray:
    """The state vector of one fresh DDM detector."""
    return ddm_new_stacked(1, warm_start, warning_threshold, drift_threshold)[0].copy()


@njit(inline="always")
def ddm_reset(state):
    for i in range(WARNING + 1):
        state[i] = 0.0
    state[PS_MIN] = np.inf


@njit(inline="always")
def ddm_estimation(state):
    return state[P]


@njit(inline="always", nogil=False)
def ddm_update(state, x):
    """Update one DDM with ``x`` (1 = error); code: bit 0 drift, bit 1 warning."""
    if state[DRIFT] != 0.0:
        ddm_reset(state)
    n = state[N] + 1.0
    state[N] = n
    p = state[P] + (1.0 / n) * (x - state[P])
    state[P] = p
    s = math.sqrt(p * (1.0 - p) / n)  # NaN for values outside [0, 1] (River raises)
    if n > state[WARM_START]:
        if p + s <= state[PS_MIN]:
            state[P_MIN] = p
            state[S_MIN] = s
            state[PS_MIN] = p + s
        if p + s > state[P_MIN] + state[WARNING_THRESHOLD] * state[S_MIN]:
            state[WARNING] = 1.0
        else:
            state[WARNING] = 0.0
        if p + s > state[P_MIN] + state[DRIFT_THRESHOLD] * state[S_MIN]:
            state[DRIFT] = 1.0
            state[WARNING] = 0.0
    return int(state[DRIFT]) | (int(state[WARNING]) << 1)


@njit(nogil=False)
def ddm_update_at(address, x):
    """``ddm_update`` on the state vector at ``address`` (Python's single-point path)."""
    ddm_update(f64_view(address, DDM_SIZE), x)


@njit
def ddm_update_many(state, values):
    drifts = np.empty(values.shape[0], dtype=np.int64)
    warnings = np.empty(values.shape[0], dtype=np.int64)
    nd = 0
    nw = 0
    for i in range(values.shape[0]):
        c = ddm_update(state, values[i])
        if c & 1:
            drifts[nd] = i
            nd += 1
        if c & 2:
            warnings[nw] = i
            nw += 1
    return drifts[:nd].copy(), warnings[:nw].copy()


@njit
def ddm_update_rows(states, values, mask, out):
    n = 0
    for i in range(states.shape[0]):
        out[i] = 0
        if mask[i]:
            c = ddm_update(states[i], values[i])
            out[i] = c
            n += c & 1
    return n
