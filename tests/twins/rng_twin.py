"""Slow twin of :mod:`streamlearn._kernels.rng`: xoshiro256** seeded by splitmix64.

Written from the published reference algorithms (Blackman & Vigna, prng.di.unimi.it:
``xoshiro256starstar.c`` and ``splitmix64.c``) with Python integers masked to 64 bits.
"""

from __future__ import annotations

import math

MASK = (1 << 64) - 1


def splitmix64(x: int) -> tuple[int, int]:
    """One splitmix64 step: (new state, output)."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return x, z ^ (z >> 31)


def rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK


class TwinXoshiro256:
    """xoshiro256**; the state is four 64-bit words filled by splitmix64 from the seed."""

    def __init__(self, seed: int) -> None:
        x = seed & MASK
        self.s = []
        for _ in range(4):
            x, out = splitmix64(x)
            self.s.append(out)

    def next(self) -> int:
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        """The top 53 bits as a float in [0, 1)."""
        return (self.next() >> 11) / 2.0**53

    def poisson(self, lam: float) -> int:
        """Knuth: count uniforms whose running product stays above exp(-lam)."""
        limit = math.exp(-lam)
        k = 0
        p = self.uniform()
        while p > limit:
            k += 1
            p *= self.uniform()
        return k
