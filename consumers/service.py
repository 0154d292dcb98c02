"""The running service: a learning thread (embedded or Kafka runner) beside uvicorn.

Learning runs in its own thread; HTTP runs in uvicorn's event loop in the main thread. The two
share only :class:`~streamlearn.serving.state.ServiceState` (published immutable model versions
and readiness) and the Prometheus registry. numba kernels are compiled with ``nogil=True``, so
the learner's compiled work runs beside HTTP requests; Python-level work of both threads shares
the GIL, so the interpreter's switch interval is lowered to keep request latency low while
learning.

SIGTERM / SIGINT stop uvicorn (in-flight requests finish), then the runner, which writes a final
snapshot (and, in Kafka mode, commits the offsets it covers) before the process exits with 0.
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

from streamlearn import __version__
from streamlearn.settings import Settings

__all__ = ["build_runner", "configure_logging", "run_service"]

log = logging.getLogger("streamlearn.service")

#: GIL switch interval while serving (seconds; CPython's default is 0.005).
SWITCH_INTERVAL = 0.0005


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(max(logging.WARNING, getattr(logging, level)))


def build_runner(settings: Settings, state: Any, metrics: Any, **kwargs: Any) -> Any:
    """The embedded runner, or the Kafka runner when ``settings.kafka_bootstrap`` is set."""
    if settings.kafka_bootstrap:
        from consumers.kafka_runner import KafkaRunner

        return KafkaRunner(settings, state, metrics, **kwargs)
    from consumers.embedded import EmbeddedRunner

    return EmbeddedRunner(settings, state, metrics, **kwargs)


def run_service(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (or a fatal runner error); return the exit status."""
    import uvicorn
    from prometheus_client import CollectorRegistry

    from consumers.processor import resolve_learner_name
    from streamlearn.observability.metrics import ServiceMetrics
    from streamlearn.serving.app import create_app
    from streamlearn.serving.state import ServiceState

    configure_logging(settings.log_level)
    mode = "kafka" if settings.kafka_bootstrap else "embedded"
    learner = resolve_learner_name(settings.learner)
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    metrics.info.info({"version": __version__, "learner": learner, "mode": mode})
    state = ServiceState(mode=mode, learner=learner)
    runner = build_runner(settings, state, metrics)
    app = create_app(state, settings, registry, metrics)

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # like uvicorn's, but do not re-raise the signal afterwards: we still have a
            # final snapshot to write.
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

    def learn() -> None:
        try:
            runner.run()
        except BaseException:
            server.should_exit = True  # a fatal runner error stops the service

    sys.setswitchinterval(SWITCH_INTERVAL)
    thread = threading.Thread(target=learn, name="streamlearn-learner", daemon=True)
    log.info(
        "streamlearn %s: %s mode, learner %s, HTTP on http://%s:%d",
        __version__,
        mode,
        learner,
        settings.host,
        settings.port,
    )
    thread.start()
    try:
        server.run()
    finally:
        state.stopping.set()
        log.info("shutting down: final snapshot")
        t0 = time.perf_counter()
        runner.stop()
        thread.join(timeout=120)
    if thread.is_alive():
        log.error("the learning thread did not stop within 120 s")
        return 1
    log.info("stopped in %.2fs", time.perf_counter() - t0)
    if runner.error is not None:
        log.error("the learning runner failed: %s", runner.error)
        return 1
    if not server.started:
        return 1
    return 0
