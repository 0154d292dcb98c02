"""The learning process of ``streamlearn serve``.

``streamlearn serve`` runs HTTP (uvicorn) in the main process and learning in this child process
(``python -m consumers.worker``), so requests never wait for the GIL held by learning, decoding or
kafka-python. The worker runs the service loop (:class:`~streamlearn.service.loop.Loop`, embedded
or Kafka mode); they talk over the child's stdin/stdout with the typed messages of
:mod:`consumers.messages`:

parent -> worker
    :class:`~consumers.messages.Config` first; then ``MetricsRequest`` (the worker's Prometheus
    text), ``FlushRequest`` (outputs acknowledged by the broker, then answer), ``Stop`` (final
    snapshot, then exit). EOF on stdin also stops the worker.
worker -> parent
    ``Publish`` followed by the model pickled with its array buffers out of band (a new
    immutable model version; the HTTP process reads the buffers without holding the GIL),
    ``Drop``, ``Status``, ``Progress``, ``Metrics``, ``Flushed``, ``Exit``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from consumers import messages as msg
from streamlearn.service.published import ModelVersion, ServiceState

__all__ = ["WorkerState", "main"]

log = logging.getLogger("streamlearn.worker")


class _Channel:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self.lock:
            msg.write(self.out, message)

    def send_oob(self, tag: msg.Publish, obj: Any) -> None:
        with self.lock:
            msg.write_oob(self.out, tag, obj)


class WorkerState(ServiceState):
    """The learning process's view of the service state: every change goes to the parent."""

    def __init__(self, channel: _Channel, mode: str, learner: str) -> None:
        self._channel = channel
        self._status = (False, False, "starting")
        super().__init__(mode=mode, learner=learner)

    def _status_changed(self) -> None:
        status = (
            getattr(self, "_restored", False),
            getattr(self, "_connected", False),
            getattr(self, "_reason", "starting"),
        )
        if status != self._status and hasattr(self, "_channel"):
            self._status = status
            self._channel.send(msg.Status(*status))

    restored = property(
        lambda self: getattr(self, "_restored", False),
        lambda self, v: (setattr(self, "_restored", v), self._status_changed())[0],
    )
    connected = property(
        lambda self: getattr(self, "_connected", False),
        lambda self, v: (setattr(self, "_connected", v), self._status_changed())[0],
    )

    def publish_model(self, meta: dict[str, Any], learner: Any) -> ModelVersion:
        # the arrays go straight from the live learner to the pipe: the HTTP process's copy
        self._channel.send_oob(msg.Publish(meta), learner)
        return ModelVersion(model=None, **meta)

    def drop(self, shard: str) -> None:
        self._channel.send(msg.Drop(shard))

    def note_progress(self, shard: str, counts: dict[str, int]) -> None:
        self._channel.send(msg.Progress(shard, dict(counts)))


def main() -> int:
    from prometheus_client import CollectorRegistry, generate_latest

    from consumers.service import build_loop, configure_logging
    from streamlearn.observability.metrics import ServiceMetrics
    from streamlearn.service.contract import REASONS
    from streamlearn.service.learners import resolve_learner_name
    from streamlearn.settings import Settings

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the channel
    channel = _Channel(out)
    settings = Settings(**msg.read(inp).settings)
    configure_logging(settings.log_level)
    mode = "kafka" if settings.kafka_bootstrap else "embedded"
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, part="stream")
    metrics.init_dlq(REASONS)  # every reason at 0: rate() and alerts see the first record
    state = WorkerState(channel, mode, resolve_learner_name(settings.learner))
    loop = build_loop(settings, state, metrics)

    def control() -> None:
        try:
            while True:
                m = msg.read(inp)
                if isinstance(m, msg.Stop):
                    break
                if isinstance(m, msg.MetricsRequest):
                    channel.send(msg.Metrics(m.seq, generate_latest(registry)))
                elif isinstance(m, msg.FlushRequest):
                    loop.request_flush(lambda seq=m.seq: channel.send(msg.Flushed(seq)))
        except EOFError:  # the parent is gone: stop cleanly all the same
            pass
        loop.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):  # the parent decides; a direct signal stops too
        signal.signal(sig, lambda *_: loop.stop())
    threading.Thread(target=control, name="streamlearn-control", daemon=True).start()
    error = None
    try:
        loop.run()
    except BaseException as exc:  # reported to the parent, which stops the service
        error = f"{type(exc).__name__}: {exc}"
    try:
        channel.send(msg.Metrics(-1, generate_latest(registry)))
        channel.send(msg.Exit(error))
    except (BrokenPipeError, OSError):
        pass
    return 0 if error is None else 1


def _exit(code: int) -> None:
    """Leave without interpreter finalisation: the control thread may still block on stdin."""
    import os

    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover - the child process
    _exit(main())
