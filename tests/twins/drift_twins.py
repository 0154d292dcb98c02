"""Slow, obvious pure-Python twins of the drift kernels (``streamlearn/_kernels``).

Each twin follows the published algorithm (as River 0.26.1 implements it) with Python lists
and floats; the arithmetic is written in the same order as the kernels so results are
bit-identical. They are independent of the kernels' flat state layout and of River.
"""

from __future__ import annotations

import math
import random
from collections import deque

import numpy as np


class ADWINTwin:
    """ADWIN2 with a list of bucket rows; row i holds [total, variance] buckets of 2**i values.

    ``max_rows`` mirrors the kernel's capacity: a merge that would need row ``max_rows``
    drops the oldest bucket instead.
    """

    def __init__(
        self,
        delta=0.002,
        clock=32,
        max_buckets=5,
        min_window_length=5,
        grace_period=10,
        max_rows=32,
    ):
        self.delta, self.clock, self.max_buckets = delta, clock, max_buckets
        self.min_window_length, self.grace_period, self.max_rows = (
            min_window_length,
            grace_period,
            max_rows,
        )
        self.reset()
        self.drift = False

    def reset(self):
        self.rows = [[]]
        self.total = 0.0
        self.variance = 0.0
        self.width = 0.0
        self.tick = 0

    def _delete_oldest(self):
        last = len(self.rows) - 1
        n = float(2**last)
        u, v = self.rows[last][0]
        mu = u / n
        self.width -= n
        self.total -= u
        mu_window = self.total / self.width
        self.variance -= v + n * self.width * (mu - mu_window) * (mu - mu_window) / (n + self.width)
        del self.rows[last][0]
        if not self.rows[last]:
            self.rows.pop()

    def update(self, x):
        if self.drift:
            self.reset()
        x = float(x)
        # insert
        self.rows[0].append([x, 0.0])
        self.width += 1.0
        if self.width > 1.0:
            d = x - self.total / (self.width - 1.0)
            self.variance += (self.width - 1.0) * d * d / self.width
        else:
            self.variance += 0.0
        self.total += x
        # compress
        i = 0
        while len(self.rows[i]) == self.max_buckets + 1:
            if i + 1 >= self.max_rows:
                self._delete_oldest()
                break
            n1 = float(2**i)
            (t0, v0), (t1, v1) = self.rows[i][0], self.rows[i][1]
            mu1, mu2 = t0 / n1, t1 / n1
            merged = [t0 + t1, v0 + v1 + n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2)]
            if i + 1 == len(self.rows):
                self.rows.append([])
            self.rows[i + 1].append(merged)
            del self.rows[i][:2]
            if len(self.rows[i + 1]) <= self.max_buckets:
                break
            i += 1
        # detect
        self.tick += 1
        if self.tick > 2**31 - 1:
            self.tick -= 2**32
        change = False
        mwl = float(self.min_window_length)
        if self.tick % self.clock == 0 and self.width > self.grace_period:
            again = True
            while again:
                again = False
                n0, n1, u0, u1 = 0.0, self.width, 0.0, self.total
                cut = False
                for i in range(len(self.rows) - 1, -1, -1):
                    size = float(2**i)
                    for k, (t, _) in enumerate(self.rows[i]):
                        n0 += size
                        n1 -= size
                        u0 += t
                        u1 -= t
                        if i == 0 and k == len(self.rows[0]) - 1:
                            break
                        if n1 >= mwl and n0 >= mwl:
                            dm = u0 / n0 - u1 / n1
                            dp = math.log(2.0 * math.log(self.width) / self.delta)
                            m = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0)
                            q = 2.0 * m * (self.variance / self.width) * dp
                            # a variance that rounding made negative gives NaN: no cut
                            eps = (math.sqrt(q) if q >= 0 else math.nan) + 2.0 / 3.0 * dp * m
                            if abs(dm) > eps:
                                again = change = cut = True
                                self._delete_oldest()
                                break
                    if cut:
                        break
        self.drift = change
        return change


