"""A real Apache Kafka broker for the integration and e2e suites.

The broker is the one of ``docker/local/kafka.sh`` (a single combined KRaft node on 127.0.0.1).

- ``STREAMLEARN_TEST_KAFKA=host:port`` set: the tests use that broker (``make test`` starts one
  and sets it). If ``STREAMLEARN_TEST_KAFKA_DIR`` names its ``kafka.sh`` directory too, the
  tests may also stop and restart it (``kafka_broker_control``).
- Not set: the first test that needs Kafka starts a broker of its own on free ports in a temp
  directory, and it is stopped and deleted at the end of the session (so
  ``python -m pytest tests/integration`` works by hand).

Fixtures (re-exported by the integration and e2e ``conftest.py``):

``kafka_bootstrap``
    session: the bootstrap address ``"127.0.0.1:PORT"``.
``kafka_broker_control``
    a :class:`BrokerControl` to ``stop()`` / ``start()`` / ``restart()`` the broker; when the
    broker is external without a ``kafka.sh`` directory the test skips, and fails under
    ``make test`` (``STREAMLEARN_TEST_REQUIRE_ALL=1``).
``topic_factory``
    ``topic_factory(partitions=1, *, config=None, prefix=None) -> name``: a new uniquely named
    topic, ready (every partition has a leader); deleted after the test.
``consumer_factory`` / ``producer_factory``
    kafka-python clients with test defaults (:data:`CONSUMER_DEFAULTS`); closed after the test.
``secure_kafka``
    session: a second broker of its own (never the shared one) with a SASL_SSL listener, its
    test CA, SCRAM/PLAIN users and ACLs enforced (:class:`SecureBroker`).

The client helpers take a bootstrap address, a :class:`~streamlearn.settings.Settings` (its
TLS and SASL settings apply, through :func:`consumers.kafka_config.kafka_args`) or a dict of
kafka-python client arguments.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.skips import ENV_REQUIRE_ALL

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "docker" / "local" / "kafka.sh"
ENV_BOOTSTRAP = "STREAMLEARN_TEST_KAFKA"
ENV_DIR = "STREAMLEARN_TEST_KAFKA_DIR"

#: Consumer settings for tests: quick group joins and failure detection, read from the start,
#: commits only when the test says so.
CONSUMER_DEFAULTS: dict[str, Any] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
    "request_timeout_ms": 15000,
    "max_poll_interval_ms": 60000,
}

#: Producer settings for tests: nothing is acknowledged before it is on the log.
PRODUCER_DEFAULTS: dict[str, Any] = {"acks": "all", "linger_ms": 0, "retries": 5}

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KafkaScriptError(RuntimeError):
    """``docker/local/kafka.sh`` failed; the message holds its output."""


class LocalBroker:
    """A broker run by ``docker/local/kafka.sh`` in ``directory``.

    Ports are only used when the directory is new: an existing set-up keeps the ports it was
    formatted with (they are recorded in its ``server.properties``).
    """

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        controller_port: int | None = None,
        sasl_ssl_port: int | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.port = port
        self.controller_port = controller_port
        self.sasl_ssl_port = sasl_ssl_port

    def _run(self, command: str, timeout: float = 240) -> str:
        env = dict(os.environ, KAFKA_DIR=str(self.directory), PYTHON=sys.executable)
        if self.port is not None:
            env["KAFKA_PORT"] = str(self.port)
        if self.controller_port is not None:
            env["KAFKA_CONTROLLER_PORT"] = str(self.controller_port)
        if self.sasl_ssl_port is not None:
            env["KAFKA_SASL_SSL_PORT"] = str(self.sasl_ssl_port)
        proc = subprocess.run(
            ["bash", str(KAFKA_SH), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise KafkaScriptError(
                f"docker/local/kafka.sh {command} failed (exit {proc.returncode}, "
                f"dir {self.directory}):\n{proc.stderr}{proc.stdout}"
            )
        return proc.stdout.strip()

    @property
    def bootstrap(self) -> str:
        return (self.directory / "bootstrap").read_text().strip()

    def up(self) -> str:
        """Fetch, format and start as needed; returns the bootstrap address."""
        return self._run("up").splitlines()[-1]

    def start(self) -> str:
        """Start again from the kept data; returns the bootstrap address once it answers."""
        return self._run("start").splitlines()[-1]

    def stop(self) -> None:
        """Stop (SIGTERM, SIGKILL after 30 s), keeping the data."""
        self._run("stop")

    def down(self) -> None:
        """Stop and delete the data directory."""
        self._run("down")

    def is_running(self) -> bool:
        env = dict(os.environ, KAFKA_DIR=str(self.directory))
        proc = subprocess.run(
            ["bash", str(KAFKA_SH), "status"], env=env, capture_output=True, check=False
        )
        return proc.returncode == 0


class BrokerControl:
    """Stop and start the session's broker (same node, same data, same address)."""

    def __init__(self, broker: LocalBroker) -> None:
        self._broker = broker

    @property
    def bootstrap(self) -> str:
        return self._broker.bootstrap

    def stop(self) -> None:
        self._broker.stop()

    def start(self) -> str:
        return self._broker.start()

    def restart(self) -> str:
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self._broker.is_running()


