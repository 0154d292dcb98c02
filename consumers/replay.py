"""Feed a multi-label stream (an ARFF file or the synthetic stream) into Kafka as service events
(``streamlearn replay``)."""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from streamlearn.base.arrays import CSR
from streamlearn.service.contract import encode_event, encode_label_record

__all__ = ["arff_records", "encode_rows", "replay", "synthetic_records"]

log = logging.getLogger("streamlearn.replay")


def encode_rows(
    X: np.ndarray | CSR,
    Y: np.ndarray,
    features: list[str],
    labels: list[str],
    *,
    start: int = 0,
    stop: int | None = None,
    names: bool = False,
    with_labels: bool = True,
    id_prefix: str = "",
    decimals: int | None = None,
) -> Iterator[tuple[str, bytes, list[str]]]:
    """``(id, event JSON, true label names)`` for rows ``start..stop`` of a stream."""
    n = Y.shape[0]
    stop = n if stop is None else stop
    sparse = isinstance(X, CSR)
    lab = np.asarray(labels, dtype=object)
    feat = np.asarray(features, dtype=object)
    for i in range(start, stop):
        if sparse:
            idx, val = X.row(i)
            if decimals is not None:
                val = np.round(val, decimals)
            x: Any = dict(zip(feat[idx].tolist(), val.tolist())) if names else (idx, val)
        else:
            row = X[i] if decimals is None else np.round(X[i], decimals)
            x = dict(zip(features, row.tolist())) if names else row
        eid = f"{id_prefix}{i}"
        true = lab[Y[i].astype(bool)].tolist()
        yield eid, encode_event(eid, x, true if with_labels else None), true


def arff_records(
    path: str | Path,
    *,
    loop: bool = False,
    names: bool = False,
    with_labels: bool = True,
    id_prefix: str = "",
) -> Iterator[tuple[str, bytes, list[str]]]:
    """``(id, event JSON, true label names)`` of the rows of an ARFF file (cycling when ``loop``:
    ids then carry the cycle number, ``<prefix><cycle>-<row>``)."""
    from streamlearn.stream import load_arff

    ds = load_arff(path)
    features = [str(f) for f in ds.schema.features]
    label_names = [str(lab) for lab in ds.schema.labels]
    if len(ds.Y) == 0:
        raise ValueError(f"{path}: no instances")
    cycle = 0
    while True:
        yield from encode_rows(
            ds.X,
            ds.Y,
            features,
            label_names,
            names=names,
            with_labels=with_labels,
            id_prefix=f"{id_prefix}{cycle}-" if loop else id_prefix,
        )
        cycle += 1
        if not loop:
            return


def synthetic_records(
    settings: Any,
    *,
    names: bool = False,
    with_labels: bool = True,
    id_prefix: str = "",
) -> Iterator[tuple[str, bytes, list[str]]]:
    """The endless synthetic stream of the embedded service (``STREAMLEARN_SYNTH_*`` shape,
    ``STREAMLEARN_SEED``, a planted drift every ``STREAMLEARN_SYNTH_DRIFT_EVERY`` events) as
    ``(id, event JSON, true label names)``; ids are ``<prefix><position>``."""
    from consumers.embedded import synthetic_stream

    stream = synthetic_stream(settings)
    features = [str(f) for f in stream.schema.features]
    lab = np.asarray([str(name) for name in stream.schema.labels], dtype=object)
    for i, (x, y) in enumerate(stream.rows(0)):
        eid = f"{id_prefix}{i}"
        true = lab[y.astype(bool)].tolist()
        xj = dict(zip(features, x.tolist())) if names else x
        yield eid, encode_event(eid, xj, true if with_labels else None), true


def replay(
    path: str | Path | None,
    *,
    bootstrap: str | dict[str, Any],
    topic: str,
    labels_topic: str,
    rate: float = 0.0,
    labels: str = "inline",
    label_delay: int = 100,
    limit: int | None = None,
    loop: bool = False,
    names: bool = False,
    id_prefix: str = "",
    synthetic: Any = None,
) -> int:
    """Produce the rows of an ARFF file (or, with ``synthetic`` = a
    :class:`~streamlearn.settings.Settings`, the endless synthetic stream it describes) as
    events; return how many were sent. ``bootstrap`` is the broker's address, or the client
    arguments of :func:`~consumers.kafka_config.kafka_args` (TLS, SASL)."""
    from kafka import KafkaProducer

    with_labels = labels == "inline"
    if synthetic is not None:
        records = synthetic_records(
            synthetic, names=names, with_labels=with_labels, id_prefix=id_prefix
        )
    elif path is not None:
        records = arff_records(
            path, loop=loop, names=names, with_labels=with_labels, id_prefix=id_prefix
        )
    else:
        raise ValueError("replay needs an ARFF file or a synthetic stream")
    first = next(records, None)  # reads the file (and fails) before connecting
    kafka = {"bootstrap_servers": bootstrap} if isinstance(bootstrap, str) else bootstrap
    producer = KafkaProducer(**kafka, acks="all", linger_ms=10)
    owed: deque[tuple[str, list[str]]] = deque()
    sent = 0
    t0 = time.perf_counter()
    try:
        for eid, value, true in itertools.chain([first] if first else [], records):
            if limit is not None and sent >= limit:
                break
            if rate > 0:
                wait = t0 + sent / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            producer.send(topic, value=value, key=eid.encode())
            sent += 1
            if labels == "delayed":
                owed.append((eid, true))
                if len(owed) > label_delay:
                    _send_labels(producer, labels_topic, *owed.popleft())
        while owed:
            _send_labels(producer, labels_topic, *owed.popleft())
        producer.flush(60)
    finally:
        producer.close(30)
    log.info("replayed %d events in %.1fs", sent, time.perf_counter() - t0)
    return sent


def _send_labels(producer: Any, topic: str, eid: str, true: list[str]) -> None:
    producer.send(topic, value=encode_label_record(eid, true), key=eid.encode())
