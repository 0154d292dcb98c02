"""ADWIN (adaptive windowing) as numba kernels over one flat ``float64`` state vector.

Reproduces River 0.26.1's ``drift.ADWIN`` (its compiled ``AdaptiveWindowing`` core plus the
Python wrapper's reset after a detection) operation for operation, so detections, width, total
and variance are bit-identical to River's.

State of ONE detector: a C-contiguous ``float64`` vector of length
``adwin_state_size(max_buckets, max_rows) = 20 + max_rows * (1 + 2 * (max_buckets + 1))``.
Many detectors stack along a leading axis (``states[node]`` is a valid state; so is any
C-contiguous 1-d row view). Integer counters are stored as floats (exact below 2**53)::

    [0]  total            sum of the values in the window
    [1]  variance         sum of squared deviations in the window (River's ``variance``)
    [2]  width            number of values in the window
    [3]  total_width      sum of widths after every update (River's bookkeeping)
    [4]  n_rows           bucket rows in use (River's ``len(bucket_list)``), >= 1
    [5]  n_buckets        buckets in use
    [6]  max_n_buckets
    [7]  tick             updates since reset, wrapped like River's 32-bit ``i32`` counter
    [8]  n_detections     detections since the last reset (0 or 1, as in River)
    [9]  drift            1.0 when the last update detected a drift (the next update resets)
    [10] delta            parameters: significance ...
    [11] clock            ... check for a cut every ``clock`` updates
    [12] max_buckets      ... buckets of each size kept before merging (>= 2)
    [13] min_window_length
    [14] grace_period
    [15] max_rows         capacity: bucket rows R (row i holds buckets of 2**i values)
    [16] phase            tick modulo clock (replaces a division per update)
    [17] size             length of the state vector
    [18], [19]            spare (0)
    [20 : 20+R]                      bucket count of each row
    [20+R : 20+R+R*C]                bucket totals, row-major (R, C), C = max_buckets + 1
    [20+R+R*C : 20+R+2*R*C]          bucket variances, row-major (R, C)

Capacity: R rows hold at least ``max_buckets * (2**R - 1)`` values (default R = 32: about
2 * 10**10 values with max_buckets = 5). Inside it the kernel is exactly River's algorithm.
A window that would need a row beyond R (River would allocate one) drops its oldest bucket
instead, so the window then slides. River's own 32-bit tick wraps after 2**31 updates; the
kernel wraps its tick the same way.

Kernels (all ``@njit``, callable from other numba kernels):

``adwin_update(state, value) -> bool``
    One update in place; True when a drift is detected. If the previous update detected a
    drift, the state is reset first (River's ``ADWIN.update`` does the same).
``adwin_update_buffer_at(address, buffer_address, n, cap) -> int``
    The Python class's single-point path (see :class:`streamlearn.drift.ADWIN`): River's
    ADWIN can only detect on every ``clock``-th update, so the class buffers the values in
    between and feeds them through this kernel at the update that can detect.
``adwin_update_many(state, values) -> int64[:]``
    Every value in order; returns the positions (in ``values``) of the detections.
``adwin_update_rows(states, values, mask, out) -> int``
    One value per detector of a stack ``states[n, size]`` for the rows where ``mask`` is
    true; ``out[i]`` is set to 1/0 (detected or not) for updated rows; returns the count.
``adwin_estimation(state) -> float``  (``total / width``, 0 for an empty window)
``adwin_width(state) -> float``, ``adwin_reset(state)``.

Python helpers: ``adwin_new_state(delta, clock, max_buckets, min_window_length,
grace_period, max_rows=32)`` and ``adwin_new_stacked(n, ...)`` (shape ``(n, size)``).
"""

from __future__ import annotations

import math

import numpy as np

from streamlearn._kernels._config import njit
from streamlearn._kernels._ptr import f64_view

__all__ = [
    "ADWIN_HEADER",
    "DEFAULT_MAX_ROWS",
    "adwin_estimation",
    "adwin_new_stacked",
    "adwin_new_state",
    "adwin_reset",
    "adwin_state_size",
    "adwin_update",
    "adwin_update_buffer_at",
    "adwin_updates_to_check",
    "adwin_update_many",
    "adwin_update_rows",
    "adwin_width",
]

