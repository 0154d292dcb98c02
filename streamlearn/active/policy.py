"""The query policy: which labels of an instance to ask for, under a budget.

:class:`LabelQueryPolicy` joins a strategy (:mod:`streamlearn.active`), a
:class:`~streamlearn.active.budget.BudgetManager` and the multi-label logic. It sees only the
model's probabilities: ``decide(proba_row, n_seen)`` returns the boolean mask of the labels to
ask. It does no I/O and owns its whole state (plain attributes, numpy generators), so it is
deterministic given ``seed`` and a pickle is an exact snapshot.

Cost and budget
---------------
Every label asked costs 1. The budget ``B`` is a share of the labels available: the manager
grants an instance at most ``allowance`` labels so that labels asked / labels available over
the window never exceeds ``B`` (see :mod:`streamlearn.active.budget` for the exact guarantee).

Instance-level queries (``label_wise=False``)
---------------------------------------------
The paper's algorithms on instances: the confidence of an instance is that of its least
confident label (an instance is uncertain as soon as one of its labels is); if the budget can
pay for all ``L`` labels, the strategy decides, and a query asks for the whole label set.

Label-wise queries (``label_wise=True``)
----------------------------------------
The paper's algorithms on the stream of *(instance, label)* queries. Within an instance the
labels are considered in order of priority; before each one the budget is checked (is one more
label affordable?), and, if so, the strategy decides about that label — exactly the paper's
framework, one label at a time. When the allowance is used up the remaining labels are not
considered and no threshold moves (the paper consults no strategy when the budget is spent).

Priority is "most uncertain first", so the per-instance allowance goes to the labels whose
prediction is most likely wrong: the confidence of label ``j`` is its maximum posterior against
the learner's decision threshold (:func:`~streamlearn.active.base.confidence`), and
``1 - confidence`` is the probability that the current decision for it is wrong — each such
error is one false positive or false negative of micro-F1. For the rare labels of a multi-label
stream this ranks the labels with a non-negligible predicted probability first, and leaves out
labels predicted (near) 0, whose answer is almost surely "absent" and teaches little.

``thresholds`` chooses how the adaptive threshold of VariableUncertainty and its variants is
kept in label-wise mode:

- ``"per-label"`` (default): one threshold per label, moved only when that label is considered.
  A rare label's posteriors are always extreme, so its threshold rises until its *relatively*
  uncertain instances become candidates; a well-learned label's threshold falls. Priority is
  the confidence relative to the label's own threshold (``confidence_j / theta_j``: candidates,
  below 1, first, the deepest first). No label starves — a label never asked is never learned.
- ``"shared"``: one threshold for all labels, moved once per label considered; priority is the
  plain confidence. It tracks the uncertainty level across the whole label space and can starve
  labels that are always predicted confidently (the weaker choice in docs/active.md).

With the window of the budget manager, labels left unspent on confident instances go to
uncertain instances later.

Random orders the labels at random (it ignores confidence), so a capped instance loses a
random subset.

Cold start
----------
While the model has learned fewer than ``warmup`` instances (``n_seen``), its probabilities
carry no information: every label is taken as maximally uncertain (confidence 0.5).

Examples
--------
>>> import numpy as np
>>> policy = LabelQueryPolicy("variable-uncertainty", budget=0.5, window=10, seed=0)
>>> policy.decide(np.array([0.5, 0.9, 0.05, 0.6]), n_seen=100).tolist()
[True, False, False, True]
>>> policy.labels_asked_, policy.labels_available_
(2, 4)

"""

from __future__ import annotations

from typing import Any

import numpy as np
from river import base as river_base

from streamlearn.active.base import AdaptiveThreshold, Strategy, confidence
from streamlearn.active.budget import BudgetManager
from streamlearn.active.fixed_uncertainty import FixedUncertainty
from streamlearn.active.random_strategy import Random
from streamlearn.active.randomized_variable_uncertainty import RandomizedVariableUncertainty
from streamlearn.active.split import Split
from streamlearn.active.variable_uncertainty import VariableUncertainty
from streamlearn.base.arrays import InputError

__all__ = ["STRATEGIES", "LabelQueryPolicy", "make_strategy", "strategy_name"]

#: CLI name -> strategy class.
STRATEGIES: dict[str, type[Strategy]] = {
    "random": Random,
    "fixed-uncertainty": FixedUncertainty,
    "variable-uncertainty": VariableUncertainty,
    "randomized-variable-uncertainty": RandomizedVariableUncertainty,
    "split": Split,
}

#: Short names accepted wherever a strategy name is.
ALIASES: dict[str, str] = {
    "rand": "random",
    "fu": "fixed-uncertainty",
    "vu": "variable-uncertainty",
    "rvu": "randomized-variable-uncertainty",
}


def make_strategy(name: str, seed: int | None = None, **params: Any) -> Strategy:
    """A strategy by CLI name (or alias: ``fu``, ``vu``, ``rvu``) with its parameters."""
    key = ALIASES.get(name, name)
    try:
        cls = STRATEGIES[key]
    except KeyError:
        names = ", ".join([*STRATEGIES, *ALIASES])
        raise ValueError(
            f"unknown active-learning strategy {name!r}; choose one of {names}"
        ) from None
    return cls(seed=seed, **params)


def strategy_name(strategy: Strategy) -> str:
    """The CLI name of a strategy instance (its class name if it is not registered)."""
    for name, cls in STRATEGIES.items():
        if type(strategy) is cls:
            return name
    return type(strategy).__name__


