"""What a shard has learned — the state a snapshot holds — and when it is due for a snapshot.

:class:`ShardState` is one picklable object: the model (created at the first labelled event),
the feature/label spaces, the late-label join, the prequential scores (the one
:class:`~streamlearn.evaluate.prequential.Scorer`), the label-space drift monitors, the
active-learning policy, the counters and the next input offsets. A snapshot is this object with
the offsets it covers (:mod:`streamlearn.snapshot`); restoring it and reading the inputs from
those offsets replays exactly what the model has not seen.

:class:`SnapshotClock` says when a shard is due for its next snapshot (every N records or T
seconds, if anything changed) and whether it changed since the last durable one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamlearn import snapshot as snap
from streamlearn.base.multilabel import MultiLabelClassifier
from streamlearn.evaluate.prequential import Scorer
from streamlearn.schema import Schema
from streamlearn.service.join import LabelJoin
from streamlearn.service.learners import make_service_learner, resolve_learner_name
from streamlearn.service.monitors import LabelMonitors
from streamlearn.settings import Settings

__all__ = ["COUNTERS", "ShardState", "SnapshotClock"]

log = logging.getLogger("streamlearn.shard")

#: The shard's counters (each is also a Prometheus counter of the same name).
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
    factory: tuple[str, dict[str, Any], int]  # (name, params, seed) to build the learner
    join: LabelJoin
    learner: MultiLabelClassifier | None = None  # created at the first labelled event
    schema: Schema | None = None
    scorer: Scorer | None = None  # prequential metrics (cumulative and windowed)
    monitors: LabelMonitors | None = None  # label-space drift monitors
    hook: Any = None  # the active-learning policy of the settings (its state snapshots)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    drift_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    label_drift_counts: dict[str, int] = field(default_factory=dict)  # by label-space monitor
    offsets: dict[str, int] = field(default_factory=dict)  # input kind -> next offset
    created: float = field(default_factory=time.time)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def new(
        cls,
        shard: str,
        settings: Settings,
        schema: Schema | None = None,
        clock: Callable[[], float] = time.time,
    ) -> ShardState:
        """A fresh shard. ``schema`` fixes the feature/label spaces up front (else the first
        event and ``settings.features/n_features/labels`` do)."""
        name = resolve_learner_name(settings.learner)
        return cls(
            shard=shard,
            learner_name=name,
            factory=(name, dict(settings.learner_params), settings.seed),
            join=LabelJoin(
                settings.pending_ttl_seconds,
                settings.orphan_ttl_seconds,
                settings.pending_max_size,
                clock,
                settings.pending_max_bytes,
            ),
            schema=None if schema is None else schema.copy(),
        )

    @classmethod
    def loads(cls, data: bytes, settings: Settings) -> tuple[ShardState, snap.SnapshotHeader]:
        """The state in a snapshot, and the snapshot's header; :class:`SnapshotError` if the
        snapshot is unusable, unsigned or forged (checked with the settings' snapshot keys
        before anything is unpickled), or does not hold a shard state."""
        loaded = snap.loads(
            data, settings.signing_keys(), trusted_modules=settings.trusted_modules()
        )
        for w in loaded.warnings:
            log.warning("shard %s: %s", loaded.header.shard, w)
        if not isinstance(loaded.state, cls):
            raise snap.SnapshotError(
                f"snapshot of shard {loaded.header.shard} holds a "
                f"{type(loaded.state).__name__}, not a streamlearn shard state"
            )
        return loaded.state, loaded.header

    def dumps(self, settings: Settings, meta: dict[str, Any] | None = None) -> bytes:
        """The state as a snapshot signed with the settings' snapshot key (its offsets are the
        next records to read)."""
        return snap.dumps(
            self,
            settings.signing_keys(),
            learner=self.learner_name,
            shard=self.shard,
            offsets=self.offsets,
            meta={
                "events_learned": self.counts["events_learned"],
                "pending": len(self.join.pending),
                **(meta or {}),
            },
        )

    @property
    def version(self) -> int:
        """Instances learned (= the version of the model)."""
        return self.counts["events_learned"]

    @property
    def records_seen(self) -> int:
        return self.counts["events_consumed"] + self.counts["labels_consumed"]

    # ------------------------------------------------------------------ model
    def ensure_learner(self, settings: Settings) -> MultiLabelClassifier | None:
        """The model, created (with its scorer, monitors and query policy) once the label
        space has a label; ``None`` before."""
        if self.learner is not None or self.schema is None or not self.schema.n_labels:
            return self.learner
        name, params, seed = self.factory
        _, learner = make_service_learner(name, params, seed)
        learner.set_schema(self.schema)
        self.learner = learner
        if self.hook is None and settings.active_learning:
            from streamlearn.active import LabelQueryPolicy

            self.hook = LabelQueryPolicy(
                settings.active_learning,
                budget=settings.label_budget,
                decision_threshold=learner.threshold,
                seed=settings.seed,
                **settings.active_learning_params,
            )
        n_labels = self.schema.n_labels
        self.scorer = Scorer(None, n_labels, windows=settings.metric_windows)
        if settings.label_monitors:
            self.monitors = LabelMonitors(
                self.schema.labels,
                window_size=settings.cooccurrence_window,
                max_cooccurrence_labels=settings.cooccurrence_max_labels,
            )
        return learner

    def grow_labels(self, names: list[str]) -> Schema:
        """Add labels to the label space (the model's too); :class:`InputError` if the model
        cannot grow (the state is then unchanged). Returns the new schema."""
        assert self.schema is not None
        new = self.schema.copy()
        new.add_labels(names)
        if self.learner is not None:
            self.learner.set_schema(new)  # may raise InputError: cannot grow (schema unchanged)
        if self.scorer is not None:
            self.scorer.grow(new.n_labels)
        if self.monitors is not None:
            self.monitors.grow(new.labels)
        self.schema = new
        return new


class SnapshotClock:
    """When a shard is due for a snapshot, and whether it changed since the last durable one.

    A snapshot is due after ``interval_events`` input records or ``interval_seconds`` since
    the last one, if any record came since (a restored shard counts from its snapshot).
    """

    def __init__(
        self,
        state: ShardState,
        interval_events: int,
        interval_seconds: float,
        clock: Callable[[], float] = time.time,
        restored_at: float | None = None,
    ) -> None:
        self.state = state
        self.interval_events = interval_events
        self.interval_seconds = interval_seconds
        self.clock = clock
        #: Wall-clock time of the last durable snapshot (``None``: none yet).
        self.last_time = restored_at
        self.last_records = state.records_seen

    def dirty(self) -> bool:
        """Records were processed since the last durable snapshot (or there is none)."""
        return self.last_time is None or self.state.records_seen != self.last_records

    def due(self, now: float | None = None) -> bool:
        seen = self.state.records_seen
        if seen == self.last_records:
            return False
        if seen - self.last_records >= self.interval_events:
            return True
        now = self.clock() if now is None else now
        last = self.last_time if self.last_time is not None else self.state.created
        return now - last >= self.interval_seconds

    def written(self) -> None:
        """A snapshot of the current state is durable."""
        self.last_time = self.clock()
        self.last_records = self.state.records_seen

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last durable snapshot (``None``: none yet)."""
        if self.last_time is None:
            return None
        return max(0.0, (self.clock() if now is None else now) - self.last_time)
