"""Per-shard processing of the service, independent of where records come from.

A :class:`ShardProcessor` owns one model shard (one input partition). The Kafka runner and the
embedded runner both hand it polled batches of raw records and send on what it returns:

1. every ``events`` record is decoded (:mod:`consumers.codecs`); unusable ones become DLQ
   records with their reason and origin;
2. valid events are predicted and, when they carry labels, learned — strictly test-then-train
   per event, in offset order (runs of labelled events go through the learner's fused
   ``predict_learn_many``, which predicts each row before learning it); a prediction record is
   emitted for each event, with the ``model_version`` (= instances learned) that made it;
3. unlabelled events wait in the bounded :class:`~consumers.pending.PendingStore`; the optional
   active-learning hook may ask for some of their labels (``label-requests`` records);
4. ``labels`` records are joined to their pending event and learned (after the batch's events);
5. drift/structure events of the learner become ``drift`` records and metrics; prequential
   metrics (cumulative and windowed) are updated with every labelled prediction.

The whole learned state (model, pending store, prequential metrics, counters, next offsets) is
one picklable :class:`ShardState`: that is what a snapshot holds.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from consumers import codecs
from consumers.codecs import DecodeError, FeatureEncoder, OutRecord, Row
from consumers.pending import PendingStore
from streamlearn import snapshot as snap
from streamlearn.base.arrays import CSR, InputError
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.schema import Schema
from streamlearn.serving.state import ModelVersion, ServiceState
from streamlearn.settings import Settings

__all__ = [
    "ActiveLearningHook",
    "Record",
    "ShardProcessor",
    "ShardState",
    "make_service_learner",
    "resolve_learner_name",
]

log = logging.getLogger("streamlearn.processor")

#: Learners tried, in order, by ``learner="auto"``.
AUTO_LEARNERS: tuple[str, ...] = ("ihomer", "mlhat", "br-nb")


class Record(NamedTuple):
    """An input record (the attributes of kafka-python's ``ConsumerRecord`` that we use)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    timestamp: int | None = None


class ActiveLearningHook(Protocol):
    """Decides which labels of an unlabelled event to ask an oracle for.

    ``decide`` gets the predicted probabilities of the event and the number of events the shard
    has seen, and returns a boolean mask over the label space (empty/all-False = ask nothing).
    An optional ``budget_used`` attribute (0..1) is exported as a metric.
    """

    def decide(self, proba_row: np.ndarray, n_seen: int) -> np.ndarray: ...


# ---------------------------------------------------------------------- learners
def resolve_learner_name(name: str) -> str:
    """``auto`` -> the first available of :data:`AUTO_LEARNERS`; other names unchanged."""
    if name != "auto":
        return name
    from streamlearn.multilabel import available_learners

    avail = available_learners()
    for cand in AUTO_LEARNERS:
        if cand in avail:
            return cand
    raise ValueError(
        f"learner 'auto': none of {', '.join(AUTO_LEARNERS)} is available in this build "
        f"(available: {', '.join(avail) or 'none'}); set STREAMLEARN_LEARNER"
    )


def make_service_learner(
    name: str, params: dict[str, Any] | None = None, seed: int = 0
) -> tuple[str, MultiLabelClassifier]:
    """Build the service's learner: a registry name, ``auto`` or ``module:Class``."""
    name = resolve_learner_name(name)
    params = dict(params or {})
    if ":" in name:
        module, _, cls_name = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"learner {name!r} cannot be imported: {exc}") from None
    else:
        from streamlearn.multilabel import learner_class

        cls = learner_class(name)
    if "seed" not in params:
        try:
            if "seed" in inspect.signature(cls).parameters:
                params["seed"] = seed
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            pass
    model = cls(**params)
    if not isinstance(model, MultiLabelClassifier):
        raise ValueError(f"learner {name!r} is not a streamlearn MultiLabelClassifier")
    return name, model


