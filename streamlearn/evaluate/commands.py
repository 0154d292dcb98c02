"""``streamlearn evaluate``, ``streamlearn bench`` (and ``bench-report``, from :mod:`.report`) (``datasets`` is in :mod:`streamlearn.stream`).

Light to import: the data readers, learners and matplotlib are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

#: Instances of the synthetic stream when ``--limit`` is not given.
SYNTHETIC_N = 10_000


class CommandError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def _param(text: str) -> tuple[str, Any]:
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
    p.add_argument("--learner", required=True, help="learner name (see --help of bench)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N instances only")
    p.add_argument(
        "--seed", type=int, default=None, help="seed of the learner (and synthetic data)"
    )
    p.add_argument(
        "--param",
        action="append",
        type=_param,
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
    from streamlearn.active.commands import add_evaluate_options

    add_evaluate_options(p)  # --active STRATEGY --budget B [--label-wise]
    p.set_defaults(func=_evaluate)

    b = subparsers.add_parser(
        "bench",
        help="several learners side by side on the same stream (speed and quality)",
        description="Runs the learners one after the other in this process on the same stream "
        "(loaded before timing, each learner fed its natural form). A ratio speedup_vs_<peer> "
        "is only computed between runs over the same instances: when --peer-limit makes a peer "
        "run on a prefix, our learners are also run on that prefix.",
    )
    b.add_argument("--data", required=True, help="ARFF file or 'synthetic'")
    b.add_argument(
        "--learners", default=None, help="comma-separated names (default: all available)"
    )
    b.add_argument("--limit", type=int, default=None, help="use the first N instances")
    b.add_argument(
        "--peer-limit",
        type=int,
        default=None,
        help="run dict-form (River) peers on the first N instances only",
    )
    b.add_argument("--seed", type=int, default=None)
    b.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_bench)

    from streamlearn.evaluate import report  # light: imports the learners only when run

    report.register(subparsers)  # bench-report


# ---------------------------------------------------------------------------- helpers
def _fail(exc: Exception) -> int:
    print(f"streamlearn: error: {exc}", file=sys.stderr)
    return 2


def _load(data: str, limit: int | None, seed: int | None) -> Any:
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


def _progress(quiet: bool):
    if quiet:
        return None
    from streamlearn.evaluate.progress import ProgressBar

    return ProgressBar(sys.stderr)


def _plot(result: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [c["instances"] for c in result.curve]
    names = ("micro_f1", "macro_f1", "example_f1", "subset_accuracy", "hamming_loss")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, key, title in (
        (axes[0], "cumulative", "cumulative (whole stream so far)"),
        (axes[1], "windowed", f"sliding window of {result.window}"),
    ):
        for name in names:
            ax.plot(xs, [c[key][name] for c in result.curve], label=name)
        ax.set_title(title)
        ax.set_xlabel("instances")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score")
    axes[0].set_ylim(0, 1)
    axes[1].legend(loc="best", fontsize="small")
    fig.suptitle(
        f"{result.learner} on {result.dataset}: prequential, {result.instances:,} instances, "
        f"{result.instances_per_second:,.0f} inst/s"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------- handlers
def _evaluate(args: argparse.Namespace) -> int:
    from streamlearn.active.commands import runner_from_args
    from streamlearn.evaluate.bench import build_learner
    from streamlearn.evaluate.prequential import prequential

    try:
        if args.limit is not None and args.limit < 0:
            raise CommandError("--limit must be >= 0")
        run = runner_from_args(args) or prequential  # --active: learn only the labels asked
        learner = build_learner(args.learner, dict(args.param), args.seed)
        dataset = _load(args.data, args.limit, args.seed)
        result = run(
            learner,
            dataset,
            limit=args.limit,
            progress=_progress(args.quiet),
            curve_points=args.curve_points,
            window=args.window,
            name=args.learner,
        )
    except (CommandError, ValueError) as exc:
        return _fail(exc)
    if args.plot:
        _plot(result, args.plot)
    if args.json:
        print(json.dumps(result.to_dict(curve=args.curve)))
    else:
        d = result.to_dict(curve=False)
        width = max(len(k) for k in d)
        for k, v in d.items():
            print(f"{k:<{width}}  {v:.6f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    ratio_keys = sorted({k for r in rows for k in r if k.startswith("speedup_vs_")})
    head = ["learner", "run", "instances", "seconds", "inst/s", "micro-F1", "macro-F1"]
    head += [
        "ex-F1",
        "subset-acc",
        "hamming",
        *[k.replace("speedup_vs_", "x vs ") for k in ratio_keys],
    ]
    lines = []
    for r in rows:
        cells = [
            r["learner"],
            r["run"],
            f"{r['instances']:,}",
            f"{r['seconds']:.3f}",
            f"{r['instances_per_second']:,.0f}",
            f"{r['micro_f1']:.4f}",
            f"{r['macro_f1']:.4f}",
            f"{r['example_f1']:.4f}",
            f"{r['subset_accuracy']:.4f}",
            f"{r['hamming_loss']:.4f}",
        ]
        for k in ratio_keys:
            v = r.get(k)
            cells.append("" if v is None else f"{v:,.1f}")
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*c) for c in lines]
    return "\n".join(out)


def _bench(args: argparse.Namespace) -> int:
    from streamlearn.evaluate.bench import bench
    from streamlearn.multilabel import available_learners, learner_class

    try:
        if args.learners:
            names = [n.strip() for n in args.learners.split(",") if n.strip()]
            for name in names:
                learner_class(name)  # clear error for an unknown name
        else:
            names = available_learners()
        for opt in ("limit", "peer_limit"):
            v = getattr(args, opt)
            if v is not None and v < 0:
                raise CommandError(f"--{opt.replace('_', '-')} must be >= 0")
        dataset = _load(args.data, args.limit, args.seed)
        rows = bench(
            dataset,
            names,
            limit=args.limit,
            peer_limit=args.peer_limit,
            seed=args.seed,
            progress=_progress(args.quiet),
        )
    except (CommandError, ValueError) as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{dataset.name}: {len(dataset):,} instances, {dataset.n_labels} labels")
        print(_table(rows))
    return 0
