"""The service without Kafka: replay a synthetic stream or an ARFF file at a chosen rate.

This is what ``streamlearn serve`` (and ``make run``) runs by default. The stream is
deterministic (a seeded synthetic stream, or the rows of a file in order, looping), so the
position of an event in it is its offset. :class:`EmbeddedSource` feeds its rows to the service
loop (:class:`~streamlearn.service.loop.Loop`, the same loop as in Kafka mode) as events built
straight from the arrays — no JSON round trip; the shard checks their features as strictly as
decoded ones (dimensions, finite values). Shard ``0`` snapshots into a local directory
(:class:`EmbeddedStore`) every N events or T seconds and at shutdown; on start it restores the
snapshot and the source skips the events it covers — the same exactly-once effect on the model
as in Kafka mode. Outputs are counted and dead letters logged (:class:`LogSink`).

With ``label_delay = D > 0`` events are sent without labels and their labels arrive as a
``labels`` record D events later (through the pending store, as late labels do in Kafka mode).

``streamlearn_consumer_lag{topic="embedded.events", partition="0"}`` is the number of events
the replay schedule (``rate`` events/s) has made due that the loop has not read yet: it grows
when learning cannot keep up with the rate, like a Kafka consumer's lag behind a producer.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from streamlearn.base.arrays import CSR
from streamlearn.schema import Schema
from streamlearn.service.contract import Event, LabelRecord, OutRecord
from streamlearn.service.loop import Loop, ShardBatch
from streamlearn.service.published import ServiceState
from streamlearn.service.recorder import Recorder
from streamlearn.service.shard import InRecord
from streamlearn.settings import Settings
from streamlearn.snapshot import LocalSnapshotStore

__all__ = [
    "EmbeddedSource",
    "EmbeddedStore",
    "EmbeddedStream",
    "LogSink",
    "arff_stream",
    "embedded_loop",
    "synthetic_stream",
]

log = logging.getLogger("streamlearn.embedded")

EVENTS_TOPIC = "embedded.events"
LABELS_TOPIC = "embedded.labels"
SHARD = "0"


class EmbeddedStream:
    """A deterministic stream of ``(x, y)`` rows with a stable identity.

    ``rows(start)`` iterates ``(x, y)`` from position ``start``: ``x`` is a dense ``float64``
    row or a sparse ``(indices, values)`` pair, ``y`` a ``uint8`` row over ``schema.labels``.
    """

    def __init__(
        self, ident: str, schema: Schema, rows: Callable[[int], Iterator[tuple[Any, np.ndarray]]]
    ) -> None:
        self.ident = ident
        self.schema = schema
        self.rows = rows


def _digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:10]


def synthetic_stream(settings: Settings) -> EmbeddedStream:
    """The synthetic multi-label stream with planted drift of :mod:`streamlearn.stream.synth`."""
    from streamlearn.stream.synth import iter_events

    nf, nl, ng = settings.synth_features, settings.synth_labels, settings.synth_groups
    drift, seed = settings.synth_drift_every, settings.seed
    schema = Schema(
        features=[f"x{i}" for i in range(nf)], labels=[f"l{j}" for j in range(nl)], name="synthetic"
    )

    def rows(start: int) -> Iterator[tuple[Any, np.ndarray]]:
        it = iter_events(n_features=nf, n_labels=nl, n_groups=ng, drift_every=drift, seed=seed)
        for _ in range(start):
            next(it)
        yield from it

    return EmbeddedStream(f"synth-{_digest(nf, nl, ng, drift, seed)}", schema, rows)


def arff_stream(path: Path, loop: bool = True) -> EmbeddedStream:
    """The rows of a (MEKA) ARFF file in file order, looping at the end when ``loop``."""
    from streamlearn.stream import load_arff

    ds = load_arff(path)
    n = len(ds.Y)
    if n == 0:
        raise ValueError(f"{path}: no instances to replay")
    X, Y = ds.X, ds.Y

    def rows(start: int) -> Iterator[tuple[Any, np.ndarray]]:
        i = start
        while loop or i < n:
            k = i % n
            yield (X.row(k) if isinstance(X, CSR) else X[k]), Y[k]
            i += 1

    resolved = str(Path(path).resolve())
    stem = Path(path).name.split(".")[0]
    return EmbeddedStream(f"{stem}-{_digest(resolved, loop)}", ds.schema, rows)


class EmbeddedSource:
    """The replay of an :class:`EmbeddedStream` as the loop's only shard, ``"0"``.

    Events (and, with ``label_delay``, late label records) are built from the rows as they
    become due at ``settings.rate`` events/s (0: as fast as the loop reads), at most
    ``poll_max_records`` per poll.
    """

    connected = False
    finished = False

    def __init__(self, settings: Settings, stream: EmbeddedStream | None = None) -> None:
        self.settings = settings
        self.stream = stream
        self.loop: Loop | None = None
        self._rows: Iterator[tuple[Any, np.ndarray]] = iter(())
        self._owed: deque[tuple[int, np.ndarray]] = deque()  # labels still to send (delayed)
        self._next_event = self._next_label = 0
        self._t0 = 0.0
        self._sent = 0  # events sent since _t0
        self._due = 0

    def open(self, loop: Loop) -> bool:
        s = self.settings
        t_start = time.perf_counter()
        self.loop = loop
        loop.readers.reason = "opening_source"
        if self.stream is None:
            self.stream = arff_stream(s.data, s.loop) if s.data else synthetic_stream(s)
        loop.readers.reason = "restoring"
        loop.assign([SHARD])
        self.connected = loop.readers.connected = True
        log.info(
            "embedded source %s ready in %.2fs (rate %s events/s, label delay %d)",
            self.stream.ident,
            time.perf_counter() - t_start,
            s.rate or "unlimited",
            s.label_delay,
        )
        self._t0 = time.perf_counter()
        return True

    def schema(self, shard: str) -> Schema | None:
        assert self.stream is not None
        return self.stream.schema

    def seek(self, shard: str, offsets: Mapping[str, int]) -> None:
        assert self.stream is not None
        self._next_event = offsets.get("events", 0)
        self._next_label = offsets.get("labels", 0)
        delay = self.settings.label_delay
        self._owed = deque()
        self._rows = self.stream.rows(0 if delay else self._next_event)
        if delay:  # the labels of events read before the snapshot but not yet sent
            for i in range(self._next_event):
                _, y = next(self._rows)
                if i >= self._next_label:
                    self._owed.append((i, y))

    def poll(self, timeout_ms: int) -> dict[str, ShardBatch]:
        s = self.settings
        if s.rate > 0:
            self._due = int((time.perf_counter() - self._t0) * s.rate) - self._sent
            if self._due <= 0:
                assert self.loop is not None
                self.loop.stop_event.wait(min(0.05, 1.0 / s.rate))
                return {}
            n = min(self._due, s.poll_max_records)
        else:
            n = s.poll_max_records
        labels = [str(lab) for lab in self.stream.schema.labels]  # type: ignore[union-attr]
        delay = s.label_delay
        events: list[InRecord] = []
        late: list[InRecord] = []
        for _ in range(n):
            try:
                x, y = next(self._rows)
            except StopIteration:
                self.finished = True
                log.info("source exhausted after %d events", self._next_event)
                break
            i = self._next_event
            self._next_event += 1
            names = None if delay else [labels[j] for j in np.flatnonzero(y)]
            key = str(i).encode()
            events.append(InRecord(EVENTS_TOPIC, 0, i, Event.from_row(str(i), x, names), key))
            if delay:
                self._owed.append((i, y))
                while self._owed and self._owed[0][0] <= i - delay:
                    j, yj = self._owed.popleft()
                    lr = LabelRecord.model_construct(
                        id=str(j), labels=[labels[k] for k in np.flatnonzero(yj)], known=None
                    )
                    late.append(InRecord(LABELS_TOPIC, 0, self._next_label, lr, str(j).encode()))
                    self._next_label += 1
        self._sent += len(events)
        if not events and not late:
            return {}
        return {SHARD: ShardBatch(events, late)}

    def commit(self, shard: str, offsets: Mapping[str, int]) -> None:
        """Nothing to do: the snapshot holds the offsets."""

    def lag(self, shard: str, offsets: Mapping[str, int]) -> Iterable[tuple[str, int]]:
        return [(EVENTS_TOPIC, max(self._due, 0))]

    def close(self) -> None:
        pass


class EmbeddedStore:
    """Shard ``0``'s snapshots in a local directory, one file per stream identity."""

    def __init__(self, directory: str | Path, source: EmbeddedSource) -> None:
        self.files = LocalSnapshotStore(directory)
        self.source = source

    def _key(self) -> str:
        assert self.source.stream is not None
        return f"embedded-{self.source.stream.ident}"

    def open(self) -> None:
        pass

    def load(self, shard: str) -> bytes | None:
        return self.files.load(self._key())

    def save(self, shard: str, data: bytes) -> int:
        n = self.files.save(self._key(), data)
        log.debug("snapshot of shard %s: %d bytes", shard, n)
        return n

    def where(self, shard: str) -> str:
        return str(self.files.path(self._key()))

    def close(self) -> None:
        pass