# ---------------------------------------------------------------------- prequential metrics
class Prequential:
    """Cumulative and windowed multi-label metrics of the test-then-train predictions.

    ``classes`` = (cumulative class, windowed class); default
    :class:`streamlearn.metrics.MultiLabelMetrics` and ``WindowedMultiLabelMetrics``.
    """

    def __init__(self, n_labels: int, windows: Sequence[int], classes: tuple | None = None) -> None:
        if classes is None:
            from streamlearn.metrics import MultiLabelMetrics, WindowedMultiLabelMetrics

            classes = (MultiLabelMetrics, WindowedMultiLabelMetrics)
        cum, win = classes
        self.cumulative = cum(n_labels=n_labels)
        self.windowed = {int(w): win(window=int(w), n_labels=n_labels) for w in windows}

    @classmethod
    def create(
        cls, n_labels: int, windows: Sequence[int], classes: tuple | None = None
    ) -> Prequential | None:
        try:
            return cls(n_labels, windows, classes)
        except ImportError:  # the metrics package is not in this build
            log.warning("prequential metrics unavailable (streamlearn.metrics missing)")
            return None

    def grow(self, n_labels: int) -> None:
        self.cumulative.grow(n_labels)
        for m in self.windowed.values():
            m.grow(n_labels)

    def update_many(self, Y: np.ndarray, Yhat: np.ndarray) -> None:
        self.cumulative.update_many(Y, Yhat)
        for m in self.windowed.values():
            m.update_many(Y, Yhat)

    def values(self) -> dict[str, dict[str, float]]:
        out = {"cumulative": self.cumulative.to_dict()}
        for w, m in self.windowed.items():
            out[str(w)] = m.to_dict()
        return out


# ---------------------------------------------------------------------- state
COUNTERS = (
    "events_consumed",
    "events_predicted",
    "events_learned",
    "labels_consumed",
    "labels_joined",
    "label_requests",
    "labels_requested",
    "restructures",
)


@dataclass
class ShardState:
    """Everything a shard has learned; pickled whole into its snapshot."""

    shard: str
    learner_name: str
    learner: MultiLabelClassifier | None  # created at the first labelled event
    factory: tuple[str, dict[str, Any], int]  # (name, params, seed) to build the learner
    schema: Schema | None = None
    pending: PendingStore | None = None
    orphans: PendingStore | None = None  # labels that came before their event
    prequential: Prequential | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    drift_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    hook: Any = None  # the active-learning policy built from the settings (its state snapshots)
    offsets: dict[str, int] = field(default_factory=dict)  # input kind -> next offset
    created: float = field(default_factory=time.time)


def _stack(rows: Sequence[Row], schema: Schema) -> np.ndarray | CSR:
    if schema.sparse:
        return CSR.from_rows(list(rows), schema.n_features)
    if not rows:
        return np.zeros((0, schema.n_features))
    return np.array(rows, dtype=np.float64)  # rows: float lists or arrays of one length


#: Most label-set rows a shard remembers (see ``ShardProcessor._label_row``).
MAX_LABEL_ROWS = 4096

_RESTRUCTURE_KINDS = frozenset({"split", "merge", "restructure"})


