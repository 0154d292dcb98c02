"""The service against a real broker's SASL_SSL listener with ACLs enforced (tests/support/kafka.py
``secure_kafka``): TLS with the broker's test CA, SCRAM and PLAIN logins, only the documented
ACLs; a wrong password, an untrusted certificate or a missing ACL is a clear error with a
readiness reason, never a hang."""

from __future__ import annotations

import logging
import time

import pytest

from consumers.kafka_config import required_acls
from streamlearn.settings import Settings
from tests.support.kafka import SecureBroker, make_producer
from tests.support.service import (
    RunnerThread,
    event,
    kafka_settings,
    produce,
    read_topic,
    unique_prefix,
)

KEY = "security-tests-snapshot-key-0123456789"


def _settings(broker: SecureBroker, prefix: str, user: str = "streamlearn", **kw) -> Settings:
    mech = kw.pop("mechanism", "SCRAM-SHA-512")
    over = {k: kw.pop(k) for k in list(kw) if k.startswith("kafka_")}
    return kafka_settings(
        broker.bootstrap,
        prefix,
        **broker.settings_kw(user, mech, **over),
        snapshot_keys=KEY,
        **kw,
    )


def _events(n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    return [
        event(i, [float(i % 7), 1.0, -float(i % 3)], ["a"] if i % 2 else ["b", "c"])
        for i in range(start, start + n)
    ]


@pytest.mark.parametrize("output_process", [True, False])
def test_the_service_runs_over_sasl_ssl_with_only_the_documented_acls(
    secure_kafka: SecureBroker, output_process: bool
) -> None:
    prefix = unique_prefix()
    s = _settings(secure_kafka, prefix, output_process=output_process)
    secure_kafka.grant("streamlearn", required_acls(s, "service"))
    secure_kafka.grant("producer", required_acls(s, "producer"))
    producer = Settings(**secure_kafka.settings_kw("producer", "SCRAM-SHA-256"))
    admin = Settings(**secure_kafka.settings_kw("admin", "PLAIN"))  # a super user, over PLAIN

    svc = RunnerThread(s)
    try:
        svc.wait(lambda: svc.state.ready()[0], 120, "the service to be ready over SASL_SSL")
        produce(producer, s.topic("events"), _events(60))
        svc.wait(lambda: svc.learned() >= 60, 120, "60 events learned")
    finally:
        svc.stop()
    assert svc.loop.error is None
    preds = read_topic(admin, s.topic("predictions"), 60)
    assert len(preds) == 60

    # the snapshot (in the topic only the service may write) restores over SASL_SSL too
    again = RunnerThread(s)
    try:
        again.wait(lambda: again.state.ready()[0], 120, "ready again")
        assert again.sample("streamlearn_snapshot_restores_total", shard="0", outcome="restored")
        produce(producer, s.topic("events"), _events(10, start=60))
        again.wait(lambda: again.learned() >= 70, 120, "the 10 new events learned")
    finally:
        again.stop()
    assert again.loop.error is None
    assert len(read_topic(admin, s.topic("predictions"), 70)) == 70


def test_an_event_producer_cannot_write_the_snapshots_topic(secure_kafka: SecureBroker) -> None:
    from kafka.errors import TopicAuthorizationFailedError

    prefix = unique_prefix()
    s = _settings(secure_kafka, prefix)
    secure_kafka.grant("producer", required_acls(s, "producer"))
    prod = make_producer(
        Settings(**secure_kafka.settings_kw("producer", "SCRAM-SHA-256")), max_block_ms=20_000
    )
    try:
        fut = prod.send(s.topic("snapshots"), value=b"forged", key=b"k")
        with pytest.raises(TopicAuthorizationFailedError):
            fut.get(timeout=30)
    finally:
        prod.close(5)


@pytest.mark.parametrize(
    ("case", "reason", "words"),
    [
        ("wrong password", "kafka_authentication_failed", "refused the login"),
        ("untrusted certificate", "kafka_tls_failed", "certificate is not trusted"),
        ("address the certificate does not name", "kafka_tls_failed", "IP address mismatch"),
    ],
)
def test_a_bad_login_or_certificate_is_a_clear_error_and_not_ready(
    secure_kafka: SecureBroker, caplog, case: str, reason: str, words: str
) -> None:
    over: dict = {}
    if case == "wrong password":
        over["kafka_sasl_password"] = "not-the-password"
    elif case == "untrusted certificate":
        over["kafka_ssl_cafile"] = None  # the system's CAs: the test CA is not among them
    else:
        over["kafka_bootstrap"] = "127.0.0.1:" + secure_kafka.bootstrap.rsplit(":", 1)[1]
    s = _settings(secure_kafka, unique_prefix(), **over)
    caplog.set_level(logging.ERROR, logger="streamlearn")
    svc = RunnerThread(s)
    t0 = time.monotonic()
    try:
        svc.wait(lambda: svc.state.reason == reason, 20, f"readiness reason {reason}")
        seconds = time.monotonic() - t0
        assert svc.state.ready() == (False, reason)
        assert svc.thread.is_alive() and svc.loop.error is None  # retrying, not dead
    finally:
        t1 = time.monotonic()
        svc.stop(timeout=60)
    assert time.monotonic() - t1 < 45  # stops while it retries: no hang
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("streamlearn.")]
    assert any(words in m and secure_kafka.bootstrap.split(":")[1] in m for m in logged), logged
    assert all(s.kafka_sasl_password.get_secret_value() not in m for m in logged)
    assert seconds < 20


def test_a_missing_acl_is_a_clear_error(secure_kafka: SecureBroker) -> None:
    s = _settings(secure_kafka, unique_prefix(), user="producer", mechanism="SCRAM-SHA-256")
    svc = RunnerThread(s)  # a principal without the service's ACLs
    svc.thread.join(120)
    assert not svc.thread.is_alive()
    err = svc.loop.error
    assert getattr(err, "reason", None) == "kafka_not_authorized", repr(err)
    assert "user producer is not allowed" in str(err) and "docs/security.md" in str(err)
    assert svc.state.ready() == (False, "kafka_not_authorized")
