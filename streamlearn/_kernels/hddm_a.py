"""HDDM_A (Hoeffding drift detection, moving average test) as numba kernels.

Reproduces River 0.26.1's ``drift.binary.HDDMA`` operation for operation, including the reset
on the update that follows a detection.

State of ONE detector (``float64``, length ``HDDM_A_SIZE`` = 11; stack along a leading axis)::

    [0] z_n     [1] z_mean       running mean of all values since the last reset
    [2] xmin_n  [3] xmin_mean    cut point tracking an increase
    [4] xmax_n  [5] xmax_mean    cut point tracking a decrease
    [6] drift   [7] warning
    [8] drift_confidence  [9] warning_confidence  [10] two_sided_test (0/1)

Kernels return a code: bit 0 = drift, bit 1 = warning.
``hddm_a_update(state, x) -> int``, ``hddm_a_update_many(state, values) -> (drifts,
warnings)``, ``hddm_a_update_rows(states, values, mask, out) -> int``,
``hddm_a_estimation(state)`` (the running mean). ``hddm_a_update_at(address, x)`` is the same on the state vector at ``address``
(``state.ctypes.data``), returning nothing: the Python class's single-point entry point.
Python: ``hddm_a_new_state``,
``hddm_a_new_stacked``.
"""

from __future__ import annotations

import math

import numpy as np

from streamlearn._kernels._config import njit
from streamlearn._kernels._ptr import f64_view

__all__ = [
    "HDDM_A_SIZE",
    "hddm_a_estimation",
    "hddm_a_new_stacked",
    "hddm_a_new_state",
    "hddm_a_reset",
    "hddm_a_update",
    "hddm_a_update_at",
    "hddm_a_update_many",
    "hddm_a_update_rows",
]

Z_N, Z_MEAN, XMIN_N, XMIN_MEAN, XMAX_N, XMAX_MEAN, DRIFT, WARNING = range(8)
DRIFT_CONF, WARNING_CONF, TWO_SIDED = 8, 9, 10
HDDM_A_SIZE = 11


def hddm_a_new_stacked(
    n: int,
    drift_confidence: float = 0.001,
    warning_confidence: float = 0.005,
    two_sided_test: bool = False,
) -> np.ndarray:
    """States of ``n`` fresh HDDM_A detectors, shape ``(n, HDDM_A_SIZE)``."""
    for name, v in (
        ("drift_confidence", drift_confidence),
        ("warning_confidence", warning_confidence),
    ):
        if not 0.0 < float(v) < 1.0:
            raise ValueError(f"HDDM_A {name} must be in (0, 1), got {v!r}")
    states = np.zeros((int(n), HDDM_A_SIZE), dtype=np.float64)
    states[:, DRIFT_CONF] = float(drift_confidence)
    states[:, WARNING_CONF] = float(warning_confidence)
    states[:, TWO_SIDED] = 1.0 if two_sided_test else 0.0
    return states


def hddm_a_new_state(
    drift_confidence: float = 0.001,
    warning_confidence: float = 0.005,
    two_sided_test: bool = False,
) -> np.ndarray:
    """The state vector of one fresh HDDM_A detector."""
    return hddm_a_new_stacked(1, drift_confidence, warning_confidence, two_sided_test)[0].copy()


@njit(inline="always")
def hddm_a_reset(state):
    for i in range(WARNING + 1):
        state[i] = 0.0


@njit(inline="always")
def hddm_a_estimation(state):
    return state[Z_MEAN]


@njit(inline="always")
def _hoeffding_bound(n, drift_confidence):
    return math.sqrt(1.0 / (2.0 * n) * math.log(1.0 / drift_confidence))


@njit(inline="always")
def _mean_incr(state, confidence):
    if state[XMIN_N] == state[Z_N]:
        return False
    m = (state[Z_N] - state[XMIN_N]) / state[XMIN_N] * (1.0 / state[Z_N])
    eps = math.sqrt(m / 2.0 * math.log(2.0 / confidence))
    return state[Z_MEAN] - state[XMIN_MEAN] >= eps


@njit(inline="always")
def _mean_decr(state, confidence):
    if state[XMAX_N] == state[Z_N]:
        return False
    m = (state[Z_N] - state[XMAX_N]) / state[XMAX_N] * (1.0 / state[Z_N])
    eps = math.sqrt(m / 2.0 * math.log(2.0 / confidence))
    return state[XMAX_MEAN] - state[Z_MEAN] >= eps


@njit(inline="always", nogil=False)
def hddm_a_update(state, x):
    """Update one HDDM_A with ``x`` (1 = error); code: bit 0 drift, bit 1 warning."""
    if state[DRIFT] != 0.0:
        hddm_a_reset(state)
    zn = state[Z_N] + 1.0
    state[Z_N] = zn
    zm = state[Z_MEAN] + (1.0 / zn) * (x - state[Z_MEAN])
    state[Z_MEAN] = zm
    if state[XMIN_N] == 0.0:
        state[XMIN_N] = zn
        state[XMIN_MEAN] = zm
    if state[XMAX_N] == 0.0:
        state[XMAX_N] = zn
        state[XMAX_MEAN] = zm
    dc = state[DRIFT_CONF]
    eps_z = _hoeffding_bound(zn, dc)
    eps_x = _hoeffding_bound(state[XMIN_N], dc)
    if state[XMIN_MEAN] + eps_x >= zm + eps_z:
        state[XMIN_N] = zn
        state[XMIN_MEAN] = zm
    eps_x = _hoeffding_bound(state[XMAX_N], dc)
    if state[XMAX_MEAN] - eps_x <= zm - eps_z:
        state[XMAX_N] = zn
        state[XMAX_MEAN] = zm
    wc = state[WARNING_CONF]
    if _mean_incr(state, dc):
        state[WARNING] = 0.0
        state[DRIFT] = 1.0
    elif _mean_incr(state, wc):
        state[WARNING] = 1.0
        state[DRIFT] = 0.0
    else:
        state[WARNING] = 0.0
        state[DRIFT] = 0.0
    if state[TWO_SIDED] != 0.0:
        if _mean_decr(state, dc):
            state[DRIFT] = 1.0
        elif _mean_decr(state, wc):
            state[WARNING] = 1.0
    return int(state[DRIFT]) | (int(state[WARNING]) << 1)


@njit(nogil=False)
def hddm_a_update_at(address, x):
    """``hddm_a_update`` on the state vector at ``address`` (Python's single-point path)."""
    hddm_a_update(f64_view(address, HDDM_A_SIZE), x)


@njit
def hddm_a_update_many(state, values):
    drifts = np.empty(values.shape[0], dtype=np.int64)
    warnings = np.empty(values.shape[0], dtype=np.int64)
    nd = 0
    nw = 0
    for i in range(values.shape[0]):
        c = hddm_a_update(state, values[i])
        if c & 1:
            drifts[nd] = i
            nd += 1
        if c & 2:
            warnings[nw] = i
            nw += 1
    return drifts[:nd].copy(), warnings[:nw].copy()


@njit
def hddm_a_update_rows(states, values, mask, out):
    n = 0
    for i in range(states.shape[0]):
        out[i] = 0
        if mask[i]:
            c = hddm_a_update(states[i], values[i])
            out[i] = c
            n += c & 1
    return n