class ShardProcessor:
    """Processes the records of one shard. Not thread-safe: one learning thread owns it.

    Parameters
    ----------
    state
        The shard's state (new, or restored from a snapshot).
    settings
        Service settings (policies, limits, publication cadence, metric windows).
    metrics
        The shard's bound Prometheus series (:class:`~streamlearn.observability.metrics.ShardMetrics`),
        or ``None`` to run without metrics.
    service
        Where published model versions go (the HTTP readers), or ``None``.
    hook
        Active-learning policy (:class:`ActiveLearningHook`); ``None``: the one of
        ``settings.active_learning`` (kept in the shard state, so it snapshots), or none.
    clock
        Wall clock for the pending store and publication cadence (injectable for tests).
    metric_classes
        (cumulative, windowed) prequential metric classes; default those of
        :mod:`streamlearn.metrics`.
    """

    def __init__(
        self,
        state: ShardState,
        settings: Settings,
        metrics: Any = None,
        service: ServiceState | None = None,
        hook: ActiveLearningHook | None = None,
        clock: Callable[[], float] = time.time,
        metric_classes: tuple | None = None,
    ) -> None:
        self.metric_classes = metric_classes
        self.state = state
        self.settings = settings
        self.metrics = metrics
        self.service = service
        self.hook = hook
        self.clock = clock
        if state.pending is None:
            state.pending = PendingStore(
                settings.pending_ttl_seconds, settings.pending_max_size, clock
            )
        else:
            state.pending.clock = clock
            state.pending.ttl = settings.pending_ttl_seconds
            state.pending.max_size = settings.pending_max_size
        if state.orphans is None:
            state.orphans = PendingStore(
                settings.orphan_ttl_seconds, settings.pending_max_size, clock
            )
        else:
            state.orphans.clock = clock
            state.orphans.ttl = settings.orphan_ttl_seconds
            state.orphans.max_size = settings.pending_max_size
        self._last_expiry = -float("inf")
        self._encoder: FeatureEncoder | None = None
        self._lidx: dict | None = None
        self._label_rows: dict[tuple, np.ndarray] = {}
        self._pred = codecs.PredictionEncoder()
        self._last_pub_version = -1
        self._last_pub_time = 0.0
        self._published: ModelVersion | None = None
        self.last_snapshot_time: float | None = None
        self.last_snapshot_events = (
            state.counts["events_consumed"] + state.counts["labels_consumed"]
        )
        self._evicted_seen = (state.pending.expired_ttl, state.pending.evicted_size)
        if state.schema is not None:
            self._encoder = FeatureEncoder(state.schema, settings.unknown_features)
        if metrics is not None:
            for name in COUNTERS:
                if state.counts.get(name):
                    getattr(metrics, name).inc(state.counts[name])
            for (level, kind), n in state.drift_counts.items():
                metrics._m.drift_events.labels(state.shard, level, kind).inc(n)

    # ------------------------------------------------------------------ construction
    @classmethod
    def new(
        cls, shard: str, settings: Settings, schema: Schema | None = None, **kwargs: Any
    ) -> ShardProcessor:
        """A fresh shard. ``schema`` fixes the feature/label spaces up front (else the first
        event and ``settings.features/n_features/labels`` do)."""
        name = resolve_learner_name(settings.learner)
        state = ShardState(
            shard=shard,
            learner_name=name,
            learner=None,
            factory=(name, dict(settings.learner_params), settings.seed),
            schema=None if schema is None else schema.copy(),
        )
        return cls(state, settings, **kwargs)

    @classmethod
    def from_snapshot(cls, data: bytes, settings: Settings, **kwargs: Any) -> ShardProcessor:
        loaded = snap.loads(
            data, settings.signing_keys(), trusted_modules=settings.trusted_modules()
        )
        for w in loaded.warnings:
            log.warning("shard %s: %s", loaded.header.shard, w)
        state = loaded.state
        if not isinstance(state, ShardState):
            raise snap.SnapshotError(
                f"snapshot of shard {loaded.header.shard} holds a {type(state).__name__}, "
                "not a streamlearn shard state"
            )
        proc = cls(state, settings, **kwargs)
        proc.last_snapshot_time = loaded.header.created  # its state is that snapshot's
        return proc

    @property
    def shard(self) -> str:
        return self.state.shard

    @property
    def active_hook(self) -> Any:
        """The active-learning policy: the one given, else the settings' (in the state)."""
        return self.hook if self.hook is not None else self.state.hook

    @property
    def learner(self) -> MultiLabelClassifier | None:
        return self.state.learner

    @property
    def version(self) -> int:
        return self.state.counts["events_learned"]

    # ------------------------------------------------------------------ schema
    def _ensure_schema(self, x: Any) -> FeatureEncoder:
        if self._encoder is None:
            s = self.settings
            schema = codecs.schema_from_event(
                x, features=s.features, n_features=s.n_features, sparse=s.sparse
            )
            schema.add_labels(s.labels or [])
            self.state.schema = schema
            self._encoder = FeatureEncoder(schema, s.unknown_features)
        return self._encoder

    def _ensure_learner(self) -> MultiLabelClassifier | None:
        st = self.state
        if st.learner is None and st.schema is not None and st.schema.n_labels:
            name, params, seed = st.factory
            _, learner = make_service_learner(name, params, seed)
            learner.set_schema(st.schema)
            st.learner = learner
            s = self.settings
            if self.hook is None and st.hook is None and s.active_learning:
                from streamlearn.active import LabelQueryPolicy

                st.hook = LabelQueryPolicy(
                    s.active_learning,
                    budget=s.label_budget,
                    decision_threshold=learner.threshold,
                    seed=s.seed,
                    **s.active_learning_params,
                )
            st.prequential = Prequential.create(
                st.schema.n_labels, self.settings.metric_windows, self.metric_classes
            )
        return st.learner

    def _grow_labels(self, names: list[str]) -> None:
        """Add labels to the label space (model included); InputError if the model refuses."""
        st = self.state
        assert st.schema is not None
        new = st.schema.copy()
        new.add_labels(names)
        if st.learner is not None:
            st.learner.set_schema(new)  # may raise InputError: cannot grow (schema unchanged)
            if st.prequential is not None:
                st.prequential.grow(new.n_labels)
        st.schema = new
        self._encoder = FeatureEncoder(new, self.settings.unknown_features)

    def _label_row(
        self, names: list[str], what: str, record_id: str
    ) -> tuple[np.ndarray | None, list[str]]:
        """The 0/1 row of a label set under the unknown-label policy (None row = grow first).

        Rows of label sets already seen in this label space are remembered (a stream has few
        distinct label sets): the row returned is shared and read-only.
        """
        schema = self.state.schema
        assert schema is not None
        lidx = self._lidx
        if lidx is None or len(lidx) != schema.n_labels:
            lidx = self._lidx = {lab: i for i, lab in enumerate(schema.labels)}
            self._label_rows = {}
        key = tuple(names)
        rows = self._label_rows
        row = rows.get(key)
        if row is not None:
            return row, []
        try:  # every name is known
            row = np.zeros(len(lidx), dtype=np.uint8)
            row[[lidx[n] for n in names]] = 1
        except KeyError:
            pass
        else:
            if len(rows) >= MAX_LABEL_ROWS:
                rows.clear()
            row.flags.writeable = False
            rows[key] = row
            return row, []
        known, unknown = codecs.split_labels(names, schema)
        if unknown:
            policy = self.settings.unknown_labels
            if policy == "reject":
                raise DecodeError(
                    codecs.UNKNOWN_LABEL,
                    f"{what} {record_id!r} has label(s) {', '.join(map(repr, unknown))} "
                    "not in the label space",
                )
            if policy == "grow":
                return None, unknown
        return schema.labels_to_row(known), []

    # ------------------------------------------------------------------ processing
    def process(self, events: Sequence[Any] = (), labels: Sequence[Any] = ()) -> list[OutRecord]:
        """Process one polled batch of ``events`` then ``labels`` records (each in offset order)."""
        t0 = time.perf_counter()
        out: list[OutRecord] = []
        if events:
            self._process_events(events, out)
        if labels:
            self._process_labels(labels, out)
        self._after_batch(out)
        if self.metrics is not None:
            self.metrics.batch_seconds.observe(time.perf_counter() - t0)
        if self.service is not None:
            self.service.note_progress(self.state.shard, self.state.counts)
        return out

    def _dlq(self, out: list[OutRecord], rec: Any, err: DecodeError, source: str) -> None:
        out.append(
            codecs.dlq_record(
                rec.value,
                err.reason,
                err.message,
                rec.topic,
                rec.partition,
                rec.offset,
                self.settings.dlq_max_value_bytes,
            )
        )
        if self.metrics is not None:
            self.metrics.dlq(err.reason, source)

    def _process_events(self, records: Sequence[Any], out: list[OutRecord]) -> None:
        st = self.state
        max_bytes = self.settings.max_event_bytes
        orphans = st.orphans
        adopted = 0
        rejoin: list = []
        run: list[tuple[Any, codecs.Event, Row, np.ndarray | None]] = []
        decode = codecs.decode_event
        for rec in records:
            try:
                ev = decode(rec.value, max_bytes)
                enc = self._encoder or self._ensure_schema(ev.x)
                xrow = enc.row(ev.x)
                yrow = None
                if ev.labels is None and orphans and ev.id in orphans:
                    orec, lr = orphans.pop(ev.id) or (None, None)
                    if lr is not None and lr.known is None:  # its labels came first
                        ev = ev.model_copy(update={"labels": list(lr.labels)})
                        adopted += 1
                    elif lr is not None:  # a partial answer: joined after the events
                        rejoin.append((orec, lr))
                if ev.labels is not None:
                    yrow, grow = self._label_row(ev.labels, "event", ev.id)
                    if grow:
                        self._flush_events(run, out)
                        run = []
                        try:
                            self._grow_labels(grow)
                        except InputError as exc:
                            raise DecodeError(codecs.UNKNOWN_LABEL, str(exc)) from None
                        yrow, _ = self._label_row(ev.labels, "event", ev.id)
            except DecodeError as err:
                self._dlq(out, rec, err, "events")
                continue
            run.append((rec, ev, xrow, yrow))
        self._flush_events(run, out)
        if adopted:
            st.counts["labels_joined"] += adopted
            if self.metrics is not None:
                self.metrics.labels_joined.inc(adopted)
        if rejoin:
            self._apply_labels(rejoin, out)
        n = len(records)
        st.counts["events_consumed"] += n
        st.offsets["events"] = records[-1].offset + 1
        if self.metrics is not None:
            self.metrics.events_consumed.inc(n)

    def _flush_events(self, run: list, out: list[OutRecord]) -> None:
        if not run:
            return
        st = self.state
        schema = st.schema
        assert schema is not None
        learner = self._ensure_learner()
        # split into maximal groups of labelled / unlabelled events (offset order kept)
        start = 0
        while start < len(run):
            labelled = run[start][3] is not None
            stop = start + 1
            while stop < len(run) and (run[stop][3] is not None) == labelled:
                stop += 1
            group = run[start:stop]
            if labelled:
                self._learn_group(group, out, learner)
            else:
                self._predict_group(group, out, learner)
            start = stop

    def _emit_predictions(
        self, group: list, P: np.ndarray | None, version: int, out: list, learning: bool
    ) -> None:
        """Prediction records; when ``learning``, row k was predicted after k rows were learned."""
        st = self.state
        labels = st.schema.labels if st.schema is not None and P is not None else []
        thr = st.learner.threshold if st.learner is not None else 0.5
        if P is None:
            P = np.zeros((len(group), 0))
        values = self._pred.encode_many(
            [g[1].id for g in group],
            labels,
            P,
            thr,
            version,
            [g[0].offset for g in group],
            st.shard,
            learning,
        )
        out.extend([OutRecord("predictions", g[0].key, v) for g, v in zip(group, values)])
        st.counts["events_predicted"] += len(group)
        if self.metrics is not None:
            self.metrics.events_predicted.inc(len(group))

    def _learn_group(self, group: list, out: list, learner: MultiLabelClassifier | None) -> None:
        st = self.state
        n = len(group)
        before = st.counts["events_learned"]
        if learner is None:  # no label in the space yet: nothing to learn from
            self._emit_predictions(group, None, before, out, False)
            return
        X = _stack([g[2] for g in group], st.schema)
        Y = np.vstack([g[3] for g in group])
        t0 = time.perf_counter()
        P = learner.predict_learn_many(X, Y)
        if self.metrics is not None:
            self.metrics.learn_seconds.observe(time.perf_counter() - t0)
        self._emit_predictions(group, P, before, out, True)
        if st.prequential is not None:
            st.prequential.update_many(Y, P > learner.threshold)
        st.counts["events_learned"] = before + n
        if self.metrics is not None:
            self.metrics.events_learned.inc(n)

    def _predict_group(self, group: list, out: list, learner: MultiLabelClassifier | None) -> None:
        st = self.state
        P = None
        if learner is not None:
            X = _stack([g[2] for g in group], st.schema)
            t0 = time.perf_counter()
            P = learner.predict_proba_many(X)
            if self.metrics is not None:
                self.metrics.predict_stream_seconds.observe(time.perf_counter() - t0)
        self._emit_predictions(group, P, st.counts["events_learned"], out, False)
        pending = st.pending
        hook = self.active_hook
        for k, (rec, ev, xrow, _) in enumerate(group):
            prow = None if P is None else P[k]
            pending.put(ev.id, (xrow, prow, rec.offset))
            if hook is not None and prow is not None:
                self._ask(rec, ev, prow, out)

    def _ask(self, rec: Any, ev: codecs.Event, prow: np.ndarray, out: list) -> None:
        st = self.state
        n_seen = st.learner.n_samples_seen if st.learner is not None else 0
        mask = np.asarray(self.active_hook.decide(prow, n_seen), dtype=bool)
        if not mask.any():
            return
        asked = [str(st.schema.labels[j]) for j in np.flatnonzero(mask)]
        p = prow[mask]
        score = float(np.mean(1.0 - np.abs(2.0 * p - 1.0)))
        body = {
            "id": ev.id,
            "x": codecs.x_to_json(ev.x),
            "labels_asked": asked,
            "score": score,
            "shard": st.shard,
            "offset": rec.offset,
        }
        out.append(OutRecord("label-requests", rec.key, json.dumps(body).encode()))
        st.counts["label_requests"] += 1
        st.counts["labels_requested"] += len(asked)
        if self.metrics is not None:
            self.metrics.label_requests.inc()
            self.metrics.labels_requested.inc(len(asked))

    def _process_labels(self, records: Sequence[Any], out: list[OutRecord]) -> None:
        st = self.state
        max_bytes = self.settings.max_event_bytes
        items = []
        for rec in records:
            try:
                items.append((rec, codecs.decode_label_record(rec.value, max_bytes)))
            except DecodeError as err:
                self._dlq(out, rec, err, "labels")
        self._apply_labels(items, out)
        n = len(records)
        st.counts["labels_consumed"] += n
        st.offsets["labels"] = records[-1].offset + 1
        if self.metrics is not None:
            self.metrics.labels_consumed.inc(n)

    def _apply_labels(self, items: list, out: list[OutRecord]) -> None:
        """Join label records to their pending events; park the others as orphans."""
        st = self.state
        pending = st.pending
        joined: list[tuple[Row, np.ndarray, np.ndarray | None, np.ndarray | None]] = []
        for rec, lr in items:
            try:
                if lr.id not in pending:
                    # its event may not be consumed yet (the topics are read independently):
                    # wait for it, up to the orphan TTL
                    for key, orphan in st.orphans.put(lr.id, (rec, lr)):
                        self._orphan_dlq(out, key, orphan, "evicted: too many labels wait")
                    continue
                names = list(lr.labels) + list(lr.known or [])
                yrow, grow = self._label_row(names, "labels of", lr.id)
                if grow:
                    self._join(joined)
                    joined = []
                    try:
                        self._grow_labels(grow)
                    except InputError as exc:
                        raise DecodeError(codecs.UNKNOWN_LABEL, str(exc)) from None
                item = pending.pop(lr.id)
                if item is None:
                    raise DecodeError(
                        codecs.UNMATCHED_LABEL,
                        f"the event {lr.id!r} waited longer than the pending TTL "
                        f"({pending.ttl:g} s)",
                    )
                schema = st.schema
                yrow = schema.labels_to_row([n for n in lr.labels if schema.has_label(n)])
                known = None
                if lr.known is not None:  # a partial answer: only these labels are known
                    known = yrow.astype(bool)
                    for n in lr.known:
                        if schema.has_label(n):
                            known[schema.label_index(n)] = True
                xrow, prow, _ = item
                joined.append((xrow, yrow, known, prow))
            except DecodeError as err:
                self._dlq(out, rec, err, "labels")
        self._join(joined)

    def _orphan_dlq(self, out: list[OutRecord], key: str, orphan: tuple, why: str) -> None:
        rec, _ = orphan
        err = DecodeError(
            codecs.UNMATCHED_LABEL,
            f"no event with id {key!r} to join ({why}; never seen, already labelled, or "
            "expired from the pending store)",
        )
        self._dlq(out, rec, err, "labels")

    def _join(self, joined: list) -> None:
        if not joined:
            return
        st = self.state
        learner = self._ensure_learner()
        if learner is None:  # pragma: no cover - joined labels imply a label space
            return
        nl = st.schema.n_labels
        X = _stack([j[0] for j in joined], st.schema)
        Y = np.vstack([j[1] for j in joined])
        partial = any(j[2] is not None for j in joined)
        K = None
        if partial:
            K = np.vstack([np.ones(nl, bool) if j[2] is None else j[2] for j in joined])
        t0 = time.perf_counter()
        learner.learn_many(X, Y, known=K)
        if self.metrics is not None:
            self.metrics.learn_seconds.observe(time.perf_counter() - t0)
        # score the predictions made when the events arrived (complete label sets only)
        if st.prequential is not None:
            rows = [k for k, j in enumerate(joined) if j[2] is None and j[3] is not None]
            if rows:
                thr = learner.threshold
                Yhat = np.zeros((len(rows), nl), dtype=bool)
                for r, k in enumerate(rows):
                    p = joined[k][3]
                    Yhat[r, : len(p)] = p > thr
                st.prequential.update_many(Y[rows], Yhat)
        n = len(joined)
        st.counts["events_learned"] += n
        st.counts["labels_joined"] += n
        if self.metrics is not None:
            self.metrics.events_learned.inc(n)
            self.metrics.labels_joined.inc(n)

    def _after_batch(self, out: list[OutRecord]) -> None:
        st = self.state
        learner = st.learner
        if learner is not None:
            for ev in learner.pop_events():
                key = (str(ev.level), str(ev.kind))
                st.drift_counts[key] = st.drift_counts.get(key, 0) + 1
                restructure = ev.kind in _RESTRUCTURE_KINDS
                if restructure:
                    st.counts["restructures"] += 1
                body = ev.to_dict()
                body["shard"] = st.shard
                out.append(
                    OutRecord("drift", st.shard.encode(), json.dumps(body, default=str).encode())
                )
                if self.metrics is not None:
                    self.metrics.drift(*key)
                    if restructure:
                        self.metrics.restructures.inc()
        pending = st.pending
        self._expire(out)
        if self.metrics is not None:
            m = self.metrics
            ttl, size = pending.expired_ttl, pending.evicted_size
            m.evicted("ttl", ttl - self._evicted_seen[0])
            m.evicted("size", size - self._evicted_seen[1])
            self._evicted_seen = (ttl, size)
            m.pending_size.set(len(pending))
            if st.prequential is not None:
                for window, values in st.prequential.values().items():
                    m.set_prequential(window, values)
            hook = self.active_hook
            if hook is not None and hasattr(hook, "budget_used"):
                m.label_budget_used.set(float(hook.budget_used))

    def _expire(self, out: list[OutRecord]) -> None:
        st = self.state
        self._last_expiry = self.clock()
        st.pending.expire()
        for key, orphan in st.orphans.expire():
            self._orphan_dlq(out, key, orphan, f"waited {st.orphans.ttl:g} s for its event")

    def tick(self) -> list[OutRecord]:
        """Housekeeping between batches (expired orphan labels go to the DLQ), about once a second."""
        out: list[OutRecord] = []
        if self.clock() - self._last_expiry >= 1.0:
            self._expire(out)
            if self.metrics is not None:
                self.metrics.pending_size.set(len(self.state.pending))
        return out

    # ------------------------------------------------------------------ publication
    def maybe_publish(self, force: bool = False) -> ModelVersion | None:
        """Publish a copy of the model if enough events or time went by since the last one."""
        v = self.version
        now = self.clock()
        if not force and self._published is not None:
            if v == self._last_pub_version:
                return None
            if (
                v - self._last_pub_version < self.settings.publish_every_events
                and (now - self._last_pub_time) * 1000.0 < self.settings.publish_interval_ms
            ):
                return None
        return self.publish(now)

    def publish(self, now: float | None = None) -> ModelVersion:
        """Hand an immutable copy of the model to the readers (``service.publish_model``)."""
        st = self.state
        t0 = time.perf_counter()
        description: dict[str, Any] = {}
        if st.learner is not None:
            description = st.learner.describe()
        schema = st.schema
        meta = {
            "shard": st.shard,
            "version": self.version,
            "learner": st.learner_name,
            "labels": tuple(str(x) for x in (schema.labels if schema else ())),
            "features": tuple(str(x) for x in (schema.features if schema else ())),
            "sparse": bool(schema.sparse) if schema else False,
            "description": description,
            "offsets": dict(st.offsets),
            "instances_seen": int(st.learner.n_samples_seen) if st.learner is not None else 0,
        }
        # the service copies the live learner (pickle) before this returns
        if self.service is not None:
            mv = self.service.publish_model(meta, st.learner)
        else:
            mv = ModelVersion.copy_of(meta, st.learner)
        self._published = mv
        self._last_pub_version = mv.version
        self._last_pub_time = self.clock() if now is None else now
        m = self.metrics
        if m is not None:
            m.publish_seconds.observe(time.perf_counter() - t0)
            m.model_publications.inc()
            m.model_version.set(mv.version)
            m.model_labels.set(len(mv.labels))
            if "memory_bytes" in description:
                m.model_memory.set(description["memory_bytes"])
            n_clusters = _n_clusters(description)
            if n_clusters is not None:
                m.clusters.set(n_clusters)
        return mv

    # ------------------------------------------------------------------ snapshots
    def snapshot_key(self) -> str:
        return self.state.shard

    def snapshot(self, meta: dict[str, Any] | None = None) -> bytes:
        """The shard's state as a snapshot (its offsets are the next records to read)."""
        st = self.state
        return snap.dumps(
            st,
            self.settings.signing_keys(),
            learner=st.learner_name,
            shard=st.shard,
            offsets=st.offsets,
            meta={
                "events_learned": st.counts["events_learned"],
                "pending": len(st.pending),
                **(meta or {}),
            },
        )

    def mark_snapshot(self, size: int, seconds: float, ok: bool = True) -> None:
        """Record a snapshot attempt (the runner calls it once the store has acknowledged)."""
        st = self.state
        if ok:
            self.last_snapshot_time = self.clock()
            self.last_snapshot_events = st.counts["events_consumed"] + st.counts["labels_consumed"]
        m = self.metrics
        if m is not None:
            m.snapshot_written(ok)
            if ok:
                m.snapshot_seconds.observe(seconds)
                m.snapshot_bytes.set(size)
                m.snapshot_age.set(0.0)

    def dirty(self) -> bool:
        """Records were processed since the last durable snapshot."""
        st = self.state
        seen = st.counts["events_consumed"] + st.counts["labels_consumed"]
        return self.last_snapshot_time is None or seen != self.last_snapshot_events

    def snapshot_due(self, now: float | None = None) -> bool:
        st = self.state
        seen = st.counts["events_consumed"] + st.counts["labels_consumed"]
        if seen == self.last_snapshot_events:
            return False
        if seen - self.last_snapshot_events >= self.settings.snapshot_interval_events:
            return True
        now = self.clock() if now is None else now
        last = self.last_snapshot_time if self.last_snapshot_time is not None else st.created
        return now - last >= self.settings.snapshot_interval_seconds

    def update_age(self, now: float | None = None) -> None:
        if self.metrics is not None and self.last_snapshot_time is not None:
            now = self.clock() if now is None else now
            self.metrics.snapshot_age.set(max(0.0, now - self.last_snapshot_time))


def _n_clusters(description: dict[str, Any]) -> int | None:
    n = description.get("n_clusters")
    if isinstance(n, int):
        return n
    clusters = description.get("clusters")
    if isinstance(clusters, list):
        return len(clusters)
    return None
