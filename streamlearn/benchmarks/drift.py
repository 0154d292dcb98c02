"""``streamlearn bench-drift``: quality, River equivalence and speed of every detector.

For each detector (River's default parameters; KSWIN with ``seed=42``):

* quality (:func:`quality`) on :func:`~streamlearn.drift.streams.drift_suite` streams with known
  drift points (binary detectors on the Bernoulli error streams only): mean detection delay,
  false alarms, missed drifts (:func:`~streamlearn.drift.streams.score_detections`,
  ``max_delay`` = a fifth of the stream);
* equivalence: River's detector run point by point on the same streams, side by side;
  ``equivalent_streams`` counts the streams with identical detection (and warning) indices;
* speed (:func:`speed`) over the same ``n`` values: River's per-point loop, our per-point
  ``update`` loop and our ``update_many``; and River's usual pattern (``update`` then read
  ``drift_detected``) for River and us over the first 200,000 of them (``*_check_*``).

Speed is like for like: every contender (River's and ours) first runs untimed on 10 values
(imports, compilation), then all of them are timed ``repeat`` times, interleaved (one run of
each in turn per repetition), each run on a fresh detector; the figure of each is the **median**
of its ``repeat`` runs (every run is in ``*_runs``). Times are the CPU time of the measuring
thread (``time.thread_time``), so other processes sharing the cores disturb them less. River's
KSWIN is slow (a Kolmogorov-Smirnov test per update), so KSWIN uses ``kswin_n`` values and
shorter quality streams (given in its row). Every figure in a row is measured or counted in
that run.

The command is registered by :mod:`streamlearn.benchmarks.commands`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamlearn.drift.streams import (
    bernoulli_stream,
    drift_suite,
    gaussian_stream,
    score_detections,
)

__all__ = ["DETECTORS", "QUALITY_KEYS", "format_table", "quality", "run_bench", "speed"]

#: Figures of :func:`quality` that depend on the streams only (not on timing).
QUALITY_KEYS = ("equivalent_streams", "streams", "mean_delay", "false_alarms", "missed", "drifts")
#: River's usual pattern (update, then read ``drift_detected``) is timed on this many values.
CHECK_N = 200_000


@dataclass(frozen=True)
class _Spec:
    name: str
    ours: Callable[[], Any]
    river: Callable[[], Any]
    binary: bool
    warnings: bool
    params: dict = field(default_factory=dict)


def _specs() -> list[_Spec]:
    from river import drift as rd

    import streamlearn.drift as sd

    return [
        _Spec("ADWIN", sd.ADWIN, rd.ADWIN, binary=False, warnings=False),
        _Spec("PageHinkley", sd.PageHinkley, rd.PageHinkley, binary=False, warnings=False),
        _Spec("DDM", sd.DDM, rd.binary.DDM, binary=True, warnings=True),
        _Spec("EDDM", sd.EDDM, rd.binary.EDDM, binary=True, warnings=True),
        _Spec("HDDM_A", sd.HDDM_A, rd.binary.HDDMA, binary=True, warnings=True),
        _Spec(
            "KSWIN",
            lambda: sd.KSWIN(seed=42),
            lambda: rd.KSWIN(seed=42),
            binary=False,
            warnings=False,
            params={"seed": 42},
        ),
    ]


DETECTORS = ("ADWIN", "PageHinkley", "DDM", "EDDM", "HDDM_A", "KSWIN")


def _spec(detector: str) -> _Spec:
    for spec in _specs():
        if spec.name == detector:
            return spec
    raise ValueError(f"unknown detector {detector!r}; choose from {DETECTORS}")


def _river_run(det: Any, values: Sequence[float], warnings: bool) -> tuple[list[int], list[int]]:
    drifts: list[int] = []
    warns: list[int] = []
    for i, x in enumerate(values):
        det.update(x)
        if det.drift_detected:
            drifts.append(i)
        if warnings and det.warning_detected:
            warns.append(i)
    return drifts, warns


def _timed(fn: Callable[[], Any]) -> float:
    """CPU time of this thread (robust to other processes competing for the cores)."""
    t = time.thread_time()
    fn()
    return time.thread_time() - t


def _loop(update: Callable[[float], Any], xs: list[float]) -> None:
    for x in xs:
        update(x)


def _loop_check(det: Any, xs: list[float]) -> int:
    """River's usual pattern: update, then read ``drift_detected``."""
    update = det.update
    n = 0
    for x in xs:
        update(x)
        if det.drift_detected:
            n += 1
    return n


