"""The running service: a learning process (embedded or Kafka runner) beside uvicorn.

HTTP runs in uvicorn's event loop in the main process; learning runs in a child process
(:mod:`consumers.worker`), which in Kafka mode hands its output records to a third process
(:mod:`consumers.output`). Learning, decoding and kafka-python are Python code that holds the
GIL; in their own process they never delay an HTTP request. The HTTP process keeps the latest
published immutable model version of each shard (the worker sends a pickled copy every few
events or milliseconds) and answers from it; ``/metrics`` serves the worker's metrics (asked
for at each scrape) followed by the HTTP process's own.

SIGTERM / SIGINT stop uvicorn (in-flight requests finish), then the learning process, which
writes a final snapshot (and, in Kafka mode, commits the offsets it covers) before the service
exits with 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from consumers import messages as msg
from streamlearn import __version__
from streamlearn.settings import Settings

__all__ = ["LearnerProcess", "build_loop", "configure_logging", "run_service", "start_http"]

log = logging.getLogger("streamlearn.service")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(max(logging.WARNING, getattr(logging, level)))


def build_loop(settings: Settings, readers: Any, recorder: Any = None, **kwargs: Any) -> Any:
    """The service loop: over the consumer group when ``settings.kafka_bootstrap`` is set,
    else over the embedded replay."""
    if settings.kafka_bootstrap:
        from consumers.kafka_source import kafka_loop

        return kafka_loop(settings, readers, recorder, **kwargs)
    from consumers.embedded import embedded_loop

    return embedded_loop(settings, readers, recorder, **kwargs)


class LearnerProcess:
    """The learning process seen from the HTTP process (see :mod:`consumers.worker`).

    A reader thread applies what the worker sends to the local
    :class:`~streamlearn.service.published.ServiceState`: published model versions (unpickled here,
    so readers hold their own copy), dropped shards, readiness. ``metrics_text()`` asks the
    worker for its Prometheus text (stream metrics), ``flush()`` waits until its outputs are
    acknowledged, ``stop()`` asks for the final snapshot and waits for the exit.
    """

    def __init__(self, settings: Settings, state: Any) -> None:
        import os
        import subprocess

        self.state = state
        self.error: str | None = None
        self.exited = threading.Event()
        self.progress: dict[str, dict[str, int]] = {}
        self._progressed = threading.Condition()
        self._seq = 0
        self._waiting: dict[int, tuple[threading.Event, list]] = {}
        self._lock = threading.Lock()
        self._last_metrics = b""
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "consumers.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,  # same process group: a group kill ends it too; alone it stops at EOF
        )
        config = settings.model_dump(exclude={"api_token"})
        msg.write(self.proc.stdin, msg.Config(config))
        self._reader = threading.Thread(
            target=self._read, name="streamlearn-worker-reader", daemon=True
        )
        self._reader.start()

    def _send(self, message: Any) -> None:
        with self._lock:
            msg.write(self.proc.stdin, message)

    def _read(self) -> None:
        from streamlearn.service.published import ModelVersion

        state = self.state
        warmed: set[type] = set()
        try:
            while True:
                m = msg.read(self.proc.stdout)
                if isinstance(m, msg.Publish):
                    model = msg.read_oob(self.proc.stdout, m.n_buffers)
                    mv = ModelVersion(model=model, **m.meta)
                    if model is not None and type(model) not in warmed:
                        _warm_up(mv)  # first call loads/compiles kernels: not in a request
                        warmed.add(type(model))
                    state.publish(mv)
                elif isinstance(m, msg.Progress):
                    self.progress[m.shard] = m.counts
                    with self._progressed:
                        self._progressed.notify_all()
                elif isinstance(m, msg.Status):
                    state.restored, state.connected, state.reason = (
                        m.restored,
                        m.connected,
                        m.reason,
                    )
                elif isinstance(m, msg.Drop):
                    state.drop(m.shard)
                    self.progress.pop(m.shard, None)
                elif isinstance(m, msg.Metrics | msg.Flushed):
                    if isinstance(m, msg.Metrics):
                        self._last_metrics = m.text
                    waiter = self._waiting.pop(m.seq, None)
                    if waiter is not None:
                        waiter[1].append(m.text if isinstance(m, msg.Metrics) else None)
                        waiter[0].set()
                elif isinstance(m, msg.Exit):
                    self.error = m.error
                    break
        except EOFError:
            self.error = self.error or f"the learning process died (exit code {self.proc.poll()})"
        finally:
            state.connected = False
            state.reason = "learning_process_stopped" if self.error else "stopped"
            self.exited.set()
            for ev, _ in list(self._waiting.values()):
                ev.set()
            with self._progressed:
                self._progressed.notify_all()

    def _request(self, kind: type, timeout: float) -> list:
        with self._lock:
            self._seq += 1
            seq = self._seq
        ev: threading.Event = threading.Event()
        box: list = []
        self._waiting[seq] = (ev, box)
        try:
            self._send(kind(seq))
        except (BrokenPipeError, OSError):
            self._waiting.pop(seq, None)
            return box
        ev.wait(timeout)
        self._waiting.pop(seq, None)
        return box

    def metrics_text(self, timeout: float = 5.0) -> bytes:
        """The worker's current Prometheus text (the last one seen if it does not answer)."""
        if self.exited.is_set():
            return self._last_metrics
        box = self._request(msg.MetricsRequest, timeout)
        return box[0] if box else self._last_metrics

    def flush(self, timeout: float = 120.0) -> bool:
        return bool(self._request(msg.FlushRequest, timeout))

    def learned(self) -> int:
        """Instances learned by the worker's shards (as of its last processed batch)."""
        return sum(c.get("events_learned", 0) for c in list(self.progress.values()))

    def wait_learned(self, n: int, timeout: float) -> bool:
        """Wait until the shards have learned at least ``n`` instances (False on timeout/exit)."""
        with self._progressed:
            return (
                self._progressed.wait_for(
                    lambda: self.learned() >= n or self.exited.is_set(), timeout
                )
                and self.learned() >= n
            )

    def stop(self, timeout: float = 120.0) -> int | None:
        try:
            self._send(msg.Stop())
        except (BrokenPipeError, OSError):
            pass
        try:
            code = self.proc.wait(timeout)
        except Exception:
            log.error("the learning process did not stop within %g s: killing it", timeout)
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(10)
        return code


