"""The benchmark commands: ``bench``, ``bench-report``, ``bench-drift``, ``bench-active`` and
``accept-active``.

Light to import (``streamlearn --help`` registers them): the benchmarks, the data readers,
the learners and matplotlib are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from streamlearn.benchmarks import report as R
from streamlearn.evaluate.commands import parse_param

__all__ = ["register"]

#: ``bench-drift``'s detectors (those of :mod:`streamlearn.benchmarks.drift`).
DETECTORS = ("ADWIN", "PageHinkley", "DDM", "EDDM", "HDDM_A", "KSWIN")

#: Learners tried, in order, when ``bench-active`` or ``accept-active`` get no ``--learner``.
DEFAULT_LEARNERS: tuple[str, ...] = ("ihomer", "mlhat", "br-ht", "cc-lr", "br-nb")

#: The streams of ``accept-active``: 6 to 101 labels, dense and sparse, short and long.
ACCEPTANCE_STREAMS: tuple[str, ...] = ("yeast", "scene", "medical", "tmc", "20ng")


def register(subparsers: Any) -> None:
    _register_bench(subparsers)
    _register_report(subparsers)
    _register_drift(subparsers)
    _register_active(subparsers)


def _split(text: str | None) -> list[str] | None:
    """``a,b`` -> ``["a", "b"]``; ``None`` stays ``None`` (``""`` is an empty list)."""
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


# ---------------------------------------------------------------------------- bench
def _register_bench(subparsers: Any) -> None:
    b = subparsers.add_parser(
        "bench",
        help="several learners side by side on the same stream (speed and quality)",
        description="Runs the learners one after the other in this process on the same stream "
        "(loaded before timing, each learner fed its natural form). Ours and the peers alike: "
        "one untimed pass each, then --repeat timed runs each, interleaved, and the median. "
        "A ratio speedup_vs_<peer> is only computed between runs over the same instances: when "
        "--peer-limit makes a peer run on a prefix, our learners are also run on that prefix.",
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
    b.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="timed runs of every learner, interleaved; its time is their median (default 1)",
    )
    b.add_argument("--json", action="store_true", help="print a JSON list on stdout")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_bench)


def _bench_table(rows: list[dict[str, Any]]) -> str:
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
    from streamlearn.benchmarks.bench import bench
    from streamlearn.evaluate.commands import CommandError, fail, load_data, progress_bar
    from streamlearn.multilabel import available_learners, learner_class

    try:
        if args.learners:
            names = _split(args.learners) or []
            for name in names:
                learner_class(name)  # clear error for an unknown name
        else:
            names = available_learners()
        for opt in ("limit", "peer_limit"):
            v = getattr(args, opt)
            if v is not None and v < 0:
                raise CommandError(f"--{opt.replace('_', '-')} must be >= 0")
        if args.repeat < 1:
            raise CommandError("--repeat must be >= 1")
        dataset = load_data(args.data, args.limit, args.seed)
        rows = bench(
            dataset,
            names,
            limit=args.limit,
            peer_limit=args.peer_limit,
            seed=args.seed,
            repeat=args.repeat,
            progress=progress_bar(args.quiet),
        )
    except (CommandError, ValueError) as exc:
        return fail(exc)
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{dataset.name}: {len(dataset):,} instances, {dataset.n_labels} labels")
        print(_bench_table(rows))
        print(
            f"seconds: median of {args.repeat} timed run(s) of each learner, interleaved, "
            "after one untimed pass of each"
        )
    return 0


# ---------------------------------------------------------------------------- bench-report
def _register_report(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench-report",
        help="regenerate docs/benchmarks.md: every learner on every benchmark data set, "
        "acceptance bars, iHOMER ablation",
        description="Runs, in this process, ihomer and mlhat on the whole stream of every "
        "data set and the River peers br-ht and cc-lr on the whole stream or a prefix fixed "
        "by the data's shape (our learners are also run on that prefix: speed ratios are over "
        "the same instances), an ablation of iHOMER's partition, and writes the markdown "
        "report with averages and the PASS/FAIL acceptance bars.",
    )
    p.add_argument(
        "--dir", help="folder of the ARFF files (NAME.arff.gz); required unless --from-json"
    )
    p.add_argument("--out", default="docs/benchmarks.md", help="markdown report to write")
    p.add_argument("--json", metavar="FILE", default=None, help="also write all raw results")
    p.add_argument(
        "--datasets",
        default=None,
        help=f"comma-separated data sets (default: the 14 of the acceptance: "
        f"{','.join(R.ACCEPTANCE_DATASETS)})",
    )
    p.add_argument(
        "--ablation",
        default=None,
        help=f"data sets of iHOMER's ablation (default: {','.join(R.ABLATION_DATASETS)}; "
        "'' for none)",
    )
    p.add_argument(
        "--peer-limit",
        type=int,
        default=None,
        help="run the peers on the first N instances of every data set (instead of the rule "
        "min(n, ceil(PAIRS / n_labels)))",
    )
    p.add_argument(
        "--peer-pairs",
        type=int,
        default=R.PEER_PAIRS,
        help=f"PAIRS of the peers' rule (default {R.PEER_PAIRS:,} instance-label pairs)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: first {R.QUICK_INSTANCES} instances of each data set, peers on "
        f"{R.QUICK_PEER_INSTANCES} (unless --peer-limit)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--from-json",
        metavar="FILE",
        default=None,
        help="run nothing: re-render the markdown from the JSON of an earlier run (--json); "
        "its averages and verdicts are computed again from its runs",
    )
    p.set_defaults(func=_report)


def _report_command(args: argparse.Namespace) -> str:
    parts = ["streamlearn", "bench-report", "--dir", args.dir]
    if args.out != "docs/benchmarks.md":
        parts += ["--out", args.out]
    if args.json:
        parts += ["--json", args.json]
    if args.datasets is not None:
        parts += ["--datasets", args.datasets]
    if args.ablation is not None:
        parts += ["--ablation", args.ablation]
    if args.peer_limit is not None:
        parts += ["--peer-limit", str(args.peer_limit)]
    if args.peer_pairs != R.PEER_PAIRS:
        parts += ["--peer-pairs", str(args.peer_pairs)]
    if args.quick:
        parts.append("--quick")
    return shlex.join(parts)


def _write(path: str, text: str) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def _report(args: argparse.Namespace) -> int:
    if args.from_json:
        try:
            report = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
            report["averages"] = R.averages(report)
            report["bars"] = R.acceptance(report)
            text = R.render_markdown(report)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"streamlearn: error: cannot render {args.from_json}: {exc!r}", file=sys.stderr)
            return 2
    else:
        if not args.dir:
            print("streamlearn: error: bench-report needs --dir (or --from-json)", file=sys.stderr)
            return 2
        datasets = _split(args.datasets) or list(R.ACCEPTANCE_DATASETS)
        ablation = _split(args.ablation)
        if ablation is None:
            ablation = list(R.ABLATION_DATASETS)
        try:
            report = R.run_report(
                args.dir,
                datasets,
                ablation=ablation,
                peer_limit=args.peer_limit,
                pairs=args.peer_pairs,
                quick=args.quick,
                command=_report_command(args),
                log=None if args.quiet else R._log_to(sys.stderr),
            )
        except (R.ReportError, ValueError) as exc:
            print(f"streamlearn: error: {exc}", file=sys.stderr)
            return 2
        text = R.render_markdown(report)
    _write(args.out, text)
    if args.json:
        _write(args.json, json.dumps(report, indent=1) + "\n")
    for b in report["bars"]:
        print(f"{b['verdict']:<4}  {b['bar']}: {b['measured']}")
    source = f" from {args.from_json}" if args.from_json else ""
    print(f"wrote {args.out}" + (f" and {args.json}" if args.json else "") + source)
    return 0


# ---------------------------------------------------------------------------- bench-drift
def _register_drift(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench-drift",
        help="drift detectors: delay/false alarms/missed drifts on synthetic streams, "
        "equivalence with River, speed against River",
        description="Runs every drift detector on seeded synthetic streams with known drift "
        "points (quality), side by side with River 0.26.1's detector (equivalence of the "
        "detection indices) and over the same N values as River's per-point loop (speed: "
        "every contender run --repeat times, interleaved, median).",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per detector")
    p.add_argument(
        "--n", type=int, default=1_000_000, help="values for the speed runs (default 1M)"
    )
    p.add_argument(
        "--streams", type=int, default=50, help="synthetic streams per detector (default 50)"
    )
    p.add_argument(
        "--stream-length", type=int, default=5000, help="length of each stream (default 5000)"
    )
    p.add_argument(
        "--kswin-n", type=int, default=5000, help="values for KSWIN's speed runs (default 5000)"
    )
    p.add_argument(
        "--kswin-stream-length", type=int, default=1000, help="KSWIN's stream length (default 1000)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic streams")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs of every contender, River's and ours, interleaved; the figure is "
        "their median (default 3)",
    )
    p.add_argument(
        "--detectors",
        nargs="+",
        choices=DETECTORS,
        default=list(DETECTORS),
        metavar="NAME",
        help=f"subset of {', '.join(DETECTORS)}",
    )
    p.set_defaults(func=_bench_drift)


def _bench_drift(args: argparse.Namespace) -> int:
    from streamlearn.benchmarks.drift import format_table, run_bench

    for name in ("n", "streams", "stream_length", "kswin_n", "kswin_stream_length", "repeat"):
        if getattr(args, name) < 1:
            print(f"bench-drift: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    rows = run_bench(
        n=args.n,
        streams=args.streams,
        seed=args.seed,
        stream_length=args.stream_length,
        kswin_n=args.kswin_n,
        kswin_stream_length=args.kswin_stream_length,
        detectors=args.detectors,
        repeat=args.repeat,
        progress=None if args.json else lambda name: print(f"... {name}", file=sys.stderr),
    )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    return 0


# ---------------------------------------------------------------------------- bench-active
def _register_active(subparsers: Any) -> None:
    from streamlearn.active.commands import STRATEGY_HELP

    b = subparsers.add_parser(
        "bench-active",
        help="active-learning strategies x budgets (label-wise and instance-level) on a stream",
        description="Runs every query strategy at budgets 5/10/20/50/100%% of the labels, "
        "label-wise and instance-level, plus the full-label run, each a whole-stream "
        "prequential run that scores every instance on all its labels and learns only the "
        "labels asked. Prints a table (or JSON) and can plot micro-F1 against labels spent. "
        "Timing alike for every run: one untimed full-label pass first, then --repeat timed "
        "runs of every configuration, interleaved, and the median.",
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
        type=parse_param,
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
    b.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="timed runs of every configuration, interleaved; its time is their median (default 1)",
    )
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
    from streamlearn.evaluate.commands import (
        CommandError,
        fail,
        load_data,
        progress_bar,
        require_plot,
    )

    try:
        from streamlearn.active.evaluate import parse_budget
        from streamlearn.benchmarks.active import BUDGETS, bench_active, plot_bench, table
        from streamlearn.multilabel import make_learner

        if args.limit is not None and args.limit < 0:
            raise CommandError("--limit must be >= 0")
        if args.repeat < 1:
            raise CommandError("--repeat must be >= 1")
        require_plot(args.plot)
        name = _pick_learner(args.learner)
        params = dict(args.param)
        make_learner(name, params, args.seed)  # parameter errors before loading the data
        strategies = _split(args.strategies)
        budgets = [parse_budget(b) for b in _split(args.budgets)] if args.budgets else BUDGETS
        modes = {"both": (True, False), "label-wise": (True,), "instance": (False,)}[args.modes]
        dataset = load_data(args.data, args.limit, args.seed)
        rows = bench_active(
            dataset,
            lambda: make_learner(name, params, args.seed),
            learner=name,
            strategies=strategies,
            budgets=budgets,
            modes=modes,
            limit=args.limit,
            window=args.window,
            thresholds=args.thresholds,
            seed=args.seed,
            repeat=args.repeat,
            progress=progress_bar(args.quiet),
        )
    except (CommandError, ValueError) as exc:
        return fail(exc)
    if args.plot:
        plot_bench(rows, args.plot)
    if args.json:
        print(json.dumps(rows))
    else:
        print(
            f"{dataset.name}: {len(dataset):,} instances, {dataset.n_labels} labels, learner {name}"
        )
        print(table(rows))
        print(
            f"seconds: median of {args.repeat} timed run(s) of every configuration, interleaved, "
            "after one untimed full-label pass"
        )
    return 0


def _accept_active(args: argparse.Namespace) -> int:
    from streamlearn.evaluate.commands import CommandError, fail, load_data, progress_bar

    try:
        from streamlearn.active.evaluate import parse_budget
        from streamlearn.benchmarks.active import accept_active
        from streamlearn.multilabel import make_learner

        name = _pick_learner(args.learner)
        budget = parse_budget(args.budget)
        folder = Path(args.dir)
        paths = []
        for stem in _split(args.streams) or []:
            hits = [folder / f"{stem}.arff.gz", folder / f"{stem}.arff"]
            path = next((h for h in hits if h.is_file()), None)
            if path is None:
                raise CommandError(f"no {stem}.arff(.gz) in {folder}")
            paths.append(path)
        summary = accept_active(
            (load_data(str(path), args.limit, args.seed) for path in paths),
            lambda: make_learner(name, {}, args.seed),
            learner=name,
            budget=budget,
            ratio=args.ratio,
            need=args.need,
            limit=args.limit,
            thresholds=args.thresholds,
            seed=args.seed,
            progress=progress_bar(args.quiet),
        )
    except (CommandError, ValueError) as exc:
        return fail(exc)
    if args.json:
        print(json.dumps(summary))
    else:
        print(_accept_text(summary))
    return 0 if summary["passed"] else 1


def _accept_text(summary: dict[str, Any]) -> str:
    results = summary["streams"]
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
    budget, need, k = summary["budget"], summary["need"], len(results)
    out = [
        f"label-wise variable uncertainty at {100 * budget:g}% of the labels, "
        f"learner {summary['learner']}",
        fmt.format(*head),
        fmt.format(*("-" * w for w in widths)),
        *(fmt.format(*c) for c in lines),
        f">= {100 * summary['ratio']:g}% of full micro-F1: {summary['reaches_ratio']}/{k} "
        f"(need {need})",
        f"beats random at the same budget: {summary['beats_random']}/{k} (need {need})",
        "PASS" if summary["passed"] else "FAIL",
    ]
    return "\n".join(out)
