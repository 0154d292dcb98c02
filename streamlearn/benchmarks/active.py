"""Benchmarks of stream active learning: ``bench-active`` and ``accept-active``.

- :func:`bench_active`: every query strategy at several budgets, label-wise and instance-level,
  plus the full-label run, on one stream; each run is a whole-stream
  :func:`~streamlearn.active.evaluate.active_prequential` run (every instance scored on all its
  labels, only the labels asked learned).
- :func:`accept_active`: on each stream, label-wise variable uncertainty against the full-label
  run and against random sampling at the same budget, with the verdicts of the check.
- :func:`table` and :func:`plot_bench`: their plain-text table and micro-F1 against labels spent.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from streamlearn.active.evaluate import ActivePrequentialResult, active_prequential, parse_budget
from streamlearn.active.policy import ALIASES, STRATEGIES, LabelQueryPolicy, make_strategy
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.evaluate.prequential import ProgressInfo

__all__ = [
    "BUDGETS",
    "accept_active",
    "bench_active",
    "plot_bench",
    "table",
]

#: Budgets of ``bench-active`` (shares of the labels).
BUDGETS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0)


def bench_active(
    dataset: Any,
    make_learner: Callable[[], MultiLabelClassifier],
    *,
    learner: str,
    strategies: Sequence[str] | None = None,
    budgets: Sequence[float] = BUDGETS,
    modes: Sequence[bool] = (True, False),
    limit: int | None = None,
    window: int = 1000,
    thresholds: str = "per-label",
    seed: int | None = 0,
    repeat: int = 1,
    warm: bool = True,
    progress: Callable[[ProgressInfo], None] | None = None,
) -> list[dict[str, Any]]:
    """Every strategy x budget x mode, plus the full-label run, on ``dataset``.

    ``make_learner()`` builds a fresh learner for each run. Timing is alike for every run:
    with ``warm`` one untimed full-label pass of the learner comes first (its one-off costs,
    numba's for ours), then every run is timed ``repeat`` times, interleaved (each repetition
    runs every configuration once, in the same order); ``seconds`` is the median of a run's
    repetitions (all of them in ``seconds_runs``). The figures do not depend on the repetition
    (learners and policies are seeded; checked).

    Returns one dict per run, the full-label run first (``strategy="full"``), each with
    ``dataset, learner, strategy, label_wise, budget, labels_asked, labels_available,
    budget_used, instances, seconds, seconds_runs, repeat, statistic``, the metrics
    (``micro_f1``...), ``full_label_micro_f1`` and ``ratio_to_full`` (micro-F1 / that).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    names = list(STRATEGIES) if strategies is None else [ALIASES.get(s, s) for s in strategies]
    for s in names:
        make_strategy(s)  # a clear error for an unknown name, before any run
    budgets = [parse_budget(b) for b in budgets]
    configs: list[tuple[str, bool, float] | None] = [None]  # None: the full-label run
    configs += [(s, label_wise, b) for label_wise in modes for s in names for b in budgets]

    def run(config: tuple[str, bool, float] | None) -> dict[str, Any]:
        lr = make_learner()
        policy = None
        if config is not None:
            s, label_wise, b = config
            policy = LabelQueryPolicy(
                s,
                budget=b,
                label_wise=label_wise,
                window=window,
                thresholds=thresholds,
                decision_threshold=float(getattr(lr, "threshold", 0.5)),
                seed=seed,
            )
        res: ActivePrequentialResult = active_prequential(
            lr, dataset, policy, limit=limit, progress=progress
        )
        d = res.to_dict(curve=False)
        d["learner"] = learner
        for key in ("natural_form", "window", "instances_per_second"):
            d.pop(key, None)
        return d

    if warm:
        active_prequential(make_learner(), dataset, None, limit=limit)
    reps: list[list[dict[str, Any]]] = [[] for _ in configs]
    for _ in range(repeat):
        for k, config in enumerate(configs):
            reps[k].append(run(config))
    rows = []
    for runs in reps:
        seconds = [r.pop("seconds") for r in runs]
        d = dict(runs[0])
        if any(r != d for r in runs[1:]):
            raise RuntimeError(f"{d['strategy']}: repetitions gave different figures")
        d.update(
            seconds=statistics.median(seconds),
            seconds_runs=seconds,
            repeat=repeat,
            statistic="median",
        )
        rows.append(d)
    f_full = rows[0]["micro_f1"]
    for r in rows:
        r["full_label_micro_f1"] = f_full
        r["ratio_to_full"] = r["micro_f1"] / f_full if f_full > 0 else None
    return rows


def accept_active(
    datasets: Iterable[Any],
    make_learner: Callable[[], MultiLabelClassifier],
    *,
    learner: str,
    budget: float = 0.2,
    ratio: float = 0.9,
    need: int = 4,
    limit: int | None = None,
    thresholds: str = "per-label",
    seed: int | None = 0,
    progress: Callable[[ProgressInfo], None] | None = None,
) -> dict[str, Any]:
    """The acceptance check of label-wise variable uncertainty on each of ``datasets``.

    On each stream: the full-label run, label-wise variable uncertainty and label-wise random
    sampling at ``budget``. It passes when variable uncertainty reaches ``ratio`` of the
    full-label micro-F1 on at least ``need`` streams and beats random (strictly higher
    micro-F1) on at least ``need`` streams. Returns the per-stream figures and the counts.
    """
    results = []
    for dataset in datasets:
        full, vu, rnd = bench_active(
            dataset,
            make_learner,
            learner=learner,
            strategies=["variable-uncertainty", "random"],
            budgets=[budget],
            modes=(True,),
            limit=limit,
            thresholds=thresholds,
            seed=seed,
            warm=False,  # the check reports no time
            progress=progress,
        )
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
                "reaches_ratio": (vu["ratio_to_full"] or 0.0) >= ratio,
                "beats_random": vu["micro_f1"] > rnd["micro_f1"],
            }
        )
    n_ratio = sum(r["reaches_ratio"] for r in results)
    n_beats = sum(r["beats_random"] for r in results)
    return {
        "learner": learner,
        "budget": budget,
        "thresholds": thresholds,
        "ratio": ratio,
        "need": need,
        "streams": results,
        "reaches_ratio": n_ratio,
        "beats_random": n_beats,
        "passed": n_ratio >= need and n_beats >= need,
    }


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
    from streamlearn.evaluate.plot import pyplot

    plt = pyplot()
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
