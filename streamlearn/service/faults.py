"""Test-only fault points: pause the learning process at a named step so a test can kill it there.

The reliability suite (tests/reliability/) kills the service with SIGKILL at chosen steps of a
checkpoint to prove that a crash anywhere loses nothing and learns nothing twice. Timing alone
rarely lands inside a snapshot write, so the loop marks its steps with :func:`point`. Nothing
happens unless the environment arms a point:

``STREAMLEARN_FAULT_PAUSE=<point>[:<n>]``
    at the n-th time (default 1st) the learning process reaches ``<point>``, it appends
    ``"<point> <n> <pid>"`` to the file ``STREAMLEARN_FAULT_MARK`` (if set), logs it, and sleeps
    ``STREAMLEARN_FAULT_SECONDS`` (default 600) — the test kills it meanwhile. A pause that is
    not killed simply ends and the service continues unchanged.

Points (in the order of one checkpoint, see :mod:`streamlearn.service.loop` and the Kafka
snapshot store :mod:`consumers.snapshots`):

``batch``
    a polled batch was processed (predicted and learned) and its outputs not yet handed over;
``snapshot-flushed``
    the outputs of the covered events are acknowledged, the snapshot not yet written;
``snapshot-partial``
    about half of the snapshot's chunks are acknowledged, the manifest not written (Kafka mode
    with several chunks; a torn snapshot);
``snapshot-manifest``
    the manifest is acknowledged (the snapshot is durable), the previous snapshot's chunks not
    yet deleted;
``commit-before``
    the snapshot is durable, the consumer offsets not yet committed;
``commit-after``
    the offsets are committed.

This is not a setting of the service (it is not in :class:`~streamlearn.settings.Settings`):
never arm it in production.
"""

from __future__ import annotations

import logging
import os
import time

__all__ = ["POINTS", "armed", "point"]

log = logging.getLogger("streamlearn.faults")

#: The fault points the runner marks.
POINTS: tuple[str, ...] = (
    "batch",
    "snapshot-flushed",
    "snapshot-partial",
    "snapshot-manifest",
    "commit-before",
    "commit-after",
)


def _parse(spec: str) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"STREAMLEARN_FAULT_PAUSE={spec!r}: unknown point; one of {POINTS}")
    return name, int(nth) if nth else 1


_ARMED = _parse(os.environ.get("STREAMLEARN_FAULT_PAUSE", "").strip())
_hits: dict[str, int] = {}


def armed(name: str) -> bool:
    """Whether ``name`` is the armed point (to prepare a state worth pausing in)."""
    return _ARMED is not None and _ARMED[0] == name


def point(name: str) -> None:
    """Mark fault point ``name``: a no-op unless the environment armed it (see module doc)."""
    if _ARMED is None or _ARMED[0] != name:
        return
    n = _hits[name] = _hits.get(name, 0) + 1
    if n != _ARMED[1]:
        return
    mark = os.environ.get("STREAMLEARN_FAULT_MARK")
    log.warning("fault point %s reached (hit %d): pausing for the test", name, n)
    if mark:
        with open(mark, "a") as f:
            f.write(f"{name} {n} {os.getpid()}\n")
    time.sleep(float(os.environ.get("STREAMLEARN_FAULT_SECONDS", "600")))
