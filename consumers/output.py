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
import select
import subprocess
import sys
import threading
import time
from typing import Any

from consumers import messages as msg
from consumers.kafka_config import KafkaClientConfig, kafka_args
from consumers.topics import KafkaCluster
from streamlearn.service.contract import OutputError, OutRecord
from streamlearn.settings import Settings

__all__ = ["InlineSink", "KafkaSink", "OutputError", "ProcessSink", "make_sink"]

log = logging.getLogger("streamlearn.output")


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
    config = msg.read(inp)
    p = _Producing(_producer(config.kafka, config.linger_ms), config.topics, config.partitions)
    msg.write(out, msg.Ready())
    try:
        while True:
            m = msg.read(inp)
            if isinstance(m, msg.Send):
                p.send(m.records, m.shard)
            elif isinstance(m, msg.Flush):
                try:
                    complete = p.flush(m.timeout)
                except Exception as exc:  # KafkaTimeoutError: the broker is away; try later
                    log.warning("outputs not acknowledged within %g s (%s)", m.timeout, exc)
                    complete = False
                msg.write(out, msg.OutputFlushed(m.seq, p.errors, complete))
            elif isinstance(m, msg.Close):
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
        self._post(msg.OutputConfig(kafka, topics, partitions, linger_ms))
        self._reply(msg.Ready, 60.0)

    def _post(self, message: Any) -> None:
        try:
            msg.write(self._proc.stdin, message)
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise OutputError(
                f"the output process is gone (exit code {self._proc.poll()})"
            ) from exc

    def _reply(self, what: type, timeout: float) -> Any:
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            raise OutputError(
                f"the output process did not answer {what.__name__} within {timeout:g} s"
            )
        try:
            answer = msg.read(self._out)
        except EOFError as exc:
            raise OutputError(
                f"the output process is gone (exit code {self._proc.poll()})"
            ) from exc
        if not isinstance(answer, what):  # pragma: no cover - protocol error
            raise OutputError(f"unexpected answer {answer!r} from the output process")
        return answer

    def send(self, records: list[OutRecord], shard: int) -> None:
        if records:
            self._post(msg.Send(shard, [tuple(r) for r in records]))

    def flush(self, timeout: float = 60.0) -> None:
        self._seq += 1
        self._post(msg.Flush(self._seq, timeout))
        deadline = time.monotonic() + timeout + 5
        while True:
            answer = self._reply(msg.OutputFlushed, max(0.0, deadline - time.monotonic()))
            self.errors = max(self.errors, answer.errors)  # the child's count only grows
            complete = answer.complete
            if answer.seq == self._seq:
                break
            # the late answer to an earlier flush we stopped waiting for: skip it (assuming it
            # was ours would pair every later flush with the previous one's answer)
        if not complete:
            raise OutputError(f"outputs not acknowledged by the broker within {timeout:g} s")

    def close(self) -> None:
        try:
            self._post(msg.Close())
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


class KafkaSink:
    """The service loop's :class:`~streamlearn.service.loop.Sink` in Kafka mode: shard ``"p"``'s
    records go to partition ``p % partitions`` of each output topic, produced by a child process
    (``settings.output_process``, the default) or in this one."""

    KINDS = ("predictions", "label-requests", "dlq", "drift")

    def __init__(self, settings: Settings, cluster: KafkaCluster) -> None:
        self.settings = settings
        self.cluster = cluster
        self._sink: InlineSink | ProcessSink | None = None

    @property
    def errors(self) -> int:
        return 0 if self._sink is None else self._sink.errors

    def open(self) -> None:
        s = self.settings
        topics = {kind: s.topic(kind) for kind in self.KINDS}
        self._sink = make_sink(
            s.output_process,
            self.cluster.kafka,
            topics,
            {t: self.cluster.partitions(kind) for kind, t in topics.items()},
            s.producer_linger_ms,
        )

    def send(self, records: list[OutRecord], shard: str) -> None:
        self._sink.send(records, int(shard))

    def flush(self, timeout: float = 60.0) -> None:
        self._sink.flush(timeout)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


if __name__ == "__main__":  # pragma: no cover - the child process
    raise SystemExit(child_main())