class _SessionBroker:
    """The one broker of a test session, shared by every conftest that re-exports the fixtures.

    Reference-counted: each session-scoped ``kafka_bootstrap`` instance (one per conftest that
    re-exports it) acquires it; the broker this session started is removed at the last release.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._bootstrap: str | None = None
        self._owned: LocalBroker | None = None  # started by this session
        self._controllable: LocalBroker | None = None
        self._tmp: Path | None = None

    def acquire(self) -> str:
        with self._lock:
            if self._bootstrap is None:
                self._bootstrap = self._open()
            self._users += 1
            return self._bootstrap

    def _open(self) -> str:
        external = os.environ.get(ENV_BOOTSTRAP, "").strip()
        if external:
            if ":" not in external:
                raise ValueError(f"{ENV_BOOTSTRAP}={external!r} is not a host:port address")
            directory = os.environ.get(ENV_DIR, "").strip()
            if directory:
                self._controllable = LocalBroker(Path(directory))
            return external
        self._tmp = Path(tempfile.mkdtemp(prefix="streamlearn-kafka-"))
        broker = LocalBroker(self._tmp / "kafka", port=free_port(), controller_port=free_port())
        self._owned = self._controllable = broker
        atexit.register(self._cleanup)  # also when the session is interrupted
        return broker.up()

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._cleanup()

    def _cleanup(self) -> None:
        if self._owned is not None:
            try:
                self._owned.down()
            except Exception as exc:  # report, still remove the temp dir
                log.warning("could not stop the test broker: %s", exc)
            self._owned = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._bootstrap = None
        self._controllable = None

    @property
    def controllable(self) -> LocalBroker | None:
        return self._controllable


SESSION_BROKER = _SessionBroker()


# --- clients -----------------------------------------------------------------------------------

#: Where a client connects: a bootstrap address, service settings, or kafka-python arguments.
Kafka = Any


def client_args(kafka: Kafka) -> dict[str, Any]:
    """kafka-python connection arguments of ``kafka`` (see the module docstring)."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka}
    if isinstance(kafka, dict):
        return dict(kafka)
    from consumers.kafka_config import kafka_args

    return kafka_args(kafka)


def make_consumer(kafka: Kafka, *topics: str, **overrides: Any):
    """A ``KafkaConsumer`` with :data:`CONSUMER_DEFAULTS` (``group_id`` etc. via overrides)."""
    from kafka import KafkaConsumer

    return KafkaConsumer(*topics, **client_args(kafka), **{**CONSUMER_DEFAULTS, **overrides})


def make_producer(kafka: Kafka, **overrides: Any):
    """A ``KafkaProducer`` with :data:`PRODUCER_DEFAULTS`."""
    from kafka import KafkaProducer

    return KafkaProducer(**client_args(kafka), **{**PRODUCER_DEFAULTS, **overrides})


def make_admin(kafka: Kafka, **overrides: Any):
    """A ``KafkaAdminClient`` (close it after use)."""
    from kafka import KafkaAdminClient

    return KafkaAdminClient(**client_args(kafka), **{"request_timeout_ms": 15000, **overrides})


