"""What the learning loop shares with the HTTP readers: immutable model versions and status.

The learning thread owns the live models. Every few events (or milliseconds) a shard's
:class:`Publisher` *publishes* a private copy of its model as a :class:`ModelVersion`; readers
only ever see published versions. Publishing swaps one dict reference, so a reader never takes
a lock that learning holds and never sees a model half-way through an update.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from streamlearn.service.state import ShardState

__all__ = ["READY_REASONS", "ModelVersion", "Publisher", "ServiceState"]

#: Why a service is (not) ready: the ``reason`` of ``/ready``, a code from this set and never
#: free text (the log says more). The Kafka connection codes are set by consumers.kafka_config.
READY_REASONS: frozenset[str] = frozenset(
    {
        "ready",
        "starting",
        "opening_source",
        "connecting",
        "joining_group",
        "restoring",
        "kafka_unreachable",
        "kafka_authentication_failed",
        "kafka_tls_failed",
        "kafka_not_authorized",
        "snapshot_refused",
        "runner_failed",
        "learning_process_stopped",
        "shutting_down",
        "stopped",
    }
)


@dataclass(frozen=True)
class ModelVersion:
    """One published, never-mutated copy of a shard's model.

    ``version`` is the number of instances the model had learned when it was copied (so it is
    comparable with the ``model_version`` of prediction records).
    """

    shard: str
    version: int
    learner: str
    model: Any  # a MultiLabelClassifier copy, or None before the first labelled event
    labels: tuple[str, ...]
    features: tuple[str, ...]
    sparse: bool
    description: dict[str, Any]
    offsets: dict[str, int]
    instances_seen: int
    published_at: float = field(default_factory=time.time)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @classmethod
    def copy_of(cls, meta: dict[str, Any], learner: Any) -> ModelVersion:
        """A version holding a private copy of ``learner`` (a pickle round trip)."""
        model = None if learner is None else pickle.loads(pickle.dumps(learner, protocol=5))
        return cls(model=model, **meta)


class ServiceState:
    """Shared status of a running service (one per process).

    Attributes set by the runner: ``mode`` (``embedded`` or ``kafka``), ``restored`` (every
    assigned shard has been restored or started fresh), ``connected`` (the source is reachable),
    ``reason`` (what the service is doing or why it is not ready: one of
    :data:`READY_REASONS`).
    """

    def __init__(self, mode: str = "embedded", learner: str = "") -> None:
        self.mode = mode
        self.learner = learner
        self.started = time.time()
        self.restored = False
        self.connected = False
        self.reason = "starting"
        self.stopping = threading.Event()
        self._models: Mapping[str, ModelVersion] = MappingProxyType({})
        self._write = threading.Lock()  # serialises writers only; readers never take it

    # -- readers (lock-free)
    @property
    def models(self) -> Mapping[str, ModelVersion]:
        return self._models

    def model(self, shard: str | None = None) -> ModelVersion | None:
        """The published version of ``shard``, or of the most trained shard when ``None``."""
        models = self._models
        if shard is not None:
            return models.get(shard)
        if not models:
            return None
        return max(models.values(), key=lambda m: (m.version, m.instances_seen))

    @property
    def reason(self) -> str:
        return self._reason

    @reason.setter
    def reason(self, code: str) -> None:
        if code not in READY_REASONS:
            raise ValueError(f"unknown readiness reason {code!r}")
        self._reason = code
        self._status_changed()

    def _status_changed(self) -> None:
        """Called when ``reason`` changes (a hook for the learning process; no-op here)."""

    def ready(self) -> tuple[bool, str]:
        """(ready, reason code)."""
        if self.stopping.is_set():
            return False, "shutting_down"
        if not self.restored:
            return False, self.reason if self.reason != "ready" else "restoring"
        if not self.connected:
            return False, self.reason if self.reason != "ready" else "kafka_unreachable"
        return True, "ready"

    def status(self) -> dict[str, Any]:
        ok, why = self.ready()
        return {
            "ready": ok,
            "reason": why,
            "mode": self.mode,
            "learner": self.learner,
            "shards": sorted(self._models),
            "uptime_seconds": round(time.time() - self.started, 3),
        }

    # -- writers (the learning thread)
    def publish_model(self, meta: dict[str, Any], learner: Any) -> ModelVersion:
        """Publish a copy of the live ``learner`` (see :meth:`Publisher.publish`)."""
        mv = ModelVersion.copy_of(meta, learner)
        self.publish(mv)
        return mv

    def note_progress(self, shard: str, counts: dict[str, int]) -> None:
        """Called after every processed batch (a hook for the learning process; no-op here)."""

    def publish(self, version: ModelVersion) -> None:
        with self._write:
            new = dict(self._models)
            new[version.shard] = version
            self._models = MappingProxyType(new)

    def drop(self, shard: str) -> None:
        with self._write:
            new = dict(self._models)
            new.pop(shard, None)
            self._models = MappingProxyType(new)


class Publisher:
    """Publishes a shard's model to the readers every ``every_events`` instances learned or
    ``interval_ms`` milliseconds (if it changed), and on demand.

    ``on_publish(version, seconds)`` is told of each publication (metrics).
    """

    def __init__(
        self,
        state: ShardState,
        readers: ServiceState | None,
        every_events: int,
        interval_ms: float,
        clock: Any = time.time,
    ) -> None:
        self.state = state
        self.readers = readers
        self.every_events = every_events
        self.interval_ms = interval_ms
        self.clock = clock
        self.last: ModelVersion | None = None
        self._last_time = 0.0

    def maybe_publish(self, force: bool = False) -> ModelVersion | None:
        """Publish if enough events or time went by since the last publication."""
        v = self.state.version
        now = self.clock()
        last = self.last
        if not force and last is not None:
            if v == last.version:
                return None
            if (
                v - last.version < self.every_events
                and (now - self._last_time) * 1000.0 < self.interval_ms
            ):
                return None
        return self.publish(now)

    def publish(self, now: float | None = None) -> ModelVersion:
        """Hand an immutable copy of the model to the readers."""
        st = self.state
        description: dict[str, Any] = {}
        if st.learner is not None:
            description = st.learner.describe()
        schema = st.schema
        meta = {
            "shard": st.shard,
            "version": st.version,
            "learner": st.learner_name,
            "labels": tuple(str(x) for x in (schema.labels if schema else ())),
            "features": tuple(str(x) for x in (schema.features if schema else ())),
            "sparse": bool(schema.sparse) if schema else False,
            "description": description,
            "offsets": dict(st.offsets),
            "instances_seen": int(st.learner.n_samples_seen) if st.learner is not None else 0,
        }
        # the readers copy the live learner (pickle) before this returns
        if self.readers is not None:
            mv = self.readers.publish_model(meta, st.learner)
        else:
            mv = ModelVersion.copy_of(meta, st.learner)
        self.last = mv
        self._last_time = self.clock() if now is None else now
        return mv
