"""Variable uncertainty (the paper's Algorithm 3)."""

from __future__ import annotations

from streamlearn.active.base import AdaptiveThreshold

__all__ = ["VariableUncertainty"]


class VariableUncertainty(AdaptiveThreshold):
    """Ask when the maximum posterior is below a threshold that adapts (Algorithm 3).

    The threshold ``theta`` starts at ``theta0 = 1``. After a query it shrinks,
    ``theta *= 1 - step``; after a refusal it widens, ``theta *= 1 + step``. So the strategy
    asks about the least certain predictions *of the recent past*, whatever the model's current
    level of confidence: when the model becomes confident everywhere, the region still widens
    until queries resume, and the budget is spent over time instead of in bursts.

    Parameters
    ----------
    step
        The adjustment step ``s`` in ``(0, 1]`` (``0.01`` in the paper's experiments).
    theta0
        Initial threshold (the paper: 1).
    seed
        Unused (the strategy is deterministic).

    Examples
    --------
    >>> s = VariableUncertainty(step=0.5)
    >>> s.ask(0.9, budget=0.1), s.threshold()      # 0.9 < 1: ask, theta = 1 * 0.5
    (True, 0.5)
    >>> s.ask(0.9, budget=0.1), s.threshold()      # 0.9 >= 0.5: refuse, theta = 0.5 * 1.5
    (False, 0.75)

    """

    def ask(self, confidence: float, budget: float, slot: int = 0) -> bool:
        slot = self._slot(slot)
        return self._variable(confidence, float(self.theta_[slot]), slot)