def create_topic(
    bootstrap: str, name: str, partitions: int = 1, config: dict[str, str] | None = None
) -> str:
    """Create ``name`` with ``partitions`` partitions (one replica) and wait until it is usable."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    admin = make_admin(bootstrap)
    try:
        admin.create_topics(
            {
                name: {
                    "num_partitions": partitions,
                    "replication_factor": 1,
                    "configs": dict(config or {}),
                }
            },
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    return name


def delete_topics(bootstrap: str, names: list[str]) -> None:
    if not names:
        return
    admin = make_admin(bootstrap)
    try:
        admin.delete_topics(names, raise_errors=False)
    finally:
        admin.close()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def unique_topic_name(prefix: str) -> str:
    """``<prefix>-<8 hex>``, with characters Kafka does not allow replaced."""
    prefix = _UNSAFE.sub("-", prefix).strip("-.")[:150] or "t"
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of the session's Kafka broker (``$STREAMLEARN_TEST_KAFKA`` or our own)."""
    bootstrap = SESSION_BROKER.acquire()
    try:
        yield bootstrap
    finally:
        SESSION_BROKER.release()


@pytest.fixture
def kafka_broker_control(kafka_bootstrap: str) -> Iterator[BrokerControl]:
    """Stop/start the session's broker; it is running again after the test in any case."""
    broker = SESSION_BROKER.controllable
    if broker is None:
        message = (
            f"{ENV_BOOTSTRAP}={kafka_bootstrap} is an external broker that this session cannot "
            f"restart (set {ENV_DIR} to its kafka.sh directory, or unset {ENV_BOOTSTRAP})"
        )
        if os.environ.get(ENV_REQUIRE_ALL) == "1":
            pytest.fail(message)  # under make test the broker tests must run
        pytest.skip(message)
    control = BrokerControl(broker)
    try:
        yield control
    finally:
        if not control.is_running():
            control.start()


