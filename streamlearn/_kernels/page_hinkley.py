"""Page-Hinkley as numba kernels over one flat ``float64`` state vector.

Reproduces River 0.26.1's ``drift.PageHinkley`` operation for operation (bit-identical
statistics and detections), including River's reset of the state on the update that follows
a detection.

State of ONE detector (``float64``, length ``PH_SIZE`` = 12; stack along a leading axis)::

    [0] n             values seen since the last reset (River's running mean ``n``)
    [1] mean          running mean of the values
    [2] sum_increase  [3] sum_decrease
    [4] min_increase  (starts at +inf)   [5] max_decrease (starts at -1, as in River)
    [6] drift         1.0 when the last update detected a drift (the next update resets)
    [7] min_instances [8] delta  [9] threshold  [10] alpha
    [11] mode         0 = both, 1 = up, 2 = down

Kernels: ``ph_update(state, x) -> bool``, ``ph_update_many(state, values) -> int64[:]``
(positions of detections), ``ph_update_rows(states, values, mask, out) -> int``,
``ph_estimation(state)`` (the running mean). ``ph_update_at(address, x)`` is the same on the state vector at ``address``
(``state.ctypes.data``), returning nothing: the Python class's single-point entry point.
Python: ``ph_new_state(...)``,
``ph_new_stacked(n, ...)``.
"""

from __future__ import annotations

import math

import numpy as np

from streamlearn._kernels._config import njit
from streamlearn._kernels._ptr import f64_view

__all__ = [
    "PH_MODES",
    "PH_SIZE",
    "ph_estimation",
    "ph_new_stacked",
    "ph_new_state",
    "ph_reset",
    "ph_update",
    "ph_update_at",
    "ph_update_many",
    "ph_update_rows",
]

N, MEAN, SUM_INC, SUM_DEC, MIN_INC, MAX_DEC, DRIFT = 0, 1, 2, 3, 4, 5, 6
MIN_INSTANCES, DELTA, THRESHOLD, ALPHA, MODE = 7, 8, 9, 10, 11
PH_SIZE = 12
PH_MODES = {"both": 0, "up": 1, "down": 2}


def ph_new_stacked(
    n: int,
    min_instances: int = 30,
    delta: float = 0.005,
    threshold: float = 50.0,
    alpha: float = 1 - 0.0001,
    mode: str = "both",
) -> np.ndarray:
    """States of ``n`` fresh Page-Hinkley detectors, shape ``(n, PH_SIZE)``."""
    if mode not in PH_MODES:
        raise ValueError(f"Invalid 'mode'. Valid values are: {list(PH_MODES)}")
    for name, v in (
        ("min_instances", min_instances),
        ("delta", delta),
        ("threshold", threshold),
        ("alpha", alpha),
    ):
        if not math.isfinite(float(v)):
            raise ValueError(f"PageHinkley {name} must be finite, got {v!r}")
    states = np.zeros((int(n), PH_SIZE), dtype=np.float64)
    states[:, MIN_INSTANCES] = float(min_instances)
    states[:, DELTA] = float(delta)
    states[:, THRESHOLD] = float(threshold)
    states[:, ALPHA] = float(alpha)
    states[:, MODE] = PH_MODES[mode]
    states[:, MIN_INC] = math.inf
    states[:, MAX_DEC] = -1.0
    return states


def ph_new_state(
    min_instances: int = 30,
    delta: float = 0.005,
    threshold: float = 50.0,
    alpha: float = 1 - 0.0001,
    mode: str = "both",
) -> np.ndarray:
    """The state vector of one fresh Page-Hinkley detector."""
    return ph_new_stacked(1, min_instances, delta, threshold, alpha, mode)[0].copy()


@njit(inline="always")
def ph_reset(state):
    state[N] = 0.0
    state[MEAN] = 0.0
    state[SUM_INC] = 0.0
    state[SUM_DEC] = 0.0
    state[MIN_INC] = np.inf
    state[MAX_DEC] = -1.0
    state[DRIFT] = 0.0


@njit(inline="always")
def ph_estimation(state):
    return state[MEAN]


@njit(inline="always", nogil=False)
def ph_update(state, x):
    """Update one Page-Hinkley detector with ``x``; True when a drift is detected."""
    if state[DRIFT] != 0.0:
        ph_reset(state)
    n = state[N] + 1.0
    state[N] = n
    mean = state[MEAN] + (1.0 / n) * (x - state[MEAN])
    state[MEAN] = mean
    dev = x - mean
    alpha = state[ALPHA]
    delta = state[DELTA]
    s_inc = alpha * state[SUM_INC] + dev - delta
    s_dec = alpha * state[SUM_DEC] + dev + delta
    state[SUM_INC] = s_inc
    state[SUM_DEC] = s_dec
    if s_inc < state[MIN_INC]:
        state[MIN_INC] = s_inc
    if s_dec > state[MAX_DEC]:
        state[MAX_DEC] = s_dec
    drift = False
    if n >= state[MIN_INSTANCES]:
        test_increase = s_inc - state[MIN_INC]
        test_decrease = state[MAX_DEC] - s_dec
        mode = state[MODE]
        threshold = state[THRESHOLD]
        if mode == 0.0:
            drift = test_increase > threshold or test_decrease > threshold
        elif mode == 1.0:
            drift = test_increase > threshold
        else:
            drift = test_decrease > threshold
    state[DRIFT] = 1.0 if drift else 0.0
    return drift


@njit(nogil=False)
def ph_update_at(address, x):
    """``ph_update`` on the state vector at ``address`` (Python's single-point path)."""
    ph_update(f64_view(address, PH_SIZE), x)


@njit
def ph_update_many(state, values):
    out = np.empty(values.shape[0], dtype=np.int64)
    k = 0
    for i in range(values.shape[0]):
        if ph_update(state, values[i]):
            out[k] = i
            k += 1
    return out[:k].copy()


@njit
def ph_update_rows(states, values, mask, out):
    n = 0
    for i in range(states.shape[0]):
        out[i] = 0
        if mask[i] and ph_update(states[i], values[i]):
            out[i] = 1
            n += 1
    return n
