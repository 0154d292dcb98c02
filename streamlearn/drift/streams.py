"""Seeded synthetic drift streams with known drift points (pure numpy).

Two families of univariate streams, the inputs drift detectors see in practice:

* ``bernoulli`` — an error stream (1 = error) whose error rate changes at the drift points;
* ``gaussian`` — values whose mean (and spread) changes at the drift points.

Each drift is ``abrupt`` (the new concept starts at the drift point) or ``gradual`` (MOA's
sigmoid transition: at position ``t`` the value comes from the new concept with probability
``1 / (1 + exp(-4 (t - t0) / width))``, ``t0`` the drift point); ``none`` has no drift.
:func:`drift_suite` builds a reproducible mix of them for tests and ``streamlearn
bench-drift``; :func:`score_detections` measures delay, false alarms and missed drifts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DriftStream",
    "bernoulli_stream",
    "drift_suite",
    "gaussian_stream",
    "score_detections",
]

KINDS = ("abrupt", "gradual", "none")


@dataclass(frozen=True)
class DriftStream:
    """A synthetic stream and its ground truth."""

    values: np.ndarray  # float64
    drifts: np.ndarray  # int64 drift points (centre of the transition for gradual drifts)
    kind: str  # abrupt | gradual | none
    family: str  # bernoulli | gaussian
    width: int  # transition width (0 for abrupt)
    seed: int
    params: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.family}-{self.kind}-{self.seed}"

    def __len__(self) -> int:
        return len(self.values)


def _concepts(
    n: int, drifts: Sequence[int], kind: str, width: int, rng: np.random.Generator
) -> np.ndarray:
    """Index of the concept each position is drawn from."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    t = np.arange(n)
    concept = np.zeros(n, dtype=np.int64)
    if kind == "none":
        return concept
    for j, d in enumerate(drifts):
        if kind == "abrupt" or width <= 0:
            switch = t >= d
        else:
            z = np.clip(-4.0 * (t - d) / width, -700, 700)
            switch = rng.random(n) < 1.0 / (1.0 + np.exp(z))
        concept[switch] = j + 1
    return concept


def _check(n: int, drifts: Sequence[int], levels: Sequence[float], kind: str) -> np.ndarray:
    d = np.asarray(list(drifts), dtype=np.int64)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if kind == "none":
        d = d[:0]
    if len(d) and (np.any(np.diff(d) <= 0) or d[0] <= 0 or d[-1] >= n):
        raise ValueError(f"drift points must be increasing inside (0, {n}), got {list(d)}")
    if len(levels) < len(d) + 1:
        raise ValueError(f"need {len(d) + 1} concept levels for {len(d)} drifts, got {len(levels)}")
    return d


def bernoulli_stream(
    n: int,
    p: Sequence[float],
    drifts: Sequence[int] = (),
    kind: str = "abrupt",
    width: int = 0,
    seed: int = 0,
) -> DriftStream:
    """Error stream: value 1 with probability ``p[c]`` in concept ``c`` (``len(drifts)+1``
    rates).

    >>> s = bernoulli_stream(1000, [0.1, 0.5], drifts=[600], seed=1)
    >>> len(s), s.drifts.tolist(), float(s.values[:600].mean()) < 0.2 < float(s.values[600:].mean())
    (1000, [600], True)
    """
    d = _check(n, drifts, p, kind)
    if any(not 0.0 <= q <= 1.0 for q in p):
        raise ValueError(f"error rates must be in [0, 1], got {list(p)}")
    rng = np.random.default_rng(seed)
    c = _concepts(n, d, kind, width, rng)
    values = (rng.random(n) < np.asarray(p, dtype=np.float64)[c]).astype(np.float64)
    return DriftStream(
        values,
        d,
        kind,
        "bernoulli",
        width if kind == "gradual" else 0,
        seed,
        {"p": list(map(float, p))},
    )


def gaussian_stream(
    n: int,
    mean: Sequence[float],
    std: Sequence[float] | float = 1.0,
    drifts: Sequence[int] = (),
    kind: str = "abrupt",
    width: int = 0,
    seed: int = 0,
) -> DriftStream:
    """Gaussian values with mean ``mean[c]`` and deviation ``std[c]`` in concept ``c``.

    >>> s = gaussian_stream(2000, [0.0, 3.0], drifts=[1000], kind="gradual", width=200, seed=2)
    >>> s.kind, s.width, abs(float(s.values[:800].mean())) < 0.2
    ('gradual', 200, True)
    """
    d = _check(n, drifts, mean, kind)
    sd = [float(std)] * len(mean) if np.isscalar(std) else list(std)
    if len(sd) != len(mean) or any(s < 0 for s in sd):
        raise ValueError("std must be one non-negative value or one per concept")
    rng = np.random.default_rng(seed)
    c = _concepts(n, d, kind, width, rng)
    values = rng.normal(np.asarray(mean, np.float64)[c], np.asarray(sd, np.float64)[c])
    return DriftStream(
        values,
        d,
        kind,
        "gaussian",
        width if kind == "gradual" else 0,
        seed,
        {"mean": list(map(float, mean)), "std": sd},
    )