@pytest.fixture
def topic_factory(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """``topic_factory(partitions=1, *, config=None, prefix=None)``: a fresh topic, deleted after."""
    created: list[str] = []

    def make(
        partitions: int = 1, *, config: dict[str, str] | None = None, prefix: str | None = None
    ) -> str:
        name = unique_topic_name(prefix or request.node.name)
        create_topic(kafka_bootstrap, name, partitions, config)
        created.append(name)
        return name

    yield make
    try:
        delete_topics(kafka_bootstrap, created)
    except Exception as exc:  # a leftover test topic is no test failure
        log.warning("could not delete test topics %s: %s", created, exc)


@pytest.fixture
def consumer_factory(kafka_bootstrap: str) -> Iterator[Callable[..., Any]]:
    """``consumer_factory(*topics, **config)``: a KafkaConsumer with test defaults, closed after."""
    consumers: list[Any] = []

    def make(*topics: str, **overrides: Any):
        consumer = make_consumer(kafka_bootstrap, *topics, **overrides)
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in consumers:
        try:
            consumer.close(autocommit=False)
        except Exception as exc:
            log.warning("could not close a test consumer: %s", exc)


@pytest.fixture
def producer_factory(kafka_bootstrap: str) -> Iterator[Callable[..., Any]]:
    """``producer_factory(**config)``: a KafkaProducer with test defaults, closed after."""
    producers: list[Any] = []

    def make(**overrides: Any):
        producer = make_producer(kafka_bootstrap, **overrides)
        producers.append(producer)
        return producer

    yield make
    for producer in producers:
        try:
            producer.close(timeout=10)
        except Exception as exc:
            log.warning("could not close a test producer: %s", exc)


# --- the SASL_SSL broker ------------------------------------------------------------------------

ENV_SECURE_DIR = "STREAMLEARN_TEST_KAFKA_SECURE_DIR"


@dataclass(frozen=True)
class SecureBroker:
    """A broker with a SASL_SSL listener (``docker/local/kafka.sh`` with KAFKA_SASL_SSL_PORT).

    ``bootstrap`` is the SASL_SSL address (``localhost:PORT``; the certificate names
    ``localhost`` only); ``admin_bootstrap`` the PLAINTEXT listener, a super user, for setting
    up topics and ACLs. Users ``admin`` (super user), ``streamlearn`` and ``producer`` have
    SCRAM-SHA-256/512 and PLAIN passwords; the others have no ACL until a test grants them.
    """

    directory: Path
    admin_bootstrap: str

    @property
    def secure(self) -> Path:
        return self.directory / "secure"

    @property
    def bootstrap(self) -> str:
        return (self.secure / "bootstrap").read_text().strip()

    @property
    def cafile(self) -> Path:
        return self.secure / "ca.pem"

    def password(self, user: str) -> str:
        return (self.secure / f"{user}.password").read_text().strip()

    def settings_kw(
        self, user: str = "streamlearn", mechanism: str = "SCRAM-SHA-512", **over: Any
    ) -> dict[str, Any]:
        """Settings keyword arguments to connect as ``user`` over SASL_SSL."""
        kw: dict[str, Any] = {
            "kafka_bootstrap": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": mechanism,
            "kafka_sasl_username": user,
            "kafka_sasl_password": self.password(user),
            "kafka_ssl_cafile": self.cafile,
        }
        kw.update(over)
        return {k: v for k, v in kw.items() if v is not None}

    def env(self, user: str = "streamlearn", mechanism: str = "SCRAM-SHA-512", **over: Any):
        """The same as ``STREAMLEARN_*`` environment variables (for the CLI)."""
        return {
            f"STREAMLEARN_{k.upper()}": str(v)
            for k, v in self.settings_kw(user, mechanism, **over).items()
        }

    def grant(self, principal: str, acls: list[tuple[str, str, str]]) -> None:
        """Allow ``User:principal`` the (resource type, literal name, operation) ACLs."""
        from kafka.admin import (
            ACL,
            ACLOperation,
            ACLPermissionType,
            ACLResourcePatternType,
            ResourcePattern,
            ResourceType,
        )

        admin = make_admin(self.admin_bootstrap)
        try:
            result = admin.create_acls(
                [
                    ACL(
                        principal=f"User:{principal}",
                        host="*",
                        operation=getattr(ACLOperation, op),
                        permission_type=ACLPermissionType.ALLOW,
                        resource_pattern=ResourcePattern(
                            getattr(ResourceType, rtype.upper()),
                            name,
                            ACLResourcePatternType.LITERAL,
                        ),
                    )
                    for rtype, name, op in acls
                ]
            )
        finally:
            admin.close()
        if result["failed"]:
            raise RuntimeError(f"could not create ACLs: {result['failed']}")


class _SecureSessionBroker:
    """The session's SASL_SSL broker: started on first use, removed at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._broker: SecureBroker | None = None
        self._owned: LocalBroker | None = None
        self._tmp: Path | None = None

    def get(self) -> SecureBroker:
        with self._lock:
            if self._broker is None:
                given = os.environ.get(ENV_SECURE_DIR, "").strip()
                if given:
                    local = LocalBroker(Path(given))
                    local.up()
                else:
                    self._tmp = Path(tempfile.mkdtemp(prefix="streamlearn-kafka-secure-"))
                    local = LocalBroker(
                        self._tmp / "kafka",
                        port=free_port(),
                        controller_port=free_port(),
                        sasl_ssl_port=free_port(),
                    )
                    self._owned = local
                    atexit.register(self.cleanup)
                    local.up()
                self._broker = SecureBroker(local.directory, local.bootstrap)
            return self._broker

    def cleanup(self) -> None:
        with self._lock:
            if self._owned is not None:
                try:
                    self._owned.down()
                except Exception as exc:
                    log.warning("could not stop the SASL_SSL test broker: %s", exc)
                self._owned = None
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None
            self._broker = None


SECURE_SESSION_BROKER = _SecureSessionBroker()


@pytest.fixture(scope="session")
def secure_kafka() -> SecureBroker:
    """A broker with a SASL_SSL listener and ACLs (its own, not the shared broker); shared by
    every suite of the session and removed when the session ends."""
    return SECURE_SESSION_BROKER.get()