class PageHinkleyTwin:
    def __init__(
        self, min_instances=30, delta=0.005, threshold=50.0, alpha=1 - 0.0001, mode="both"
    ):
        self.p = (min_instances, delta, threshold, alpha, mode)
        self.drift = False
        self.reset()

    def reset(self):
        self.n, self.mean = 0.0, 0.0
        self.s_inc = self.s_dec = 0.0
        self.min_inc, self.max_dec = math.inf, -1.0

    def update(self, x):
        min_instances, delta, threshold, alpha, mode = self.p
        if self.drift:
            self.reset()
        self.n += 1.0
        self.mean += (1.0 / self.n) * (x - self.mean)
        dev = x - self.mean
        self.s_inc = alpha * self.s_inc + dev - delta
        self.s_dec = alpha * self.s_dec + dev + delta
        self.min_inc = min(self.min_inc, self.s_inc)
        self.max_dec = max(self.max_dec, self.s_dec)
        self.drift = False
        if self.n >= min_instances:
            up = self.s_inc - self.min_inc > threshold
            down = self.max_dec - self.s_dec > threshold
            self.drift = {"both": up or down, "up": up, "down": down}[mode]
        return self.drift


class DDMTwin:
    def __init__(self, warm_start=30, warning_threshold=2.0, drift_threshold=3.0):
        self.p = (warm_start, warning_threshold, drift_threshold)
        self.drift = self.warning = False
        self.reset()

    def reset(self):
        self.n, self.rate = 0.0, 0.0
        self.p_min = self.s_min = None
        self.ps_min = math.inf
        self.drift = self.warning = False

    def update(self, x):
        warm_start, wt, dt = self.p
        if self.drift:
            self.reset()
        self.n += 1.0
        self.rate += (1.0 / self.n) * (x - self.rate)
        s = math.sqrt(self.rate * (1.0 - self.rate) / self.n)
        if self.n > warm_start:
            if self.rate + s <= self.ps_min:
                self.p_min, self.s_min = self.rate, s
                self.ps_min = self.rate + s
            self.warning = self.rate + s > self.p_min + wt * self.s_min
            if self.rate + s > self.p_min + dt * self.s_min:
                self.drift, self.warning = True, False
        return self.drift, self.warning


class EDDMTwin:
    def __init__(self, warm_start=30, alpha=0.95, beta=0.9):
        self.p = (warm_start, alpha, beta)
        self.drift = self.warning = False
        self.reset()

    def reset(self):
        self.distances = []  # kept whole: mean and variance by Welford's recurrence below
        self.vn, self.vmean, self.vS = 0.0, 0.0, 0.0
        self.n, self.last_error, self.n_errors = 0, 0, 0
        self.p2s_max = -1.0
        self.drift = self.warning = False

    def update(self, x):
        warm_start, alpha, beta = self.p
        if self.drift:
            self.reset()
        self.n += 1
        if x == 1:
            self.n_errors += 1
            d = float(self.n - self.last_error)
            self.distances.append(d)
            old = self.vmean
            self.vn += 1.0
            self.vmean += (1.0 / self.vn) * (d - old)
            self.vS += 1.0 * (d - old) * (d - self.vmean)
            if self.n > warm_start:
                var = self.vS / (self.vn - 1.0) if self.vn > 1.0 else 0.0
                p2s = self.vmean + 2.0 * var**0.5
                if p2s > self.p2s_max:
                    self.p2s_max = p2s
                elif self.n_errors > warm_start:
                    level = p2s / self.p2s_max
                    if level < beta:
                        self.drift = True
                    else:
                        self.warning = level < alpha
            self.last_error = self.n
        return self.drift, self.warning


