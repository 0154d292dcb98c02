"""The pseudo-code of Žliobaitė, Bifet, Pfahringer, Holmes (IEEE TNNLS 2014), transcribed line by
line for a single-label stream of maximum posteriors: Algorithms 1-5 (strategies) inside
Algorithm 6 (the framework: the budget is checked first, the strategy is consulted only when a
label is affordable). The budget check is the hard form documented in streamlearn.active.budget
(``u_t / w <= B`` after counting the query, i.e. ``lambda * u + 1 <= B * w``).

Randomness is drawn from ``numpy.random.default_rng(seed)`` in the order the pseudo-code uses
it (one uniform for Random, one normal for the randomised threshold, one uniform then maybe
another for Split), so a faithful implementation seeded alike makes the same decisions.
"""

from __future__ import annotations

import numpy as np


def paper_stream(
    strategy: str,
    posteriors: list[float],
    *,
    budget: float,
    window: int,
    step: float = 0.01,
    delta: float = 1.0,
    v: float = 0.2,
    theta_fixed: float = 0.9,
    seed: int = 0,
) -> tuple[list[bool], list[float]]:
    """Decisions and the threshold after each instance."""
    rng = np.random.default_rng(seed)
    lam = (window - 1) / window
    u = 0.0
    theta = 1.0
    labels: list[bool] = []
    thetas: list[float] = []

    def variable(post: float, th: float) -> bool:
        nonlocal theta
        if post < th:
            theta = theta * (1 - step)
            return True
        theta = theta * (1 + step)
        return False

    for post in posteriors:
        label = False
        if lam * u + 1 <= budget * window:  # budget available (Algorithm 6)
            if strategy == "random":  # Algorithm 1
                label = bool(rng.random() <= budget)
            elif strategy == "fixed-uncertainty":  # Algorithm 2
                label = post < theta_fixed
            elif strategy == "variable-uncertainty":  # Algorithm 3
                label = variable(post, theta)
            elif strategy == "randomized-variable-uncertainty":  # Algorithm 4
                eta = 1.0 + delta * rng.standard_normal()
                label = variable(post, theta * eta)
            elif strategy == "split":  # Algorithm 5
                if rng.random() < v:
                    label = bool(rng.random() <= budget)
                else:
                    label = variable(post, theta)
            else:
                raise ValueError(strategy)
        u = lam * u + (1 if label else 0)
        labels.append(label)
        thetas.append(theta)
    return labels, thetas
