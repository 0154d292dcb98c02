"""``streamlearn bench-active``, and the ``--active`` options of ``streamlearn evaluate``.

Light to import: the learners, the evaluation loop and matplotlib are imported in the handlers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

__all__ = ["add_evaluate_options", "register", "runner_from_args"]

#: The streams of issue 4's acceptance check (``accept-active``).
ACCEPTANCE_STREAMS: tuple[str, ...] = ("yeast", "scene", "medical", "tmc", "20ng")

#: Learners tried, in order, when ``bench-active`` is given no ``--learner``.
DEFAULT_LEARNERS: tuple[str, ...] = ("ihomer", "mlhat", "br-ht", "cc-lr", "br-nb")

STRATEGY_HELP = (
    "random, fixed-uncertainty (fu), variable-uncertainty (vu), "
    "randomized-variable-uncertainty (rvu), split"
)


# ---------------------------------------------------------------------------- evaluate --active
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


# ---------------------------------------------------------------------------- bench-active
def register(subparsers: Any) -> None:
    b = subparsers.add_parser(
        "bench-active",
        help="active-learning strategies x budgets (label-wise and instance-level) on a stream",
        description="Runs every query strategy at budgets 5/10/20/50/100%% of the labels, "
        "label-wise and instance-level, plus the full-label run, each a whole-stream "
        "prequential run that scores every instance on all its labels and learns only the "
        "labels asked. Prints a table (or JSON) and can plot micro-F1 against labels spent.",
    )
    b.add_argument("--data", required=True, help="ARFF file (MEKA, .arff or .arff.gz)")
    b.add_argument(
        "--learner",
        default=None,
        help=f"learner name (default: the first available of {', '.join(DEFAULT_LEARNERS)})",
    )
    b.add_argument(
        "--param",
        action="append",
        type=_param,
        default=[],
        metavar="KEY=VALUE",
        help="learner constructor parameter (repeatable; VALUE is a Python literal)",
    )
    b.add_argument("--strategies", default=None, help=f"comma-separated ({STRATEGY_HELP})")
    b.add_argument(
        "--budgets", default=None, help="comma-separated budgets (default 5%%,10%%,20%%,50%%,100%%)"
    )
    b.add_argument(
        "--modes",
        choices=("both", "label-wise", "instance"),
        default="both",
        help="label-wise queries, whole-instance queries, or both (default)",
    )
    b.add_argument(
        "--thresholds",
        choices=("per-label", "shared"),
        default="per-label",
        help="label-wise adaptive thresholds (default per-label)",
    )
    b.add_argument("--window", type=int, default=1000, help="budget window, in instances")
    b.add_argument("--limit", type=int, default=None, help="use the first N instances")
    b.add_argument("--seed", type=int, default=0, help="seed of the policies and learner")
    b.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    b.add_argument("--plot", metavar="FILE", help="write micro-F1 vs labels spent to a PNG file")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_bench_active)

    a = subparsers.add_parser(
        "accept-active",
        help="acceptance check: label-wise variable uncertainty vs full labels and random",
        description="On each stream: the full-label run, label-wise variable uncertainty and "
        "label-wise random sampling at the same budget (default 20%% of the labels). Passes "
        "when variable uncertainty reaches >= 90%% of the full-label micro-F1 on at least "
        "--need streams and beats random on at least --need streams. Exit status 0 on pass, "
        "1 on fail.",
    )
    a.add_argument("--dir", required=True, help="folder of the ARFF files")
    a.add_argument(
        "--streams",
        default=",".join(ACCEPTANCE_STREAMS),
        help=f"comma-separated file stems (default {','.join(ACCEPTANCE_STREAMS)})",
    )
    a.add_argument("--learner", default=None, help="learner name (default as bench-active)")
    a.add_argument("--budget", default="20%", help="budget (default 20%%)")
    a.add_argument("--ratio", type=float, default=0.9, help="share of full micro-F1 (0.9)")
    a.add_argument("--need", type=int, default=4, help="streams that must pass each rule (4)")
    a.add_argument("--thresholds", choices=("per-label", "shared"), default="per-label")
    a.add_argument("--limit", type=int, default=None, help="first N instances of each stream")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--json", action="store_true", help="print a JSON object on stdout")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=_accept_active)


def _param(text: str) -> tuple[str, Any]:
    from streamlearn.evaluate.commands import _param as parse

    return parse(text)


def _pick_learner(name: str | None) -> str:
    from streamlearn.multilabel import available_learners, learner_class

    if name is not None:
        learner_class(name)  # a clear error for an unknown name
        return name
    have = available_learners()
    for cand in DEFAULT_LEARNERS:
        if cand in have:
            return cand
    raise ValueError("no learner is available in this build")


def _bench_active(args: argparse.Namespace) -> int:
    from streamlearn.evaluate.commands import CommandError, _fail, _load, _progress

    try:
        from streamlearn.active.evaluate import BUDGETS, bench_active, parse_budget
        from streamlearn.evaluate.bench import build_learner

        if args.limit is not None and args.limit < 0:
            raise CommandError("--limit must be >= 0")
        name = _pick_learner(args.learner)
        params = dict(args.param)
        build_learner(name, params, args.seed)  # parameter errors before loading the data
        strategies = _split(args.strategies)
        budgets = [parse_budget(b) for b in _split(args.budgets)] if args.budgets else BUDGETS
        modes = {"both": (True, False), "label-wise": (True,), "instance": (False,)}[args.modes]
        dataset = _load(args.data, args.limit, args.seed)
        rows = bench_active(
            dataset,
            lambda: build_learner(name, params, args.seed),
            learner=name,
            strategies=strategies,
            budgets=budgets,
            modes=modes,
            limit=args.limit,
            window=args.window,
            thresholds=args.thresholds,
            seed=args.seed,
            progress=_progress(args.quiet),
        )
    except (CommandError, ValueError) as exc:
        return _fail(exc)
    if args.plot:
        plot_bench(rows, args.plot)
    if args.json:
        print(json.dumps(rows))
    else:
        print(
            f"{dataset.name}: {len(dataset):,} instances, {dataset.n_labels} labels, learner {name}"
        )
        print(table(rows))
    return 0


def _accept_active(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streamlearn.evaluate.commands import CommandError, _fail, _load, _progress

    try:
        from streamlearn.active.evaluate import bench_active, parse_budget
        from streamlearn.evaluate.bench import build_learner

        name = _pick_learner(args.learner)
        budget = parse_budget(args.budget)
        folder = Path(args.dir)
        streams = _split(args.streams) or []
        paths = []
        for stem in streams:
            hits = [folder / f"{stem}.arff.gz", folder / f"{stem}.arff"]
            path = next((h for h in hits if h.is_file()), None)
            if path is None:
                raise CommandError(f"no {stem}.arff(.gz) in {folder}")
            paths.append(path)
        results = []
        for path in paths:
            dataset = _load(str(path), args.limit, args.seed)
            rows = bench_active(
                dataset,
                lambda: build_learner(name, {}, args.seed),
                learner=name,
                strategies=["variable-uncertainty", "random"],
                budgets=[budget],
                modes=(True,),
                limit=args.limit,
                thresholds=args.thresholds,
                seed=args.seed,
                progress=_progress(args.quiet),
            )
            full, vu, rnd = rows
            results.append(
                {
                    "dataset": dataset.name,
                    "instances": full["instances"],
                    "full_label_micro_f1": full["micro_f1"],
                    "vu_micro_f1": vu["micro_f1"],
                    "vu_ratio_to_full": vu["ratio_to_full"],
                    "vu_budget_used": vu["budget_used"],
                    "random_micro_f1": rnd["micro_f1"],
                    "random_budget_used": rnd["budget_used"],
                    "reaches_ratio": (vu["ratio_to_full"] or 0.0) >= args.ratio,
                    "beats_random": vu["micro_f1"] > rnd["micro_f1"],
                }
            )
    except (CommandError, ValueError) as exc:
        return _fail(exc)
    n_ratio = sum(r["reaches_ratio"] for r in results)
    n_beats = sum(r["beats_random"] for r in results)
    passed = n_ratio >= args.need and n_beats >= args.need
    summary = {
        "learner": name,
        "budget": budget,
        "thresholds": args.thresholds,
        "ratio": args.ratio,
        "need": args.need,
        "streams": results,
        "reaches_ratio": n_ratio,
        "beats_random": n_beats,
        "passed": passed,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"label-wise variable uncertainty at {100 * budget:g}% of the labels, learner {name}")
        head = ["stream", "full F1", "VU F1", "VU/full", "random F1", "VU>random"]
        lines = [
            [
                r["dataset"],
                f"{r['full_label_micro_f1']:.4f}",
                f"{r['vu_micro_f1']:.4f}",
                f"{100 * (r['vu_ratio_to_full'] or 0.0):.1f}%",
                f"{r['random_micro_f1']:.4f}",
                "yes" if r["beats_random"] else "no",
            ]
            for r in results
        ]
        widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(head)]
        fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
        print(fmt.format(*head))
        print(fmt.format(*("-" * w for w in widths)))
        for c in lines:
            print(fmt.format(*c))
        k = len(results)
        print(f">= {100 * args.ratio:g}% of full micro-F1: {n_ratio}/{k} (need {args.need})")
        print(f"beats random at the same budget: {n_beats}/{k} (need {args.need})")
        print("PASS" if passed else "FAIL")
    return 0 if passed else 1


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of ``bench_active`` rows."""
    head = ["strategy", "mode", "budget", "asked", "micro-F1", "vs full", "macro-F1", "seconds"]
    lines = []
    for r in rows:
        ratio = r.get("ratio_to_full")
        lines.append(
            [
                r["strategy"],
                "-" if r["strategy"] == "full" else ("label" if r["label_wise"] else "instance"),
                f"{100 * r['budget']:.0f}%",
                f"{100 * r['budget_used']:.1f}%",
                f"{r['micro_f1']:.4f}",
                "" if ratio is None else f"{100 * ratio:.1f}%",
                f"{r['macro_f1']:.4f}",
                f"{r['seconds']:.1f}",
            ]
        )
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*c) for c in lines]
    return "\n".join(out)


def plot_bench(rows: list[dict[str, Any]], path: str) -> None:
    """Micro-F1 against the share of labels spent: one line per strategy and mode, the
    full-label run as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    full = next((r for r in rows if r["strategy"] == "full"), None)
    groups: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for r in rows:
        if r["strategy"] != "full":
            groups.setdefault((r["strategy"], bool(r["label_wise"])), []).append(r)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    strategies = list(dict.fromkeys(s for s, _ in groups))
    for (s, lw), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["budget_used"])
        ax.plot(
            [100 * r["budget_used"] for r in rs],
            [r["micro_f1"] for r in rs],
            linestyle="-" if lw else "--",
            marker="o" if lw else "s",
            color=colours[strategies.index(s) % len(colours)],
            label=f"{s} ({'label-wise' if lw else 'instance'})",
        )
    if full is not None:
        ax.axhline(full["micro_f1"], color="black", linestyle=":", label="all labels")
    ax.set_xlabel("labels spent (% of the labels of the stream)")
    ax.set_ylabel("prequential micro-F1")
    ax.set_xlim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    if rows:
        ax.set_title(f"{rows[0]['learner']} on {rows[0]['dataset']}: micro-F1 vs labels spent")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
