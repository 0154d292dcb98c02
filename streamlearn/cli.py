"""The ``streamlearn`` command line.

Each family of commands lives beside the code it drives and registers its sub-commands here
through a ``register(subparsers)`` function: the library's families are listed in
:data:`COMMAND_MODULES`; other packages (the service's, in ``consumers/``) add theirs through the
``streamlearn.commands`` entry point group, so the library never imports them. Those modules must
stay light to import: heavy imports (numba kernels, Kafka, FastAPI) happen inside the command
handlers, so ``streamlearn --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points

#: Modules that contribute sub-commands (a missing one is skipped).
COMMAND_MODULES: tuple[str, ...] = (
    "streamlearn.evaluate.commands",  # evaluate
    "streamlearn.active.commands",  # evaluate --active (after evaluate: adds to its parser)
    "streamlearn.stream.commands",  # datasets
    "streamlearn.benchmarks.commands",  # bench, bench-report, bench-drift, bench-active, ...
)

#: The entry point group of command families outside the library (the service's: serve,
#: snapshot, replay, bench-service).
ENTRY_POINT_GROUP = "streamlearn.commands"


def command_modules() -> Iterator[str]:
    """The library's command modules, then those registered under :data:`ENTRY_POINT_GROUP`."""
    yield from COMMAND_MODULES
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        yield ep.value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamlearn",
        description="Streaming online multi-label learning: iHOMER, multi-label Hoeffding "
        "trees, drift detection, stream active learning.",
    )
    from streamlearn import __version__

    parser.add_argument("--version", action="version", version=f"streamlearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_modules():
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
