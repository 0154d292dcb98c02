"""``streamlearn datasets``: list the ARFF streams of a folder with their counts.

Light to import: the reader is imported inside the handler.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

ENV_DIR = "STREAMLEARN_DATASETS"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "datasets",
        help="list the ARFF streams of a folder (instances, features, labels, form)",
        description="List every *.arff / *.arff.gz file of a folder (MEKA ARFF) with its "
        "instances, features, labels, dense/sparse form and label cardinality.",
    )
    p.add_argument(
        "--dir",
        default=None,
        help=f"the folder (default: ${ENV_DIR})",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and (p.name.lower().endswith(".arff") or p.name.lower().endswith(".arff.gz"))
    )


def run(args: argparse.Namespace) -> int:
    from streamlearn.stream.arff import ArffError, load_arff

    folder = args.dir or os.environ.get(ENV_DIR)
    if not folder:
        print(f"streamlearn datasets: give --dir DIR (or set ${ENV_DIR})", file=sys.stderr)
        return 2
    path = Path(folder)
    if not path.is_dir():
        print(f"streamlearn datasets: {path} is not a directory", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    failed = 0
    for f in _files(path):
        try:
            ds = load_arff(f)
        except ArffError as exc:
            print(f"streamlearn datasets: {exc}", file=sys.stderr)
            failed += 1
            continue
        rows.append(
            {
                "name": ds.name,
                "file": f.name,
                "instances": len(ds),
                "features": ds.n_features,
                "labels": ds.n_labels,
                "sparse": ds.sparse,
                "label_cardinality": round(ds.label_cardinality, 4),
            }
        )
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _table(rows)
    return 1 if failed else 0


def _table(rows: list[dict[str, Any]]) -> None:
    head = ("name", "instances", "features", "labels", "form", "cardinality")
    body = [
        (
            r["name"],
            f"{r['instances']:,}",
            f"{r['features']:,}",
            f"{r['labels']:,}",
            "sparse" if r["sparse"] else "dense",
            f"{r['label_cardinality']:.4f}",
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    left = {0, 4}
    for line in (head, *body):
        cells = [
            str(x).ljust(w) if i in left else str(x).rjust(w)
            for i, (x, w) in enumerate(zip(line, widths))
        ]
        print("  ".join(cells).rstrip())