class LogSink:
    """Outputs in embedded mode: counted by kind, dead letters logged, handed to
    ``on_output`` (tests) — nothing to acknowledge."""

    errors = 0

    def __init__(self, on_output: Callable[[list[OutRecord]], None] | None = None) -> None:
        self.on_output = on_output
        self.outputs: dict[str, int] = {}

    def open(self) -> None:
        pass

    def send(self, records: list[OutRecord], shard: str) -> None:
        for rec in records:
            self.outputs[rec.kind] = self.outputs.get(rec.kind, 0) + 1
            if rec.kind == "dlq":
                log.warning("dead letter: %s", dict(rec.headers or []))
        if self.on_output is not None:
            self.on_output(records)

    def flush(self, timeout: float = 60.0) -> None:
        pass

    def close(self) -> None:
        pass


def embedded_loop(
    settings: Settings,
    readers: ServiceState,
    recorder: Recorder | None = None,
    stream: EmbeddedStream | None = None,
    hook: Any = None,
    on_output: Callable[[list[OutRecord]], None] | None = None,
) -> Loop:
    """The service loop over an embedded replay (default: ``settings.data`` if set, else the
    synthetic stream)."""
    source = EmbeddedSource(settings, stream)
    return Loop(
        settings,
        source,
        LogSink(on_output),
        EmbeddedStore(settings.snapshot_dir, source),
        readers,
        recorder,
        hook,
    )
