"""Every Prometheus metric of the service, in one place.

Names follow Prometheus conventions: the ``streamlearn_`` prefix, counters end in ``_total``,
durations are histograms in ``_seconds``, sizes in ``_bytes``. docs/metrics.md documents each one
(name, type, labels, meaning); a unit test keeps that page and this module in step.

Metrics are registered in the :class:`~prometheus_client.CollectorRegistry` given to
:class:`ServiceMetrics` (a fresh one per service, per test): library code never touches the
global default registry.

The service core reports through the recorder interface of :mod:`streamlearn.service.recorder`;
:class:`ServiceMetrics` is its Prometheus implementation (a :class:`~streamlearn.service.recorder.
Recorder`) and :class:`ShardMetrics` the per-shard one (a :class:`~streamlearn.service.recorder.
ShardRecorder`), reached through :meth:`ServiceMetrics.shard`, which binds the ``shard`` label
once so the hot path never looks labels up per event. Durations are observed once per processed
batch, not per event (the per-event cost is ``*_seconds_sum`` divided by the matching event
counter).

Examples
--------
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> m = ServiceMetrics(CollectorRegistry())
>>> s = m.shard("0")
>>> s.learned(3, seconds=0.001)
>>> b"streamlearn_events_learned_total{shard=\\"0\\"} 3.0" in generate_latest(m.registry)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from streamlearn.service.monitors import MONITORS
from streamlearn.service.recorder import Recorder, ShardRecorder

__all__ = [
    "HTTP_METHODS",
    "LATENCY_BUCKETS",
    "PREQUENTIAL_METRICS",
    "ServiceMetrics",
    "ShardMetrics",
]

#: HTTP methods that label the HTTP metrics; any other method is counted as ``other`` (a client
#: cannot make up new series).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: Buckets of every ``_seconds`` histogram: 50 µs .. 30 s.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

#: Prequential metrics exported as gauges ``streamlearn_prequential_<name>``.
PREQUENTIAL_METRICS: tuple[str, ...] = (
    "micro_f1",
    "macro_f1",
    "example_f1",
    "subset_accuracy",
    "hamming_loss",
)

_NS = "streamlearn"


class ServiceMetrics(Recorder):
    """The metrics of one service instance, registered in ``registry``.

    ``part`` selects which metrics this registry holds: ``"all"`` (one process does everything),
    ``"stream"`` (the learning process: everything but HTTP) or ``"http"`` (the HTTP process:
    request counters and latencies, the HTTP predict latency, readiness and build info). The
    service runs learning and HTTP in two processes and serves both registries at ``/metrics``;
    no metric is in both.
    """

    def __init__(self, registry: CollectorRegistry | None = None, part: str = "all") -> None:
        if part not in ("all", "stream", "http"):
            raise ValueError(f"part must be 'all', 'stream' or 'http', not {part!r}")
        self.part = part
        self.registry = registry if registry is not None else CollectorRegistry()
        self._shards: dict[str, ShardMetrics] = {}
        if part != "http":
            self._stream_metrics(self.registry)
        if part != "stream":
            self._http_metrics(self.registry)

    def _http_metrics(self, r: CollectorRegistry) -> None:
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests, by route, method and status.",
            ("route", "method", "status"),
            namespace=_NS,
            registry=r,
        )
        self.http_request_seconds = Histogram(
            "http_request_seconds",
            "HTTP request latency, by route and method.",
            ("route", "method"),
            namespace=_NS,
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.http_predict_seconds = Histogram(
            "http_predict_seconds",
            "The model call of one /v1/predict request (published model of the shard).",
            ("shard",),
            namespace=_NS,
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.ready = Gauge(
            "ready",
            "1 when the service is ready (models restored, source connected).",
            namespace=_NS,
            registry=r,
        )
        self.info = Info(
            "build", "Version, learner and mode of the service.", namespace=_NS, registry=r
        )

    def _stream_metrics(self, r: CollectorRegistry) -> None:
        S = ("shard",)

        def counter(name: str, doc: str, labels: tuple[str, ...] = S) -> Counter:
            return Counter(name, doc, labels, namespace=_NS, registry=r)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = S) -> Gauge:
            return Gauge(name, doc, labels, namespace=_NS, registry=r)

        def histogram(name: str, doc: str, labels: tuple[str, ...] = S) -> Histogram:
            return Histogram(name, doc, labels, namespace=_NS, registry=r, buckets=LATENCY_BUCKETS)

        # --- stream counters
        self.events_consumed = counter(
            "events_consumed", "Event records read from the events input (valid or not)."
        )
        self.events_predicted = counter(
            "events_predicted", "Events the model predicted (a prediction record was emitted)."
        )
        self.events_learned = counter(
            "events_learned",
            "Instances learned by the shard's model (events with labels and joined late labels); "
            "restored from the snapshot, so it counts every instance in the model exactly once.",
        )
        self.labels_consumed = counter(
            "labels_consumed", "Label records read from the labels input (valid or not)."
        )
        self.labels_joined = counter(
            "labels_joined", "Late label records joined to their pending event and learned."
        )
        self.dlq = counter(
            "dlq",
            "Records sent to the dead-letter queue, by reason and source input.",
            ("reason", "source"),
        )
        self.drift_events = counter(
            "drift_events", "Drift and structure events of the model.", ("shard", "level", "kind")
        )
        self.restructures = counter(
            "restructures", "Changes of the label partition (cluster split, merge, restructure)."
        )
        self.label_drift_events = counter(
            "label_drift_events",
            "Detections of the shard's label-space monitors, by monitor: error (a label's "
            "prediction error rate changed) or cooccurrence (the labels' co-occurrence changed).",
            ("shard", "monitor"),
        )
        self.label_requests = counter(
            "label_requests", "Active-learning label-request records emitted."
        )
        self.labels_requested = counter(
            "labels_requested", "Individual labels asked for in label-request records."
        )
        self.pending_evictions = counter(
            "pending_evictions",
            "Events dropped from the pending store before their labels came (ttl or size).",
            ("shard", "reason"),
        )
        self.snapshots = counter(
            "snapshots", "Snapshots written, by outcome (ok, error).", ("shard", "outcome")
        )
        self.snapshot_restores = counter(
            "snapshot_restores",
            "Shard starts, by outcome: restored (from a snapshot), fresh (none found), refused "
            "(unusable snapshot).",
            ("shard", "outcome"),
        )
        self.model_publications = counter(
            "model_publications", "Immutable model versions published to the HTTP readers."
        )
        self.snapshot_records_skipped = counter(
            "snapshot_records_skipped",
            "Records of the snapshots topic skipped while restoring, by reason: malformed_key "
            "(not a shard key or chunk key), incomplete (manifest unreadable or chunks missing), "
            "corrupted (size or checksum of the chunks wrong).",
            ("reason",),
        )

        # --- durations
        self.learn_seconds = histogram(
            "learn_seconds", "One strict test-then-train call over a run of labelled events."
        )
        self.predict_seconds = histogram(
            "predict_seconds", "One prediction call over a run of unlabelled stream events."
        )
        self.batch_seconds = histogram(
            "batch_seconds",
            "Whole processing of one polled batch (decode, predict, learn, encode).",
        )
        self.snapshot_seconds = histogram(
            "snapshot_seconds", "Writing one snapshot until it is durable."
        )
        self.publish_seconds = histogram(
            "model_publish_seconds", "Copying the model into an immutable version for readers."
        )

        # --- gauges
        self.prequential = {
            name: gauge(
                f"prequential_{name}",
                f"Prequential {name.replace('_', ' ')} (test-then-train), cumulative since the "
                "shard started or over the last N evaluated instances.",
                ("shard", "window"),
            )
            for name in PREQUENTIAL_METRICS
        }
        self.clusters = gauge("clusters", "Label clusters of the model (iHOMER).")
        self.label_budget_used = gauge(
            "label_budget_used", "Fraction of the active-learning label budget spent (0..1)."
        )
        self.pending_size = gauge("pending_size", "Events waiting for late labels.")
        self.snapshot_age = gauge(
            "snapshot_age_seconds", "Seconds since the shard's last durable snapshot."
        )
        self.snapshot_bytes = gauge("snapshot_bytes", "Size of the shard's last snapshot.")
        self.consumer_lag = gauge(
            "consumer_lag",
            "Records between the consumer position and the partition end.",
            ("topic", "partition"),
        )
        self.model_memory = gauge(
            "model_memory_bytes", "Bytes held by the model's arrays (at its last publication)."
        )
        self.model_version = gauge(
            "model_version", "Version of the published model (= instances learned by it)."
        )
        self.model_labels = gauge("model_labels", "Labels in the model's label space.")

    def init_dlq(
        self, reasons: Iterable[str], sources: Iterable[str] = ("events", "labels")
    ) -> None:
        """Export ``streamlearn_dlq_total`` at 0 for every reason and source from the start.

        A counter series that appears with its first increment hides that increment from
        ``rate()``/``increase()`` (and from alerts); series whose label values are known in
        advance are therefore created at 0 (the Prometheus instrumentation practice).
        """
        for reason in reasons:
            for source in sources:
                self.dlq.labels(reason, source)

    def shard(self, shard: str) -> ShardMetrics:
        """The per-shard series of ``shard`` (created on first use)."""
        out = self._shards.get(shard)
        if out is None:
            out = self._shards[shard] = ShardMetrics(self, shard)
        return out

    def remove_shard(self, shard: str) -> None:
        """Drop every series of a shard this instance no longer holds (partition revoked)."""
        self._shards.pop(shard, None)
        if self.part == "http":
            return
        for metric in self._per_shard():
            for key in list(getattr(metric, "_metrics", {})):
                if key and key[0] == shard:
                    try:
                        metric.remove(*key)
                    except KeyError:  # pragma: no cover - raced with another removal
                        pass
        for key in list(getattr(self.consumer_lag, "_metrics", {})):
            if key[1] == shard:  # (topic, partition = the shard)
                try:
                    self.consumer_lag.remove(*key)
                except KeyError:  # pragma: no cover
                    pass

    def lag(self, source: str, shard: str, records: int) -> None:
        self.consumer_lag.labels(source, shard).set(records)

    def snapshot_record_skipped(self, reason: str) -> None:
        self.snapshot_records_skipped.labels(reason).inc()

    def _per_shard(self) -> list:
        return [
            m
            for m in vars(self).values()
            if isinstance(m, Counter | Gauge | Histogram) and m._labelnames[:1] == ("shard",)
        ] + list(getattr(self, "prequential", {}).values())

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in HTTP_METHODS:
            method = "other"
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_request_seconds.labels(route, method).observe(seconds)


class ShardMetrics(ShardRecorder):
    """The series of one shard, bound once (no label look-ups on the hot path)."""

    def __init__(self, m: ServiceMetrics, shard: str) -> None:
        self._m = m
        self.shard = shard
        self.events_consumed = m.events_consumed.labels(shard)
        self.events_predicted = m.events_predicted.labels(shard)
        self.events_learned = m.events_learned.labels(shard)
        self.labels_consumed = m.labels_consumed.labels(shard)
        self.labels_joined = m.labels_joined.labels(shard)
        self.restructures = m.restructures.labels(shard)
        self.label_requests = m.label_requests.labels(shard)
        self.labels_requested = m.labels_requested.labels(shard)
        self.model_publications = m.model_publications.labels(shard)
        self.learn_seconds = m.learn_seconds.labels(shard)
        self.predict_stream_seconds = m.predict_seconds.labels(shard)
        self.batch_seconds = m.batch_seconds.labels(shard)
        self.snapshot_seconds = m.snapshot_seconds.labels(shard)
        self.publish_seconds = m.publish_seconds.labels(shard)
        self.clusters = m.clusters.labels(shard)
        self.label_budget_used = m.label_budget_used.labels(shard)
        self.pending_size = m.pending_size.labels(shard)
        self.snapshot_age_gauge = m.snapshot_age.labels(shard)
        self.snapshot_bytes = m.snapshot_bytes.labels(shard)
        self.model_memory = m.model_memory.labels(shard)
        self.model_version = m.model_version.labels(shard)
        self.model_labels = m.model_labels.labels(shard)
        # counters whose label values are known: exported at 0 from the start (see init_dlq)
        for reason in ("ttl", "size"):
            m.pending_evictions.labels(shard, reason)
        for outcome in ("ok", "error"):
            m.snapshots.labels(shard, outcome)
        for monitor in MONITORS:
            m.label_drift_events.labels(shard, monitor)

    # ------------------------------------------------------------------ the recorder interface
    def resumed(
        self,
        counts: Mapping[str, int],
        drifts: Mapping[tuple[str, str], int],
        label_drifts: Mapping[str, int],
    ) -> None:
        for name, n in counts.items():
            series = getattr(self, name, None)
            if n and series is not None:
                series.inc(n)
        for (level, kind), n in drifts.items():
            self._m.drift_events.labels(self.shard, level, kind).inc(n)
        for monitor, n in label_drifts.items():
            self._m.label_drift_events.labels(self.shard, monitor).inc(n)

    def restored(self, outcome: str) -> None:
        self._m.snapshot_restores.labels(self.shard, outcome).inc()

    def consumed(self, events: int = 0, labels: int = 0) -> None:
        if events:
            self.events_consumed.inc(events)
        if labels:
            self.labels_consumed.inc(labels)

    def predicted(self, n: int) -> None:
        self.events_predicted.inc(n)

    def predict_call(self, seconds: float) -> None:
        self.predict_stream_seconds.observe(seconds)

    def learned(self, n: int, seconds: float, joined: int = 0) -> None:
        self.learn_seconds.observe(seconds)
        self.events_learned.inc(n)
        if joined:
            self.labels_joined.inc(joined)

    def adopted(self, n: int) -> None:
        self.labels_joined.inc(n)

    def asked(self, labels: int) -> None:
        self.label_requests.inc()
        self.labels_requested.inc(labels)

    def dead_letter(self, reason: str, source: str) -> None:
        self._m.dlq.labels(reason, source).inc()

    def drift(self, level: str, kind: str, restructure: bool) -> None:
        self._m.drift_events.labels(self.shard, level, kind).inc()
        if restructure:
            self.restructures.inc()

    def label_drift(self, monitor: str) -> None:
        self._m.label_drift_events.labels(self.shard, monitor).inc()

    def evicted(self, reason: str, n: int) -> None:
        if n:
            self._m.pending_evictions.labels(self.shard, reason).inc(n)

    def batch(self, seconds: float) -> None:
        self.batch_seconds.observe(seconds)

    def waiting(self, pending: int) -> None:
        self.pending_size.set(pending)

    def scores(self, values: Mapping[str, Mapping[str, float]], budget_used: float | None) -> None:
        for window, metrics in values.items():
            for name, gauge in self._m.prequential.items():
                v = metrics.get(name)
                if v is not None:
                    gauge.labels(self.shard, window).set(float(v))
        if budget_used is not None:
            self.label_budget_used.set(budget_used)

    def published(
        self,
        seconds: float,
        version: int,
        n_labels: int,
        memory_bytes: int | None,
        n_clusters: int | None,
    ) -> None:
        self.publish_seconds.observe(seconds)
        self.model_publications.inc()
        self.model_version.set(version)
        self.model_labels.set(n_labels)
        if memory_bytes is not None:
            self.model_memory.set(memory_bytes)
        if n_clusters is not None:
            self.clusters.set(n_clusters)

    def snapshot(self, ok: bool, seconds: float = 0.0, size: int = 0) -> None:
        self._m.snapshots.labels(self.shard, "ok" if ok else "error").inc()
        if ok:
            self.snapshot_seconds.observe(seconds)
            self.snapshot_bytes.set(size)

    def snapshot_age(self, seconds: float) -> None:
        self.snapshot_age_gauge.set(seconds)