class LabelQueryPolicy(river_base.Base):
    """Decide, from a row of label probabilities, which labels to ask for.

    Parameters
    ----------
    strategy
        A strategy name (``random``, ``fixed-uncertainty``, ``variable-uncertainty``,
        ``randomized-variable-uncertainty``, ``split`` or the aliases ``fu``, ``vu``, ``rvu``)
        or a :class:`~streamlearn.active.base.Strategy` (cloned: the policy owns its state).
    budget
        ``B``: the largest share of the labels that may be asked, in ``[0, 1]``.
    label_wise
        Ask single labels (``True``) or whole label sets (``False``).
    window
        Window of the budget's spending estimate, in instances.
    thresholds
        ``"shared"`` or ``"per-label"`` adaptive thresholds in label-wise mode (see above).
    decision_threshold
        The learner's decision threshold (a label is predicted when its probability exceeds it).
    warmup
        Below this many learned instances every label counts as maximally uncertain.
    bias_correction
        Budget estimate with start-up bias correction (see
        :class:`~streamlearn.active.budget.BudgetManager`).
    seed
        Seed of the policy (and of a strategy given by name).
    """

    def __init__(
        self,
        strategy: str | Strategy = "variable-uncertainty",
        budget: float = 0.2,
        label_wise: bool = True,
        window: int = 1000,
        thresholds: str = "per-label",
        decision_threshold: float = 0.5,
        warmup: int = 1,
        bias_correction: bool = True,
        seed: int | None = None,
    ) -> None:
        if thresholds not in ("shared", "per-label"):
            raise ValueError(f"thresholds must be 'shared' or 'per-label', got {thresholds!r}")
        if not 0.0 < decision_threshold < 1.0:
            raise ValueError(f"decision_threshold must be in (0, 1), got {decision_threshold}")
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        self.strategy = strategy
        self.budget = budget
        self.label_wise = label_wise
        self.window = window
        self.thresholds = thresholds
        self.decision_threshold = decision_threshold
        self.warmup = warmup
        self.bias_correction = bias_correction
        self.seed = seed
        seeds = np.random.SeedSequence(seed).spawn(2)
        strategy_seed = int(seeds[0].generate_state(1)[0])
        if isinstance(strategy, Strategy):
            self.strategy_ = strategy.clone()
        else:
            self.strategy_ = make_strategy(strategy, seed=strategy_seed)
        self.budget_ = BudgetManager(budget, window=window, bias_correction=bias_correction)
        self.rng_ = np.random.default_rng(seeds[1])
        self.n_decisions_ = 0

    # ------------------------------------------------------------------ counters
    @property
    def labels_asked_(self) -> int:
        """Labels asked since the start."""
        return self.budget_.labels_asked_

    @property
    def labels_available_(self) -> int:
        """Labels that could have been asked since the start."""
        return self.budget_.labels_available_

    @property
    def budget_used(self) -> float:
        """Labels asked / labels available since the start."""
        return self.budget_.budget_used

    # ------------------------------------------------------------------ decisions
    def _confidence(self, p: np.ndarray, n_seen: int) -> np.ndarray:
        if n_seen < self.warmup:
            return np.full(len(p), 0.5)
        return confidence(p, self.decision_threshold)

    def _order(self, conf: np.ndarray) -> np.ndarray:
        """Labels in the order they are considered (most uncertain first)."""
        s = self.strategy_
        if not s.uses_confidence:
            return self.rng_.permutation(len(conf))
        if self.thresholds == "per-label" and isinstance(s, AdaptiveThreshold):
            theta = s.thresholds(len(conf))
            return np.argsort(conf / theta, kind="stable")
        return np.argsort(conf, kind="stable")

    def decide(self, proba_row: np.ndarray, n_seen: int) -> np.ndarray:
        """The labels to ask for, as a boolean mask over the row's labels.

        Parameters
        ----------
        proba_row
            ``(n_labels,)`` probabilities that each label is true (``predict_proba_many`` row).
        n_seen
            Instances the model has learned so far (its ``n_samples_seen``).

        The budget is charged for the labels asked; the row's length is the number of labels
        available (the label space may grow between calls).
        """
        p = np.asarray(proba_row, dtype=np.float64)
        if p.ndim != 1:
            raise InputError(f"proba_row must be 1-d (one row of probabilities), got {p.shape}")
        if p.size and not (np.isfinite(p).all() and p.min() >= 0.0 and p.max() <= 1.0):
            raise InputError("proba_row must hold probabilities in [0, 1]")
        L = len(p)
        mask = np.zeros(L, dtype=np.bool_)
        allowance = self.budget_.allowance(L)
        B = self.budget_.budget
        s = self.strategy_
        if L and allowance:
            conf = self._confidence(p, int(n_seen))
            if self.label_wise:
                per_label = self.thresholds == "per-label"
                asked = 0
                for j in self._order(conf).tolist():
                    if asked >= allowance:
                        break
                    if s.ask(float(conf[j]), B, j if per_label else 0):
                        mask[j] = True
                        asked += 1
            elif allowance >= L and s.ask(float(conf.min()), B, 0):
                mask[:] = True
        self.budget_.spend(int(mask.sum()), L)
        self.n_decisions_ += 1
        return mask

    def decide_many(self, P: np.ndarray, n_seen: int | np.ndarray) -> np.ndarray:
        """:meth:`decide` for each row of ``P`` in order; ``n_seen`` is one count for all rows
        or one per row."""
        P = np.asarray(P, dtype=np.float64)
        if P.ndim != 2:
            raise InputError(f"P must be a 2-d probability matrix, got shape {P.shape}")
        seen = np.broadcast_to(np.asarray(n_seen, dtype=np.int64), (P.shape[0],))
        out = np.zeros(P.shape, dtype=np.bool_)
        for i in range(P.shape[0]):
            out[i] = self.decide(P[i], int(seen[i]))
        return out
