"""The Kafka run loop: a consumer group over the events and labels topics, one shard per partition.

Delivery (DESIGN §5): at-least-once consumption, exactly-once effect on the model.

- Partition p of ``events`` and of ``labels`` feed model shard p (range assignment keeps them on
  the same replica). Records are polled in batches and handed to the shard's
  :class:`~consumers.processor.ShardProcessor`; its outputs (predictions, label requests, DLQ,
  drift) are produced with batching (``linger_ms``).
- Every N events or T seconds, on partition revocation and at shutdown, a shard is
  *checkpointed*: the producer is flushed (outputs of the covered events are acknowledged), the
  snapshot (model + pending store + metrics + next offsets) is written to the compacted
  snapshots topic and acknowledged, and only then are the consumer offsets committed.
- On assignment, a shard restores its snapshot and seeks both partitions to the snapshot's
  offsets. A crash at any point therefore replays exactly the records the restored model has
  not seen. Without a snapshot the shard starts fresh from the committed offsets (or the
  beginning of the partitions).

kafka-python runs rebalance callbacks on its IO thread while the learning thread waits inside
``poll()``; the listener here is asynchronous so it can await the offset commit on that loop.
After every ``poll()`` the loop also mends a kafka-python 3.0 fault that can leave a replica
without its shards for good (:func:`rejoin_if_join_dropped`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from consumers import faults
from consumers.kafka_config import (
    UNREACHABLE,
    ConnectionDiagnosis,
    KafkaClientConfig,
    authorization_error,
    kafka_args,
)
from consumers.output import OutputError, make_sink
from consumers.processor import ShardProcessor
from consumers.snapshots import KafkaSnapshotStore, shard_key
from consumers.topics import SNAPSHOT_MAX_BYTES, ensure_topics
from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.serving.state import ServiceState
from streamlearn.settings import Settings
from streamlearn.snapshot import SnapshotError

__all__ = ["KafkaRunner"]

log = logging.getLogger("streamlearn.kafka")


def rejoin_if_join_dropped(consumer: Any) -> bool:
    """Rejoin the group when kafka-python finished a join that nobody will apply.

    kafka-python 3.0 runs a group join (JoinGroup, then SyncGroup) as a task on its IO thread.
    When ``poll()`` stops waiting for it (its timeout is short: ``poll_timeout_ms``), the next
    ``poll()`` waits for it again, but only while the coordinator still says a rejoin is
    needed. A join that was needed because the topics' metadata changed (typically: the group's
    first assignment was computed before the new topics' partitions were known, so it was
    empty) clears that reason itself when the leader computes the new assignment. Its result is
    then never applied: no partitions, no heartbeats, and no later event asks for a rejoin
    (seen in CI; with a 1 ms poll timeout it happens on every fresh group).

    The sign is a finished join task with no rejoin pending; the mend is a rejoin, which the
    next ``poll()`` completes and applies. Returns whether it rejoined. Reads kafka-python
    internals; if they are not there (another version) it does nothing.
    """
    co = getattr(consumer, "_coordinator", None)
    task = getattr(co, "_join_task", None)
    if task is None or not getattr(task, "is_done", False):
        return False
    try:
        if co.need_rejoin():
            return False  # the next poll() waits for the task and applies it
        co.request_rejoin()
    except Exception:  # pragma: no cover - internals moved: leave it to the client
        return False
    return True


class KafkaRunner:
    """Consumes, predicts, learns, emits and checkpoints; :meth:`run` is the loop.

    Parameters
    ----------
    settings
        Bootstrap address, topic prefix, group id, batch sizes, snapshot cadence...
    state
        Shared with the HTTP API (published models, readiness).
    metrics
        The service's Prometheus metrics (or ``None``).
    hook
        Optional active-learning policy, one instance shared by the shards.
    """

    def __init__(
        self,
        settings: Settings,
        state: ServiceState,
        metrics: ServiceMetrics | None = None,
        hook: Any = None,
        **_: Any,
    ) -> None:
        if not settings.kafka_bootstrap:
            raise ValueError("KafkaRunner needs settings.kafka_bootstrap")
        self.settings = settings
        self.state = state
        self.metrics = metrics
        self.hook = hook
        self.topics = {
            "events": settings.topic("events"),
            "labels": settings.topic("labels"),
        }
        self.out_topics = {
            kind: settings.topic(kind) for kind in ("predictions", "label-requests", "dlq", "drift")
        }
        self.shards: dict[int, ShardProcessor] = {}
        self._retired: dict[int, ShardProcessor] = {}  # checkpointed at revocation, reusable
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.consumer: Any = None
        self.producer: Any = None
        self.sink: Any = None
        self.store: KafkaSnapshotStore | None = None
        self._last_lag = 0.0
        self._final_snapshot = True
        self._flush_requests: list = []
        self._unwatched = threading.Event()  # set when the loop ends: stop watching
        self._lost_outputs = 0  # output records the broker refused (fatal: see _run)
        self.kafka = KafkaClientConfig.from_settings(settings)
        self._diagnosis = ConnectionDiagnosis(self.kafka, self._connection_failed)
        self._reported: str | None = None  # the last connection failure logged

    # -------------------------------------------------------------- clients
    def _connect(self) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
        from kafka.coordinator.assignors.range import RangePartitionAssignor

        s = self.settings
        self.state.reason = "connecting"
        log.info("connecting to Kafka at %s", self.kafka.describe())
        while not self.stop_event.is_set():
            try:
                admin = KafkaAdminClient(**kafka_args(self.kafka), client_id="streamlearn-admin")
                break
            except Exception as exc:  # NoBrokersAvailable, a refused login...: say why, retry
                self._connection_failed(*self._diagnosis.error(exc).args_pair())
                self.stop_event.wait(2.0)
        else:
            return
        self._diagnosis.last = None
        self._diagnosis.bootstrapped = True  # a lost connection is no longer a refused login
        try:
            counts = ensure_topics(s, admin)
        finally:
            admin.close()
        self.sink = make_sink(
            s.output_process,
            self.kafka,
            self.out_topics,
            {t: counts.get(t, 1) for t in self.out_topics.values()},
            s.producer_linger_ms,
        )
        self.producer = KafkaProducer(  # snapshots only
            **kafka_args(s),
            acks="all",
            linger_ms=0,
            max_request_size=SNAPSHOT_MAX_BYTES,
            reconnect_backoff_max_ms=1000,  # back within a second of the broker (default 30 s)
            client_id="streamlearn-snapshots",
        )
        self.store = KafkaSnapshotStore(
            s, self.producer, counts.get(s.topic("snapshots"), 1), self.metrics
        )
        self.consumer = KafkaConsumer(
            **kafka_args(s),
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.poll_max_records,
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=s.consumer_session_timeout_ms,
            heartbeat_interval_ms=max(100, min(3000, s.consumer_session_timeout_ms // 3)),
            fetch_max_bytes=64 << 20,
            max_partition_fetch_bytes=8 << 20,
            reconnect_backoff_max_ms=1000,
            # a topic created a moment ago may miss from the metadata the group's first
            # assignment is computed from: a refresh every 5 s (default 5 min) rebalances then
            metadata_max_age_ms=5000,
            client_id="streamlearn-consumer",
        )
        self.consumer.subscribe(list(self.topics.values()), listener=_Listener(self))

    def _connected(self) -> bool:
        c = self.consumer
        try:
            if c._coordinator.coordinator_unknown():
                return False
            conns = list(c._client._conns.values())  # kafka-python internals (read-only)
            return any(conn.connected() for conn in conns)
        except RuntimeError:  # changed by the client's IO thread meanwhile: no news
            return bool(self.state.connected)
        except Exception:  # pragma: no cover - internals moved: assume connected
            return True

    def _connection_failed(self, reason: str, message: str) -> None:
        """A client could not connect (from the diagnosis, on a client's thread): readiness
        says why at once, the log says it in words, once per distinct failure."""
        if self.state.connected:
            return
        self.state.reason = reason
        if message != self._reported:
            self._reported = message
            log.error("%s", message)

    def _watch_connection(self) -> None:
        """Keep ``state.connected`` current, also while the loop waits on the broker.

        A checkpoint waits for the broker (flush, snapshot acknowledgement) for up to a minute;
        readiness must turn 503 during an outage all the same, so it is watched from here.
        """
        lost = False
        while not self._unwatched.wait(0.25):
            connected = self._connected()
            if self._unwatched.is_set():
                break
            if connected != self.state.connected:
                self.state.connected = connected
                if not connected:
                    last = self._diagnosis.last
                    self.state.reason = last[0] if last is not None else UNREACHABLE
                    log.warning("Kafka at %s unreachable", self.kafka.describe())
                    lost = True
                else:
                    self.state.reason = "ready"
                    self._diagnosis.last = self._reported = None
                    if lost:
                        log.info("Kafka at %s reachable again", self.kafka.describe())

    # -------------------------------------------------------------- shards
    def _shard_metrics(self, p: int) -> Any:
        return self.metrics.shard(str(p)) if self.metrics is not None else None

    def _restore(self, p: int) -> ShardProcessor:
        """Shard p from its snapshot (or fresh), positioned at the snapshot's offsets."""
        from kafka import TopicPartition

        assert self.store is not None
        m = self._shard_metrics(p)
        kw = {"metrics": m, "service": self.state, "hook": self.hook}
        proc = self._retired.pop(p, None)
        outcome = "kept"
        if proc is None:
            data = self.store.load(p)
            if data is not None:
                try:
                    proc = ShardProcessor.from_snapshot(data, self.settings, **kw)
                    outcome = "restored"
                except SnapshotError as exc:
                    # Never learn on top of an unusable snapshot silently: refuse the shard.
                    if m is not None:
                        m.restored("refused")
                    raise SnapshotError(
                        f"shard {p} ({shard_key(self.settings, p)}): {exc}"
                    ) from exc
            else:
                proc = ShardProcessor.new(str(p), self.settings, **kw)
                outcome = "fresh"
        if m is not None and outcome != "kept":
            m.restored(outcome)
        offsets = proc.state.offsets
        for kind, topic in self.topics.items():
            if kind in offsets:
                self.consumer.seek(TopicPartition(topic, p), offsets[kind])
        log.info(
            "shard %d %s: %d instances learned, next offsets %s",
            p,
            outcome,
            proc.version,
            offsets or "(committed or earliest)",
        )
        proc.maybe_publish(force=True)
        return proc

    def _checkpoint(self, p: int) -> bool:
        """Flush outputs, write shard p's snapshot durably, then commit its offsets (sync)."""
        offsets = self._snapshot(p)
        if offsets is None:
            return False
        faults.point("commit-before")
        try:
            self.consumer.commit(offsets)
        except Exception as exc:
            log.warning("shard %d: offset commit failed after the snapshot (%s)", p, exc)
        faults.point("commit-after")
        return True

    def _snapshot(self, p: int) -> dict | None:
        """The durable part of a checkpoint; returns the offsets to commit (None on failure)."""
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        proc = self.shards[p]
        assert self.store is not None
        t0 = time.perf_counter()
        try:
            try:
                self.sink.flush(timeout=60)  # outputs of the covered events are acknowledged
            finally:
                if self.sink.errors:  # some were refused: never commit past them (see _run)
                    self._lost_outputs = self.sink.errors
            if self._lost_outputs:
                raise OutputError(f"{self._lost_outputs} output records could not be delivered")
            faults.point("snapshot-flushed")
            data = proc.snapshot({"key": shard_key(self.settings, p)})
            self.store.save(p, data)
        except Exception as exc:
            log.error("shard %d: snapshot failed (%s); offsets not committed", p, exc)
            proc.mark_snapshot(0, time.perf_counter() - t0, ok=False)
            return None
        proc.mark_snapshot(len(data), time.perf_counter() - t0)
        return {
            TopicPartition(self.topics[kind], p): OffsetAndMetadata(off, "", -1)
            for kind, off in proc.state.offsets.items()
            if kind in self.topics
        }

    def _drop(self, p: int, keep: bool) -> None:
        """Give shard p up; ``keep`` = its checkpoint succeeded, it may be re-assigned at once."""
        proc = self.shards.pop(p, None)
        if proc is not None and keep:
            self._retired[p] = proc  # metrics and published model stay until reassignment
        else:
            self._forget(p)

    def _forget(self, p: int) -> None:
        self._retired.pop(p, None)
        self.state.drop(str(p))
        if self.metrics is not None:
            self.metrics.remove_shard(str(p))
            for topic in self.topics.values():
                try:
                    self.metrics.consumer_lag.remove(topic, str(p))
                except KeyError:
                    pass

    # -------------------------------------------------------------- loop
    def run(self) -> None:
        try:
            try:
                with self._diagnosis:
                    self._run()
            finally:
                self._unwatched.set()
        except BaseException as exc:
            refused = _cause(exc, SnapshotError)  # raised in a rebalance listener: wrapped
            exc = refused if refused is not None else exc
            denied = authorization_error(exc, self.kafka)
            if denied is not None:  # an ACL is missing: say which in words, not a traceback
                log.error("%s", denied)
                self.state.reason = denied.reason
                exc = denied
            else:
                log.exception("Kafka runner failed")
                self.state.reason = (
                    "snapshot_refused" if isinstance(exc, SnapshotError) else "runner_failed"
                )
            self.error = exc
            self.state.connected = False
            raise exc
        finally:
            self._close()

    def _run(self) -> None:
        self._connect()
        if self.consumer is None:
            return
        s = self.settings
        self.state.reason = "joining_group"
        log.info(
            "consuming %s and %s as group %s",
            self.topics["events"],
            self.topics["labels"],
            s.group_id,
        )
        ev_topic, lab_topic = self.topics["events"], self.topics["labels"]
        threading.Thread(
            target=self._watch_connection, name="streamlearn-kafka-watch", daemon=True
        ).start()
        while not self.stop_event.is_set():
            batch = self.consumer.poll(timeout_ms=s.poll_timeout_ms, max_records=s.poll_max_records)
            if rejoin_if_join_dropped(self.consumer):
                log.warning("kafka-python dropped a finished group join; rejoining the group")
            if batch:
                parts: dict[int, list] = {}
                for tp, recs in batch.items():
                    entry = parts.setdefault(tp.partition, [[], []])
                    if tp.topic == ev_topic:
                        entry[0] = recs
                    elif tp.topic == lab_topic:
                        entry[1] = recs
                for p, (evs, labs) in parts.items():
                    proc = self.shards.get(p)
                    if proc is None:  # pragma: no cover - records of a revoked partition
                        continue
                    out = proc.process(evs, labs)
                    faults.point("batch")
                    if out:
                        self.sink.send(out, p)
            if self._flush_requests:
                try:
                    self.sink.flush(timeout=120)
                except OutputError as exc:  # the broker is away: answer once it is back
                    log.warning("flush: %s", exc)
                else:
                    while self._flush_requests:
                        self._flush_requests.pop(0)()
            now = time.time()
            for p, proc in list(self.shards.items()):
                housekeeping = proc.tick()
                if housekeeping:
                    self.sink.send(housekeeping, p)
                proc.maybe_publish()
                if proc.snapshot_due(now) and self.state.connected:  # else it could only fail
                    self._checkpoint(p)
                proc.update_age(now)
            if now - self._last_lag > 2.0:
                self._update_lag()
                self._last_lag = now
            # refused outputs stop the runner at once, not at the next checkpoint: a shard whose
            # checkpoint cannot run (the group rebalancing, the coordinator unknown) would go on
            # learning past them
            self._lost_outputs = max(self._lost_outputs, self.sink.errors)
            if self._lost_outputs:
                # at-least-once outputs: stop without committing past the lost records; a
                # restart replays the events after the last snapshot and emits them again
                raise OutputError(
                    f"{self._lost_outputs} output records were refused by the broker (see the "
                    "log): stopping; a restart replays them from the last snapshot"
                )
        if not self._final_snapshot:  # simulated crash (tests): leave without a checkpoint
            return
        # shutdown: a final checkpoint of every shard
        for p in list(self.shards):
            self._checkpoint(p)
            self.shards[p].maybe_publish(force=True)
        if self._lost_outputs:
            raise OutputError(f"{self._lost_outputs} output records were refused by the broker")

    def _update_lag(self) -> None:
        if self.metrics is None:
            return
        from kafka import TopicPartition

        for p, proc in self.shards.items():
            for kind, topic in self.topics.items():
                hw = self.consumer.highwater(TopicPartition(topic, p))
                if hw is None:
                    continue
                pos = proc.state.offsets.get(kind, 0)
                self.metrics.consumer_lag.labels(topic, str(p)).set(max(0, hw - pos))

    def request_flush(self, done: Any) -> None:
        """Call ``done()`` (from the loop) once every output produced so far is acknowledged."""
        self._flush_requests.append(done)

    def stop(self, final_snapshot: bool = True) -> None:
        """Stop the loop; with ``final_snapshot=False`` leave like a crash would (tests)."""
        self._final_snapshot = final_snapshot
        self.stop_event.set()

    def _close(self) -> None:
        try:
            if self.consumer is not None:
                self.consumer.close(autocommit=False)
        except Exception as exc:  # pragma: no cover
            log.warning("closing the consumer: %s", exc)
        if self.store is not None:
            self.store.close()
        if self.sink is not None:
            self.sink.close()
        if self.producer is not None:
            self.producer.close(timeout=30)


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the first of its causes that is a ``kind``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


try:  # kafka-python >= 3: listeners run on the client's IO loop
    from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener as _Base
except ImportError:  # pragma: no cover
    from kafka import ConsumerRebalanceListener as _Base


class _Listener(_Base):
    """Checkpoints revoked shards and restores assigned ones (runs inside ``poll()``)."""

    def __init__(self, runner: KafkaRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        r = self.runner
        if not r._final_snapshot:  # simulated crash: no checkpoint at all
            return
        parts = sorted({tp.partition for tp in revoked if tp.topic == r.topics["events"]})
        for p in parts:
            if p not in r.shards:
                continue
            if not r.shards[p].dirty():  # its last snapshot is current (and committed)
                r._drop(p, keep=True)
                continue
            offsets = r._snapshot(p)
            if offsets is not None:
                try:  # still a member of the generation: the commit goes through
                    await r.consumer._coordinator._commit_offsets_sync_async(offsets)
                except Exception as exc:
                    log.warning("shard %d: offset commit at revocation failed (%s)", p, exc)
            r._drop(p, keep=offsets is not None)
        if parts:
            log.info("revoked shards %s", parts)

    async def on_partitions_lost(self, lost: Any) -> None:
        r = self.runner
        for p in sorted({tp.partition for tp in lost if tp.topic == r.topics["events"]}):
            r._drop(p, keep=False)  # no longer a member: another replica may own it already
        for p in list(r._retired):
            r._forget(p)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        r = self.runner
        r.state.restored = False
        r.state.reason = "restoring"
        parts = sorted({tp.partition for tp in assigned})
        for p in parts:
            if p not in r.shards:
                r.shards[p] = r._restore(p)
        for p in list(r._retired):  # given up for good: another replica holds it now
            r._forget(p)
        r.state.restored = True
        r.state.reason = "ready"
        log.info("assigned shards %s", parts)
