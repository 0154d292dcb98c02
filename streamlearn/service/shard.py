"""The per-shard step: decode, predict, learn, emit — for one polled batch of one shard.

A :class:`Shard` owns one model shard (one input partition). The loop hands it polled batches
of input records and sends on the output records it returns:

1. every ``events`` record is decoded (:mod:`~streamlearn.service.contract`) and its features
   turned into a row (:mod:`~streamlearn.service.encoding`); unusable ones become dead letters
   with their reason and origin;
2. valid events are predicted and, when they carry labels, learned — strictly test-then-train
   per event, in offset order (runs of labelled events go through the learner's fused
   ``predict_learn_many``, which predicts each row before learning it); a prediction record is
   emitted for each event, with the ``model_version`` (= instances learned) that made it;
3. unlabelled events wait for their labels (:mod:`~streamlearn.service.join`); the
   active-learning policy may ask for some of their labels (``label-requests`` records);
4. ``labels`` records are joined to their waiting event and learned (after the batch's events);
5. the model's drift/structure events and those of the label-space monitors become ``drift``
   records; prequential scores are updated with every prediction whose truth is complete.

Input records are anything with ``topic, partition, offset, key, value``; ``value`` is the raw
bytes (decoded here) or an already decoded :class:`~streamlearn.service.contract.Event` /
:class:`~streamlearn.service.contract.LabelRecord` (a source that holds the data in memory).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from streamlearn.base.arrays import InputError
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.schema import Schema
from streamlearn.service import contract
from streamlearn.service.contract import (
    DeadLetter,
    DecodeError,
    DriftRecord,
    Event,
    LabelRecord,
    LabelRequest,
    OutRecord,
    PredictionEncoder,
)
from streamlearn.service.encoding import (
    FeatureEncoder,
    LabelEncoder,
    Row,
    schema_from_event,
    stack,
)
from streamlearn.service.join import Waiting
from streamlearn.service.monitors import monitor_of
from streamlearn.service.published import ModelVersion, Publisher, ServiceState
from streamlearn.service.recorder import ShardRecorder
from streamlearn.service.state import ShardState, SnapshotClock
from streamlearn.settings import Settings

__all__ = ["ActiveLearningHook", "InRecord", "Shard"]

log = logging.getLogger("streamlearn.shard")

_RESTRUCTURE_KINDS = frozenset({"split", "merge", "restructure"})


class InRecord(NamedTuple):
    """An input record (the attributes of a Kafka consumer record that the shard uses)."""

    topic: str
    partition: int
    offset: int
    value: bytes | Event | LabelRecord | None
    key: bytes | None = None


class ActiveLearningHook(Protocol):
    """Decides which labels of an unlabelled event to ask an oracle for.

    ``decide`` gets the predicted probabilities of the event and the number of events the shard
    has seen, and returns a boolean mask over the label space (empty/all-False = ask nothing).
    An optional ``budget_used`` attribute (0..1) is reported as a metric.
    """

    def decide(self, proba_row: np.ndarray, n_seen: int) -> np.ndarray: ...


class _Item(NamedTuple):
    """A valid event on its way through the step."""

    rec: Any
    event: Event
    x: Row
    y: np.ndarray | None  # its label row (None: unlabelled)


class Shard:
    """Processes the records of one shard. Not thread-safe: one learning thread owns it.

    Parameters
    ----------
    state
        The shard's state (new, or restored from a snapshot: :meth:`restore`).
    settings
        Service settings (policies, limits, publication cadence, metric windows).
    recorder
        Where the shard's figures go (metrics); the no-op base by default.
    readers
        Where published model versions go (the HTTP readers), or ``None``.
    hook
        Active-learning policy; ``None``: the one of ``settings.active_learning`` (kept in the
        shard state, so it snapshots), or none.
    clock
        Wall clock of the join's deadlines and of the cadences (injectable for tests).
    """

    def __init__(
        self,
        state: ShardState,
        settings: Settings,
        recorder: ShardRecorder | None = None,
        readers: ServiceState | None = None,
        hook: ActiveLearningHook | None = None,
        clock: Callable[[], float] = time.time,
        restored_at: float | None = None,
    ) -> None:
        self.state = state
        self.settings = settings
        self.rec = recorder if recorder is not None else ShardRecorder()
        self.readers = readers
        self.hook = hook
        self.clock = clock
        s = settings
        state.join.configure(
            s.pending_ttl_seconds,
            s.orphan_ttl_seconds,
            s.pending_max_size,
            clock,
            s.pending_max_bytes,
        )
        self.publisher = Publisher(
            state, readers, s.publish_every_events, s.publish_interval_ms, clock
        )
        self.snapshots = SnapshotClock(
            state, s.snapshot_interval_events, s.snapshot_interval_seconds, clock, restored_at
        )
        self._encoder: FeatureEncoder | None = None
        if state.schema is not None:
            self._encoder = FeatureEncoder(state.schema, s.unknown_features)
        self._labels: LabelEncoder | None = None
        self._pred = PredictionEncoder()
        self._last_expiry = -float("inf")
        self._drifts: list[Any] = []  # of the label-space monitors, emitted after the batch
        pending = state.join.pending
        self._evicted_seen = (pending.expired_ttl, pending.evicted_size)
        self.rec.resumed(state.counts, state.drift_counts, state.label_drift_counts)

    @classmethod
    def new(
        cls, shard: str, settings: Settings, schema: Schema | None = None, **kwargs: Any
    ) -> Shard:
        """A fresh shard (``schema``: the feature/label spaces up front, else the settings and
        the first event fix them)."""
        clock = kwargs.get("clock", time.time)
        return cls(ShardState.new(shard, settings, schema, clock), settings, **kwargs)

    @classmethod
    def restore(cls, data: bytes, settings: Settings, **kwargs: Any) -> Shard:
        """A shard from its snapshot (:class:`SnapshotError` if unusable)."""
        state, header = ShardState.loads(data, settings)
        return cls(state, settings, restored_at=header.created, **kwargs)

    @property
    def shard(self) -> str:
        return self.state.shard

    @property
    def learner(self) -> MultiLabelClassifier | None:
        return self.state.learner

    @property
    def version(self) -> int:
        return self.state.version

    @property
    def active_hook(self) -> Any:
        """The active-learning policy: the one given, else the settings' (in the state)."""
        return self.hook if self.hook is not None else self.state.hook

    # ------------------------------------------------------------------ the step
    def process(self, events: Sequence[Any] = (), labels: Sequence[Any] = ()) -> list[OutRecord]:
        """Process one polled batch of ``events`` then ``labels`` records (each in offset order)."""
        t0 = time.perf_counter()
        out: list[OutRecord] = []
        if events:
            self._process_events(events, out)
        if labels:
            self._process_labels(labels, out)
        self._after_batch(out)
        self.rec.batch(time.perf_counter() - t0)
        if self.readers is not None:
            self.readers.note_progress(self.state.shard, self.state.counts)
        return out

    def tick(self) -> list[OutRecord]:
        """Housekeeping between batches (expired orphan labels go to the DLQ), about once a second."""
        out: list[OutRecord] = []
        if self.clock() - self._last_expiry >= 1.0:
            self._expire(out)
            self.rec.waiting(len(self.state.join.pending))
        return out

    def _process_events(self, records: Sequence[Any], out: list[OutRecord]) -> None:
        st = self.state
        max_bytes = self.settings.max_event_bytes
        join = st.join
        adopted = 0
        rejoin: list = []
        run: list[_Item] = []
        for rec in records:
            try:
                ev = rec.value
                if not isinstance(ev, Event):
                    ev = contract.decode_event(ev, max_bytes)
                enc = self._encoder or self._ensure_schema(ev.x)
                xrow = enc.row(ev.x)
                yrow = None
                if ev.labels is None:
                    orphan = join.labels_first(ev.id)
                    if orphan is not None:
                        orec, lr = orphan
                        if lr.known is None:  # its labels came first
                            ev = ev.model_copy(update={"labels": list(lr.labels)})
                            adopted += 1
                        else:  # a partial answer: joined after the events
                            rejoin.append((orec, lr))
                if ev.labels is not None:
                    yrow, grow = self._label_row(ev.labels, "event", ev.id)
                    if grow:
                        self._flush_events(run, out)
                        run = []
                        self._grow_labels(grow)
                        yrow, _ = self._label_row(ev.labels, "event", ev.id)
            except DecodeError as err:
                self._dlq(out, rec, err, "events")
                continue
            except Exception as exc:  # a bug's victim: dead-lettered, never a crash loop
                self._dlq(out, rec, _unusable(exc), "events")
                continue
            run.append(_Item(rec, ev, xrow, yrow))
        self._flush_events(run, out)
        if adopted:
            st.counts["labels_joined"] += adopted
            self.rec.adopted(adopted)
        if rejoin:
            self._apply_labels(rejoin, out)
        st.counts["events_consumed"] += len(records)
        st.offsets["events"] = records[-1].offset + 1
        self.rec.consumed(events=len(records))

    def _flush_events(self, run: list[_Item], out: list[OutRecord]) -> None:
        """Predict (and learn) a run of valid events: maximal groups of labelled / unlabelled
        events, in offset order."""
        if not run:
            return
        learner = self.state.ensure_learner(self.settings)
        start = 0
        while start < len(run):
            labelled = run[start].y is not None
            stop = start + 1
            while stop < len(run) and (run[stop].y is not None) == labelled:
                stop += 1
            if labelled:
                self._learn_group(run[start:stop], out, learner)
            else:
                self._predict_group(run[start:stop], out, learner)
            start = stop

    def _learn_group(
        self, group: list[_Item], out: list[OutRecord], learner: MultiLabelClassifier | None
    ) -> None:
        st = self.state
        before = st.version
        if learner is None:  # no label in the space yet: nothing to learn from
            self._emit_predictions(group, None, before, out, False)
            return
        X = stack([g.x for g in group], st.schema)
        Y = np.vstack([g.y for g in group])
        t0 = time.perf_counter()
        try:
            P = learner.predict_learn_many(X, Y)
        except Exception as exc:
            group, P = self._row_by_row(
                group,
                lambda g: learner.predict_learn_many(stack([g.x], st.schema), g.y[None, :]),
                exc,
                out,
            )
            if not group:
                return
            Y = np.vstack([g.y for g in group])
        seconds = time.perf_counter() - t0
        self._emit_predictions(group, P, before, out, True)
        self._scored(Y, P > learner.threshold, None, out)
        st.counts["events_learned"] = before + len(group)
        self.rec.learned(len(group), seconds)

    def _predict_group(
        self, group: list[_Item], out: list[OutRecord], learner: MultiLabelClassifier | None
    ) -> None:
        st = self.state
        P = None
        if learner is not None:
            X = stack([g.x for g in group], st.schema)
            t0 = time.perf_counter()
            try:
                P = learner.predict_proba_many(X)
            except Exception as exc:  # prediction changes nothing: retried row by row
                group, P = self._row_by_row(
                    group, lambda g: learner.predict_proba_many(stack([g.x], st.schema)), exc, out
                )
                if not group:
                    return
            self.rec.predict_call(time.perf_counter() - t0)
        self._emit_predictions(group, P, st.version, out, False)
        hook = self.active_hook
        for k, g in enumerate(group):
            prow = None if P is None else P[k]
            st.join.wait_for_labels(g.event.id, Waiting(g.x, prow, g.rec.offset))
            if hook is not None and prow is not None:
                self._ask(g, prow, out)

    def _emit_predictions(
        self,
        group: list[_Item],
        P: np.ndarray | None,
        version: int,
        out: list[OutRecord],
        learning: bool,
    ) -> None:
        """Prediction records; when ``learning``, row k was predicted after k rows were learned."""
        st = self.state
        labels = st.schema.labels if st.schema is not None and P is not None else []
        thr = st.learner.threshold if st.learner is not None else 0.5
        if P is None:
            P = np.zeros((len(group), 0))
        values = self._pred.encode_many(
            [g.event.id for g in group],
            labels,
            P,
            thr,
            version,
            [g.rec.offset for g in group],
            st.shard,
            learning,
        )
        limit = self.settings.max_output_bytes
        out.extend(
            [
                OutRecord("predictions", g.rec.key, v if len(v) <= limit else _fit(v, limit))
                for g, v in zip(group, values)
            ]
        )
        st.counts["events_predicted"] += len(group)
        self.rec.predicted(len(group))

    def _ask(self, g: _Item, prow: np.ndarray, out: list[OutRecord]) -> None:
        st = self.state
        n_seen = st.learner.n_samples_seen if st.learner is not None else 0
        mask = np.asarray(self.active_hook.decide(prow, n_seen), dtype=bool)
        if not mask.any():
            return
        asked = [str(st.schema.labels[j]) for j in np.flatnonzero(mask)]
        p = prow[mask]
        score = float(np.mean(1.0 - np.abs(2.0 * p - 1.0)))
        req = LabelRequest.build(g.event.id, g.event.x, asked, score, st.shard, g.rec.offset)
        record = req.to_record(g.rec.key)
        if len(record.value) > self.settings.max_output_bytes:  # the event's x is too large:
            req = req.model_copy(update={"x": []})  # the oracle finds it by id and offset
            record = req.to_record(g.rec.key)
        out.append(record)
        st.counts["label_requests"] += 1
        st.counts["labels_requested"] += len(asked)
        self.rec.asked(len(asked))

    # ------------------------------------------------------------------ late labels
    def _process_labels(self, records: Sequence[Any], out: list[OutRecord]) -> None:
        st = self.state
        max_bytes = self.settings.max_event_bytes
        items = []
        for rec in records:
            try:
                lr = rec.value
                if not isinstance(lr, LabelRecord):
                    lr = contract.decode_label_record(lr, max_bytes)
                items.append((rec, lr))
            except DecodeError as err:
                self._dlq(out, rec, err, "labels")
            except Exception as exc:
                self._dlq(out, rec, _unusable(exc), "labels")
        self._apply_labels(items, out)
        st.counts["labels_consumed"] += len(records)
        st.offsets["labels"] = records[-1].offset + 1
        self.rec.consumed(labels=len(records))

    def _apply_labels(self, items: list, out: list[OutRecord]) -> None:
        """Join label records to their waiting events; park the others as orphans."""
        st = self.state
        join = st.join
        joined: list[tuple[Row, np.ndarray, np.ndarray | None, np.ndarray | None]] = []
        for rec, lr in items:
            try:
                if not join.is_waiting(lr.id):
                    # its event may not be consumed yet (the topics are read independently):
                    # wait for it, up to the orphan TTL
                    for key, orphan in join.wait_for_event(lr.id, (rec, lr)):
                        self._orphan_dlq(out, key, orphan, "evicted: too many labels wait")
                    continue
                names = list(lr.labels) + list(lr.known or [])
                _, grow = self._label_row(names, "labels of", lr.id)
                if grow:
                    self._join(joined, out)
                    joined = []
                    self._grow_labels(grow)
                item = join.take(lr.id)
                if item is None:
                    raise DecodeError(
                        contract.UNMATCHED_LABEL,
                        f"the event {lr.id!r} waited longer than the pending TTL "
                        f"({join.pending.ttl:g} s)",
                    )
                schema = st.schema
                yrow = schema.labels_to_row([n for n in lr.labels if schema.has_label(n)])
                known = None
                if lr.known is not None:  # a partial answer: only these labels are known
                    known = yrow.astype(bool)
                    for n in lr.known:
                        if schema.has_label(n):
                            known[schema.label_index(n)] = True
                joined.append((item.x, yrow, known, item.proba, rec))
            except DecodeError as err:
                self._dlq(out, rec, err, "labels")
        self._join(joined, out)

    def _join(self, joined: list, out: list[OutRecord]) -> None:
        """Learn the joined events; score the predictions made when they arrived."""
        if not joined:
            return
        st = self.state
        learner = st.ensure_learner(self.settings)
        if learner is None:  # pragma: no cover - joined labels imply a label space
            return
        nl = st.schema.n_labels
        X = stack([j[0] for j in joined], st.schema)
        Y = np.vstack([j[1] for j in joined])
        K = None
        if any(j[2] is not None for j in joined):
            K = np.vstack([np.ones(nl, bool) if j[2] is None else j[2] for j in joined])
        t0 = time.perf_counter()
        try:
            learner.learn_many(X, Y, known=K)
        except Exception as exc:
            kept, _ = self._row_by_row(
                list(range(len(joined))),
                lambda k: learner.learn_many(
                    stack([joined[k][0]], st.schema),
                    Y[k : k + 1],
                    known=None if K is None else K[k : k + 1],
                ),
                exc,
                out,
                lambda k: joined[k][4],
                "labels",
            )
            joined, Y = [joined[k] for k in kept], Y[kept]
            K = None if K is None else K[kept]
            if not joined:
                return
        seconds = time.perf_counter() - t0
        rows = [k for k, j in enumerate(joined) if j[3] is not None]
        if rows:
            thr = learner.threshold
            Yhat = np.zeros((len(rows), nl), dtype=bool)
            for r, k in enumerate(rows):
                p = joined[k][3]
                Yhat[r, : len(p)] = p > thr
            self._scored(Y[rows], Yhat, None if K is None else K[rows], out)
        n = len(joined)
        st.counts["events_learned"] += n
        st.counts["labels_joined"] += n
        self.rec.learned(n, seconds, joined=n)

    def _orphan_dlq(self, out: list[OutRecord], key: str, orphan: tuple, why: str) -> None:
        rec, _ = orphan
        err = DecodeError(
            contract.UNMATCHED_LABEL,
            f"no event with id {key!r} to join ({why}; never seen, already labelled, or "
            "expired from the pending store)",
        )
        self._dlq(out, rec, err, "labels")

    # ------------------------------------------------------------------ spaces
    def _ensure_schema(self, x: Any) -> FeatureEncoder:
        if self._encoder is None:
            s = self.settings
            schema = schema_from_event(
                x, features=s.features, n_features=s.n_features, sparse=s.sparse
            )
            if not (s.features or s.n_features) and schema.n_features > s.max_features:
                raise DecodeError(
                    contract.WRONG_DIMENSIONS,
                    f"the first event would set a feature space of {schema.n_features} features "
                    f"(max_features {s.max_features}); configure features or n_features",
                )
            schema.add_labels(s.labels or [])
            self.state.schema = schema
            self._encoder = FeatureEncoder(schema, s.unknown_features)
        return self._encoder

    def _grow_labels(self, names: list[str]) -> None:
        try:
            schema = self.state.grow_labels(names)
        except InputError as exc:
            raise DecodeError(contract.UNKNOWN_LABEL, str(exc)) from None
        self._encoder = FeatureEncoder(schema, self.settings.unknown_features)
        self._labels = None

    def _label_row(
        self, names: list[str], what: str, record_id: str
    ) -> tuple[np.ndarray | None, list[str]]:
        """The label set's row, or ``None`` and the labels to add to the space first."""
        enc = self._labels
        if enc is None:
            s = self.settings
            enc = self._labels = LabelEncoder(
                self.state.schema, s.label_policy, s.max_labels, s.max_labels_per_record
            )
        return enc.row(names, what, record_id)

    # ------------------------------------------------------------------ after the batch
    def _scored(
        self, Y: np.ndarray, Yhat: np.ndarray, known: np.ndarray | None, out: list[OutRecord]
    ) -> None:
        """Learned rows and their predictions: prequential scores (complete rows) and the
        label-space monitors (their drift events go out at the end of the batch)."""
        st = self.state
        if st.scorer is not None:
            full = Y if known is None else Y[known.all(axis=1)]
            if len(full):
                st.scorer.score(full, Yhat if known is None else Yhat[known.all(axis=1)])
        if st.monitors is not None:
            self._drifts.extend(st.monitors.update(Y, Yhat, known))

    def _after_batch(self, out: list[OutRecord]) -> None:
        st = self.state
        monitored, self._drifts = self._drifts, []
        for ev in monitored:
            monitor = monitor_of(ev)
            st.label_drift_counts[monitor] = st.label_drift_counts.get(monitor, 0) + 1
            self.rec.label_drift(monitor)
        events = list(st.learner.pop_events()) if st.learner is not None else []
        for ev in events + monitored:
            key = (str(ev.level), str(ev.kind))
            st.drift_counts[key] = st.drift_counts.get(key, 0) + 1
            restructure = ev.kind in _RESTRUCTURE_KINDS
            if restructure:
                st.counts["restructures"] += 1
            out.append(DriftRecord.of(ev, st.shard).to_record())
            self.rec.drift(*key, restructure)
        self._expire(out)
        pending = st.join.pending
        ttl, size = pending.expired_ttl, pending.evicted_size
        self.rec.evicted("ttl", ttl - self._evicted_seen[0])
        self.rec.evicted("size", size - self._evicted_seen[1])
        self._evicted_seen = (ttl, size)
        self.rec.waiting(len(pending))
        if st.scorer is not None:
            hook = self.active_hook
            budget = getattr(hook, "budget_used", None) if hook is not None else None
            self.rec.scores(st.scorer.values(), None if budget is None else float(budget))

    def _expire(self, out: list[OutRecord]) -> None:
        self._last_expiry = self.clock()
        join = self.state.join
        for key, orphan in join.expire():
            self._orphan_dlq(out, key, orphan, f"waited {join.orphans.ttl:g} s for its event")

    def _row_by_row(
        self,
        items: list,
        call: Callable[[Any], Any],
        exc: Exception,
        out: list[OutRecord],
        record_of: Callable[[Any], Any] = lambda g: g.rec,
        source: str = "events",
    ) -> tuple[list, np.ndarray | None]:
        """The learner failed on a batch (``exc``): call it on each item alone, dead-letter the
        items it fails on (``learner_error``), and return the others with their results
        stacked. A learner that failed half-way through the batch may have learned the rows
        before the failing one already; they are learned again here (rows are never lost, a
        few may count twice in the model)."""
        log.error(
            "shard %s: the learner failed on a batch of %d (%s: %s); isolating the record(s) "
            "it fails on",
            self.state.shard,
            len(items),
            type(exc).__name__,
            exc,
        )
        kept, results = [], []
        for item in items:
            try:
                results.append(call(item))
            except Exception as err:
                log.exception("shard %s: the learner fails on one record", self.state.shard)
                self._dlq(
                    out,
                    record_of(item),
                    DecodeError(contract.LEARNER_ERROR, f"{type(err).__name__}: {err}"),
                    source,
                )
                continue
            kept.append(item)
        stacked = None if not kept or results[0] is None else np.vstack(results)
        return kept, stacked

    def _dlq(self, out: list[OutRecord], rec: Any, err: DecodeError, source: str) -> None:
        letter = DeadLetter.of(
            contract.raw_bytes(rec.value),
            err.reason,
            err.message,
            rec.topic,
            rec.partition,
            rec.offset,
        )
        out.append(letter.to_record(self.settings.dlq_max_value_bytes))
        self.rec.dead_letter(err.reason, source)

    # ------------------------------------------------------------------ publication, snapshots
    def maybe_publish(self, force: bool = False) -> ModelVersion | None:
        """Publish a copy of the model if enough events or time went by since the last one."""
        t0 = time.perf_counter()
        mv = self.publisher.maybe_publish(force)
        if mv is not None:
            d = mv.description
            self.rec.published(
                time.perf_counter() - t0,
                mv.version,
                len(mv.labels),
                d.get("memory_bytes"),
                _n_clusters(d),
            )
        return mv

    def snapshot(self, meta: dict[str, Any] | None = None) -> bytes:
        """The shard's state as a snapshot (its offsets are the next records to read)."""
        return self.state.dumps(self.settings, meta)

    def mark_snapshot(self, size: int, seconds: float, ok: bool = True) -> None:
        """Record a snapshot attempt (the loop calls it once the store has acknowledged)."""
        if ok:
            self.snapshots.written()
        self.rec.snapshot(ok, seconds, size)
        if ok:
            self.rec.snapshot_age(0.0)

    def dirty(self) -> bool:
        """Records were processed since the last durable snapshot."""
        return self.snapshots.dirty()

    def snapshot_due(self, now: float | None = None) -> bool:
        return self.snapshots.due(now)

    def update_age(self, now: float | None = None) -> None:
        age = self.snapshots.age(now)
        if age is not None:
            self.rec.snapshot_age(age)


def _n_clusters(description: dict[str, Any]) -> int | None:
    n = description.get("n_clusters")
    if isinstance(n, int):
        return n
    clusters = description.get("clusters")
    if isinstance(clusters, list):
        return len(clusters)
    return None


def _unusable(exc: Exception) -> DecodeError:
    """A record whose decoding or encoding failed other than with a :class:`DecodeError` (a
    bug): its dead letter says what happened."""
    log.exception("a record could not be used")
    return DecodeError(contract.INVALID_SCHEMA, f"could not be used ({type(exc).__name__}: {exc})")


def _fit(value: bytes, limit: int) -> bytes:
    """A prediction record over the output size limit, cut to fit (logged: it is rare)."""
    log.warning(
        "a prediction record of %d bytes is over max_output_bytes (%d): only its labels and "
        "top probabilities are sent",
        len(value),
        limit,
    )
    return contract.fit_prediction(value, limit)
