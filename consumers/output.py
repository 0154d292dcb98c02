"""Producing the service's output records (predictions, label requests, DLQ, drift).

kafka-python's ``KafkaProducer.send`` costs tens of microseconds of pure-Python work per record,
more than consuming the record did. :class:`ProcessSink` moves that work to a child process
(``python -m consumers.output``, owning its own ``KafkaProducer``): the learning process hands it each polled
batch's outputs as one pickled message through a pipe and keeps learning while the child
produces. :class:`InlineSink` produces in the calling process (``STREAMLEARN_OUTPUT_PROCESS=false``).

Both send shard p's records to partition ``p % partitions`` of each output topic (predictions
stay co-partitioned with their events without hashing keys), and both implement ``flush()``:
it returns once every record handed over so far is acknowledged by the broker — the runner
calls it before a snapshot, so the outputs of the events a snapshot covers are durable before
the offsets are committed (at-least-once outputs).
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from consumers.codecs import OutRecord
from consumers.kafka_config import KafkaClientConfig, kafka_args

__all__ = ["InlineSink", "OutputError", "ProcessSink", "make_sink"]

log = logging.getLogger("streamlearn.output")


class OutputError(RuntimeError):
    """The output producer failed (its process died, or a flush timed out)."""


def _producer(kafka: KafkaClientConfig, linger_ms: int) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        **kafka_args(kafka),
        acks="all",
        linger_ms=linger_ms,
        batch_size=1 << 20,
        max_request_size=8 << 20,
        # reconnect within a second of the broker's return (kafka-python backs off up to 30 s):
        # records waiting through an outage are delivered, not expired after delivery_timeout_ms
        reconnect_backoff_max_ms=1000,
        client_id="streamlearn-output",
    )


class _Producing:
    """Shared by both sinks: send records with explicit partitions, count acknowledgements and
    failures."""

    def __init__(self, producer: Any, topics: dict[str, str], partitions: dict[str, int]) -> None:
        self.producer = producer
        self.topics = topics
        self.partitions = partitions
        self.sent = 0
        self.acked = 0
        self.errors = 0
        self._lock = threading.Lock()

    def send(self, records: list[tuple], shard: int) -> None:
        send = self.producer.send
        topics, parts = self.topics, self.partitions
        for kind, key, value, headers in records:
            topic = topics[kind]
            fut = send(topic, value=value, key=key, headers=headers, partition=shard % parts[topic])
            self.sent += 1
            fut.add_callback(self._acked)
            fut.add_errback(self._failed, kind)

    def _acked(self, _metadata: Any) -> None:
        with self._lock:
            self.acked += 1

    def _failed(self, kind: str, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
        log.error("producing a %s record failed: %s", kind, exc)

    def flush(self, timeout: float) -> bool:
        """Flush the producer; True once every record sent so far is acknowledged.

        The producer's own flush can return before the callbacks of a batch it aborted have
        run: a record counts as delivered only when its acknowledgement has been seen, so a
        checkpoint never covers a record whose refusal is still to be counted.
        """
        deadline = time.monotonic() + timeout
        self.producer.flush(timeout=timeout)
        while True:
            with self._lock:
                settled = self.acked + self.errors
                if settled >= self.sent:
                    return self.errors == 0
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


class InlineSink:
    """Outputs produced in this process."""

    def __init__(
        self,
        kafka: KafkaClientConfig,
        topics: dict[str, str],
        partitions: dict[str, int],
        linger_ms: int,
    ) -> None:
        self._p = _Producing(_producer(kafka, linger_ms), topics, partitions)

    @property
    def errors(self) -> int:
        return self._p.errors

    def send(self, records: list[OutRecord], shard: int) -> None:
        if records:
            self._p.send(records, shard)

    def flush(self, timeout: float = 60.0) -> None:
        if not self._p.flush(timeout):
            raise OutputError(f"outputs not acknowledged by the broker within {timeout:g} s")

    def close(self) -> None:
        self._p.producer.close(timeout=30)


_LEN = struct.Struct(">Q")


def _write(f: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=5)
    f.write(_LEN.pack(len(data)))
    f.write(data)
    f.flush()


def _write_oob(f: Any, tag: tuple, obj: Any) -> None:
    """``tag`` then ``obj`` pickled with its numpy buffers out of band (no big in-memory copy).

    The array buffers are written straight from the objects' memory, so ``obj`` must not change
    until this returns. Frames: the tag pickle (with the buffer count), then each raw buffer,
    then the object's pickle.
    """
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    tag_bytes = pickle.dumps((*tag, len(buffers)), protocol=5)
    f.write(_LEN.pack(len(tag_bytes)))
    f.write(tag_bytes)
    for b in buffers:
        raw = b.raw()
        f.write(_LEN.pack(raw.nbytes))
        f.write(raw)
    f.write(_LEN.pack(len(head)))
    f.write(head)
    f.flush()


def _read_oob(f: Any, n_buffers: int) -> Any:
    """The object written by :func:`_write_oob` after its tag (read with :func:`_read`)."""
    bufs = []
    for _ in range(n_buffers):
        head = f.read(_LEN.size)
        if len(head) < _LEN.size:
            raise EOFError
        (n,) = _LEN.unpack(head)
        buf = bytearray(n)
        if f.readinto(buf) < n:  # reads release the GIL: HTTP keeps answering meanwhile
            raise EOFError
        bufs.append(buf)
    head = f.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError
    (n,) = _LEN.unpack(head)
    data = f.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data, buffers=bufs)


def _read_exact(f: Any, n: int) -> bytes:
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


def _read(f: Any) -> Any:
    (n,) = _LEN.unpack(_read_exact(f, _LEN.size))
    return pickle.loads(_read_exact(f, n))


def child_main() -> int:
    """The output process: ``python -m consumers.output`` reading framed messages on stdin."""
    import signal
    import sys

    # the learning process decides when this one stops (EOF or "close"): a signal to the
    # whole process group must not drop records it was handed
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    _, kafka, topics, partitions, linger_ms = _read(inp)
    p = _Producing(_producer(kafka, linger_ms), topics, partitions)
    _write(out, ("ready",))
    try:
        while True:
            msg = _read(inp)
            op = msg[0]
            if op == "send":
                p.send(msg[2], msg[1])
            elif op == "flush":
                try:
                    complete = p.flush(msg[2])
                except Exception as exc:  # KafkaTimeoutError: the broker is away; try later
                    log.warning("outputs not acknowledged within %g s (%s)", msg[2], exc)
                    complete = False
                _write(out, ("flushed", msg[1], p.errors, complete))
            elif op == "close":
                break
    except EOFError:  # the parent went away
        pass
    finally:
        p.producer.close(timeout=30)
    return 0


class ProcessSink:
    """Outputs produced by a child process (the learning process only pickles each batch)."""

    def __init__(
        self,
        kafka: KafkaClientConfig,
        topics: dict[str, str],
        partitions: dict[str, int],
        linger_ms: int,
    ) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "consumers.output"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        # answers are read unbuffered: a buffered reader could hold an answer that select()
        # on the pipe no longer sees (two answers arriving together)
        self._out = os.fdopen(self._proc.stdout.fileno(), "rb", buffering=0, closefd=False)
        self._seq = 0
        self.errors = 0
        self._post(("config", kafka, topics, partitions, linger_ms))
        self._reply("ready", 60.0)

    def _post(self, msg: tuple) -> None:
        try:
            _write(self._proc.stdin, msg)
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise OutputError(
                f"the output process is gone (exit code {self._proc.poll()})"
            ) from exc

    def _reply(self, what: str, timeout: float) -> tuple:
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            raise OutputError(f"the output process did not answer {what!r} within {timeout:g} s")
        try:
            msg = _read(self._out)
        except EOFError as exc:
            raise OutputError(
                f"the output process is gone (exit code {self._proc.poll()})"
            ) from exc
        if msg[0] != what:  # pragma: no cover - protocol error
            raise OutputError(f"unexpected answer {msg[0]!r} from the output process")
        return msg

    def send(self, records: list[OutRecord], shard: int) -> None:
        if records:
            self._post(("send", shard, [tuple(r) for r in records]))

    def flush(self, timeout: float = 60.0) -> None:
        self._seq += 1
        self._post(("flush", self._seq, timeout))
        deadline = time.monotonic() + timeout + 5
        while True:
            _, seq, errors, complete = self._reply("flushed", max(0.0, deadline - time.monotonic()))
            self.errors = max(self.errors, errors)  # the child's count only grows
            if seq == self._seq:
                break
            # the late answer to an earlier flush we stopped waiting for: skip it (assuming it
            # was ours would pair every later flush with the previous one's answer)
        if not complete:
            raise OutputError(f"outputs not acknowledged by the broker within {timeout:g} s")

    def close(self) -> None:
        try:
            self._post(("close",))
            self._proc.stdin.close()
        except (OutputError, OSError):
            pass
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self._proc.kill()
            self._proc.wait()
        self._out.close()
        self._proc.stdout.close()


def make_sink(
    process: bool,
    kafka: KafkaClientConfig,
    topics: dict[str, str],
    partitions: dict[str, int],
    linger_ms: int,
) -> InlineSink | ProcessSink:
    cls = ProcessSink if process else InlineSink
    return cls(kafka, topics, partitions, linger_ms)


if __name__ == "__main__":  # pragma: no cover - the child process
    raise SystemExit(child_main())
