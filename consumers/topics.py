"""The service's topics: names from the prefix, creation with the right configuration.

``events`` and ``labels`` must have the same number of partitions (partition p of both feeds
model shard p: produce an event and its late labels with the same key). The snapshots topic is
compacted (only the latest snapshot per shard is kept) and has the same number of partitions as
``events`` (shard p's snapshots go to its partition p).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from consumers.kafka_config import (
    UNREACHABLE,
    ConnectionDiagnosis,
    KafkaClientConfig,
    authorization_error,
    kafka_args,
)
from streamlearn.settings import TOPIC_KINDS, Settings

__all__ = ["SNAPSHOT_MAX_BYTES", "KafkaCluster", "ensure_topics", "partition_counts"]

log = logging.getLogger("streamlearn.topics")

#: Largest produce request of the snapshot writer (snapshots are chunked below the broker's
#: default record size, so no topic needs a larger ``max.message.bytes``).
SNAPSHOT_MAX_BYTES = 16 << 20

_SNAPSHOT_CONFIG = {
    "cleanup.policy": "compact",
    "min.cleanable.dirty.ratio": "0.1",
    "segment.ms": "600000",
    "delete.retention.ms": "600000",
}


def partition_counts(admin: Any, topics: list[str]) -> dict[str, int]:
    """Partitions of each existing topic among ``topics`` (absent ones are left out)."""
    out = {}
    for t in admin.describe_topics(topics):
        if t.get("error_code", 0) == 0 and t.get("partitions"):
            out[t["name"]] = len(t["partitions"])
    return out


def ensure_topics(settings: Settings, admin: Any, timeout: float = 30.0) -> dict[str, int]:
    """Create the missing topics; check that events and labels are co-partitioned.

    Returns the partition count of every topic. Raises ``ValueError`` when ``events`` and
    ``labels`` exist with different partition counts.
    """
    from kafka.errors import TopicAlreadyExistsError

    names = {kind: settings.topic(kind) for kind in TOPIC_KINDS}
    existing = partition_counts(admin, list(names.values()))
    n = existing.get(names["events"]) or existing.get(names["labels"]) or settings.partitions
    wanted: dict[str, dict[str, Any]] = {}
    for kind, name in names.items():
        if name in existing:
            continue
        spec: dict[str, Any] = {"num_partitions": settings.partitions, "replication_factor": -1}
        if kind in ("events", "labels", "snapshots"):
            spec["num_partitions"] = n
        if kind == "snapshots":
            spec["configs"] = dict(_SNAPSHOT_CONFIG)
        wanted[name] = spec
    if wanted:
        log.info("creating topics %s", ", ".join(sorted(wanted)))
        for name, spec in wanted.items():
            try:
                admin.create_topics({name: spec}, wait_for_metadata=True)
            except TopicAlreadyExistsError:  # created meanwhile by another replica
                pass
    deadline = time.monotonic() + timeout
    while True:
        counts = partition_counts(admin, list(names.values()))
        if len(counts) == len(names) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ne, nl = counts.get(names["events"]), counts.get(names["labels"])
    if ne is not None and nl is not None and ne != nl:
        raise ValueError(
            f"topics {names['events']} ({ne} partitions) and {names['labels']} ({nl}) must have "
            "the same number of partitions: partition p of both feeds model shard p"
        )
    return counts


class KafkaCluster:
    """The connection the Kafka source, sink and snapshot store share: the broker reached and
    the service's topics created, with their partition counts (:attr:`counts`).

    :attr:`kafka` is the client configuration every client of the service is built from (TLS,
    SASL); :attr:`diagnosis` tells why the clients cannot connect (a refused login, an untrusted
    certificate) from kafka-python's log while the cluster is open.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counts: dict[str, int] = {}
        self.kafka = KafkaClientConfig.from_settings(settings)
        self.diagnosis = ConnectionDiagnosis(self.kafka, self._failed)
        self._readers: Any = None
        self._reported: str | None = None  # the last connection failure logged

    def args(self) -> dict[str, Any]:
        """kafka-python connection arguments (bootstrap servers, TLS, SASL)."""
        return kafka_args(self.kafka)

    def _failed(self, reason: str, message: str) -> None:
        """A client could not connect (from the diagnosis, on a client's thread): readiness
        says why at once, the log says it in words, once per distinct failure."""
        readers = self._readers
        if readers is None or readers.connected:
            return
        readers.reason = reason
        if message != self._reported:
            self._reported = message
            log.error("%s", message)

    def lost(self) -> str:
        """The readiness reason of a lost connection: the diagnosed one, else unreachable."""
        last = self.diagnosis.last
        return last[0] if last is not None else UNREACHABLE

    def reconnected(self) -> None:
        self.diagnosis.last = self._reported = None

    def denied(self, exc: BaseException) -> BaseException | None:
        """A clear :class:`~consumers.kafka_config.KafkaConnectError` when ``exc`` is an ACL
        refusal (its ``reason`` is the readiness code), else None."""
        return authorization_error(exc, self.kafka)

    def close(self) -> None:
        self.diagnosis.__exit__(None, None, None)

    def partitions(self, kind: str) -> int:
        """Partitions of the topic of ``kind`` (1 when unknown)."""
        return self.counts.get(self.settings.topic(kind), 1)

    def connect(self, readers: Any, stop: threading.Event) -> bool:
        """Reach the broker (retrying every 2 s; ``readers.reason`` and the log say why it
        cannot) and create the missing topics; False when ``stop`` was set meanwhile."""
        from kafka import KafkaAdminClient

        self._readers = readers
        self.diagnosis.__enter__()
        readers.reason = "connecting"
        log.info("connecting to Kafka at %s", self.kafka.describe())
        while not stop.is_set():
            try:
                admin = KafkaAdminClient(**self.args(), client_id="streamlearn-admin")
                break
            except Exception as exc:  # NoBrokersAvailable, a refused login...: say why, retry
                self._failed(*self.diagnosis.error(exc).args_pair())
                stop.wait(2.0)
        else:
            return False
        self.reconnected()
        self.diagnosis.bootstrapped = True  # a lost connection is no longer a refused login
        try:
            self.counts = ensure_topics(self.settings, admin)
        except Exception as exc:
            denied = self.denied(exc)
            if denied is None:
                raise
            raise denied from exc
        finally:
            admin.close()
        return True
