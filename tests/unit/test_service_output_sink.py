"""The output process's flush protocol (consumers/output.py), with a stand-in child process."""
# Two answers arriving together (the late answer to an abandoned flush, then the current one)
# must both be seen: the sink reads its pipe unbuffered, as these tests do.

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from consumers import messages as msg
from consumers import output
from consumers.output import OutputError, ProcessSink


class _FakeChild:
    """The pipes of a child process whose answers are written in advance."""

    def __init__(self, answers: list[msg.OutputFlushed]) -> None:
        r, w = os.pipe()
        self._w = os.fdopen(w, "wb")  # kept open: a live child that has not answered yet
        for a in answers:
            msg.write(self._w, a)
        self.stdout = os.fdopen(r, "rb", buffering=0)
        self.stdin = io.BytesIO()

    def poll(self) -> Any:
        return None


def _sink(answers: list[msg.OutputFlushed]) -> ProcessSink:
    sink = object.__new__(ProcessSink)
    sink._proc = _FakeChild(answers)  # type: ignore[assignment]
    sink._out = sink._proc.stdout
    sink._seq = 0
    sink.errors = 0
    return sink


def test_flush_pairs_each_flush_with_its_own_answer() -> None:
    sink = _sink([msg.OutputFlushed(1, 0, True), msg.OutputFlushed(2, 0, True)])
    sink.flush(timeout=1)
    sink.flush(timeout=1)
    assert sink._seq == 2 and sink.errors == 0


def test_a_late_answer_to_an_abandoned_flush_is_skipped_and_its_errors_kept() -> None:
    # flush 1 timed out here; its answer (3 refused records) comes before flush 2's
    sink = _sink([msg.OutputFlushed(1, 3, False), msg.OutputFlushed(2, 3, True)])
    sink._seq = 1
    sink.flush(timeout=1)
    assert sink.errors == 3  # the caller stops before committing past refused records


def test_an_incomplete_flush_raises_with_the_errors_counted() -> None:
    sink = _sink([msg.OutputFlushed(1, 7, False)])
    with pytest.raises(OutputError, match="not acknowledged"):
        sink.flush(timeout=1)
    assert sink.errors == 7


def test_no_answer_in_time_raises() -> None:
    sink = _sink([msg.OutputFlushed(1, 0, True)])  # only the answer to an abandoned flush
    sink._seq = 1
    with pytest.raises(OutputError, match="did not answer"):
        sink.flush(timeout=0.05)  # waits timeout + 5 s in all


class _Trickle(io.RawIOBase):
    """A raw pipe that returns at most 3 bytes per read."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(min(n, 3) if n >= 0 else 3)


def test_read_assembles_a_message_from_short_reads_and_stops_at_the_end() -> None:
    buf = io.BytesIO()
    msg.write(buf, msg.OutputFlushed(9, 2, True))
    msg.write(buf, {"x": list(range(50))})
    f = _Trickle(buf.getvalue())
    assert msg.read(f) == msg.OutputFlushed(9, 2, True)
    assert msg.read(f) == {"x": list(range(50))}
    with pytest.raises(EOFError):
        msg.read(f)


class _LateFuture:
    def __init__(self) -> None:
        self.callbacks: list = []
        self.errbacks: list = []

    def add_callback(self, fn: Any, *args: Any) -> None:
        self.callbacks.append((fn, args))

    def add_errback(self, fn: Any, *args: Any) -> None:
        self.errbacks.append((fn, args))


class _LateProducer:
    """A producer whose flush returns before its records' callbacks have run (as kafka-python's
    can when it aborts batches); they run on a timer, like its sender thread."""

    def __init__(self, fail: set[int], delay: float) -> None:
        self.futures: list[_LateFuture] = []
        self.fail = fail
        self.delay = delay

    def send(self, *args: Any, **kw: Any) -> _LateFuture:
        self.futures.append(_LateFuture())
        return self.futures[-1]

    def flush(self, timeout: float) -> None:
        import threading

        def settle() -> None:
            for i, fut in enumerate(self.futures):
                if i in self.fail:
                    for fn, args in fut.errbacks:
                        fn(*args, RuntimeError("refused"))
                else:
                    for fn, args in fut.callbacks:
                        fn(*args, None)

        threading.Timer(self.delay, settle).start()


def _producing(fail: set[int], delay: float) -> Any:
    p = output._Producing(_LateProducer(fail, delay), {"predictions": "t"}, {"t": 1})
    p.send([("predictions", b"k", b"v", [])] * 5, 0)
    return p


def test_a_flush_counts_as_complete_only_once_every_record_is_acknowledged() -> None:
    p = _producing(set(), delay=0.2)
    assert p.flush(timeout=5) and p.acked == 5


def test_a_refusal_counted_after_the_producers_flush_still_fails_the_flush() -> None:
    p = _producing({3}, delay=0.2)
    assert not p.flush(timeout=5)
    assert (p.acked, p.errors) == (4, 1)


def test_records_still_unsettled_at_the_deadline_fail_the_flush() -> None:
    p = _producing(set(), delay=2.0)
    assert not p.flush(timeout=0.1)
