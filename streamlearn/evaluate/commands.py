"""``streamlearn evaluate``, and the helpers every command that runs a learner on a stream
shares (``--param`` parsing, loading ``--data``, the progress bar, one-line errors).

The benchmark commands are in :mod:`streamlearn.benchmarks.commands`; ``--active`` is added to
``evaluate`` by :mod:`streamlearn.active.commands`. Light to import: the data readers, learners
and matplotlib are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "CommandError",
    "fail",
    "load_data",
    "parse_param",
    "progress_bar",
    "register",
    "require_plot",
]

#: Instances of the synthetic stream when ``--limit`` is not given.
SYNTHETIC_N = 10_000


class CommandError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def parse_param(text: str) -> tuple[str, Any]:
    """``--param KEY=VALUE``: ``VALUE`` is a Python literal, else the string itself."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="prequential (test-then-train) evaluation of one learner on a stream",
        description="Whole-stream prequential evaluation: every instance is predicted, then "
        "learned, and scored. Progress on stderr; results on stdout.",
    )
    p.add_argument(
        "--data", required=True, help="ARFF file (MEKA, .arff or .arff.gz) or 'synthetic'"
    )
    p.add_argument(
        "--learner", required=True, help="learner name (ihomer, mlhat, br-ht, cc-lr, br-nb)"
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N instances only")
    p.add_argument(
        "--seed", type=int, default=None, help="seed of the learner (and synthetic data)"
    )
    p.add_argument(
        "--param",
        action="append",
        type=parse_param,
        default=[],
        metavar="KEY=VALUE",
        help="learner constructor parameter (repeatable; VALUE is a Python literal)",
    )
    p.add_argument("--window", type=int, default=1000, help="sliding window of the curves")
    p.add_argument("--curve-points", type=int, default=100, help="checkpoints of the curves")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--curve", action="store_true", help="include the curve in the JSON output")
    p.add_argument("--plot", metavar="FILE", help="write the learning curves to a PNG file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    # --active STRATEGY --budget B [--label-wise] are added by streamlearn.active.commands,
    # which sets ``active_runner`` (this package does not import the active-learning one)
    p.set_defaults(func=_evaluate, active_runner=None)


# ---------------------------------------------------------------------------- helpers
def fail(exc: Exception) -> int:
    """Print ``exc`` as one line on stderr; the exit status of a user error (2)."""
    print(f"streamlearn: error: {exc}", file=sys.stderr)
    return 2


def load_data(data: str, limit: int | None, seed: int | None) -> Any:
    """The stream of ``--data``: an ARFF file, or ``synthetic`` (seeded by ``seed``)."""
    if data == "synthetic":
        try:
            from streamlearn.stream.synth import Drift, make_stream
        except ImportError as exc:
            raise CommandError(f"the synthetic stream generator is not available ({exc})") from None
        n = limit if limit is not None else SYNTHETIC_N
        # one planted abrupt drift half-way: new label groups and new feature signatures
        drift = Drift(n // 2, kind="both")
        return make_stream(n, seed=0 if seed is None else seed, drifts=[drift]).dataset
    path = Path(data)
    if not path.is_file():
        raise CommandError(f"no such data file: {data} (give an ARFF file or 'synthetic')")
    try:
        from streamlearn.stream.arff import ArffError, load_arff
    except ImportError as exc:
        raise CommandError(f"the ARFF reader is not available ({exc})") from None
    try:
        return load_arff(path, limit=limit)
    except ArffError as exc:
        raise CommandError(str(exc)) from None


def progress_bar(quiet: bool) -> Any:
    """A progress bar on stderr, or ``None`` with ``--quiet``."""
    if quiet:
        return None
    from streamlearn.evaluate.progress import ProgressBar

    return ProgressBar(sys.stderr)


def require_plot(path: str | None) -> None:
    """With ``--plot``: matplotlib must be importable (checked before anything runs)."""
    if path:
        from streamlearn.evaluate.plot import PlotUnavailable, pyplot

        try:
            pyplot()
        except PlotUnavailable as exc:
            raise CommandError(str(exc)) from None


# ---------------------------------------------------------------------------- handlers
def _evaluate(args: argparse.Namespace) -> int:
    from streamlearn.evaluate.prequential import prequential
    from streamlearn.multilabel import make_learner

    try:
        if args.limit is not None and args.limit < 0:
            raise CommandError("--limit must be >= 0")
        require_plot(args.plot)
        # --active: a runner that learns only the labels asked (None without --active)
        run = (args.active_runner and args.active_runner(args)) or prequential
        learner = make_learner(args.learner, dict(args.param), args.seed)
        dataset = load_data(args.data, args.limit, args.seed)
        result = run(
            learner,
            dataset,
            limit=args.limit,
            progress=progress_bar(args.quiet),
            curve_points=args.curve_points,
            window=args.window,
            name=args.learner,
        )
    except (CommandError, ValueError) as exc:
        return fail(exc)
    if args.plot:
        from streamlearn.evaluate.plot import plot_curves

        plot_curves(result, args.plot)
    if args.json:
        print(json.dumps(result.to_dict(curve=args.curve)))
    else:
        d = result.to_dict(curve=False)
        width = max(len(k) for k in d)
        for k, v in d.items():
            print(f"{k:<{width}}  {v:.6f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    return 0
