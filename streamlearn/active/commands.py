"""The ``--active`` options of ``streamlearn evaluate`` (learn only the labels a query
strategy asks for, under a budget).

:func:`register` adds them to the ``evaluate`` parser that
:mod:`streamlearn.evaluate.commands` registered before, with :func:`runner_from_args` as its
``active_runner``: the evaluation package does not import this one, which imports its loop.
The benchmarks of the strategies (``bench-active``, ``accept-active``) are in
:mod:`streamlearn.benchmarks`. Light to import: the policy and the loop are imported when run.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["STRATEGY_HELP", "add_evaluate_options", "register", "runner_from_args"]

STRATEGY_HELP = (
    "random, fixed-uncertainty (fu), variable-uncertainty (vu), "
    "randomized-variable-uncertainty (rvu), split"
)


def register(subparsers: Any) -> None:
    """Add the ``--active`` options to the ``evaluate`` command (registered before)."""
    evaluate = subparsers.choices.get("evaluate")
    if evaluate is not None:
        add_evaluate_options(evaluate)
        evaluate.set_defaults(active_runner=runner_from_args)


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--active STRATEGY --budget B [--label-wise]`` (and tuning options) to ``evaluate``."""
    g = parser.add_argument_group(
        "active learning",
        "Score every instance on all its labels, but let the learner learn only the labels a "
        "query strategy asks for under a budget (JSON adds labels_asked, budget_used).",
    )
    g.add_argument("--active", metavar="STRATEGY", default=None, help=STRATEGY_HELP)
    g.add_argument(
        "--budget",
        default=None,
        help="share of the labels that may be asked: 0.2 or 20%% (with --active; default 0.2)",
    )
    g.add_argument(
        "--label-wise",
        action="store_true",
        help="ask single labels (default: whole label sets, the cost being their size)",
    )
    g.add_argument(
        "--thresholds",
        choices=("per-label", "shared"),
        default="per-label",
        help="label-wise adaptive thresholds: one per label (default) or one shared",
    )
    g.add_argument(
        "--budget-window",
        type=int,
        default=1000,
        help="window of the budget's spending estimate, in instances (default 1000)",
    )


def runner_from_args(args: argparse.Namespace) -> Callable[..., Any] | None:
    """For ``evaluate``: ``None`` without ``--active``; else a callable with the signature of
    :func:`~streamlearn.evaluate.prequential.prequential` ``(learner, dataset, **options)`` that
    runs :func:`~streamlearn.active.evaluate.active_prequential` with the policy of ``args``."""
    active = getattr(args, "active", None)
    if active is None:
        if getattr(args, "budget", None) is not None or getattr(args, "label_wise", False):
            raise ValueError("--budget and --label-wise need --active STRATEGY")
        return None
    from streamlearn.active.evaluate import active_prequential, parse_budget
    from streamlearn.active.policy import LabelQueryPolicy, make_strategy

    make_strategy(active)  # a clear error for an unknown name
    budget = parse_budget(args.budget if args.budget is not None else 0.2)

    def run(learner: Any, dataset: Any, **options: Any) -> Any:
        policy = LabelQueryPolicy(
            active,
            budget=budget,
            label_wise=args.label_wise,
            window=args.budget_window,
            thresholds=args.thresholds,
            decision_threshold=float(getattr(learner, "threshold", 0.5)),
            seed=args.seed,
        )
        return active_prequential(learner, dataset, policy, **options)

    return run
