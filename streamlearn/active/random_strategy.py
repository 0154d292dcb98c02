"""Random labelling (the paper's Algorithm 1)."""

from __future__ import annotations

from streamlearn.active.base import Strategy

__all__ = ["Random"]


class Random(Strategy):
    """Ask with probability ``B``, whatever the prediction (Algorithm 1, ``Random``).

    The baseline of every comparison: it spends the budget uniformly over time, so it sees
    changes anywhere in the instance space, but it spends it on certain predictions too.

    Parameters
    ----------
    seed
        Seed of the random generator.

    Examples
    --------
    >>> s = Random(seed=1)
    >>> asks = [s.ask(0.99, budget=0.25) for _ in range(10_000)]
    >>> round(sum(asks) / len(asks), 2)
    0.25

    References
    ----------
    Žliobaitė, Bifet, Pfahringer, Holmes. Active learning with drifting streaming data. IEEE
    TNNLS 25(1):27-39, 2014.
    """

    uses_confidence = False

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)

    def ask(self, confidence: float, budget: float, slot: int = 0) -> bool:
        return bool(self.rng_.random() <= budget)
