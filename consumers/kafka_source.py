"""The Kafka source of the service loop: a consumer group over the events and labels topics.

Partition p of ``events`` and of ``labels`` feed model shard ``"p"`` (range assignment keeps
them on the same replica). :class:`KafkaSource` implements
:class:`~streamlearn.service.loop.Source`: it connects (retrying until the broker answers),
creates the service's topics, subscribes the group, and tells the loop which shards it holds
through the loop's public interface (assign / revoke / lose), from the rebalance listener.

kafka-python runs rebalance callbacks on its IO thread while the loop waits inside ``poll()``;
the listener here is asynchronous so it can await the offset commit of revoked shards on that
loop. After every ``poll()`` the source also mends a kafka-python 3.0 fault that can leave a
replica without its shards for good (:func:`rejoin_if_join_dropped`). A watcher thread keeps
the readers' ``connected`` flag current, also while the loop waits on the broker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from consumers.topics import KafkaCluster
from streamlearn.schema import Schema
from streamlearn.service.loop import Loop, ShardBatch
from streamlearn.service.published import ServiceState
from streamlearn.service.recorder import Recorder
from streamlearn.settings import Settings

__all__ = ["KafkaSource", "kafka_loop", "rejoin_if_join_dropped"]

log = logging.getLogger("streamlearn.kafka")

#: The inputs of a shard, by kind (the keys of its offsets).
INPUTS = ("events", "labels")


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


class KafkaSource:
    """The consumer group's records, by shard (one shard per partition of ``events``).

    Parameters
    ----------
    settings
        Bootstrap address, topic prefix, group id, poll sizes, session timeout.
    cluster
        The connection shared with the sink and the snapshot store (topic partition counts).
    """

    finished = False

    def __init__(self, settings: Settings, cluster: KafkaCluster) -> None:
        self.settings = settings
        self.cluster = cluster
        self.topics = {kind: settings.topic(kind) for kind in INPUTS}
        self._kind_of = {topic: kind for kind, topic in self.topics.items()}
        self.consumer: Any = None
        self.loop: Loop | None = None
        self._unwatched = threading.Event()  # set when the source closes: stop watching

    @property
    def connected(self) -> bool:
        return bool(self.loop is not None and self.loop.readers.connected)

    # -------------------------------------------------------------- connection
    def open(self, loop: Loop) -> bool:
        from kafka import KafkaConsumer
        from kafka.coordinator.assignors.range import RangePartitionAssignor

        self.loop = loop
        readers = loop.readers
        if not self.cluster.connect(readers, loop.stop_event):
            return False
        s = self.settings
        self.consumer = KafkaConsumer(
            **self.cluster.args(),
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
        self.consumer.subscribe(list(self.topics.values()), listener=_Listener(self, loop))
        readers.reason = "joining_group"
        log.info(
            "consuming %s and %s as group %s",
            self.topics["events"],
            self.topics["labels"],
            s.group_id,
        )
        threading.Thread(
            target=self._watch_connection, name="streamlearn-kafka-watch", daemon=True
        ).start()
        return True

    def _connected(self) -> bool:
        c = self.consumer
        try:
            if c._coordinator.coordinator_unknown():
                return False
            conns = list(c._client._conns.values())  # kafka-python internals (read-only)
            return any(conn.connected() for conn in conns)
        except RuntimeError:  # changed by the client's IO thread meanwhile: no news
            return self.connected
        except Exception:  # pragma: no cover - internals moved: assume connected
            return True

    def _watch_connection(self) -> None:
        """Keep ``readers.connected`` current, also while the loop waits on the broker.

        A checkpoint waits for the broker (flush, snapshot acknowledgement) for up to a minute;
        readiness must turn 503 during an outage all the same, so it is watched from here.
        """
        assert self.loop is not None
        readers = self.loop.readers
        where = self.cluster.kafka.describe()
        lost = False
        while not self._unwatched.wait(0.25):
            connected = self._connected()
            if self._unwatched.is_set():
                break
            if connected != readers.connected:
                readers.connected = connected
                if not connected:
                    readers.reason = self.cluster.lost()
                    log.warning("Kafka at %s unreachable", where)
                    lost = True
                else:
                    readers.reason = "ready"
                    self.cluster.reconnected()
                    if lost:
                        log.info("Kafka at %s reachable again", where)

    # -------------------------------------------------------------- records
    def poll(self, timeout_ms: int) -> dict[str, ShardBatch]:
        s = self.settings
        try:
            batch = self.consumer.poll(timeout_ms=timeout_ms, max_records=s.poll_max_records)
        except Exception as exc:  # an ACL refusal says which ACLs to grant
            denied = self.cluster.denied(exc)
            if denied is None:
                raise
            raise denied from exc
        if rejoin_if_join_dropped(self.consumer):
            log.warning("kafka-python dropped a finished group join; rejoining the group")
        parts: dict[str, ShardBatch] = {}
        for tp, recs in batch.items():
            shard = str(tp.partition)
            entry = parts.get(shard, ShardBatch())
            if self._kind_of.get(tp.topic) == "events":
                entry = entry._replace(events=recs)
            elif self._kind_of.get(tp.topic) == "labels":
                entry = entry._replace(labels=recs)
            parts[shard] = entry
        return parts

    def _partitions(self, shard: str, offsets: Mapping[str, int]) -> dict[Any, int]:
        from kafka import TopicPartition

        p = int(shard)
        return {
            TopicPartition(self.topics[kind], p): off
            for kind, off in offsets.items()
            if kind in self.topics
        }

    def seek(self, shard: str, offsets: Mapping[str, int]) -> None:
        for tp, off in self._partitions(shard, offsets).items():
            self.consumer.seek(tp, off)

    def commit_offsets(self, shard: str, offsets: Mapping[str, int]) -> dict[Any, Any]:
        from kafka.structs import OffsetAndMetadata

        return {
            tp: OffsetAndMetadata(off, "", -1)
            for tp, off in self._partitions(shard, offsets).items()
        }

    def commit(self, shard: str, offsets: Mapping[str, int]) -> None:
        self.consumer.commit(self.commit_offsets(shard, offsets))

    def schema(self, shard: str) -> Schema | None:
        return None  # the settings or the first event fix the spaces

    def lag(self, shard: str, offsets: Mapping[str, int]) -> Iterable[tuple[str, int]]:
        from kafka import TopicPartition

        p = int(shard)
        for kind, topic in self.topics.items():
            hw = self.consumer.highwater(TopicPartition(topic, p))
            if hw is not None:
                yield topic, max(0, hw - offsets.get(kind, 0))

    def close(self) -> None:
        self._unwatched.set()
        self.cluster.close()
        if self.consumer is not None:
            try:
                self.consumer.close(autocommit=False)
            except Exception as exc:  # pragma: no cover
                log.warning("closing the consumer: %s", exc)


try:  # kafka-python >= 3: listeners run on the client's IO loop
    from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener as _Base
except ImportError:  # pragma: no cover
    from kafka import ConsumerRebalanceListener as _Base


class _Listener(_Base):
    """Tells the loop which shards come and go (runs inside ``poll()``)."""

    def __init__(self, source: KafkaSource, loop: Loop) -> None:
        self.source = source
        self.loop = loop

    def _shards(self, partitions: Any, events_only: bool = True) -> list[str]:
        events = self.source.topics["events"]
        return sorted(
            {str(tp.partition) for tp in partitions if not events_only or tp.topic == events}
        )

    async def on_partitions_revoked(self, revoked: Any) -> None:
        src = self.source
        for shard, offsets in self.loop.revoke(self._shards(revoked)).items():
            try:  # still a member of the generation: the commit goes through
                await src.consumer._coordinator._commit_offsets_sync_async(
                    src.commit_offsets(shard, offsets)
                )
            except Exception as exc:
                log.warning("shard %s: offset commit at revocation failed (%s)", shard, exc)

    async def on_partitions_lost(self, lost: Any) -> None:
        # no longer a member: another replica may own them already
        self.loop.lose(self._shards(lost))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.loop.assign(self._shards(assigned, events_only=False))


def kafka_loop(
    settings: Settings, readers: ServiceState, recorder: Recorder | None = None, hook: Any = None
) -> Loop:
    """The service loop over the consumer group (Kafka mode)."""
    from consumers.output import KafkaSink
    from consumers.snapshots import KafkaSnapshotStore

    if not settings.kafka_bootstrap:
        raise ValueError("Kafka mode needs settings.kafka_bootstrap")
    cluster = KafkaCluster(settings)
    return Loop(
        settings,
        KafkaSource(settings, cluster),
        KafkaSink(settings, cluster),
        KafkaSnapshotStore(settings, cluster=cluster, recorder=recorder),
        readers,
        recorder,
        hook,
    )
