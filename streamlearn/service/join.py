"""The late-label join: events that wait for their labels, and labels that wait for their event.

An event that arrives without labels is predicted at once; its feature row (and the
probabilities predicted for it, to score the prediction when the truth arrives) waits in a
bounded :class:`PendingStore` for a ``labels`` record with the same id. The ``events`` and
``labels`` topics are read independently, so a label record can also arrive *before* its event:
it then waits, as an *orphan*, up to ``orphan_ttl`` for the event (which is then learned as if it
had come with its labels). :class:`LabelJoin` holds both stores; it pickles with the shard's
snapshot (times are wall-clock seconds, so a restored store keeps its deadlines).

Each store is bounded three ways: entries older than ``ttl`` seconds expire, and beyond
``max_size`` entries or ``max_bytes`` bytes (the sizes of their rows or records) the oldest are
evicted. Evictions are counted, so a dashboard shows labels that arrive too late.

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
    max_bytes
        Most bytes kept (the sizes given to :meth:`put`); ``None``: no byte bound.
    """

    def __init__(
        self,
        ttl: float,
        max_size: int,
        clock: Callable[[], float] = time.time,
        max_bytes: int | None = None,
    ) -> None:
        if ttl <= 0 or max_size < 1:
            raise ValueError("ttl must be > 0 and max_size >= 1")
        self.ttl = float(ttl)
        self.max_size = int(max_size)
        self.max_bytes = max_bytes
        self.clock = clock
        self.nbytes = 0  # sizes of the entries kept
        self._items: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()
        #: Entries dropped because they waited longer than ``ttl`` (cumulative).
        self.expired_ttl = 0
        #: Entries dropped because the store was full (cumulative).
        self.evicted_size = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def put(self, key: str, item: Any, nbytes: int = 0) -> list[tuple[str, Any]]:
        """Insert (or replace, refreshing its deadline) the item waiting under ``key``; it
        counts ``nbytes`` towards ``max_bytes``.

        Returns the ``(key, item)`` pairs evicted to make room (oldest first; an item larger
        than ``max_bytes`` on its own is evicted at once).
        """
        items = self._items
        old = items.pop(key, None)
        if old is not None:
            self.nbytes -= old[2]
        items[key] = (self.clock(), item, nbytes)
        self.nbytes += nbytes
        limit = self.max_bytes
        evicted = []
        while items and (len(items) > self.max_size or (limit is not None and self.nbytes > limit)):
            k, (_, it, n) = items.popitem(last=False)
            self.nbytes -= n
            evicted.append((k, it))
            self.evicted_size += 1
        return evicted

    def pop(self, key: str) -> Any | None:
        """Take the item waiting under ``key`` (``None`` if absent or expired)."""
        entry = self._items.pop(key, None)
        if entry is None:
            return None
        self.nbytes -= entry[2]
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
            key, (t, item, n) = next(iter(items.items()))
            if t >= deadline:
                break
            del items[key]
            self.nbytes -= n
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
        if "nbytes" not in state:  # a store pickled before the byte bound: sizes unknown (0)
            self.max_bytes, self.nbytes = None, 0
            self._items = OrderedDict((k, (t, it, 0)) for k, (t, it) in self._items.items())


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
    max_bytes
        Most bytes in each store: feature rows and predicted probabilities of the waiting
        events, raw records of the waiting labels (the oldest are evicted beyond).
    """

    def __init__(
        self,
        pending_ttl: float,
        orphan_ttl: float,
        max_size: int,
        clock: Callable[[], float] = time.time,
        max_bytes: int | None = None,
    ) -> None:
        self.pending = PendingStore(pending_ttl, max_size, clock, max_bytes)
        self.orphans = PendingStore(orphan_ttl, max_size, clock, max_bytes)

    def configure(
        self,
        pending_ttl: float,
        orphan_ttl: float,
        max_size: int,
        clock: Callable[[], float],
        max_bytes: int | None = None,
    ) -> None:
        """Apply the running service's bounds and clock (after a restore)."""
        for store, ttl in ((self.pending, pending_ttl), (self.orphans, orphan_ttl)):
            store.ttl, store.max_size, store.clock = float(ttl), int(max_size), clock
            store.max_bytes = max_bytes

    def wait_for_labels(self, eid: str, item: Waiting) -> None:
        """Park an unlabelled event (the oldest are evicted beyond the bounds, and counted)."""
        self.pending.put(eid, item, _row_bytes(item.x) + _row_bytes(item.proba) + len(eid))

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
        """Park a label record (``(input record, LabelRecord)``) whose event has not come yet;
        return the orphans evicted."""
        raw = getattr(orphan[0], "value", None)
        size = len(raw) if isinstance(raw, bytes | bytearray) else 64 * len(orphan[1].labels)
        return self.orphans.put(eid, orphan, size + len(eid))

    def expire(self) -> list[tuple[str, Any]]:
        """Drop expired entries of both stores; return the expired orphans (dead letters)."""
        self.pending.expire()
        return self.orphans.expire()


def _row_bytes(row: Any) -> int:
    """Bytes held by a feature row (dense array or list, or sparse (indices, values))."""
    if row is None:
        return 0
    if isinstance(row, np.ndarray):
        return int(row.nbytes)
    if isinstance(row, tuple):
        return sum(_row_bytes(part) for part in row)
    return 8 * len(row)
