"""CPython's Mersenne Twister and ``random.Random.sample`` over a range, in numba.

Bit-exact with CPython 3.11's ``random`` module: the generator state is the 624 words of
``random.Random(seed).getstate()`` plus its position, stored as floats (every word is below
2**32, so exact) in a slice of a detector's ``float64`` state vector. ``mt_sample_range``
draws exactly the indices ``random.Random.sample(range(n), k)`` draws, in the same order,
consuming the generator identically (so later draws agree too).

Layout inside a state vector: ``state[mt_off : mt_off + 624]`` the words, ``state[pos_slot]``
the position (624 right after seeding).
"""

from __future__ import annotations

import math
import random

import numpy as np

from streamlearn._kernels._config import njit

__all__ = [
    "MT_N",
    "mt_getrandbits32",
    "mt_randbelow",
    "mt_sample_range",
    "mt_state_from_seed",
    "sample_setsize",
]

MT_N = 624
_MT_M = 397
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF


def mt_state_from_seed(seed: object) -> tuple[np.ndarray, int]:
    """The 624 words (float64) and position of ``random.Random(seed)``."""
    _, words, _ = random.Random(seed).getstate()
    return np.asarray(words[:MT_N], dtype=np.float64), int(words[MT_N])


def sample_setsize(k: int) -> int:
    """CPython's threshold between its two ``sample`` algorithms (pool list vs set)."""
    setsize = 21
    if k > 5:
        setsize += 4 ** math.ceil(math.log(k * 3, 4))
    return setsize


@njit
def _twist(state, off):
    for kk in range(MT_N - _MT_M):
        y = (int(state[off + kk]) & _UPPER) | (int(state[off + kk + 1]) & _LOWER)
        v = int(state[off + kk + _MT_M]) ^ (y >> 1)
        if y & 1:
            v ^= _MATRIX_A
        state[off + kk] = v
    for kk in range(MT_N - _MT_M, MT_N - 1):
        y = (int(state[off + kk]) & _UPPER) | (int(state[off + kk + 1]) & _LOWER)
        v = int(state[off + kk + _MT_M - MT_N]) ^ (y >> 1)
        if y & 1:
            v ^= _MATRIX_A
        state[off + kk] = v
    y = (int(state[off + MT_N - 1]) & _UPPER) | (int(state[off]) & _LOWER)
    v = int(state[off + _MT_M - 1]) ^ (y >> 1)
    if y & 1:
        v ^= _MATRIX_A
    state[off + MT_N - 1] = v


@njit(inline="always")
def mt_getrandbits32(state, off, pos_slot):
    """One tempered 32-bit output (CPython's ``genrand_uint32``)."""
    i = int(state[pos_slot])
    if i >= MT_N:
        _twist(state, off)
        i = 0
    y = int(state[off + i])
    state[pos_slot] = i + 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & 0xFFFFFFFF


@njit(inline="always")
def mt_randbelow(state, off, pos_slot, n):
    """CPython's ``_randbelow_with_getrandbits(n)`` for 1 <= n < 2**32."""
    k = 0
    m = n
    while m > 0:
        k += 1
        m >>= 1
    r = mt_getrandbits32(state, off, pos_slot) >> (32 - k)
    while r >= n:
        r = mt_getrandbits32(state, off, pos_slot) >> (32 - k)
    return r


@njit
def mt_sample_range(state, off, pos_slot, n, k, setsize, out):
    """``random.Random.sample(range(n), k)`` into ``out[:k]`` (``setsize``: see above)."""
    if n <= setsize:
        pool = np.arange(n)
        for i in range(k):
            j = mt_randbelow(state, off, pos_slot, n - i)
            out[i] = pool[j]
            pool[j] = pool[n - i - 1]
    elif n <= 1 << 20:
        selected = np.zeros(n, dtype=np.bool_)
        for i in range(k):
            j = mt_randbelow(state, off, pos_slot, n)
            while selected[j]:
                j = mt_randbelow(state, off, pos_slot, n)
            selected[j] = True
            out[i] = j
    else:  # huge population: membership by scanning the (few) picks so far
        for i in range(k):
            while True:
                j = mt_randbelow(state, off, pos_slot, n)
                seen = False
                for q in range(i):
                    if out[q] == j:
                        seen = True
                        break
                if not seen:
                    break
            out[i] = j
