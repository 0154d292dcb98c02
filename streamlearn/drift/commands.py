"""``streamlearn bench-drift``: drift detectors' quality, River equivalence and speed.

Light to import: the benchmark itself lives in :mod:`streamlearn.drift.bench`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DETECTORS = ("ADWIN", "PageHinkley", "DDM", "EDDM", "HDDM_A", "KSWIN")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench-drift",
        help="drift detectors: delay/false alarms/missed drifts on synthetic streams, "
        "equivalence with River, speed against River",
        description="Runs every drift detector on seeded synthetic streams with known drift "
        "points (quality), side by side with River 0.26.1's detector (equivalence of the "
        "detection indices) and over the same N values as River's per-point loop (speed).",
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
        "--detectors",
        nargs="+",
        choices=DETECTORS,
        default=list(DETECTORS),
        metavar="NAME",
        help=f"subset of {', '.join(DETECTORS)}",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from streamlearn.drift.bench import format_table, run_bench

    for name in ("n", "streams", "stream_length", "kswin_n", "kswin_stream_length"):
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
        progress=None if args.json else lambda name: print(f"... {name}", file=sys.stderr),
    )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    return 0
