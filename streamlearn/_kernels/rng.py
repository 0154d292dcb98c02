"""A small, snapshot-able random number generator for kernels.

numba's own ``np.random`` state lives inside the compiled library and cannot be pickled with a
model, so learners that need randomness inside kernels (online bagging's Poisson weights) carry
this generator's state as a ``uint64[4]`` array: xoshiro256** (Blackman & Vigna), seeded through
splitmix64. The same seed gives the same stream, and a pickled state resumes exactly.
"""

from __future__ import annotations

import numpy as np

from streamlearn._kernels._config import njit

_MASK = 0xFFFFFFFFFFFFFFFF


def rng_state(seed: int) -> np.ndarray:
    """A fresh xoshiro256** state (uint64[4]) from an integer seed (splitmix64 expansion)."""
    x = int(seed) & _MASK
    out = np.empty(4, dtype=np.uint64)
    for i in range(4):
        x = (x + 0x9E3779B97F4A7C15) & _MASK
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        out[i] = z ^ (z >> 31)
    return out


@njit
def _rotl(x: np.uint64, k: int) -> np.uint64:
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit
def rng_next(s: np.ndarray) -> np.uint64:
    """Next 64-bit output; advances ``s`` in place."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit
def rng_uniform(s: np.ndarray) -> float:
    """A float in [0, 1) with 53 random bits."""
    return float(rng_next(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit
def rng_poisson(s: np.ndarray, lam: float) -> int:
    """Poisson(lam) by Knuth's multiplication method (fine for the small rates of bagging)."""
    limit = np.exp(-lam)
    k = 0
    p = rng_uniform(s)
    while p > limit:
        k += 1
        p *= rng_uniform(s)
    return k