def _warm_up(mv: Any) -> None:
    import numpy as np

    from streamlearn.base.arrays import CSR

    try:
        if mv.sparse:
            X: Any = CSR(np.zeros(2, np.int64), np.zeros(0, np.int64), np.zeros(0), mv.n_features)
        else:
            X = np.zeros((1, mv.n_features))
        mv.model.predict_proba_many(X)
    except Exception as exc:  # pragma: no cover - a learner that cannot predict zeros
        log.debug("warm-up prediction failed: %s", exc)


def start_http(settings: Settings, state: Any, learner: str, mode: str, worker: Any) -> Any:
    """The HTTP app of the service over a learning process (its metrics included)."""
    from prometheus_client import CollectorRegistry

    from streamlearn.observability.metrics import ServiceMetrics
    from streamlearn.serving.app import create_app

    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, part="http")
    metrics.info.info({"version": __version__, "learner": learner, "mode": mode})
    return create_app(state, settings, registry, metrics, extra_metrics=worker.metrics_text)


def run_service(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (or a fatal learning error); return the exit status."""
    import uvicorn

    from streamlearn.service.learners import resolve_learner_name
    from streamlearn.service.published import ServiceState
    from streamlearn.serving.app import bind_refusal

    configure_logging(settings.log_level)
    refusal = bind_refusal(settings)
    if refusal is not None:
        log.error("%s", refusal)
        return 2
    mode = "kafka" if settings.kafka_bootstrap else "embedded"
    learner = resolve_learner_name(settings.learner)
    state = ServiceState(mode=mode, learner=learner)
    worker = LearnerProcess(settings, state)
    app = start_http(settings, state, learner, mode, worker)

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # like uvicorn's, but do not re-raise the signal afterwards: the learning
            # process still has a final snapshot to write.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            sigs = (signal.SIGINT, signal.SIGTERM)
            old = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
            try:
                yield
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="off",
    )
    server = Server(config)

    def watch() -> None:  # a learning process that dies stops the service
        worker.exited.wait()
        server.should_exit = True

    threading.Thread(target=watch, name="streamlearn-watch", daemon=True).start()
    log.info(
        "streamlearn %s: %s mode, learner %s, HTTP on http://%s:%d (learning in process %d)",
        __version__,
        mode,
        learner,
        settings.host,
        settings.port,
        worker.proc.pid,
    )
    try:
        server.run()
    finally:
        state.stopping.set()
        log.info("shutting down: final snapshot")
        t0 = time.perf_counter()
        code = worker.stop()
    log.info("stopped in %.2fs", time.perf_counter() - t0)
    if worker.error is not None:
        log.error("the learning process failed: %s", worker.error)
        return 1
    if code != 0 or not server.started:
        return 1
    return 0
