"""Split: a random part and a variable-uncertainty part (the paper's Algorithm 5)."""

from __future__ import annotations

from streamlearn.active.base import AdaptiveThreshold

__all__ = ["Split"]


class Split(AdaptiveThreshold):
    """Split the stream at random: a share ``v`` is labelled by Random, the rest by variable
    uncertainty (Algorithm 5).

    For each decision a uniform draw ``eta < v`` sends it to the random part, which asks with
    probability ``B`` (Algorithm 1) and leaves the threshold alone; otherwise variable
    uncertainty decides and moves the threshold (Algorithm 3). In the paper the random part
    also feeds an unbiased change detector; ``last_random_`` tells whether the last decision
    came from the random part, for a caller that wants to do the same.

    Parameters
    ----------
    step
        The adjustment step ``s`` in ``(0, 1]`` of the uncertainty part (``0.01``).
    v
        Share of decisions made by the random part (``0.2`` in the paper).
    theta0
        Initial threshold (the paper: 1).
    seed
        Seed of the random generator.

    Examples
    --------
    >>> s = Split(v=0.0, step=0.5)          # no random part: plain variable uncertainty
    >>> s.ask(0.9, budget=0.1), s.threshold(), s.last_random_
    (True, 0.5, False)

    """

    def __init__(
        self,
        step: float = 0.01,
        v: float = 0.2,
        theta0: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(step=step, theta0=theta0, seed=seed)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"Split: v must be in [0, 1], got {v}")
        self.v = v
        self.last_random_ = False

    def ask(self, confidence: float, budget: float, slot: int = 0) -> bool:
        slot = self._slot(slot)
        if self.rng_.random() < self.v:
            self.last_random_ = True
            return bool(self.rng_.random() <= budget)
        self.last_random_ = False
        return self._variable(confidence, float(self.theta_[slot]), slot)
