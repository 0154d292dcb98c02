"""Uncertainty with a randomised variable threshold (the paper's Algorithm 4)."""

from __future__ import annotations

from streamlearn.active.base import AdaptiveThreshold

__all__ = ["RandomizedVariableUncertainty"]


class RandomizedVariableUncertainty(AdaptiveThreshold):
    """Variable uncertainty whose threshold is multiplied by a random factor (Algorithm 4).

    Each decision compares the maximum posterior with ``theta * eta``, ``eta ~ N(1, delta)``;
    the threshold then moves as in :class:`~streamlearn.active.VariableUncertainty`
    (``* (1 - step)`` after a query, ``* (1 + step)`` after a refusal). The randomisation
    sometimes asks about confident predictions, so changes far from the decision boundary are
    noticed too.

    Parameters
    ----------
    step
        The adjustment step ``s`` in ``(0, 1]`` (``0.01`` in the paper).
    delta
        Standard deviation of the random multiplier ``eta`` (``1`` in the paper).
    theta0
        Initial threshold (the paper: 1).
    seed
        Seed of the random generator.

    Examples
    --------
    >>> s = RandomizedVariableUncertainty(step=0.1, delta=0.0)   # no noise: plain VU
    >>> s.ask(0.9, budget=0.1), round(s.threshold(), 2)
    (True, 0.9)

    """

    def __init__(
        self,
        step: float = 0.01,
        delta: float = 1.0,
        theta0: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(step=step, theta0=theta0, seed=seed)
        if not delta >= 0.0:
            raise ValueError(f"RandomizedVariableUncertainty: delta must be >= 0, got {delta}")
        self.delta = delta

    def ask(self, confidence: float, budget: float, slot: int = 0) -> bool:
        slot = self._slot(slot)
        eta = 1.0 + self.delta * float(self.rng_.standard_normal())
        return self._variable(confidence, float(self.theta_[slot]) * eta, slot)