TOTAL, VARIANCE, WIDTH, TOTAL_WIDTH = 0, 1, 2, 3
N_ROWS, N_BUCKETS, MAX_N_BUCKETS, TICK, N_DETECTIONS, DRIFT = 4, 5, 6, 7, 8, 9
DELTA, CLOCK, MAX_BUCKETS, MIN_WINDOW, GRACE, MAX_ROWS = 10, 11, 12, 13, 14, 15
PHASE, SIZE = 16, 17
ADWIN_HEADER = 20
DEFAULT_MAX_ROWS = 32

_I32_MAX = 2147483647.0
_TWO32 = 4294967296.0


def adwin_state_size(max_buckets: int = 5, max_rows: int = DEFAULT_MAX_ROWS) -> int:
    """Length of one ADWIN state vector."""
    return ADWIN_HEADER + max_rows * (1 + 2 * (max_buckets + 1))


def _check_params(
    delta: float,
    clock: int,
    max_buckets: int,
    min_window_length: int,
    grace_period: int,
    max_rows: int,
) -> None:
    if not 0.0 < float(delta) < 1.0:
        raise ValueError(f"ADWIN delta must be in (0, 1), got {delta!r}")
    for name, v, lo in (
        ("clock", clock, 1),
        ("max_buckets", max_buckets, 2),
        ("min_window_length", min_window_length, 1),
        ("grace_period", grace_period, 0),
        ("max_rows", max_rows, 1),
    ):
        if int(v) != v or int(v) < lo:
            raise ValueError(f"ADWIN {name} must be an integer >= {lo}, got {v!r}")
    if clock > _I32_MAX:
        raise ValueError(f"ADWIN clock must fit River's 32-bit counter, got {clock!r}")
    if max_rows > 62:
        raise ValueError(f"ADWIN max_rows must be <= 62, got {max_rows!r}")


