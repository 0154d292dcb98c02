"""Fixed uncertainty (the paper's Algorithm 2)."""

from __future__ import annotations

from streamlearn.active.base import Strategy

__all__ = ["FixedUncertainty"]


class FixedUncertainty(Strategy):
    """Ask when the maximum posterior is below a fixed threshold (Algorithm 2).

    The classic uncertainty sampling of pool-based active learning moved to a stream: it asks
    about the predictions closest to the decision boundary. With a fixed threshold it may spend
    nothing once the model is confident everywhere (and so miss changes far from the boundary),
    or everything while the model is uncertain — the budget manager caps it.

    Parameters
    ----------
    theta
        The fixed threshold on the maximum posterior (``0.9``, as MOA's ``ALUncertainty``).
    seed
        Unused (the strategy is deterministic); kept for a uniform constructor.

    Examples
    --------
    >>> s = FixedUncertainty(theta=0.8)
    >>> s.ask(0.7, budget=0.1), s.ask(0.8, budget=0.1), s.ask(0.95, budget=0.1)
    (True, False, False)

    """

    def __init__(self, theta: float = 0.9, seed: int | None = None) -> None:
        super().__init__(seed)
        if not 0.0 < theta:
            raise ValueError(f"FixedUncertainty: theta must be > 0, got {theta}")
        self.theta = theta

    def ask(self, confidence: float, budget: float, slot: int = 0) -> bool:
        return bool(confidence < self.theta)

    def threshold(self, slot: int = 0) -> float:
        return float(self.theta)
