"""Shared pieces of the reliability tests and scripts: streams, the reference run, topics, brokers.

The reference ("uninterrupted") run feeds the very same raw records, in the same order, through
the service's own :class:`~streamlearn.service.shard.Shard` in this process, with no Kafka and
no interruption. Its outputs (prediction records, byte for byte) and its final model are what a
service that crashed and restarted any number of times must reproduce exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "N_FEATURES",
    "N_LABELS",
    "Stream",
    "broker_for_script",
    "create_service_topics",
    "delete_prefixed_topics",
    "labelled_stream",
    "linear_slope",
    "probe_set",
    "produce_all",
    "read_all",
    "reference_run",
    "reference_settings",
    "reporter",
    "script_parser",
    "script_result",
    "script_workdir",
    "service_env",
    "unique_prefix",
]

N_FEATURES = 20
N_LABELS = 8


@dataclass
class Stream:
    """A labelled stream as the records produced to ``events`` (partition 0, in order)."""

    records: list[tuple[bytes, bytes]]  # (key, value)
    X: np.ndarray
    Y: np.ndarray
    features: list[str]
    labels: list[str]


def labelled_stream(n: int, seed: int = 0, with_labels: bool = True) -> Stream:
    """``n`` events of the seeded synthetic stream (20 features, 8 labels in 3 groups, a
    label-correlation drift half way), every event with its labels inline."""
    from consumers.replay import encode_rows
    from streamlearn.stream.synth import Drift, make_stream

    drifts = [Drift(n // 2, kind="labels")] if n >= 4 else []
    s = make_stream(
        n, n_features=N_FEATURES, n_labels=N_LABELS, n_groups=3, drifts=drifts, seed=seed
    )
    ds = s.dataset
    features = [str(f) for f in ds.schema.features]
    labels = [str(lab) for lab in ds.schema.labels]
    records = [
        (eid.encode(), value)
        for eid, value, _ in encode_rows(
            ds.X, ds.Y, features, labels, id_prefix="e", with_labels=with_labels
        )
    ]
    return Stream(records, np.asarray(ds.X), np.asarray(ds.Y), features, labels)


def probe_set(n: int, seed: int = 12345) -> np.ndarray:
    """Fresh instances of the same generator (another seed) to compare models on."""
    from streamlearn.stream.synth import make_stream

    return np.asarray(
        make_stream(n, n_features=N_FEATURES, n_labels=N_LABELS, n_groups=3, seed=seed).dataset.X
    )


def reference_settings(**kw: Any) -> Any:
    """Settings of the uninterrupted run: the service's learner (as :func:`learner_env` picks it)."""
    from streamlearn.settings import Settings
    from tests.support.served import learner_env

    learner = learner_env().get("STREAMLEARN_LEARNER", "auto")
    return Settings(learner=learner, **kw)


def reference_run(
    values: list[bytes | None],
    settings: Any,
    topic: str = "events",
    batch: int = 2000,
    keys: list[bytes | None] | None = None,
) -> tuple[Any, dict[int, bytes], list[Any]]:
    """The uninterrupted run: every record, in order, through one shard.

    Returns (the shard, prediction record value by offset, every output record).
    """
    from streamlearn.service.shard import InRecord as Record
    from streamlearn.service.shard import Shard

    proc = Shard.new("0", settings)
    preds: dict[int, bytes] = {}
    outputs: list[Any] = []
    for a in range(0, len(values), batch):
        recs = [
            Record(topic, 0, i, values[i], None if keys is None else keys[i])
            for i in range(a, min(a + batch, len(values)))
        ]
        out = proc.process(recs, ())
        outputs.extend(out)
    for r in outputs:
        if r.kind == "predictions":
            preds[json.loads(r.value)["offset"]] = r.value
    return proc, preds, outputs


def unique_prefix(tag: str) -> str:
    return f"slrel.{tag}.{uuid.uuid4().hex[:8]}."


def service_env(prefix: str, **settings: Any) -> dict[str, str]:
    """Environment of a ``streamlearn serve --kafka`` on the topics of ``prefix``."""
    env = {"STREAMLEARN_TOPIC_PREFIX": prefix, "STREAMLEARN_GROUP_ID": prefix + "g"}
    for k, v in settings.items():
        env["STREAMLEARN_" + k.upper()] = v if isinstance(v, str) else json.dumps(v)
    return env