def drift_suite(
    k: int,
    n: int = 5000,
    seed: int = 0,
    families: Sequence[str] = ("bernoulli", "gaussian"),
    max_drifts: int = 2,
) -> list[DriftStream]:
    """``k`` reproducible streams cycling through families and kinds (abrupt, gradual, none).

    Drifting streams have 1..``max_drifts`` drift points at least ``n // (d + 2)`` apart;
    Bernoulli streams start at an error rate in [0.05, 0.3] and move up by 0.15..0.4 (or
    back down after an increase); Gaussian streams shift their mean by 0.5..2.5 standard
    deviations and their deviation by a factor in [0.7, 1.5].

    >>> suite = drift_suite(6, n=1000, seed=0)
    >>> [s.name for s in suite][:3]
    ['bernoulli-abrupt-0', 'gaussian-gradual-1', 'bernoulli-none-2']
    """
    out = []
    for i in range(k):
        family = families[i % len(families)]
        kind = KINDS[i % len(KINDS)]
        rng = np.random.default_rng([seed, i])
        nd = 0 if kind == "none" else int(rng.integers(1, max_drifts + 1))
        gap = n // (nd + 1)
        drifts = [int((j + 1) * gap + rng.integers(-gap // 4, gap // 4 + 1)) for j in range(nd)]
        width = int(rng.integers(n // 50, n // 10 + 1)) if kind == "gradual" else 0
        s = int(rng.integers(2**31))
        if family == "bernoulli":
            p = [float(rng.uniform(0.05, 0.3))]
            for _ in range(nd):
                prev = p[-1]
                p.append(
                    prev + float(rng.uniform(0.15, 0.4))
                    if prev < 0.4
                    else float(rng.uniform(0.05, 0.2))
                )
            stream = bernoulli_stream(n, p, drifts, kind, width, seed=s)
        elif family == "gaussian":
            mean = [0.0]
            std = [float(rng.uniform(0.5, 2.0))]
            for _ in range(nd):
                mean.append(mean[-1] + float(rng.choice([-1, 1]) * rng.uniform(0.5, 2.5)) * std[-1])
                std.append(std[-1] * float(rng.uniform(0.7, 1.5)))
            stream = gaussian_stream(n, mean, std, drifts, kind, width, seed=s)
        else:
            raise ValueError(f"unknown family {family!r}")
        out.append(
            DriftStream(
                stream.values,
                stream.drifts,
                stream.kind,
                stream.family,
                stream.width,
                i,
                {**stream.params, "stream_seed": s},
            )
        )
    return out


def score_detections(
    detections: Sequence[int], stream: DriftStream, max_delay: int | None = None
) -> dict:
    """Delay, false alarms and missed drifts of ``detections`` on ``stream``.

    A drift at ``t`` (for gradual drifts the transition starts at ``t - width / 2``) is
    detected by the first detection in ``[start, min(next drift start, t + max_delay))``;
    its delay is ``detection - t`` (negative when a gradual drift is caught before its
    centre). Every other detection is a false alarm; a drift with no detection is missed.
    ``max_delay`` defaults to the stream length.

    >>> s = bernoulli_stream(1000, [0.1, 0.5], drifts=[500], seed=0)
    >>> score_detections([120, 530, 560], s, max_delay=200)
    {'delays': [30], 'false_alarms': 2, 'missed': 0, 'detected': 1}
    """
    det = np.sort(np.asarray(list(detections), dtype=np.int64))
    n = len(stream)
    horizon = n if max_delay is None else int(max_delay)
    used = np.zeros(len(det), dtype=bool)
    delays: list[int] = []
    missed = 0
    starts = [int(t - stream.width // 2) for t in stream.drifts]
    for j, t in enumerate(stream.drifts):
        lo = starts[j]
        hi = min(starts[j + 1] if j + 1 < len(starts) else n, int(t) + horizon)
        hit = np.flatnonzero((det >= lo) & (det < hi) & ~used)
        if len(hit):
            used[hit[0]] = True
            delays.append(int(det[hit[0]] - t))
        else:
            missed += 1
    return {
        "delays": delays,
        "false_alarms": int((~used).sum()),
        "missed": missed,
        "detected": len(delays),
    }
