"""The contract of a query strategy, and the confidence of a label prediction.

A *strategy* is one of the labelling rules of Žliobaitė, Bifet, Pfahringer and Holmes, "Active
learning with drifting streaming data" (IEEE TNNLS 25(1), 2014): given the confidence of one
prediction (its maximum posterior) it says whether to ask the oracle for the true label. It
decides about one *query* at a time; the budget check happens before it is consulted (the
paper's framework, Algorithm 6: ``if budget available and STRATEGY(x) then ask``), so a
strategy is never consulted — and its state never changes — when the budget is exhausted.

Adaptive strategies keep their threshold per *slot*: slot 0 for a single-label stream, for
instance-level multi-label queries and for a threshold shared by all labels; slot ``j`` for
label ``j`` when every label has its own threshold (see :mod:`streamlearn.active.policy`).

Strategies keep their whole state in plain attributes (floats, a numpy array of thresholds, a
numpy ``Generator``), so pickling one is an exact snapshot and the restored strategy continues
the same random sequence.
"""

from __future__ import annotations

import abc

import numpy as np
from river import base as river_base

__all__ = ["Strategy", "confidence"]


def confidence(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Maximum posterior of each binary label decision, measured against the decision threshold.

    For ``threshold = 0.5`` this is the paper's maximum posterior ``max(p, 1 - p)``: 0.5 for a
    coin flip, 1 for a certain decision. For another decision threshold ``t`` the distance of
    ``p`` to ``t`` is scaled by the room on its side of ``t`` (``t`` below it, ``1 - t`` above
    it), so 0.5 still means "on the decision boundary" and 1 "at 0 or 1".

    Examples
    --------
    >>> confidence(np.array([0.5, 0.9, 0.2, 0.0])).tolist()
    [0.5, 0.9, 0.8, 1.0]
    >>> confidence(np.array([0.25, 0.0, 1.0]), threshold=0.25).tolist()
    [0.5, 1.0, 1.0]

    """
    p = np.asarray(proba, dtype=np.float64)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"the decision threshold must be in (0, 1), got {threshold}")
    if threshold == 0.5:
        return np.maximum(p, 1.0 - p)
    room = np.where(p < threshold, threshold, 1.0 - threshold)
    return 0.5 + 0.5 * np.minimum(np.abs(p - threshold) / room, 1.0)


class Strategy(river_base.Base, abc.ABC):
    """A labelling strategy: ``ask(confidence, budget, slot)`` decides one query.

    Parameters
    ----------
    seed
        Seed of the strategy's random generator (``None``: drawn from the OS).
    """

    #: Whether the decision depends on the prediction's confidence (``False`` for Random).
    uses_confidence: bool = True

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self.rng_ = np.random.default_rng(seed)

    @abc.abstractmethod
    def ask(self, confidence: float, budget: float, slot: int = 0) -> bool:
        """Whether to ask for the label of a prediction of this ``confidence``.

        ``confidence`` is the maximum posterior in ``[0.5, 1]`` for a binary decision (in
        ``[1/k, 1]`` for ``k`` classes), ``budget`` the target fraction ``B`` of queries.
        """

    def threshold(self, slot: int = 0) -> float:
        """Current labelling threshold of ``slot`` (confidences below it are asked about)."""
        return 1.0


class AdaptiveThreshold(Strategy):
    """Base of the strategies with a threshold that moves: ``theta *= 1 - step`` after a
    query, ``theta *= 1 + step`` after a refusal (the paper's Algorithms 3 to 5).

    ``theta_`` holds one threshold per slot, all starting at ``theta0``; it grows when a new
    slot is used.
    """

    def __init__(self, step: float = 0.01, theta0: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        if not 0.0 < step <= 1.0:
            raise ValueError(f"{type(self).__name__}: step must be in (0, 1], got {step}")
        if not theta0 > 0.0:
            raise ValueError(f"{type(self).__name__}: theta0 must be > 0, got {theta0}")
        self.step = step
        self.theta0 = theta0
        self.theta_ = np.full(1, float(theta0))

    def _slot(self, slot: int) -> int:
        if slot < 0:
            raise ValueError(f"slot must be >= 0, got {slot}")
        n = len(self.theta_)
        if slot >= n:
            grown = np.full(max(slot + 1, 2 * n), float(self.theta0))
            grown[:n] = self.theta_
            self.theta_ = grown
        return slot

    def threshold(self, slot: int = 0) -> float:
        slot = self._slot(slot)
        return float(self.theta_[slot])

    def thresholds(self, n: int) -> np.ndarray:
        """The thresholds of slots ``0 .. n-1`` (a copy)."""
        if n > 0:
            self._slot(n - 1)
        return self.theta_[:n].copy()

    def _variable(self, confidence: float, theta: float, slot: int) -> bool:
        """Algorithm 3's step, comparing ``confidence`` with ``theta`` (maybe randomised)."""
        if confidence < theta:
            self.theta_[slot] *= 1.0 - self.step
            return True
        self.theta_[slot] *= 1.0 + self.step
        return False
