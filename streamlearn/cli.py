"""The ``streamlearn`` command line.

Each family of commands lives beside the code it drives and registers its sub-commands here
through a ``register(subparsers)`` function. Those modules must stay light to import: heavy
imports (numba kernels, Kafka, FastAPI) happen inside the command handlers, so ``streamlearn
--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules that contribute sub-commands (a missing one is skipped).
COMMAND_MODULES: tuple[str, ...] = (
    "streamlearn.evaluate.commands",  # evaluate
    "streamlearn.active.commands",  # evaluate --active (after evaluate: adds to its parser)
    "streamlearn.stream.commands",  # datasets
    "streamlearn.serving.commands",  # serve, snapshot
    "consumers.commands",  # replay, bench-service
    "streamlearn.benchmarks.commands",  # bench, bench-report, bench-drift, bench-active, ...
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamlearn",
        description="Streaming online multi-label learning: iHOMER, multi-label Hoeffding "
        "trees, drift detection, stream active learning.",
    )
    from streamlearn import __version__

    parser.add_argument("--version", action="version", version=f"streamlearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
