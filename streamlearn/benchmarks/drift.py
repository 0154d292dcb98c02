"""``streamlearn bench-drift``: quality, River equivalence and speed of every detector.

For each detector (River's default parameters; KSWIN with ``seed=42``):

* quality on :func:`~streamlearn.drift.streams.drift_suite` streams with known drift points
  (binary detectors on the Bernoulli error streams only): mean detection delay, false alarms,
  missed drifts (:func:`~streamlearn.drift.streams.score_detections`, ``max_delay`` = a fifth
  of the stream);
* equivalence: River's detector run point by point on the same streams, side by side;
  ``equivalent_streams`` counts the streams with identical detection (and warning) indices;
* speed over the same ``n`` values in the same run: River's per-point loop, our per-point
  ``update`` loop and our ``update_many``; and River's usual pattern (``update`` then read
  ``drift_detected``) for River and us over the first 200,000 of them (``*_check_*``).
  Times are the CPU time of the measuring thread (``time.thread_time``), so other processes
  sharing the cores disturb them less; ours are the best of 2-3 runs, River's one run. KSWIN's River loop costs ~0.3 ms per update, so
  KSWIN uses ``kswin_n`` values and shorter quality streams (reported in its row).

The command is registered by :mod:`streamlearn.benchmarks.commands`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamlearn.drift.streams import (
    DriftStream,
    bernoulli_stream,
    drift_suite,
    gaussian_stream,
    score_detections,
)

__all__ = ["DETECTORS", "format_table", "run_bench"]


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


def bench_detector(
    spec: _Spec,
    streams: list[DriftStream],
    speed_values: np.ndarray,
    speed_stream: str,
) -> dict[str, Any]:
    """One row of the report (see module doc)."""
    equivalent = 0
    delays: list[int] = []
    false_alarms = missed = n_drifts = 0
    for s in streams:
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

    xs = speed_values.tolist()
    n = len(xs)
    spec.ours().update_many(speed_values[:10])  # compile / load outside the timings
    _loop(spec.ours().update, xs[:10])
    t_river = _timed(lambda: _loop(spec.river().update, xs))
    t_single = min(_timed(lambda: _loop(spec.ours().update, xs)) for _ in range(2))
    t_array = min(_timed(lambda: spec.ours().update_many(speed_values)) for _ in range(3))
    xc = xs[: min(n, 200_000)]
    t_river_check = _timed(lambda: _loop_check(spec.river(), xc))
    t_single_check = min(_timed(lambda: _loop_check(spec.ours(), xc)) for _ in range(2))
    row: dict[str, Any] = {
        "detector": spec.name,
        "equivalent_streams": equivalent,
        "streams": len(streams),
        "array_speedup_vs_river": round(t_river / t_array, 1),
        "single_speedup_vs_river": round(t_river / t_single, 2),
        "mean_delay": round(float(np.mean(delays)), 1) if delays else None,
        "false_alarms": false_alarms,
        "missed": missed,
        "drifts": n_drifts,
        "river_ns_per_update": round(t_river / n * 1e9, 1),
        "single_ns_per_update": round(t_single / n * 1e9, 1),
        "array_ns_per_update": round(t_array / n * 1e9, 2),
        "river_check_ns_per_update": round(t_river_check / len(xc) * 1e9, 1),
        "single_check_ns_per_update": round(t_single_check / len(xc) * 1e9, 1),
        "single_check_speedup_vs_river": round(t_river_check / t_single_check, 2),
        "speed_n": n,
        "speed_stream": speed_stream,
        "stream_length": len(streams[0]) if streams else 0,
        "families": sorted({s.family for s in streams}),
    }
    if spec.params:
        row["params"] = spec.params
    return row


def run_bench(
    n: int = 1_000_000,
    streams: int = 50,
    seed: int = 0,
    stream_length: int = 5000,
    kswin_n: int = 5000,
    kswin_stream_length: int = 1000,
    detectors: Sequence[str] = DETECTORS,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """The report's rows, one per detector (see module doc)."""
    unknown = set(detectors) - set(DETECTORS)
    if unknown:
        raise ValueError(f"unknown detectors {sorted(unknown)}; choose from {DETECTORS}")
    rows = []
    for spec in _specs():
        if spec.name not in detectors:
            continue
        if progress:
            progress(spec.name)
        is_kswin = spec.name == "KSWIN"
        families = ("bernoulli",) if spec.binary else ("bernoulli", "gaussian")
        suite = drift_suite(
            streams,
            n=kswin_stream_length if is_kswin else stream_length,
            seed=seed,
            families=families,
        )
        size = min(n, kswin_n) if is_kswin else n
        values = _speed_values(size, gaussian=is_kswin, seed=seed)
        label = f"{'gaussian' if is_kswin else 'bernoulli'} {size} values, drift every 100k"
        row = bench_detector(spec, suite, values, label)
        if is_kswin:
            row["note"] = (
                f"River's KSWIN takes ~0.3 ms per update: speed over {size} values "
                f"and quality streams of {kswin_stream_length}"
            )
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the report."""
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
    return "\n".join(lines)
