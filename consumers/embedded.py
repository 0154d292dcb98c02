"""The service without Kafka: replay a synthetic stream or an ARFF file at a chosen rate.

This is what ``streamlearn serve`` (and ``make run``) runs by default. The source is
deterministic (a seeded synthetic stream, or the rows of a file in order, looping), so the
position of an event in it is its offset: the runner feeds one :class:`ShardProcessor` (shard
``0``) through exactly the same code path as the Kafka runner (events are JSON-encoded and
decoded like records from a topic), snapshots it into a local directory every N events or T
seconds and at shutdown, and on start restores the snapshot and skips the events it covers —
the same exactly-once effect on the model as in Kafka mode.

With ``label_delay = D > 0`` events are sent without labels and their labels arrive as a
``labels`` record D events later (through the pending store, as late labels do in Kafka mode).

``streamlearn_consumer_lag{topic="embedded.events", partition="0"}`` is the number of events
the replay schedule (``rate`` events/s) has made due that the runner has not read yet: it grows
when learning cannot keep up with the rate, like a Kafka consumer's lag behind a producer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from consumers.codecs import OutRecord
from consumers.processor import Record, ShardProcessor
from streamlearn.base.arrays import CSR
from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.schema import Schema
from streamlearn.serving.state import ServiceState
from streamlearn.settings import Settings
from streamlearn.snapshot import LocalSnapshotStore, SnapshotError

__all__ = ["EmbeddedRunner", "EmbeddedSource", "arff_source", "synthetic_source"]

log = logging.getLogger("streamlearn.embedded")

EVENTS_TOPIC = "embedded.events"
LABELS_TOPIC = "embedded.labels"


class EmbeddedSource:
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


def synthetic_source(settings: Settings) -> EmbeddedSource:
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

    return EmbeddedSource(f"synth-{_digest(nf, nl, ng, drift, seed)}", schema, rows)


def arff_source(path: Path, loop: bool = True) -> EmbeddedSource:
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
    return EmbeddedSource(f"{stem}-{_digest(resolved, loop)}", ds.schema, rows)


def encode_event(i: int, x: Any, y: np.ndarray | None, labels: list) -> bytes:
    if isinstance(x, tuple):
        xj: Any = {"indices": x[0].tolist(), "values": x[1].tolist()}
    else:
        xj = x.tolist()
    body: dict[str, Any] = {"id": str(i), "x": xj}
    if y is not None:
        body["labels"] = [str(labels[j]) for j in np.flatnonzero(y)]
    return json.dumps(body).encode()


class EmbeddedRunner:
    """Feeds an embedded source through one shard; runs in its own thread (:meth:`run`).

    Parameters
    ----------
    settings
        Rate, label delay, snapshot directory and intervals, learner...
    state
        Shared with the HTTP API (published models, readiness).
    metrics
        The service's metrics.
    source
        The stream to replay (default: ``settings.data`` if set, else the synthetic stream).
    hook
        Optional active-learning policy passed to the processor.
    """

    def __init__(
        self,
        settings: Settings,
        state: ServiceState,
        metrics: ServiceMetrics | None = None,
        source: EmbeddedSource | None = None,
        hook: Any = None,
        on_output: Callable[[list[OutRecord]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.metrics = metrics
        self._source = source
        self.hook = hook
        self.on_output = on_output
        self.store = LocalSnapshotStore(settings.snapshot_dir)
        self.processor: ShardProcessor | None = None
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.outputs: dict[str, int] = {}

    # -------------------------------------------------------------- set-up
    def _open_source(self) -> EmbeddedSource:
        if self._source is None:
            s = self.settings
            self._source = arff_source(s.data, s.loop) if s.data else synthetic_source(s)
        return self._source

    def _restore(self, source: EmbeddedSource) -> ShardProcessor:
        key = f"embedded-{source.ident}"
        m = self.metrics.shard("0") if self.metrics is not None else None
        kw = {"metrics": m, "service": self.state, "hook": self.hook}
        data = self.store.load(key)
        if data is not None:
            try:
                proc = ShardProcessor.from_snapshot(data, self.settings, **kw)
                if m is not None:
                    m.restored("restored")
                log.info(
                    "restored shard 0 from %s: %d instances learned, next event %d",
                    self.store.path(key),
                    proc.version,
                    proc.state.offsets.get("events", 0),
                )
                return proc
            except SnapshotError as exc:
                if m is not None:
                    m.restored("refused")
                raise SnapshotError(
                    f"{self.store.path(key)}: {exc} (move the file away to start afresh)"
                ) from exc
        if m is not None:
            m.restored("fresh")
        log.info("no snapshot at %s: starting shard 0 afresh", self.store.path(key))
        proc = ShardProcessor.new("0", self.settings, schema=source.schema, **kw)
        return proc

    # -------------------------------------------------------------- loop
    def run(self) -> None:
        """The learning loop; returns when :meth:`stop` is called (after a final snapshot)."""
        try:
            self._run()
        except BaseException as exc:
            self.error = exc
            log.exception("embedded runner failed")
            self.state.reason = (
                "snapshot_refused" if isinstance(exc, SnapshotError) else "runner_failed"
            )
            self.state.connected = False
            raise

    def _run(self) -> None:
        s = self.settings
        t_start = time.perf_counter()
        self.state.reason = "opening_source"
        source = self._open_source()
        self.state.reason = "restoring"
        proc = self.processor = self._restore(source)
        key = f"embedded-{source.ident}"
        next_event = proc.state.offsets.get("events", 0)
        next_label = proc.state.offsets.get("labels", 0)
        delay = s.label_delay
        labels = list(source.schema.labels)
        # labels still to be sent (delayed mode): deque of (event index, y row)
        owed: deque[tuple[int, np.ndarray]] = deque()
        rows = source.rows(0 if delay else next_event)
        if delay:
            for i in range(next_event):
                _, y = next(rows)
                if i >= next_label:
                    owed.append((i, y))
        proc.maybe_publish(force=True)
        self.state.restored = True
        self.state.connected = True
        self.state.reason = "ready"
        log.info(
            "embedded source %s ready in %.2fs (rate %s events/s, label delay %d)",
            source.ident,
            time.perf_counter() - t_start,
            s.rate or "unlimited",
            delay,
        )
        batch_max = s.poll_max_records
        # consumer lag of the embedded source: the events its schedule (``rate``) has made
        # available and the runner has not read yet — what a Kafka consumer's lag is when a
        # producer writes at that rate; 0 with rate 0 (events are generated on demand)
        lag = None if self.metrics is None else self.metrics.consumer_lag.labels(EVENTS_TOPIC, "0")
        if lag is not None:
            lag.set(0)
        t0 = time.perf_counter()
        sent = 0  # events sent since t0
        first = True
        while not self.stop_event.is_set():
            if s.rate > 0:
                due = int((time.perf_counter() - t0) * s.rate) - sent
                if lag is not None:
                    lag.set(max(due, 0))
                if due <= 0:
                    self.stop_event.wait(min(0.05, 1.0 / s.rate))
                    continue
                n = min(due, batch_max)
            else:
                n = batch_max
            ev_recs: list[Record] = []
            lab_recs: list[Record] = []
            exhausted = False
            for _ in range(n):
                try:
                    x, y = next(rows)
                except StopIteration:
                    exhausted = True
                    break
                i = next_event
                next_event += 1
                value = encode_event(i, x, None if delay else y, labels)
                ev_recs.append(Record(EVENTS_TOPIC, 0, i, value, str(i).encode()))
                if delay:
                    owed.append((i, y))
                    while owed and owed[0][0] <= i - delay:
                        j, yj = owed.popleft()
                        body = {
                            "id": str(j),
                            "labels": [str(labels[k]) for k in np.flatnonzero(yj)],
                        }
                        lab_recs.append(
                            Record(
                                LABELS_TOPIC,
                                0,
                                next_label,
                                json.dumps(body).encode(),
                                str(j).encode(),
                            )
                        )
                        next_label += 1
            sent += len(ev_recs)
            if ev_recs or lab_recs:
                if first:
                    log.info("learning (the first batch compiles the learner's kernels once)")
                out = proc.process(ev_recs, lab_recs)
                if first:
                    log.info("first batch done after %.2fs", time.perf_counter() - t_start)
                    first = False
                self._emit(out)
                proc.maybe_publish()
            self._emit(proc.tick())
            if proc.snapshot_due():
                self._snapshot(proc, key)
            proc.update_age()
            if exhausted:
                log.info("source exhausted after %d events", next_event)
                break
        self._snapshot(proc, key)
        proc.maybe_publish(force=True)

    def _emit(self, out: list[OutRecord]) -> None:
        for rec in out:
            self.outputs[rec.kind] = self.outputs.get(rec.kind, 0) + 1
            if rec.kind == "dlq":
                log.warning("dead letter: %s", dict(rec.headers or []))
        if self.on_output is not None:
            self.on_output(out)

    def _snapshot(self, proc: ShardProcessor, key: str) -> None:
        t0 = time.perf_counter()
        try:
            data = proc.snapshot({"source": key})
            self.store.save(key, data)
        except OSError as exc:
            log.error("snapshot of shard 0 failed: %s", exc)
            proc.mark_snapshot(0, time.perf_counter() - t0, ok=False)
            return
        proc.mark_snapshot(len(data), time.perf_counter() - t0)
        log.debug("snapshot of shard 0: %d bytes", len(data))

    def request_flush(self, done: Callable[[], None]) -> None:
        """Outputs are not produced anywhere in embedded mode: done at once."""
        done()

    def stop(self, final_snapshot: bool = True) -> None:
        self.stop_event.set()
