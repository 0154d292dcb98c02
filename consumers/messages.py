"""The messages between the service's processes, and their framing on a pipe.

``streamlearn serve`` runs HTTP in the main process, learning in a child (:mod:`consumers.worker`)
and, in Kafka mode, producing outputs in a grandchild (:mod:`consumers.output`). They talk over
the children's stdin/stdout with length-prefixed pickles of the typed messages below (the
processes are one program: they trust each other's pickles, never anything from outside).

Framing: each message is an 8-byte big-endian length and that many bytes of pickle (protocol
5). :func:`write_oob` sends an object with its numpy buffers *out of band*: the tag message
(with the buffer count), each raw buffer framed alike, then the object's pickle — the buffers go
straight from the live arrays to the pipe, and :func:`read_oob` reads them into fresh memory
without holding the GIL.

>>> import io
>>> f = io.BytesIO()
>>> write(f, Flushed(seq=3))
>>> _ = f.seek(0)
>>> read(f)
Flushed(seq=3)
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from typing import Any

from consumers.kafka_config import KafkaClientConfig

__all__ = [
    "Close",
    "Config",
    "Drop",
    "Exit",
    "Flush",
    "FlushRequest",
    "Flushed",
    "Metrics",
    "MetricsRequest",
    "OutputConfig",
    "OutputFlushed",
    "Progress",
    "Publish",
    "Ready",
    "Send",
    "Status",
    "Stop",
    "read",
    "read_oob",
    "write",
    "write_oob",
]


# ---------------------------------------------------------------------- HTTP -> learning
@dataclass(frozen=True)
class Config:
    """First message to the learning process: its settings (without secrets it has no use
    for)."""

    settings: dict[str, Any]


@dataclass(frozen=True)
class MetricsRequest:
    """Asks for the learning process's Prometheus text (answered by :class:`Metrics`)."""

    seq: int


@dataclass(frozen=True)
class FlushRequest:
    """Asks for every output produced so far to be acknowledged (answered by
    :class:`Flushed`)."""

    seq: int


@dataclass(frozen=True)
class Stop:
    """Final snapshot, then exit."""


# ---------------------------------------------------------------------- learning -> HTTP
@dataclass(frozen=True)
class Publish:
    """A new model version: ``meta`` (see :class:`~streamlearn.service.published.ModelVersion`);
    the model follows out of band in ``n_buffers`` buffers and a pickle."""

    meta: dict[str, Any]
    n_buffers: int = 0


@dataclass(frozen=True)
class Drop:
    """The shard left this replica."""

    shard: str


@dataclass(frozen=True)
class Status:
    """Readiness: shards restored, source connected, and the reason code (``/ready``)."""

    restored: bool
    connected: bool
    reason: str


@dataclass(frozen=True)
class Progress:
    """A shard's counters after a processed batch."""

    shard: str
    counts: dict[str, int]


@dataclass(frozen=True)
class Metrics:
    """The learning process's Prometheus text (``seq`` of the request; -1 at exit)."""

    seq: int
    text: bytes


@dataclass(frozen=True)
class Flushed:
    """The outputs produced before request ``seq`` are acknowledged."""

    seq: int


@dataclass(frozen=True)
class Exit:
    """The learning process ends (``error``: why it failed, else ``None``)."""

    error: str | None


# ---------------------------------------------------------------------- learning <-> output
@dataclass(frozen=True)
class OutputConfig:
    """First message to the output process: where to produce (brokers, TLS, SASL)."""

    kafka: KafkaClientConfig
    topics: dict[str, str]
    partitions: dict[str, int]
    linger_ms: int


@dataclass(frozen=True)
class Ready:
    """The output process's producer is up."""


@dataclass(frozen=True)
class Send:
    """Records ``(kind, key, value, headers)`` of ``shard`` to produce."""

    shard: int
    records: list[tuple]


@dataclass(frozen=True)
class Flush:
    """Wait up to ``timeout`` s until everything sent is acknowledged (answered by
    :class:`OutputFlushed`)."""

    seq: int
    timeout: float


@dataclass(frozen=True)
class OutputFlushed:
    """Answer to :class:`Flush` ``seq``: records refused so far, and whether every record sent
    was acknowledged."""

    seq: int
    errors: int
    complete: bool


@dataclass(frozen=True)
class Close:
    """Flush, close the producer, exit."""


# ---------------------------------------------------------------------- framing
_LEN = struct.Struct(">Q")


def write(f: Any, msg: Any) -> None:
    data = pickle.dumps(msg, protocol=5)
    f.write(_LEN.pack(len(data)))
    f.write(data)
    f.flush()


def write_oob(f: Any, tag: Publish, obj: Any) -> None:
    """``tag`` then ``obj`` pickled with its numpy buffers out of band (no big in-memory copy).

    The array buffers are written straight from the objects' memory, so ``obj`` must not change
    until this returns. Frames: the tag (with the buffer count), then each raw buffer, then the
    object's pickle.
    """
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    tag_bytes = pickle.dumps(Publish(tag.meta, len(buffers)), protocol=5)
    f.write(_LEN.pack(len(tag_bytes)))
    f.write(tag_bytes)
    for b in buffers:
        raw = b.raw()
        f.write(_LEN.pack(raw.nbytes))
        f.write(raw)
    f.write(_LEN.pack(len(head)))
    f.write(head)
    f.flush()


def read_oob(f: Any, n_buffers: int) -> Any:
    """The object written by :func:`write_oob` after its tag (read with :func:`read`)."""
    bufs = []
    for _ in range(n_buffers):
        (n,) = _LEN.unpack(read_exact(f, _LEN.size))
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:  # reads release the GIL: HTTP keeps answering meanwhile
            k = f.readinto(view[got:])
            if not k:
                raise EOFError
            got += k
        bufs.append(buf)
    (n,) = _LEN.unpack(read_exact(f, _LEN.size))
    return pickle.loads(read_exact(f, n), buffers=bufs)


def read_exact(f: Any, n: int) -> bytes:
    """n bytes from ``f`` (EOFError at the end); a raw (unbuffered) file may return fewer per
    read, a buffered one returns them all at once."""
    data = f.read(n)
    if data is None or len(data) < n:
        parts = [data or b""]
        got = len(parts[0])
        while got < n:
            more = f.read(n - got)
            if not more:
                raise EOFError
            parts.append(more)
            got += len(more)
        data = b"".join(parts)
    return data


def read(f: Any) -> Any:
    (n,) = _LEN.unpack(read_exact(f, _LEN.size))
    return pickle.loads(read_exact(f, n))
