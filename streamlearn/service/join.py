"""The late-label join: events that wait for their labels, and labels that wait for their event.

An event that arrives without labels is predicted at once; its feature row (and the
probabilities predicted for it, to score the prediction when the truth arrives) waits in a
bounded :class:`PendingStore` for a ``labels`` record with the same id. The ``events`` and
``labels`` topics are read independently, so a label record can also arrive *before* its event:
it then waits, as an *orphan*, up to ``orphan_ttl`` for the event (which is then learned as if it
had come with its labels). :class:`LabelJoin` holds both stores; it pickles with the shard's
snapshot (times are wall-clock seconds, so a restored store keeps its deadlines).

Each store is bounded two ways: entries older than ``ttl`` seconds expire, and beyond
``max_size`` entries the oldest are evicted. Both are counted, so a dashboard shows labels that
arrive too late.

Examples
--------
>>> now = [100.0]
>>> store = PendingStore(ttl=10.0, max_size=2, clock=lambda: now[0])
>>> store.put("a", "xa"), store.put("b", "xb"), store.put("c", "xc")
([], [], [('a', 'xa')])
>>> store.evicted_size, len(store), store.pop("a"), store.pop("b")
(1, 2, None, 'xb')
>>> now[0] = 111.0
>>> store.expire(), store.pop("c"), store.expired_ttl
([('c', 'xc')], None, 1)
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["LabelJoin", "PendingStore", "Waiting"]


class PendingStore:
    """Insertion-ordered map ``id -> item`` with a time-to-live and a size bound.

    Parameters
    ----------
    ttl
        Seconds an entry may wait for its labels.
    max_size
        Most entries kept; inserting beyond it evicts the oldest.
    clock
        Wall-clock seconds (``time.time``); injectable for tests.
    """

    def __init__(self, ttl: float, max_size: int, clock: Callable[[], float] = time.time) -> None:
        if ttl <= 0 or max_size < 1:
            raise ValueError("ttl must be > 0 and max_size >= 1")
        self.ttl = float(ttl)
        self.max_size = int(max_size)
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        #: Entries dropped because they waited longer than ``ttl`` (cumulative).
        self.expired_ttl = 0
        #: Entries dropped because the store was full (cumulative).
        self.evicted_size = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def put(self, key: str, item: Any) -> list[tuple[str, Any]]:
        """Insert (or replace, refreshing its deadline) the item waiting under ``key``.

        Returns the ``(key, item)`` pairs evicted to make room (oldest first).
        """
        items = self._items
        if key in items:
            del items[key]
        items[key] = (self.clock(), item)
        evicted = []
        while len(items) > self.max_size:
            k, (_, it) = items.popitem(last=False)
            evicted.append((k, it))
            self.evicted_size += 1
        return evicted

    def pop(self, key: str) -> Any | None:
        """Take the item waiting under ``key`` (``None`` if absent or expired)."""
        entry = self._items.pop(key, None)
        if entry is None:
            return None
        if self.clock() - entry[0] > self.ttl:
            self.expired_ttl += 1
            return None
        return entry[1]

    def expire(self) -> list[tuple[str, Any]]:
        """Drop every entry older than ``ttl``; return the dropped ``(key, item)`` pairs."""
        items = self._items
        deadline = self.clock() - self.ttl
        out = []
        while items:
            key, (t, item) = next(iter(items.items()))
            if t >= deadline:
                break
            del items[key]
            out.append((key, item))
        self.expired_ttl += len(out)
        return out

    # pickling: drop the clock (a lambda in tests), keep everything else
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["clock"] = None if state["clock"] is time.time else "custom"
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.clock = time.time


class Waiting(NamedTuple):
    """What an unlabelled event leaves in the pending store."""

    x: Any  # its feature row
    proba: np.ndarray | None  # what was predicted for it (None: no model yet)
    offset: int


class LabelJoin:
    """The two waiting rooms of one shard: events for their labels, labels for their event.

    Parameters
    ----------
    pending_ttl, orphan_ttl
        Seconds an event waits for its labels, and a label record for its event.
    max_size
        Most entries in each store (the oldest are evicted beyond).
    clock
        Wall-clock seconds (injectable for tests).
    """

    def __init__(
        self,
        pending_ttl: float,
        orphan_ttl: float,
        max_size: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pending = PendingStore(pending_ttl, max_size, clock)
        self.orphans = PendingStore(orphan_ttl, max_size, clock)

    def configure(
        self, pending_ttl: float, orphan_ttl: float, max_size: int, clock: Callable[[], float]
    ) -> None:
        """Apply the running service's bounds and clock (after a restore)."""
        for store, ttl in ((self.pending, pending_ttl), (self.orphans, orphan_ttl)):
            store.ttl, store.max_size, store.clock = float(ttl), int(max_size), clock

    def wait_for_labels(self, eid: str, item: Waiting) -> None:
        """Park an unlabelled event (the oldest are evicted beyond the bound, and counted)."""
        self.pending.put(eid, item)

    def labels_first(self, eid: str) -> Any | None:
        """The orphan label record that came before the event ``eid``, if any (taken)."""
        if not self.orphans or eid not in self.orphans:
            return None
        return self.orphans.pop(eid)

    def is_waiting(self, eid: str) -> bool:
        return eid in self.pending

    def take(self, eid: str) -> Waiting | None:
        """The event ``eid`` waiting for its labels (taken); ``None`` once its TTL is over."""
        return self.pending.pop(eid)

    def wait_for_event(self, eid: str, orphan: Any) -> list[tuple[str, Any]]:
        """Park a label record whose event has not come yet; return the orphans evicted."""
        return self.orphans.put(eid, orphan)

    def expire(self) -> list[tuple[str, Any]]:
        """Drop expired entries of both stores; return the expired orphans (dead letters)."""
        self.pending.expire()
        return self.orphans.expire()
