"""Stream active learning for multi-label streams: which labels to ask for, under a budget.

The strategies of Žliobaitė, Bifet, Pfahringer, Holmes, "Active learning with drifting streaming
data" (IEEE TNNLS 25(1), 2014), one per module — :class:`Random`, :class:`FixedUncertainty`,
:class:`VariableUncertainty`, :class:`RandomizedVariableUncertainty`, :class:`Split` — with the
paper's budget manager made a hard cap (:class:`BudgetManager`), a multi-label query policy that
asks whole label sets or single labels (:class:`LabelQueryPolicy`, the object the service
plugs in: ``decide(proba_row, n_seen) -> mask``), and a River-style wrapper around a learner
(:class:`MultiLabelActiveLearner`: ``predict_one(x) -> (labels, asked)``). See docs/active.md.
"""

from streamlearn.active.base import Strategy, confidence
from streamlearn.active.budget import BudgetManager
from streamlearn.active.fixed_uncertainty import FixedUncertainty
from streamlearn.active.learner import MultiLabelActiveLearner
from streamlearn.active.policy import STRATEGIES, LabelQueryPolicy, make_strategy, strategy_name
from streamlearn.active.random_strategy import Random
from streamlearn.active.randomized_variable_uncertainty import RandomizedVariableUncertainty
from streamlearn.active.split import Split
from streamlearn.active.variable_uncertainty import VariableUncertainty

__all__ = [
    "STRATEGIES",
    "BudgetManager",
    "FixedUncertainty",
    "LabelQueryPolicy",
    "MultiLabelActiveLearner",
    "Random",
    "RandomizedVariableUncertainty",
    "Split",
    "Strategy",
    "VariableUncertainty",
    "confidence",
    "make_strategy",
    "strategy_name",
]
