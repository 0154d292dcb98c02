"""KSWIN (Kolmogorov-Smirnov windowing) as numba kernels over one flat ``float64`` vector.

Reproduces River 0.26.1's ``drift.KSWIN`` with the same seed: the random sub-window is drawn
with a bit-exact copy of CPython's Mersenne Twister and ``random.Random.sample`` (see
:mod:`.mt19937`), and the two-sample test is scipy's ``ks_2samp(method="auto")`` for two
samples of equal size ``stat_size``: the statistic is computed as scipy computes it, and the
p-value depends only on ``h = round(statistic * stat_size)``, so it is read from a table
``p_table[h]`` built once per detector with scipy's own exact arithmetic (and scipy's
asymptotic fall-back where the exact value leaves [0, 1]). River resets the window and
re-seeds its generator on the update after a detection; so does the kernel.

State of ONE detector (``float64``, length ``kswin_state_size(window_size, stat_size)``)::

    [0] n           updates since the last reset
    [1] p_value     p-value of the last test (0 before any test, as in River)
    [2] drift       1.0 when the last update detected a drift (the next update resets)
    [3] win_len     values in the sliding window (<= window_size)
    [4] win_head    ring-buffer position of the oldest value
    [5] alpha  [6] window_size  [7] stat_size  [8] setsize (CPython's sample threshold)
    [9] mt_pos      generator position   [10] mt_pos0  position right after seeding
    [11] statistic  KS statistic of the last test
    [12] size       length of the state vector
    [16 : 16+W]                 ring buffer of the window, W = window_size
    [16+W : 16+W+624]           generator words
    [16+W+624 : 16+W+1248]      generator words right after seeding (for the reset)
    [16+W+1248 : 16+W+1249+r]   p_table, r = stat_size

Kernels: ``kswin_update(state, x) -> bool``, ``kswin_update_at(address, x)``, ``kswin_update_many(state, values) -> int64[:]``,
``kswin_update_rows(states, values, mask, out) -> int``. Python: ``kswin_new_state(...)``,
``kswin_new_stacked(n, ...)``, ``kswin_p_table(stat_size)``.
"""

from __future__ import annotations

import math
import random

import numpy as np

from streamlearn._kernels._config import njit
from streamlearn._kernels._ptr import f64_view
from streamlearn._kernels.mt19937 import MT_N, mt_sample_range, mt_state_from_seed, sample_setsize

__all__ = [
    "KSWIN_HEADER",
    "kswin_new_stacked",
    "kswin_new_state",
    "kswin_p_table",
    "kswin_reset",
    "kswin_state_size",
    "kswin_update",
    "kswin_update_at",
    "kswin_update_many",
    "kswin_update_rows",
    "kswin_window",
]

N, P_VALUE, DRIFT, WIN_LEN, WIN_HEAD = 0, 1, 2, 3, 4
ALPHA, WINDOW_SIZE, STAT_SIZE, SETSIZE, MT_POS, MT_POS0, STATISTIC, SIZE = 5, 6, 7, 8, 9, 10, 11, 12
KSWIN_HEADER = 16
_MAX_EXACT = 10000  # scipy's MAX_AUTO_N


def kswin_state_size(window_size: int = 100, stat_size: int = 30) -> int:
    return KSWIN_HEADER + window_size + 2 * MT_N + stat_size + 1


@njit
def prob_outside_square(n, h):
    """scipy's ``_compute_prob_outside_square(n, h)``, same operations in the same order."""
    P = 0.0
    k = int(math.floor(n / h))
    while k >= 0:
        p1 = 1.0
        for j in range(h):
            p1 = float(n - k * h - j) * p1 / float(n + k * h + j + 1)
        P = p1 * (1.0 - P)
        k -= 1
    return 2.0 * P


def kswin_p_table(stat_size: int) -> np.ndarray:
    """p-value of scipy's ``ks_2samp`` (two-sided, auto) for two samples of ``stat_size``
    values whose statistic is ``h / stat_size``, for every ``h`` in ``0..stat_size``."""
    from scipy.stats import kstwo

    m = int(stat_size)
    table = np.empty(m + 1, dtype=np.float64)
    en = float(np.round(m * m / (m + m)))
    for h in range(m + 1):
        d = h * 1.0 / m
        if m > _MAX_EXACT:
            p = float(kstwo.sf(d, en))
        elif h == 0:
            p = 1.0
        else:
            p = prob_outside_square(m, h)
            if not 0.0 <= p <= 1.0:  # scipy falls back to the asymptotic distribution
                p = float(kstwo.sf(d, en))
        table[h] = min(max(p, 0.0), 1.0)
    return table