class HDDMATwin:
    def __init__(self, drift_confidence=0.001, warning_confidence=0.005, two_sided_test=False):
        self.p = (drift_confidence, warning_confidence, two_sided_test)
        self.drift = self.warning = False
        self.reset()

    def reset(self):
        self.z = [0.0, 0.0]  # [n, mean]
        self.xmin = [0.0, 0.0]
        self.xmax = [0.0, 0.0]
        self.drift = self.warning = False

    @staticmethod
    def _bound(n, c):
        return math.sqrt(1.0 / (2.0 * n) * math.log(1.0 / c))

    def _test(self, cut, conf, sign):
        if cut[0] == self.z[0]:
            return False
        m = (self.z[0] - cut[0]) / cut[0] * (1.0 / self.z[0])
        eps = math.sqrt(m / 2.0 * math.log(2.0 / conf))
        diff = self.z[1] - cut[1] if sign > 0 else cut[1] - self.z[1]
        return diff >= eps

    def update(self, x):
        dc, wc, two = self.p
        if self.drift:
            self.reset()
        self.z[0] += 1.0
        self.z[1] += (1.0 / self.z[0]) * (x - self.z[1])
        if self.xmin[0] == 0.0:
            self.xmin = list(self.z)
        if self.xmax[0] == 0.0:
            self.xmax = list(self.z)
        ez = self._bound(self.z[0], dc)
        if self.xmin[1] + self._bound(self.xmin[0], dc) >= self.z[1] + ez:
            self.xmin = list(self.z)
        if self.xmax[1] - self._bound(self.xmax[0], dc) <= self.z[1] - ez:
            self.xmax = list(self.z)
        if self._test(self.xmin, dc, +1):
            self.drift, self.warning = True, False
        elif self._test(self.xmin, wc, +1):
            self.drift, self.warning = False, True
        else:
            self.drift = self.warning = False
        if two:
            if self._test(self.xmax, dc, -1):
                self.drift = True
            elif self._test(self.xmax, wc, -1):
                self.warning = True
        return self.drift, self.warning


class KSWINTwin:
    """Sliding window + ``random.Random(seed).sample`` + scipy's two-sample KS test."""

    def __init__(self, alpha=0.005, window_size=100, stat_size=30, seed=None, window=None):
        self.p = (alpha, window_size, stat_size, seed)
        self.drift = False
        self.reset()
        if window:
            self.window = deque(window, maxlen=window_size)

    def reset(self):
        self.window = deque(maxlen=self.p[1])
        self.rng = random.Random(self.p[3])
        self.p_value = 0.0

    def update(self, x):
        from scipy.stats import ks_2samp

        alpha, w, r, _ = self.p
        if self.drift:
            self.reset()
        self.window.append(x)
        self.drift = False
        if len(self.window) == w:
            picks = [self.window[i] for i in self.rng.sample(range(w - r), r)]
            recent = list(self.window)[w - r :]
            st, self.p_value = ks_2samp(picks, recent, method="auto")
            if self.p_value <= alpha and st > 0.1:
                self.drift = True
                self.window = deque(recent, maxlen=w)
        return self.drift


TWINS = {
    "ADWIN": ADWINTwin,
    "PageHinkley": PageHinkleyTwin,
    "DDM": DDMTwin,
    "EDDM": EDDMTwin,
    "HDDM_A": HDDMATwin,
    "KSWIN": KSWINTwin,
}


def cooc_counts(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label counts ``n1`` and pair co-occurrence counts ``n11`` (upper triangle) of a 0/1
    matrix, by a batch recompute."""
    Y = (np.asarray(Y) != 0).astype(np.int64)
    n1 = Y.sum(axis=0)
    n11 = np.triu(Y.T @ Y, 1)
    return n1, n11


def cooc_test(ref: np.ndarray, cur: np.ndarray, delta: float, min_support: int) -> list[tuple]:
    """Every supported pair's ``(a, b, J_ref, J_cur, ratio)``, by brute force over pairs."""
    (r1, r11), (c1, c11) = cooc_counts(ref), cooc_counts(cur)
    L = len(r1)
    pairs = []
    for a in range(L):
        for b in range(a + 1, L):
            ur = r1[a] + r1[b] - r11[a, b]
            uc = c1[a] + c1[b] - c11[a, b]
            if ur >= min_support and uc >= min_support:
                pairs.append((a, b, r11[a, b] / ur, c11[a, b] / uc, ur, uc))
    m = len(pairs)
    out = []
    for a, b, jr, jc, ur, uc in pairs:
        eps = math.sqrt((1.0 / ur + 1.0 / uc) * math.log(2.0 * m / delta) / 2.0)
        out.append((a, b, jr, jc, abs(jc - jr) / eps))
    return out