def create_service_topics(
    bootstrap: str, prefix: str, events_config: dict[str, str] | None = None, partitions: int = 1
) -> None:
    """The service's topics, as the service would create them (events with extra config)."""
    from kafka import KafkaAdminClient

    from consumers.topics import ensure_topics
    from streamlearn.settings import Settings
    from tests.support.kafka import create_topic

    if events_config:
        create_topic(bootstrap, prefix + "events", partitions, events_config)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        ensure_topics(
            Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, partitions=partitions), admin
        )
    finally:
        admin.close()


def delete_prefixed_topics(bootstrap: str, prefix: str) -> None:
    from tests.support.service import delete_prefixed_topics as delete

    with contextlib.suppress(Exception):  # a leftover test topic is no failure
        delete(bootstrap, prefix)


def produce_all(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]], **kw: Any
) -> None:
    """Produce ``records`` (key, value) to partition 0 of ``topic``, in order, acknowledged."""
    from kafka import KafkaProducer

    prod = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        batch_size=1 << 20,
        max_in_flight_requests_per_connection=1,  # keeps the order even on retries
        **kw,
    )
    try:
        futures = [prod.send(topic, key=key, value=value, partition=0) for key, value in records]
        prod.flush(120)
        for fut in futures:
            fut.get(0)  # raises if a record was refused
    finally:
        prod.close(30)


def read_all(bootstrap: str, topic: str, timeout: float = 120.0) -> list[Any]:
    """Every record of ``topic`` (all partitions) up to its current end."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=64 << 20,
        max_partition_fetch_bytes=16 << 20,
    )
    try:
        parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took more than {timeout:g} s")
            for recs in c.poll(timeout_ms=500, max_records=50_000).values():
                out.extend(recs)
        return out
    finally:
        c.close()


def linear_slope(t: list[float], y: list[float]) -> float:
    """Least-squares slope of y over t (0 with fewer than 2 points)."""
    if len(t) < 2:
        return 0.0
    return float(np.polyfit(np.asarray(t, float), np.asarray(y, float), 1)[0])


@contextlib.contextmanager
def broker_for_script(bootstrap: str | None) -> Iterator[tuple[str, Any]]:
    """(bootstrap, BrokerControl or None): the given broker, or a fresh local one (removed after)."""
    from tests.support.kafka import ENV_BOOTSTRAP, ENV_DIR, BrokerControl, LocalBroker, free_port

    bootstrap = bootstrap or os.environ.get(ENV_BOOTSTRAP)
    if bootstrap:
        d = os.environ.get(ENV_DIR)
        yield bootstrap, (BrokerControl(LocalBroker(Path(d))) if d else None)
        return
    tmp = Path(tempfile.mkdtemp(prefix="streamlearn-rel-kafka-"))
    broker = LocalBroker(tmp / "kafka", port=free_port(), controller_port=free_port())
    try:
        addr = broker.up()
        yield addr, BrokerControl(broker)
    finally:
        with contextlib.suppress(Exception):
            broker.down()
        shutil.rmtree(tmp, ignore_errors=True)


def reporter(tag: str, log: Any) -> Callable[[str], None]:
    """``say(msg)``: progress lines ``tag: msg`` on ``log`` (nothing when ``log`` is None)."""

    def say(msg: str) -> None:
        if log is not None:
            print(f"{tag}: {msg}", file=log, flush=True)

    return say


def script_workdir(args: argparse.Namespace, name: str) -> Path:
    """The script's ``--workdir``, or a fresh temporary directory."""
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"streamlearn-{name}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def script_result(out: dict[str, Any], problems: list[str], workdir: Path, as_json: bool) -> int:
    """Print a script's figures with its verdict; the exit status (0: no problem)."""
    out["ok"] = not problems
    out["problems"] = problems
    out["logs"] = str(workdir)
    print(json.dumps(out, indent=None if as_json else 2, default=str))
    return 0 if not problems else 1


def script_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--kafka",
        metavar="BOOTSTRAP",
        help="broker to use (default $STREAMLEARN_TEST_KAFKA, else a fresh local broker)",
    )
    p.add_argument("--long", action="store_true", help="the long version (see the module doc)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, help="keep logs here (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    return p