def kswin_new_stacked(
    n: int,
    alpha: float = 0.005,
    window_size: int = 100,
    stat_size: int = 30,
    seed: int | None = None,
    window: object = None,
) -> np.ndarray:
    """States of ``n`` fresh KSWIN detectors (all with the same seed and initial window)."""
    if alpha < 0 or alpha > 1:
        raise ValueError("Alpha must be between 0 and 1.")
    if window_size < 0:
        raise ValueError("window_size must be greater than 0.")
    if window_size < stat_size:
        raise ValueError("stat_size must be smaller than window_size.")
    if int(stat_size) != stat_size or stat_size < 1 or 2 * stat_size > window_size:
        # River accepts these and fails at the first test (it samples stat_size values
        # out of the window_size - stat_size oldest ones)
        raise ValueError(
            f"KSWIN needs 1 <= stat_size <= window_size / 2, got stat_size={stat_size!r}, "
            f"window_size={window_size!r}"
        )
    if seed is None:
        seed = random.SystemRandom().getrandbits(63)
    w, m = int(window_size), int(stat_size)
    words, pos = mt_state_from_seed(seed)
    states = np.zeros((int(n), kswin_state_size(w, m)), dtype=np.float64)
    states[:, ALPHA] = float(alpha)
    states[:, WINDOW_SIZE] = w
    states[:, STAT_SIZE] = m
    states[:, SETSIZE] = sample_setsize(m)
    states[:, MT_POS] = pos
    states[:, MT_POS0] = pos
    o = KSWIN_HEADER + w
    states[:, o : o + MT_N] = words
    states[:, o + MT_N : o + 2 * MT_N] = words
    states[:, o + 2 * MT_N :] = kswin_p_table(m)
    states[:, SIZE] = states.shape[1]
    if window:
        init = np.asarray(list(window), dtype=np.float64)[-w:]
        if not np.isfinite(init).all():
            raise ValueError("KSWIN window contains values that are not finite")
        states[:, KSWIN_HEADER : KSWIN_HEADER + len(init)] = init
        states[:, WIN_LEN] = len(init)
    return states


def kswin_new_state(
    alpha: float = 0.005,
    window_size: int = 100,
    stat_size: int = 30,
    seed: int | None = None,
    window: object = None,
) -> np.ndarray:
    """The state vector of one fresh KSWIN detector."""
    return kswin_new_stacked(1, alpha, window_size, stat_size, seed, window)[0].copy()


@njit
def kswin_reset(state):
    w = int(state[WINDOW_SIZE])
    state[N] = 0.0
    state[P_VALUE] = 0.0
    state[DRIFT] = 0.0
    state[WIN_LEN] = 0.0
    state[WIN_HEAD] = 0.0
    state[STATISTIC] = 0.0
    for i in range(KSWIN_HEADER, KSWIN_HEADER + w):
        state[i] = 0.0
    o = KSWIN_HEADER + w
    for i in range(MT_N):
        state[o + i] = state[o + MT_N + i]
    state[MT_POS] = state[MT_POS0]


@njit
def kswin_window(state):
    """The window's values, oldest first."""
    w = int(state[WINDOW_SIZE])
    n = int(state[WIN_LEN])
    head = int(state[WIN_HEAD])
    out = np.empty(n, dtype=np.float64)
    for j in range(n):
        out[j] = state[KSWIN_HEADER + (head + j) % w]
    return out


@njit(nogil=False)
def kswin_update(state, x):
    """Update one KSWIN with ``x``; True when a drift is detected."""
    if state[DRIFT] != 0.0:
        kswin_reset(state)
    state[N] += 1.0
    w = int(state[WINDOW_SIZE])
    m = int(state[STAT_SIZE])
    n_win = int(state[WIN_LEN])
    head = int(state[WIN_HEAD])
    if n_win < w:
        state[KSWIN_HEADER + (head + n_win) % w] = x
        n_win += 1
        state[WIN_LEN] = n_win
    else:
        state[KSWIN_HEADER + head] = x
        head = (head + 1) % w
        state[WIN_HEAD] = head
    if n_win < w:
        return False

    picks = np.empty(m, dtype=np.int64)
    mt_off = KSWIN_HEADER + w
    mt_sample_range(state, mt_off, MT_POS, w - m, m, int(state[SETSIZE]), picks)
    s1 = np.empty(m, dtype=np.float64)
    s2 = np.empty(m, dtype=np.float64)
    for j in range(m):
        s1[j] = state[KSWIN_HEADER + (head + picks[j]) % w]
        s2[j] = state[KSWIN_HEADER + (head + w - m + j) % w]
    recent = s2.copy()
    s1.sort()
    s2.sort()
    # scipy: cdf differences at every pooled value, first arg-min / arg-max
    fm = float(m)
    min_diff = np.inf
    max_diff = -np.inf
    for src in range(2):
        for j in range(m):
            v = s1[j] if src == 0 else s2[j]
            c1 = np.searchsorted(s1, v, side="right")
            c2 = np.searchsorted(s2, v, side="right")
            diff = c1 / fm - c2 / fm
            if diff < min_diff:
                min_diff = diff
            if diff > max_diff:
                max_diff = diff
    min_s = min(max(-min_diff, 0.0), 1.0)
    d = min_s if min_s > max_diff else max_diff
    h = int(round(d * fm))
    st = h * 1.0 / fm if m <= _MAX_EXACT else d
    p = state[KSWIN_HEADER + w + 2 * MT_N + h]
    state[P_VALUE] = p
    state[STATISTIC] = st
    if p <= state[ALPHA] and st > 0.1:
        state[DRIFT] = 1.0
        for j in range(m):
            state[KSWIN_HEADER + j] = recent[j]
        state[WIN_HEAD] = 0.0
        state[WIN_LEN] = m
        return True
    return False


@njit(nogil=False)
def kswin_update_at(address, x):
    """``kswin_update`` on the state vector at ``address`` (Python's single-point path)."""
    header = f64_view(address, KSWIN_HEADER)
    kswin_update(f64_view(address, int(header[SIZE])), x)


@njit
def kswin_update_many(state, values):
    out = np.empty(values.shape[0], dtype=np.int64)
    k = 0
    for i in range(values.shape[0]):
        if kswin_update(state, values[i]):
            out[k] = i
            k += 1
    return out[:k].copy()


@njit
def kswin_update_rows(states, values, mask, out):
    n = 0
    for i in range(states.shape[0]):
        out[i] = 0
        if mask[i] and kswin_update(states[i], values[i]):
            out[i] = 1
            n += 1
    return n
