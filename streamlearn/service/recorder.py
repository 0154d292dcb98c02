"""How the service core reports what it does: one recorder interface, no metrics library.

The shard step and the loop call a :class:`ShardRecorder` (one per shard) and a
:class:`Recorder` (the whole service) at each step. The base classes record nothing; the
Prometheus implementation (:mod:`streamlearn.observability.metrics`) overrides every method, so
the service core never imports ``prometheus_client`` and never checks whether metrics are on.
Durations are reported once per batch or per call, never per event.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Recorder", "ShardRecorder"]


class ShardRecorder:
    """What one shard reports (the no-op base: subclass and override)."""

    def resumed(
        self,
        counts: Mapping[str, int],
        drifts: Mapping[tuple[str, str], int],
        label_drifts: Mapping[str, int],
    ) -> None:
        """The shard was restored with these counters (counters continue from them): its
        counts, drift events by (level, kind), label-space monitor detections by monitor."""

    def restored(self, outcome: str) -> None:
        """The shard started: ``restored`` (from a snapshot), ``fresh`` or ``refused``."""

    def consumed(self, events: int = 0, labels: int = 0) -> None:
        """Input records read (valid or not)."""

    def predicted(self, n: int) -> None:
        """Prediction records emitted."""

    def predict_call(self, seconds: float) -> None:
        """One prediction call over a run of unlabelled events."""

    def learned(self, n: int, seconds: float, joined: int = 0) -> None:
        """One learning call over ``n`` instances (``joined`` of them late labels)."""

    def adopted(self, n: int) -> None:
        """Label records that came before their event, learned with it."""

    def asked(self, labels: int) -> None:
        """One label request asking ``labels`` labels."""

    def dead_letter(self, reason: str, source: str) -> None:
        """One input record went to the DLQ."""

    def drift(self, level: str, kind: str, restructure: bool) -> None:
        """One drift or structure event (``restructure``: the label partition changed)."""

    def label_drift(self, monitor: str) -> None:
        """One detection of a label-space monitor (``error`` or ``cooccurrence``)."""

    def evicted(self, reason: str, n: int) -> None:
        """Pending events dropped before their labels came (``ttl`` or ``size``)."""

    def batch(self, seconds: float) -> None:
        """The whole processing of one polled batch."""

    def waiting(self, pending: int) -> None:
        """Events waiting for late labels."""

    def scores(self, values: Mapping[str, Mapping[str, float]], budget_used: float | None) -> None:
        """Prequential metrics by window (``cumulative``, ``"1000"``...) and the share of the
        label budget spent (``None``: no active learning)."""

    def published(
        self,
        seconds: float,
        version: int,
        n_labels: int,
        memory_bytes: int | None,
        n_clusters: int | None,
    ) -> None:
        """A model version was published to the readers."""

    def snapshot(self, ok: bool, seconds: float = 0.0, size: int = 0) -> None:
        """A snapshot attempt ended (``ok``: durable)."""

    def snapshot_age(self, seconds: float) -> None:
        """Seconds since the last durable snapshot."""


class Recorder:
    """What the whole service reports (the no-op base): per-shard recorders and input lag."""

    def shard(self, shard: str) -> ShardRecorder:
        return ShardRecorder()

    def remove_shard(self, shard: str) -> None:
        """The shard left this replica: its series go."""

    def lag(self, source: str, shard: str, records: int) -> None:
        """Records of input ``source`` not yet read by ``shard``."""

    def snapshot_record_skipped(self, reason: str) -> None:
        """A record of the snapshot store that is no snapshot record was skipped on restore
        (``malformed_key``, ``incomplete``, ``corrupted``)."""
