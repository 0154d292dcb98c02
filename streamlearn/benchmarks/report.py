"""``streamlearn bench-report``: the benchmark report (``docs/benchmarks.md``) in one command.

For every data set of the acceptance (or ``--datasets``), in ONE process, with every learner at
its defaults and the stream loaded before any timing (:func:`~streamlearn.benchmarks.bench.bench`):

- ``ihomer`` and ``mlhat`` run the **whole stream** (strict per-instance test-then-train);
- the River peers ``br-ht`` and ``cc-lr`` run the whole stream when affordable, otherwise the
  first :func:`peer_instances` instances — a rule on the shape of the data (instances x labels),
  fixed before anything runs, never on results; our learners are then run again, from scratch, on
  that same prefix, so every speed ratio compares runs over the same instances;
- an ablation of iHOMER's label partition (:func:`ablation_variants`) on a few data sets.

Then the averages over the data sets (whole-stream runs only) are compared with the acceptance
bars (:func:`acceptance`: each named by what it checks, PASS/FAIL computed from the measured
numbers) and everything is rendered as markdown (:func:`render_markdown`), beside the published
whole-stream results of the MLHAT study (:func:`published`: package data, not code).

Data readers and learners are imported inside the functions that run.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "ABLATION_DATASETS",
    "ACCEPTANCE_DATASETS",
    "PEER_PAIRS",
    "ReportError",
    "ablation_variants",
    "acceptance",
    "averages",
    "peer_instances",
    "published",
    "render_markdown",
    "run_report",
]

#: The 14 data sets of the acceptance bars: those of the published tables, in their order.
ACCEPTANCE_DATASETS: tuple[str, ...] = (
    "flags",
    "waterquality",
    "emotions",
    "virusgo",
    "birds",
    "yeast",
    "scene",
    "medical",
    "slashdot",
    "langlog",
    "stackex",
    "tmc",
    "20ng",
    "bibtex",
)
#: Data sets of iHOMER's ablation: label spaces of 6 to 159 labels, dense and sparse, short/long.
ABLATION_DATASETS: tuple[str, ...] = ("yeast", "scene", "medical", "tmc", "20ng", "bibtex")
#: Speed acceptance: ratios against br-ht measured on these.
SPEED_DATASETS: tuple[str, ...] = ("yeast", "scene", "medical", "bibtex")
OURS: tuple[str, ...] = ("ihomer", "mlhat")
PEERS: tuple[str, ...] = ("br-ht", "cc-lr")
#: Default budget of the peers, in (instance, label) pairs: a peer runs on the first
#: ``ceil(PEER_PAIRS / n_labels)`` instances (binary relevance and the classifier chain keep
#: one River model per label, so their work grows with instances x labels).
PEER_PAIRS = 100_000
#: ``--quick``: instances of each data set, and of the peers.
QUICK_INSTANCES = 200
QUICK_PEER_INSTANCES = 50
#: Averages over the whole-stream runs: (learner, metric, comparison, bar).
AVERAGE_BARS: tuple[tuple[str, str, str, float], ...] = (
    ("mlhat", "micro_f1", "≥", 0.49),
    ("ihomer", "micro_f1", "≥", 0.52),
    ("ihomer", "subset_accuracy", "≥", 0.30),
    ("ihomer", "macro_f1", "≥", 0.40),
    ("ihomer", "hamming_loss", "≤", 0.117),
)
#: Our learners' instances/s over the instances br-ht ran, at least this many times br-ht's.
SPEEDUP_BAR = 50.0
#: iHOMER's instances/s on the whole yeast stream.
YEAST_IPS_BAR = 10_000.0
_EPS = 1e-12

#: (key, title, higher is better)
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("micro_f1", "micro-F1", True),
    ("macro_f1", "macro-F1", True),
    ("subset_accuracy", "subset acc.", True),
    ("hamming_loss", "Hamming loss", False),
    ("example_f1", "example-F1", True),
)
_TITLE = {k: t for k, t, _ in METRICS}

#: Published whole-stream prequential results of the MLHAT study, one row per (data set,
#: metric): package data next to this module, read by :func:`published`.
PUBLISHED_FILE = "published_mlhat.csv"


@functools.cache
def published() -> dict[str, dict[str, tuple[float, str, float]]]:
    """The published results of the MLHAT study (Esteban, Cano, Zafra, Ventura, Knowledge-Based
    Systems 2024; per-data-set tables of github aestebant/mlhat ``results/``).

    ``{dataset: {metric: (MLHAT, best method, best value)}}``, read from
    :data:`PUBLISHED_FILE`; a metric the study's table has no row for is absent.

    >>> published()["scene"]["micro_f1"]
    (0.9364, 'MLHAT', 0.9364)
    """
    text = resources.files(__package__).joinpath(PUBLISHED_FILE).read_text(encoding="utf-8")
    out: dict[str, dict[str, tuple[float, str, float]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        out.setdefault(row["dataset"], {})[row["metric"]] = (
            float(row["mlhat"]),
            row["best_method"],
            float(row["best"]),
        )
    return out


class ReportError(Exception):
    """A user error (bad option, missing data file): one line on stderr, exit status 2."""


# ----------------------------------------------------------------------------- rules
def peer_instances(
    n_instances: int, n_labels: int, *, peer_limit: int | None = None, pairs: int = PEER_PAIRS
) -> int:
    """Instances the River peers run on: fixed from the data's shape before anything runs.

    ``min(n, ceil(pairs / n_labels))``, or ``min(n, peer_limit)`` when ``peer_limit`` is given.

    >>> peer_instances(2417, 14)  # yeast: the whole stream
    2417
    >>> peer_instances(7395, 159)  # bibtex: the first 629
    629
    >>> peer_instances(7395, 159, peer_limit=1000)
    1000
    """
    if peer_limit is not None:
        return min(n_instances, peer_limit)
    return min(n_instances, math.ceil(pairs / max(1, n_labels)))


def ablation_variants(k_odac: int) -> list[tuple[str, str, dict[str, Any]]]:
    """iHOMER's ablation: ``(name, description, constructor params)``, the default first.

    ``k_odac`` is the number of clusters the default (Jaccard ODAC) run ended with: the random
    partition gets as many clusters.
    """
    from streamlearn.cluster.odac import JaccardODAC

    return [
        ("jaccard-odac", "default: Jaccard ODAC, restructuring on", {}),
        (
            "correlation-odac",
            'ODAC on correlation: clusterer=JaccardODAC(dissimilarity="correlation")',
            {"clusterer": JaccardODAC(dissimilarity="correlation")},
        ),
        (
            "no-restructure",
            "restructure=False (splits only: no merges, no re-grouping on global drift)",
            {"restructure": False},
        ),
        (
            "random",
            f'partition="random", n_random_clusters={k_odac} (as many as Jaccard ODAC ended with)',
            {"partition": "random", "n_random_clusters": k_odac},
        ),
        ("single", 'partition="single" (one tree over all labels)', {"partition": "single"}),
    ]


# ----------------------------------------------------------------------------- the run
def _log_to(stream: Any) -> Callable[[str], None]:
    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=stream, flush=True)

    return log


def _progress(log: Callable[[str], None], every: float = 60.0):
    """A prequential progress callback: a line at the end of a run and every ``every`` s."""
    last = [time.perf_counter()]

    def cb(info: Any) -> None:
        now = time.perf_counter()
        if info.done or now - last[0] >= every:
            last[0] = now
            state = "done" if info.done else "..."
            log(
                f"  {info.learner} on {info.dataset}: {info.instances:,}/{info.total:,} {state} "
                f"{info.seconds:.1f} s timed, {info.instances_per_second:,.0f} inst/s, "
                f"micro-F1 {info.micro_f1:.4f}"
            )

    return cb


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        nproc = os.cpu_count() or 0
    return {
        "nproc": nproc,
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _versions() -> dict[str, str]:
    from importlib import metadata

    from streamlearn import __version__

    out = {"streamlearn": __version__}
    for pkg in ("numpy", "numba", "llvmlite", "river", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _find(data_dir: Path, name: str) -> Path:
    for suffix in (".arff.gz", ".arff"):
        p = data_dir / f"{name}{suffix}"
        if p.is_file():
            return p
    raise ReportError(f"no data file {name}.arff.gz (or {name}.arff) in {data_dir}")


def _clusters_at_end(model: Any) -> int:
    """Clusters iHOMER predicts with at the end: trees that own at least one label."""
    return len([c for c in model.describe().get("clusters", []) if c["owns"]])


def run_report(
    data_dir: str | os.PathLike[str],
    datasets: Sequence[str] = ACCEPTANCE_DATASETS,
    *,
    ablation: Sequence[str] = ABLATION_DATASETS,
    peer_limit: int | None = None,
    pairs: int = PEER_PAIRS,
    quick: bool = False,
    command: str = "",
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every benchmark of the report in this process; return the raw results.

    Every learner (ours, the peers, each ablation variant) makes one untimed pass over the
    instances it is then timed on, then one timed run (:func:`~streamlearn.benchmarks.bench.bench`).

    The result holds ``meta`` (command, dates, machine, load averages, versions, rules),
    ``datasets`` (per data set: its shape, the peers' instances and every run's result dict of
    :func:`~streamlearn.benchmarks.bench.bench`), ``ablation`` (one dict per variant and data
    set, with the clusters iHOMER ended with), then ``averages`` and ``bars``.
    """
    from streamlearn.benchmarks.bench import bench, warm_up
    from streamlearn.evaluate.prequential import prequential
    from streamlearn.multilabel import make_learner
    from streamlearn.stream.arff import ArffError, load_arff

    log = log or (lambda msg: None)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ReportError(f"no such data directory: {data_dir}")
    if not datasets:
        raise ReportError("no data set to run")
    if peer_limit is not None and peer_limit < 1:
        raise ReportError("--peer-limit must be >= 1")
    if pairs < 1:
        raise ReportError("--peer-pairs must be >= 1")
    paths = {name: _find(data_dir, name) for name in dict.fromkeys([*datasets, *ablation])}
    limit = QUICK_INSTANCES if quick else None
    if quick and peer_limit is None:
        peer_limit = QUICK_PEER_INSTANCES

    t_wall = time.perf_counter()
    meta: dict[str, Any] = {
        "command": command,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "loadavg_start": _loadavg(),
        "versions": _versions(),
        "git_commit": _git_commit(),
        "quick": quick,
        "instances_limit": limit,
        "warmup": "one untimed pass of every learner, ours and the peers alike (and of "
        "each ablation variant), over the instances it is then timed on",
        "timing": "one timed run of each",
        "peer_rule": (
            {"kind": "fixed", "peer_limit": peer_limit}
            if peer_limit is not None
            else {"kind": "pairs", "pairs": pairs}
        ),
        "learners": [*OURS, *PEERS],
        "datasets": list(datasets),
    }
    log(f"bench-report: {len(datasets)} data sets, machine {meta['machine']}")
    log(f"load average at start: {meta['loadavg_start']}")

    def load(name: str) -> Any:
        try:
            return load_arff(paths[name], limit=limit, name=name)
        except ArffError as exc:
            raise ReportError(str(exc)) from None

    per_dataset = []
    for name in datasets:
        ds = load(name)
        n, L = len(ds), ds.schema.n_labels
        p = peer_instances(n, L, peer_limit=peer_limit, pairs=pairs)
        log(
            f"{name}: {n:,} instances, {ds.schema.n_features:,} features, {L} labels; "
            f"peers on {p:,} ({'whole stream' if p == n else 'prefix'})"
        )
        t0 = time.perf_counter()
        runs = bench(  # each learner makes an untimed pass first (warm-up)
            ds,
            [*OURS, *PEERS],
            peer_limit=p,
            progress=_progress(log),
            curve_points=0,
        )
        per_dataset.append(
            {
                "dataset": name,
                "file": paths[name].name,
                "instances": n,
                "features": ds.schema.n_features,
                "labels": L,
                "sparse": bool(ds.schema.sparse),
                "peer_instances": p,
                "wall_seconds": time.perf_counter() - t0,
                "runs": runs,
            }
        )
        del ds

    ablation_rows = []
    ablation_shapes: dict[str, dict[str, Any]] = {}
    for name in ablation:
        ds = load(name)
        log(f"ablation on {name}: {len(ds):,} instances, {ds.schema.n_labels} labels")
        ablation_shapes[name] = {
            "instances": len(ds),
            "labels": ds.schema.n_labels,
            "sparse": bool(ds.schema.sparse),
        }
        variants = ablation_variants(1)[:1]  # the default first: it fixes the random k
        i = 0
        while i < len(variants):
            variant, desc, params = variants[i]
            warm_up("ihomer", ds, params)
            model = make_learner("ihomer", params)
            res = prequential(model, ds, curve_points=0, name=f"ihomer[{variant}]")
            d = res.to_dict(curve=False)
            k = _clusters_at_end(model)
            if i == 0:
                variants += ablation_variants(k)[1:]
            i += 1
            info = model.describe()
            d.update(
                {
                    "variant": variant,
                    "description": desc,
                    "clusters_at_end": k,
                    "n_restructures": info.get("n_restructures"),
                    "n_global_drifts": info.get("n_global_drifts"),
                }
            )
            log(
                f"  {variant}: micro-F1 {d['micro_f1']:.4f}, subset {d['subset_accuracy']:.4f}, "
                f"{k} clusters, {d['instances_per_second']:,.0f} inst/s"
            )
            ablation_rows.append(d)
        del ds

    meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["wall_seconds"] = time.perf_counter() - t_wall
    meta["loadavg_end"] = _loadavg()
    log(f"load average at end: {meta['loadavg_end']}; wall {meta['wall_seconds']:.0f} s")
    report: dict[str, Any] = {
        "meta": meta,
        "datasets": per_dataset,
        "ablation": {"datasets": list(ablation), "shapes": ablation_shapes, "runs": ablation_rows},
    }
    report["averages"] = averages(report)
    report["bars"] = acceptance(report)
    return report


