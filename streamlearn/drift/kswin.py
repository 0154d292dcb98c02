"""KSWIN: Kolmogorov-Smirnov windowing drift detector (River-equivalent, numba)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from streamlearn._kernels import kswin as _k
from streamlearn.base.drift import DriftDetector

__all__ = ["KSWIN"]


class KSWIN(DriftDetector):
    r"""Kolmogorov-Smirnov Windowing, equivalent to River's ``drift.KSWIN`` (same seed).

    Keeps a sliding window of ``window_size`` values; once it is full, every update draws
    ``stat_size`` values uniformly without replacement from the oldest
    ``window_size - stat_size`` ones and compares them with the ``stat_size`` most recent
    ones by a two-sample Kolmogorov-Smirnov test. A drift is detected when the p-value is at
    most ``alpha`` and the statistic exceeds 0.1. The update that follows a detection starts
    from an empty window with the generator re-seeded, as in River.

    The random draws are bit-exact with River's (CPython's Mersenne Twister and
    ``random.Random.sample`` reimplemented in numba) and the test is scipy's
    ``ks_2samp(method="auto")``, so with the same integer ``seed`` the detections and
    ``p_value`` are identical to River 0.26.1's (for ``stat_size`` above 10,000 scipy's
    asymptotic p-value may differ from ours in the last bits). With ``seed=None`` a seed is
    drawn once at construction and reused by every reset (River draws a new one each time).

    Parameters
    ----------
    alpha
        Significance of the test (keep it small, e.g. below 0.01).
    window_size
        Size of the sliding window.
    stat_size
        Size of the two samples compared (at most ``window_size / 2``; River accepts larger
        values and then fails at its first test).
    seed
        Seed of the generator (anything ``random.Random`` accepts).
    window
        Values to start the window with (the last ``window_size`` are kept).

    Examples
    --------
    >>> import random
    >>> from streamlearn.drift import KSWIN

    >>> rng = random.Random(12345)
    >>> kswin = KSWIN(alpha=0.0001, seed=42)
    >>> data_stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> for i, val in enumerate(data_stream):
    ...     kswin.update(val)
    ...     if kswin.drift_detected:
    ...         print(f"Change detected at index {i}, input value: {val}")
    Change detected at index 1016, input value: 6

    >>> KSWIN(alpha=0.0001, seed=42).update_many(data_stream)
    array([1016])
    """

    _kernel_at = _k.kswin_update_at
    _kernel_many = _k.kswin_update_many
    _DRIFT_SLOT = _k.DRIFT

    def __init__(
        self,
        alpha: float = 0.005,
        window_size: int = 100,
        stat_size: int = 30,
        seed: Any = None,
        window: Iterable[float] | None = None,
    ):
        super().__init__()
        self.alpha = alpha
        self.window_size = window_size
        self.stat_size = stat_size
        self.seed = seed
        self.window = None if window is None else list(window)
        self._seed = random.SystemRandom().getrandbits(63) if seed is None else seed
        self._init_state()

    def _new_state(self) -> np.ndarray:
        return _k.kswin_new_state(
            self.alpha, self.window_size, self.stat_size, self._seed, self.window
        )

    @property
    def p_value(self) -> float:
        """p-value of the last test (0 before the window first fills)."""
        return float(self._state[_k.P_VALUE])

    @property
    def n(self) -> int:
        """Updates since the last reset."""
        return int(self._state[_k.N])

    @property
    def statistic(self) -> float:
        """Kolmogorov-Smirnov statistic of the last test."""
        return float(self._state[_k.STATISTIC])

    @property
    def current_window(self) -> np.ndarray:
        """The values in the sliding window, oldest first."""
        return _k.kswin_window(self._state)

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"seed": 1}
        yield {"seed": 7, "alpha": 0.01, "window_size": 60, "stat_size": 20}