def _speed_values(n: int, gaussian: bool, seed: int) -> np.ndarray:
    n_drifts = max(0, n // 100_000 - 1)
    drifts = [(j + 1) * (n // (n_drifts + 1)) for j in range(n_drifts)]
    if gaussian:
        return gaussian_stream(
            n, [float(j % 2) for j in range(n_drifts + 1)], 1.0, drifts, seed=seed
        ).values
    return bernoulli_stream(
        n, [0.1 if j % 2 == 0 else 0.3 for j in range(n_drifts + 1)], drifts, seed=seed
    ).values


def quality(detector: str, *, streams: int, stream_length: int, seed: int) -> dict[str, Any]:
    """Detection quality of our ``detector`` and its equivalence with River's on ``streams``
    suite streams of ``stream_length`` (see the module doc); no timing."""
    spec = _spec(detector)
    families = ("bernoulli",) if spec.binary else ("bernoulli", "gaussian")
    suite = drift_suite(streams, n=stream_length, seed=seed, families=families)
    equivalent = 0
    delays: list[int] = []
    false_alarms = missed = n_drifts = 0
    for s in suite:
        ours = spec.ours()
        if spec.warnings:
            d_ours, w_ours = ours.update_many(s.values, warnings=True)
        else:
            d_ours, w_ours = ours.update_many(s.values), np.zeros(0, np.int64)
        d_river, w_river = _river_run(spec.river(), s.values.tolist(), spec.warnings)
        if d_ours.tolist() == d_river and w_ours.tolist() == w_river:
            equivalent += 1
        score = score_detections(d_ours, s, max_delay=max(1, len(s) // 5))
        delays += score["delays"]
        false_alarms += score["false_alarms"]
        missed += score["missed"]
        n_drifts += len(s.drifts)
    return {
        "equivalent_streams": equivalent,
        "streams": len(suite),
        "mean_delay": round(float(np.mean(delays)), 1) if delays else None,
        "false_alarms": false_alarms,
        "missed": missed,
        "drifts": n_drifts,
        "stream_length": stream_length,
        "families": list(families),
        "seed": seed,
    }


def speed(detector: str, values: np.ndarray, *, repeat: int = 3) -> dict[str, Any]:
    """ns per update of River's loop and ours (see the module doc): medians of ``repeat``
    interleaved runs, every run in ``*_runs``."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    spec = _spec(detector)
    xs = values.tolist()
    xc = xs[: min(len(xs), CHECK_N)]
    contenders: dict[str, tuple[int, Callable[[], Any]]] = {
        "river": (len(xs), lambda: _loop(spec.river().update, xs)),
        "single": (len(xs), lambda: _loop(spec.ours().update, xs)),
        "array": (len(xs), lambda: spec.ours().update_many(values)),
        "river_check": (len(xc), lambda: _loop_check(spec.river(), xc)),
        "single_check": (len(xc), lambda: _loop_check(spec.ours(), xc)),
    }
    # untimed, for every contender alike: imports, numba compilation or cache loading
    _loop(spec.river().update, xs[:10])
    _loop(spec.ours().update, xs[:10])
    spec.ours().update_many(values[:10])
    _loop_check(spec.river(), xc[:10])
    _loop_check(spec.ours(), xc[:10])
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, (n, fn) in contenders.items():
            runs[name].append(_timed(fn) / n * 1e9)
    ns = {name: statistics.median(r) for name, r in runs.items()}
    return {
        "array_speedup_vs_river": round(ns["river"] / ns["array"], 1),
        "single_speedup_vs_river": round(ns["river"] / ns["single"], 2),
        "single_check_speedup_vs_river": round(ns["river_check"] / ns["single_check"], 2),
        "river_ns_per_update": round(ns["river"], 1),
        "single_ns_per_update": round(ns["single"], 1),
        "array_ns_per_update": round(ns["array"], 2),
        "river_check_ns_per_update": round(ns["river_check"], 1),
        "single_check_ns_per_update": round(ns["single_check"], 1),
        "speed_n": len(xs),
        "check_n": len(xc),
        "repeat": repeat,
        "statistic": f"median of {repeat} interleaved runs (thread CPU time)",
        **{f"{name}_ns_runs": [round(v, 2) for v in r] for name, r in runs.items()},
    }


def run_bench(
    n: int = 1_000_000,
    streams: int = 50,
    seed: int = 0,
    stream_length: int = 5000,
    kswin_n: int = 5000,
    kswin_stream_length: int = 1000,
    detectors: Sequence[str] = DETECTORS,
    repeat: int = 3,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """The report's rows, one per detector (see module doc)."""
    unknown = set(detectors) - set(DETECTORS)
    if unknown:
        raise ValueError(f"unknown detectors {sorted(unknown)}; choose from {DETECTORS}")
    rows = []
    for name in DETECTORS:
        if name not in detectors:
            continue
        if progress:
            progress(name)
        is_kswin = name == "KSWIN"
        size = min(n, kswin_n) if is_kswin else n
        length = kswin_stream_length if is_kswin else stream_length
        row: dict[str, Any] = {"detector": name}
        row.update(quality(name, streams=streams, stream_length=length, seed=seed))
        row.update(speed(name, _speed_values(size, gaussian=is_kswin, seed=seed), repeat=repeat))
        row["speed_stream"] = (
            f"{'gaussian' if is_kswin else 'bernoulli'} {size} values, drift every 100k"
        )
        if _spec(name).params:
            row["params"] = _spec(name).params
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the report (speed: the medians; the statistic in the last line)."""
    head = (
        "| detector | equivalent / streams | delay | false alarms | missed / drifts | "
        "River ns/update | update ns | update_many ns | single speed-up | array speed-up | "
        "update+check speed-up |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['detector']} | {r['equivalent_streams']} / {r['streams']} | "
            f"{r['mean_delay']} | {r['false_alarms']} | {r['missed']} / {r['drifts']} | "
            f"{r['river_ns_per_update']:,.0f} | {r['single_ns_per_update']:,.0f} | "
            f"{r['array_ns_per_update']:,.1f} | {r['single_speedup_vs_river']}x | "
            f"{r['array_speedup_vs_river']}x | {r['single_check_speedup_vs_river']}x |"
        )
    statistics_used = sorted({r["statistic"] for r in rows})
    if statistics_used:
        lines.append("")
        lines.append(f"Speed: {'; '.join(statistics_used)}, River and ours alike.")
    return "\n".join(lines)