# ----------------------------------------------------------------------------- analysis
def _main_run(entry: dict[str, Any], learner: str) -> dict[str, Any] | None:
    for r in entry["runs"]:
        if r["learner"] == learner and r["run"] == "main":
            return r
    return None


def _same_instances(entry: dict[str, Any], learner: str, n: int) -> dict[str, Any] | None:
    for r in entry["runs"]:
        if r["learner"] == learner and r["instances"] == n:
            return r
    return None


def _whole(entry: dict[str, Any], learner: str) -> dict[str, Any] | None:
    r = _main_run(entry, learner)
    return r if r is not None and r["instances"] == entry["instances"] else None


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def averages(report: dict[str, Any]) -> dict[str, Any]:
    """Means over the data sets of the whole-stream runs.

    ``learners[name]``: every metric of ``name`` averaged over the data sets where it ran the
    whole stream (``datasets`` lists them), plus ``instances_per_second`` = all instances / all
    timed seconds. ``common``: the same for every learner over the data sets where all of them
    ran the whole stream. ``published``: the MLHAT column of :func:`published` over the data sets
    of the run that have a value.
    """
    entries = report["datasets"]
    learners: dict[str, Any] = {}
    for name in (*OURS, *PEERS):
        runs = [(e["dataset"], _whole(e, name)) for e in entries]
        runs = [(d, r) for d, r in runs if r is not None]
        if not runs:
            continue
        out: dict[str, Any] = {"datasets": [d for d, _ in runs]}
        for key, _, _ in METRICS:
            out[key] = _mean([r[key] for _, r in runs])
        secs = math.fsum(r["seconds"] for _, r in runs)
        out["instances_per_second"] = sum(r["instances"] for _, r in runs) / secs if secs else 0.0
        learners[name] = out
    common_ds = [e["dataset"] for e in entries if all(_whole(e, n) for n in (*OURS, *PEERS))]
    common: dict[str, Any] = {"datasets": common_ds, "learners": {}}
    if common_ds:
        by = {e["dataset"]: e for e in entries}
        for name in (*OURS, *PEERS):
            common["learners"][name] = {
                key: _mean([_whole(by[d], name)[key] for d in common_ds]) for key, _, _ in METRICS
            }
    pub: dict[str, Any] = {}
    for key, _, _ in METRICS:
        vals = [
            (e["dataset"], published().get(e["dataset"], {}).get(key))
            for e in entries
            if published().get(e["dataset"], {}).get(key) is not None
        ]
        if vals:
            pub[key] = {
                "mlhat": _mean([v[0] for _, v in vals]),
                "datasets": [d for d, _ in vals],
            }
    return {"learners": learners, "common": common, "published": pub}