def adwin_new_stacked(
    n: int,
    delta: float = 0.002,
    clock: int = 32,
    max_buckets: int = 5,
    min_window_length: int = 5,
    grace_period: int = 10,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> np.ndarray:
    """States of ``n`` fresh ADWIN detectors, shape ``(n, adwin_state_size(...))``."""
    _check_params(delta, clock, max_buckets, min_window_length, grace_period, max_rows)
    states = np.zeros((int(n), adwin_state_size(int(max_buckets), int(max_rows))), np.float64)
    states[:, N_ROWS] = 1.0
    states[:, DELTA] = float(delta)
    states[:, CLOCK] = int(clock)
    states[:, MAX_BUCKETS] = int(max_buckets)
    states[:, MIN_WINDOW] = int(min_window_length)
    states[:, GRACE] = int(grace_period)
    states[:, MAX_ROWS] = int(max_rows)
    states[:, SIZE] = states.shape[1]
    return states


def adwin_new_state(
    delta: float = 0.002,
    clock: int = 32,
    max_buckets: int = 5,
    min_window_length: int = 5,
    grace_period: int = 10,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> np.ndarray:
    """The state vector of one fresh ADWIN detector."""
    return adwin_new_stacked(
        1, delta, clock, max_buckets, min_window_length, grace_period, max_rows
    )[0].copy()


@njit(inline="always")
def adwin_reset(state):
    """Empty the window (keep the parameters)."""
    for i in range(TOTAL, DRIFT + 1):
        state[i] = 0.0
    state[N_ROWS] = 1.0
    state[PHASE] = 0.0
    for i in range(ADWIN_HEADER, state.shape[0]):
        state[i] = 0.0


@njit(inline="always")
def adwin_estimation(state):
    """Mean of the window (River's ``ADWIN.estimation``)."""
    w = state[WIDTH]
    if w == 0.0:
        return 0.0
    return state[TOTAL] / w


@njit(inline="always")
def adwin_width(state):
    return state[WIDTH]


@njit(inline="always")
def _delete_element(state, n_rows_cap, n_cols):
    """Drop the oldest bucket (the first one of the last row); returns its size."""
    cnt_off = ADWIN_HEADER
    tot_off = cnt_off + n_rows_cap
    var_off = tot_off + n_rows_cap * n_cols
    last = int(state[N_ROWS]) - 1
    n = float(1 << last)
    base = last * n_cols
    u = state[tot_off + base]
    v = state[var_off + base]
    mu = u / n
    state[WIDTH] -= n
    state[TOTAL] -= u
    width = state[WIDTH]
    mu_window = state[TOTAL] / width
    inc = v + n * width * (mu - mu_window) * (mu - mu_window) / (n + width)
    state[VARIANCE] -= inc
    cnt = int(state[cnt_off + last])
    for i in range(1, cnt):
        state[tot_off + base + i - 1] = state[tot_off + base + i]
        state[var_off + base + i - 1] = state[var_off + base + i]
    state[tot_off + base + cnt - 1] = 0.0
    state[var_off + base + cnt - 1] = 0.0
    state[cnt_off + last] = cnt - 1
    state[N_BUCKETS] -= 1.0
    if cnt - 1 == 0:
        state[N_ROWS] = last
    return n


@njit(inline="always")
def _insert_element(state, value, n_rows_cap, n_cols, max_buckets):
    cnt_off = ADWIN_HEADER
    tot_off = cnt_off + n_rows_cap
    var_off = tot_off + n_rows_cap * n_cols
    c = int(state[cnt_off])
    state[tot_off + c] = value
    state[var_off + c] = 0.0
    state[cnt_off] = c + 1
    state[N_BUCKETS] += 1.0
    if state[N_BUCKETS] > state[MAX_N_BUCKETS]:
        state[MAX_N_BUCKETS] = state[N_BUCKETS]

    width = state[WIDTH] + 1.0
    state[WIDTH] = width
    incremental_variance = 0.0
    if width > 1.0:
        delta_v = value - state[TOTAL] / (width - 1.0)
        incremental_variance = (width - 1.0) * delta_v * delta_v / width
    state[VARIANCE] += incremental_variance
    state[TOTAL] += value

    # compress: merge the two oldest buckets of every full row into the next row
    idx = 0
    while True:
        k = int(state[cnt_off + idx])
        if k != max_buckets + 1:
            break
        if idx + 1 >= n_rows_cap:
            # beyond capacity: River would add a row; we drop the oldest bucket instead
            _delete_element(state, n_rows_cap, n_cols)
            break
        n1 = float(1 << idx)
        b = idx * n_cols
        t0 = state[tot_off + b]
        t1 = state[tot_off + b + 1]
        v0 = state[var_off + b]
        v1 = state[var_off + b + 1]
        mu1 = t0 / n1
        mu2 = t1 / n1
        total12 = t0 + t1
        temp = n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2)
        v12 = v0 + v1 + temp
        if idx + 1 >= int(state[N_ROWS]):
            state[N_ROWS] = idx + 2
        nb = b + n_cols
        kn = int(state[cnt_off + idx + 1])
        state[tot_off + nb + kn] = total12
        state[var_off + nb + kn] = v12
        state[cnt_off + idx + 1] = kn + 1
        state[N_BUCKETS] += 1.0
        for i in range(2, k):
            state[tot_off + b + i - 2] = state[tot_off + b + i]
            state[var_off + b + i - 2] = state[var_off + b + i]
        for i in range(k - 2, k):
            state[tot_off + b + i] = 0.0
            state[var_off + b + i] = 0.0
        state[cnt_off + idx] = k - 2
        if kn + 1 <= max_buckets:
            break
        idx += 1


@njit(inline="always")
def _detect_change(state, n_rows_cap, n_cols):
    clock = state[CLOCK]
    tick = state[TICK] + 1.0
    phase = state[PHASE] + 1.0
    if phase >= clock:
        phase = 0.0
    if tick > _I32_MAX:  # River's i32 counter wraps
        tick -= _TWO32
        phase = float(int(tick) % int(clock))
    state[TICK] = tick
    state[PHASE] = phase
    change = False
    if phase == 0.0 and state[WIDTH] > state[GRACE]:
        cnt_off = ADWIN_HEADER
        tot_off = cnt_off + n_rows_cap
        delta = state[DELTA]
        mwl = state[MIN_WINDOW]
        reduce_width = True
        while reduce_width:
            reduce_width = False
            width = state[WIDTH]
            total = state[TOTAL]
            # constant during one pass (a cut ends the pass)
            delta_prime = math.log(2.0 * math.log(width) / delta)
            var_in_window = state[VARIANCE] / width
            n0 = 0.0
            n1 = width
            u0 = 0.0
            u1 = total
            done = False
            idx = int(state[N_ROWS]) - 1
            while idx >= 0 and not done:
                bucket_size = float(1 << idx)
                cnt = int(state[cnt_off + idx])
                b = tot_off + idx * n_cols
                for k in range(cnt):
                    n0 += bucket_size
                    n1 -= bucket_size
                    t = state[b + k]
                    u0 += t
                    u1 -= t
                    if idx == 0 and k == cnt - 1:
                        done = True
                        break
                    if n1 >= mwl and n0 >= mwl:
                        delta_mean = (u0 / n0) - (u1 / n1)
                        m_recip = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0)
                        epsilon = (
                            math.sqrt(2.0 * m_recip * var_in_window * delta_prime)
                            + 2.0 / 3.0 * delta_prime * m_recip
                        )
                        if abs(delta_mean) > epsilon:
                            reduce_width = True
                            change = True
                            if width > 0.0:
                                _delete_element(state, n_rows_cap, n_cols)
                                done = True
                                break
                idx -= 1
    state[TOTAL_WIDTH] += state[WIDTH]
    if change:
        state[N_DETECTIONS] += 1.0
    return change


