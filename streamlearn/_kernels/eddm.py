"""EDDM (early drift detection method) as numba kernels over one flat ``float64`` vector.

Reproduces River 0.26.1's ``drift.binary.EDDM`` operation for operation, including the reset
on the update that follows a detection and River's warning flag that persists across
non-error updates.

State of ONE detector (``float64``, length ``EDDM_SIZE`` = 12; stack along a leading axis)::

    [0] var_n       [1] var_mean    [2] var_S   (Welford statistics of the error distances)
    [3] n           values seen     [4] last_error (index of the last error)
    [5] n_errors    [6] p2s_max (starts at -1)
    [7] drift       [8] warning
    [9] warm_start  [10] alpha      [11] beta

Kernels return a code: bit 0 = drift, bit 1 = warning.
``eddm_update(state, x) -> int``, ``eddm_update_many(state, values) -> (drifts, warnings)``,
``eddm_update_rows(states, values, mask, out) -> int``, ``eddm_estimation(state)`` (mean
distance between errors). ``eddm_update_at(address, x)`` is the same on the state vector at ``address``
(``state.ctypes.data``), returning nothing: the Python class's single-point entry point.
Python: ``eddm_new_state``, ``eddm_new_stacked``.
"""

from __future__ import annotations

import math

import numpy as np

from streamlearn._kernels._config import njit
from streamlearn._kernels._ptr import f64_view

__all__ = [
    "EDDM_SIZE",
    "eddm_estimation",
    "eddm_new_stacked",
    "eddm_new_state",
    "eddm_reset",
    "eddm_update",
    "eddm_update_at",
    "eddm_update_many",
    "eddm_update_rows",
]

VAR_N, VAR_MEAN, VAR_S, N, LAST_ERROR, N_ERRORS, P2S_MAX, DRIFT, WARNING = range(9)
WARM_START, ALPHA, BETA = 9, 10, 11
EDDM_SIZE = 12


def eddm_new_stacked(
    n: int, warm_start: int = 30, alpha: float = 0.95, beta: float = 0.9
) -> np.ndarray:
    """States of ``n`` fresh EDDM detectors, shape ``(n, EDDM_SIZE)``."""
    if alpha < beta:
        raise ValueError("'alpha' must be greater or equal to 'beta'.")
    for name, v in (("warm_start", warm_start), ("alpha", alpha), ("beta", beta)):
        if not math.isfinite(float(v)):
            raise ValueError(f"EDDM {name} must be finite, got {v!r}")
    states = np.zeros((int(n), EDDM_SIZE), dtype=np.float64)
    states[:, P2S_MAX] = -1.0
    states[:, WARM_START] = float(warm_start)
    states[:, ALPHA] = float(alpha)
    states[:, BETA] = float(beta)
    return states


def eddm_new_state(warm_start: int = 30, alpha: float = 0.95, beta: float = 0.9) -> np.ndarray:
    """The state vector of one fresh EDDM detector."""
    return eddm_new_stacked(1, warm_start, alpha, beta)[0].copy()


@njit(inline="always")
def eddm_reset(state):
    for i in range(WARNING + 1):
        state[i] = 0.0
    state[P2S_MAX] = -1.0


@njit(inline="always")
def eddm_estimation(state):
    return state[VAR_MEAN]


@njit(inline="always", nogil=False)
def eddm_update(state, x):
    """Update one EDDM with ``x`` (1 = error); code: bit 0 drift, bit 1 warning."""
    if state[DRIFT] != 0.0:
        eddm_reset(state)
    n = state[N] + 1.0
    state[N] = n
    if x == 1.0:
        state[N_ERRORS] += 1.0
        d = n - state[LAST_ERROR]
        mean_old = state[VAR_MEAN]
        vn = state[VAR_N] + 1.0
        state[VAR_N] = vn
        mean_new = mean_old + (1.0 / vn) * (d - mean_old)
        state[VAR_MEAN] = mean_new
        state[VAR_S] += 1.0 * (d - mean_old) * (d - mean_new)
        if n > state[WARM_START]:
            var = 0.0
            if vn > 1.0:
                var = state[VAR_S] / (vn - 1.0)
            si = var**0.5
            p2s = mean_new + 2.0 * si
            if p2s > state[P2S_MAX]:
                state[P2S_MAX] = p2s
            elif state[N_ERRORS] > state[WARM_START]:
                level = p2s / state[P2S_MAX]
                if level < state[BETA]:
                    state[DRIFT] = 1.0
                elif level < state[ALPHA]:
                    state[WARNING] = 1.0
                else:
                    state[WARNING] = 0.0
        state[LAST_ERROR] = n
    return int(state[DRIFT]) | (int(state[WARNING]) << 1)


@njit(nogil=False)
def eddm_update_at(address, x):
    """``eddm_update`` on the state vector at ``address`` (Python's single-point path)."""
    eddm_update(f64_view(address, EDDM_SIZE), x)


@njit
def eddm_update_many(state, values):
    drifts = np.empty(values.shape[0], dtype=np.int64)
    warnings = np.empty(values.shape[0], dtype=np.int64)
    nd = 0
    nw = 0
    for i in range(values.shape[0]):
        c = eddm_update(state, values[i])
        if c & 1:
            drifts[nd] = i
            nd += 1
        if c & 2:
            warnings[nw] = i
            nw += 1
    return drifts[:nd].copy(), warnings[:nw].copy()


@njit
def eddm_update_rows(states, values, mask, out):
    n = 0
    for i in range(states.shape[0]):
        out[i] = 0
        if mask[i]:
            c = eddm_update(states[i], values[i])
            out[i] = c
            n += c & 1
    return n