def _bar(text: str, measured: str, ok: bool | None, scope: str, values: Any) -> dict[str, Any]:
    verdict = "N/A" if ok is None else ("PASS" if ok else "FAIL")
    return {
        "bar": text,
        "measured": measured,
        "verdict": verdict,
        "scope": scope,
        "values": values,
    }


def acceptance(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The acceptance bars, each named by what it checks, with a verdict computed from the
    numbers: :data:`AVERAGE_BARS`, iHOMER against MLHAT, the speed ratios against ``br-ht``
    (:data:`SPEEDUP_BAR`), MLHAT's micro-F1 against ``br-ht``'s, iHOMER's speed on yeast.

    ``bar`` is what is checked, ``measured`` the figures; ``verdict`` is ``PASS``/``FAIL``, or ``N/A`` when a needed run is missing (a data set not
    in the run). ``scope`` says what the numbers cover (all 14 data sets on the whole stream is
    the acceptance; a subset or ``--quick`` is not).
    """
    meta = report["meta"]
    avg = report["averages"]["learners"]
    by = {e["dataset"]: e for e in report["datasets"]}
    quick = " (--quick prefixes: NOT the acceptance run)" if meta.get("quick") else ""
    bars = []

    def avg_scope(name: str) -> str:
        n = len(avg.get(name, {}).get("datasets", []))
        k = len([d for d in avg.get(name, {}).get("datasets", []) if d in ACCEPTANCE_DATASETS])
        full = k == len(ACCEPTANCE_DATASETS) and n == k
        return (
            f"average over {n} data set(s), whole stream"
            + ("" if full else f" ({k} of the 14 of the acceptance)")
            + quick
        )

    def avg_bar(name: str, key: str, op: str, bar: float) -> None:
        a = avg.get(name)
        text = f"{name}: average {_TITLE[key]} {op} {bar:g}"
        if a is None:
            bars.append(_bar(text, "not run", None, "", None))
            return
        v = a[key]
        # a mean of values equal to the bar may land 1 ulp below it: floating-point noise
        ok = v >= bar - _EPS if op == "≥" else v <= bar + _EPS
        bars.append(_bar(text, f"{v:.4f}", ok, avg_scope(name), v))

    for bar in AVERAGE_BARS:
        avg_bar(*bar)
    for key in ("micro_f1", "subset_accuracy"):
        text = f"ihomer beats mlhat on average {_TITLE[key]}"
        a, b = avg.get("ihomer"), avg.get("mlhat")
        if a is None or b is None or a["datasets"] != b["datasets"]:
            bars.append(_bar(text, "not comparable", None, "", None))
        else:
            bars.append(
                _bar(
                    text,
                    f"{a[key]:.4f} vs {b[key]:.4f}",
                    a[key] > b[key],
                    avg_scope("ihomer"),
                    [a[key], b[key]],
                )
            )

    # speed: ours vs br-ht over the same instances, on the 4 data sets of the acceptance
    missing = [d for d in SPEED_DATASETS if d not in by]
    for name in ("mlhat", "ihomer"):
        text = f"{name} ≥ {SPEEDUP_BAR:g}× the instances/s of br-ht on {', '.join(SPEED_DATASETS)}"
        ratios: dict[str, float | None] = {}
        for d in SPEED_DATASETS:
            if d not in by:
                continue
            peer = _main_run(by[d], "br-ht")
            ours = _same_instances(by[d], name, peer["instances"]) if peer else None
            ratios[d] = None if ours is None else ours.get("speedup_vs_br-ht")
        measured = (
            ", ".join(f"{d} {'—' if v is None else f'{v:,.1f}×'}" for d, v in ratios.items())
            or "not run"
        )
        ok = None
        if not missing and all(v is not None for v in ratios.values()):
            ok = all(v >= SPEEDUP_BAR for v in ratios.values())
        scope = "same instances as br-ht (its whole stream or its prefix)" + quick
        if missing:
            scope = f"missing data set(s): {', '.join(missing)}" + quick
        bars.append(_bar(text, measured, ok, scope, ratios))

    text = f"mlhat micro-F1 ≥ br-ht's on at least 3 of {', '.join(SPEED_DATASETS)}"
    wins: dict[str, list[float]] = {}
    for d in SPEED_DATASETS:
        if d not in by:
            continue
        peer = _main_run(by[d], "br-ht")
        ours = _same_instances(by[d], "mlhat", peer["instances"]) if peer else None
        if peer and ours:
            wins[d] = [ours["micro_f1"], peer["micro_f1"]]
    n_wins = sum(1 for a, b in wins.values() if a >= b)
    ok = None if missing or len(wins) < len(SPEED_DATASETS) else n_wins >= 3
    measured = "not run"
    if wins:
        measured = f"{n_wins} of {len(wins)}: " + ", ".join(
            f"{d} {a:.4f} vs {b:.4f}" for d, (a, b) in wins.items()
        )
    scope = "same instances as br-ht" + quick
    if missing:
        scope = f"missing data set(s): {', '.join(missing)}" + quick
    bars.append(_bar(text, measured, ok, scope, wins))

    text = f"ihomer on yeast, whole stream: ≥ {YEAST_IPS_BAR:,.0f} instances/s"
    r = _whole(by["yeast"], "ihomer") if "yeast" in by else None
    if r is None:
        bars.append(_bar(text, "not run", None, "yeast not in the run", None))
    else:
        v = r["instances_per_second"]
        bars.append(
            _bar(
                text,
                f"{v:,.0f} inst/s",
                v >= YEAST_IPS_BAR,
                f"{r['instances']:,} instances, timed predict+learn" + quick,
                v,
            )
        )
    return bars


# ----------------------------------------------------------------------------- markdown
def _f(v: float | None, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _ips(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def _ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f}×"


def _table(head: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(head) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(sep) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _cmd(meta: dict[str, Any]) -> str:
    return meta.get("command") or "streamlearn bench-report"


def render_markdown(report: dict[str, Any]) -> str:
    """The report as markdown (``docs/benchmarks.md``)."""
    meta = report["meta"]
    entries = report["datasets"]
    avg = report["averages"]
    mach = meta["machine"]
    n_ds = len(entries)
    L: list[str] = []
    add = L.append

    add("# Benchmarks")
    add("")
    add(
        "<!-- Generated by `streamlearn bench-report`: do not edit by hand, re-run the command. -->"
    )
    add("")
    if meta.get("quick"):
        add(
            f"> **QUICK SMOKE RUN**: the first {meta['instances_limit']:,} instances of each data "
            "set only. These are not the acceptance figures."
        )
        add("")
    add(
        f"Whole-stream prequential results of streamlearn's learners (`ihomer`, `mlhat`) beside "
        f"the River peers `br-ht` and `cc-lr` on {n_ds} benchmark data set(s), the published "
        "results of the MLHAT study beside them, the acceptance bars, and an "
        "ablation of iHOMER's label partition."
    )
    add("")

    # ------------------------------------------------------------------ how
    add("## How this was produced")
    add("")
    add("```")
    add(_cmd(meta))
    add("```")
    add("")
    la0, la1 = meta.get("loadavg_start"), meta.get("loadavg_end")
    v = meta["versions"]
    add(
        f"- **Date**: {meta['started']} → {meta.get('finished', '?')} (UTC); wall time of the "
        f"whole command {meta.get('wall_seconds', 0) / 60:.1f} min."
    )
    add(
        f"- **Machine**: `nproc` = {mach['nproc']}, CPU {mach['cpu_model'] or 'unknown'}, "
        f"{mach['platform']}, Python {mach['python']}."
    )
    add(
        f"- **Load average** (1, 5, 15 min) at start {la0}, at end {la1}. The machine is shared "
        "with other jobs: **absolute instances/s are pessimistic under load**. The speed *ratios* "
        "stay meaningful: the learners run one after the other in the same process on the same "
        "instances, under the same conditions."
    )
    add(
        "- **Versions**: "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + (f"; git commit `{meta['git_commit']}`" if meta.get("git_commit") else "")
        + "."
    )
    add(
        "- **Protocol** ([evaluation.md](evaluation.md)): every learner at its defaults; the "
        "stream is loaded once before any timing, each learner fed its natural form (arrays for "
        "ours, dicts for River peers, prepared before the clock starts); strict per-instance "
        "test-then-train over every instance, in file order; only predict+learn is timed; "
        "metrics are the final cumulative values (macro-F1 counts a label never true and never "
        "predicted as 0; example-F1 of an empty/empty instance is 0)."
    )
    rule = meta["peer_rule"]
    if rule["kind"] == "pairs":
        rule_txt = (
            f"the first `min(n, ceil({rule['pairs']:,} / n_labels))` instances: a budget of "
            f"{rule['pairs']:,} (instance, label) pairs, since binary relevance and the chain "
            "keep one River model per label. The rule depends only on the data's shape and is "
            "fixed before anything runs (never on results)"
        )
    else:
        rule_txt = f"the first `min(n, {rule['peer_limit']:,})` instances (`--peer-limit`)"
    add(
        f"- **Peers' prefix rule**: `ihomer` and `mlhat` always run the whole stream. `br-ht` "
        f"and `cc-lr` run {rule_txt}. When that is less than the whole stream, `ihomer` and "
        "`mlhat` are run again from scratch on the same prefix, and every speed ratio is "
        "computed between runs over the very same instances."
    )
    add(
        f"- **Warm-up and timing**: {meta['warmup']}, so one-off costs (for ours numba's: "
        "loading compiled kernels from the cache on their first call in the process) are "
        f"never counted as learning time; then {meta.get('timing', 'one timed run of each')}."
    )
    add(
        "- **Published** values: whole-stream prequential tables of the MLHAT study (Esteban, "
        "Cano, Zafra, Ventura, KBS 2024; github aestebant/mlhat `results/`): the MLHAT column "
        "and the best of its 17 methods. They do not report example-F1. Their averages here are "
        "computed from the per-data-set values as published (4 decimals), so they may differ by "
        "one unit in the last digit from averages quoted elsewhere (micro-F1 over the 14: 0.50155)."
    )
    add("")

    # ------------------------------------------------------------------ acceptance
    add("## Acceptance bars")
    add("")
    add("Verdicts are computed from the measured numbers of this run.")
    add("")
    rows = [[b["bar"], b["measured"], f"**{b['verdict']}**", b["scope"]] for b in report["bars"]]
    L += _table(["bar", "measured", "verdict", "scope"], rows, "llll")
    add("")

    # ------------------------------------------------------------------ averages
    add(f"## Averages over the {n_ds} data set(s) (whole-stream runs only)")
    add("")
    learners = avg["learners"]
    ours_cols = [n for n in OURS if n in learners]
    head = ["metric", *[f"`{n}`" for n in ours_cols], "published MLHAT"]
    rows = []
    for key, title, _ in METRICS:
        pub = avg["published"].get(key)
        pub_txt = "—"
        if pub:
            k = len(pub["datasets"])
            pub_txt = _f(pub["mlhat"]) + ("" if k == n_ds else f" ({k} data sets)")
        rows.append([title, *[_f(learners[n][key]) for n in ours_cols], pub_txt])
    rows.append(
        [
            "instances/s (all instances / all timed seconds)",
            *[_ips(learners[n]["instances_per_second"]) for n in ours_cols],
            "—",
        ]
    )
    L += _table(head, rows)
    add("")
    for name in PEERS:
        if name in learners:
            k = len(learners[name]["datasets"])
            if k < n_ds:
                add(f"`{name}` ran the whole stream on {k} of the {n_ds} data sets only.")
    common = avg["common"]
    if common["datasets"]:
        add("")
        if len(common["datasets"]) < n_ds:
            add(
                f"All four learners on the {len(common['datasets'])} data sets where the peers "
                f"ran the whole stream ({', '.join(common['datasets'])}):"
            )
        else:
            add("The peers ran the whole stream on every data set:")
        add("")
        head = ["metric", *[f"`{n}`" for n in common["learners"]]]
        rows = [
            [title, *[_f(common["learners"][n][key]) for n in common["learners"]]]
            for key, title, _ in METRICS
        ]
        L += _table(head, rows)
    add("")

    # ------------------------------------------------------------------ speed
    add("## Speed over the same instances")
    add("")
    add(
        "Instances/s of each learner over the instances the peers ran (the whole stream or the "
        "prefix of the rule), and the ratios `ours / peer` of those runs (peer seconds / our "
        "seconds)."
    )
    add("")
    head = [
        "data set",
        "instances",
        "`br-ht`",
        "`cc-lr`",
        "`ihomer`",
        "`mlhat`",
        "ihomer ÷ br-ht",
        "mlhat ÷ br-ht",
        "ihomer ÷ cc-lr",
        "mlhat ÷ cc-lr",
    ]
    rows = []
    for e in entries:
        p = e["peer_instances"]
        runs = {n: _same_instances(e, n, p) for n in (*OURS, *PEERS)}
        tag = "whole" if p == e["instances"] else f"prefix of {e['instances']:,}"
        rows.append(
            [
                e["dataset"],
                f"{p:,} ({tag})",
                *[_ips(runs[n] and runs[n]["instances_per_second"]) for n in ("br-ht", "cc-lr")],
                *[_ips(runs[n] and runs[n]["instances_per_second"]) for n in OURS],
                *[
                    _ratio(runs[n] and runs[n].get(f"speedup_vs_{peer}"))
                    for peer in PEERS
                    for n in OURS
                ],
            ]
        )
    L += _table(head, rows)
    add("")

    # ------------------------------------------------------------------ overview
    add("## Overview: micro-F1 and subset accuracy")
    add("")
    add(
        "Whole-stream runs; a peer that ran a prefix shows its value on that prefix in italics "
        "(not comparable with the whole-stream values)."
    )
    add("")
    for key in ("micro_f1", "subset_accuracy"):
        head = [
            "data set",
            *[f"`{n}`" for n in (*OURS, *PEERS)],
            "published MLHAT",
            "best published",
        ]
        rows = []
        for e in entries:
            cells = [e["dataset"]]
            for n in (*OURS, *PEERS):
                r = _main_run(e, n)
                if r is None:
                    cells.append("—")
                elif r["instances"] == e["instances"]:
                    cells.append(_f(r[key]))
                else:
                    cells.append(f"*{_f(r[key])}* ({r['instances']:,})")
            pub = published().get(e["dataset"], {}).get(key)
            cells.append(_f(pub[0]) if pub else "—")
            cells.append(f"{_f(pub[2])} ({pub[1]})" if pub else "—")
            rows.append(cells)
        add(f"**{_TITLE[key]}**")
        add("")
        L += _table(head, rows)
        add("")

    # ------------------------------------------------------------------ per data set
    add("## Per data set")
    add("")
    for e in entries:
        kind = "sparse" if e["sparse"] else "dense"
        add(
            f"### {e['dataset']}: {e['instances']:,} instances, {e['features']:,} features, "
            f"{e['labels']} labels, {kind}"
        )
        add("")
        head = [
            "learner",
            "instances",
            *[t for _, t, _ in METRICS],
            "inst/s",
            "× br-ht",
            "× cc-lr",
        ]
        rows = []
        order = sorted(
            e["runs"],
            key=lambda r: (r["instances"] != e["instances"], r["run"] != "main"),
        )
        for r in order:
            whole = r["instances"] == e["instances"]
            rows.append(
                [
                    f"`{r['learner']}`",
                    f"{r['instances']:,}" + (" (whole)" if whole else " (prefix)"),
                    *[_f(r[k]) for k, _, _ in METRICS],
                    _ips(r["instances_per_second"]),
                    _ratio(r.get("speedup_vs_br-ht")),
                    _ratio(r.get("speedup_vs_cc-lr")),
                ]
            )
        pub = published().get(e["dataset"])
        if pub:
            rows.append(
                [
                    "published MLHAT",
                    "whole",
                    *[_f(pub[k][0]) if pub.get(k) else "—" for k, _, _ in METRICS],
                    "",
                    "",
                    "",
                ]
            )
            rows.append(
                [
                    "best published",
                    "whole",
                    *[
                        f"{_f(pub[k][2])} ({pub[k][1]})" if pub.get(k) else "—"
                        for k, _, _ in METRICS
                    ],
                    "",
                    "",
                    "",
                ]
            )
        L += _table(head, rows)
        add("")

    # ------------------------------------------------------------------ ablation
    ab = report["ablation"]
    add("## Ablation of iHOMER's label partition")
    add("")
    if not ab["runs"]:
        add("Not run (no ablation data set).")
        add("")
    else:
        shapes = ab.get("shapes", {})
        desc = ""
        if shapes:
            labels = [v["labels"] for v in shapes.values()]
            sizes = [v["instances"] for v in shapes.values()]
            kinds = sorted({"sparse" if v["sparse"] else "dense" for v in shapes.values()})
            desc = (
                f" ({min(labels)} to {max(labels)} labels, {min(sizes):,} to {max(sizes):,} "
                f"instances, {' and '.join(kinds)})"
            )
        add(
            f"iHOMER on the whole stream of {', '.join(ab['datasets'])}{desc}, every other "
            "parameter at its default. Variants:"
        )
        add("")
        seen: set[str] = set()
        for r in ab["runs"]:
            if r["variant"] not in seen:
                seen.add(r["variant"])
                desc = r["description"]
                if r["variant"] == "random":
                    desc = (
                        'partition="random" with n_random_clusters = the number of clusters '
                        "the default (Jaccard ODAC) run ended with on that data set (seeded, "
                        "fixed for the whole stream)"
                    )
                add(f"- `{r['variant']}`: {desc}")
        add("")
        add(
            "`clusters` = clusters iHOMER predicts with at the end (trees that own labels); "
            "`restr.` = restructures, `drifts` = global drifts. When the default ends with one "
            "cluster, `random` is the single tree too."
        )
        add("")
        head = [
            "data set",
            "variant",
            *[t for _, t, _ in METRICS],
            "inst/s",
            "clusters",
            "restr.",
            "drifts",
        ]
        rows = []
        for r in ab["runs"]:
            rows.append(
                [
                    r["dataset"],
                    f"`{r['variant']}`",
                    *[_f(r[k]) for k, _, _ in METRICS],
                    _ips(r["instances_per_second"]),
                    str(r["clusters_at_end"]),
                    str(r.get("n_restructures", "—")),
                    str(r.get("n_global_drifts", "—")),
                ]
            )
        L += _table(head, rows, "ll" + "r" * (len(head) - 2))
        add("")
        variants = list(dict.fromkeys(r["variant"] for r in ab["runs"]))
        head = ["variant", *[t for _, t, _ in METRICS]]
        rows = []
        for vname in variants:
            rs = [r for r in ab["runs"] if r["variant"] == vname]
            rows.append([f"`{vname}`", *[_f(_mean([r[k] for r in rs])) for k, _, _ in METRICS]])
        add(f"Mean over the {len(ab['datasets'])} ablation data set(s):")
        add("")
        L += _table(head, rows)
        add("")

    add("## Reproduce")
    add("")
    add(
        "Run the command above from the repository root (about "
        f"{meta.get('wall_seconds', 0) / 60:.0f} min here). `--json FILE` writes every raw "
        "result dict; `--datasets a,b` and `--ablation a,b` choose data sets; `--peer-limit N` "
        "caps the peers at N instances instead of the pairs rule; `--quick` is a smoke run on "
        f"the first {QUICK_INSTANCES} instances of each data set; `--from-json FILE` re-renders "
        "this page from the JSON of a run without running anything."
    )
    add("")
    return "\n".join(L)