@njit(inline="always", nogil=False)
def adwin_update(state, value):
    """Update one ADWIN with ``value``; True when a drift is detected (see module doc)."""
    if state[DRIFT] != 0.0:
        adwin_reset(state)
    n_rows_cap = int(state[MAX_ROWS])
    max_buckets = int(state[MAX_BUCKETS])
    n_cols = max_buckets + 1
    _insert_element(state, value, n_rows_cap, n_cols, max_buckets)
    change = _detect_change(state, n_rows_cap, n_cols)
    state[DRIFT] = 1.0 if change else 0.0
    return change


@njit(inline="always")
def adwin_updates_to_check(state):
    """Updates until (and including) the next one that can detect a drift: River checks
    only when its tick reaches a multiple of ``clock``, and restarts the tick after a drift."""
    clock = int(state[CLOCK])
    if state[DRIFT] != 0.0:
        return clock
    return clock - int(state[PHASE])


@njit(nogil=False)
def adwin_update_buffer_at(address, buffer_address, n, cap):
    """Python's single-point path: :func:`adwin_update` with the ``n`` values buffered at
    ``buffer_address`` on the state vector at ``address``. Returns ``2 * k + drift``: the last
    update's detection flag and ``k = min(updates_to_check, cap)``."""
    header = f64_view(address, ADWIN_HEADER)
    state = f64_view(address, int(header[SIZE]))
    buf = f64_view(buffer_address, n)
    d = False
    for i in range(n):
        d = adwin_update(state, buf[i])
    return 2 * min(adwin_updates_to_check(state), cap) + (1 if d else 0)


@njit
def adwin_update_many(state, values):
    """Update with every value in order; positions of the detections."""
    out = np.empty(values.shape[0], dtype=np.int64)
    k = 0
    for i in range(values.shape[0]):
        if adwin_update(state, values[i]):
            out[k] = i
            k += 1
    return out[:k].copy()


@njit
def adwin_update_rows(states, values, mask, out):
    """Update detector ``i`` of the stack with ``values[i]`` where ``mask[i]``; count drifts."""
    n = 0
    for i in range(states.shape[0]):
        if mask[i]:
            d = adwin_update(states[i], values[i])
            out[i] = 1 if d else 0
            if d:
                n += 1
        else:
            out[i] = 0
    return n
