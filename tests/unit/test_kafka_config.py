"""The Kafka client-configuration factory: settings checked together, mapped to kafka-python,
no secret in descriptions; connection failures diagnosed from kafka-python's log."""

from __future__ import annotations

import logging

import pytest

from consumers.kafka_config import (
    AUTHENTICATION_FAILED,
    TLS_FAILED,
    ConnectionDiagnosis,
    KafkaClientConfig,
    kafka_args,
    required_acls,
)
from streamlearn.settings import Settings

SCRAM = {
    "kafka_bootstrap": "broker:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-256",
    "kafka_sasl_username": "svc",
    "kafka_sasl_password": "pw-123",
}


def test_plaintext_is_the_bare_bootstrap() -> None:
    assert kafka_args(Settings(kafka_bootstrap="h:1")) == {
        "bootstrap_servers": "h:1",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_maps_every_setting(tmp_path) -> None:
    s = Settings(
        **SCRAM,
        kafka_ssl_cafile=tmp_path / "ca.pem",
        kafka_ssl_certfile=tmp_path / "c.pem",
        kafka_ssl_keyfile=tmp_path / "k.pem",
        kafka_ssl_key_password="kpw",
        kafka_ssl_check_hostname=False,
    )
    assert kafka_args(s) == {
        "bootstrap_servers": "broker:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "pw-123",
        "ssl_check_hostname": False,
        "ssl_cafile": str(tmp_path / "ca.pem"),
        "ssl_certfile": str(tmp_path / "c.pem"),
        "ssl_keyfile": str(tmp_path / "k.pem"),
        "ssl_password": "kpw",
    }
    cfg = KafkaClientConfig.from_settings(s)
    text = cfg.describe() + repr(cfg)
    assert "pw-123" not in text and "kpw" not in text
    assert "hostname NOT checked" in cfg.describe()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "needs a kafka_sasl_mechanism"),
        ({"kafka_sasl_mechanism": "PLAIN"}, "needs kafka_security_protocol SASL_SSL"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN"},
            "needs kafka_sasl_username and kafka_sasl_password",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"},
            "needs kafka_sasl_oauth_token_provider",
        ),
        ({"kafka_ssl_cafile": "ca.pem"}, "only used with SSL or SASL_SSL"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "k.pem"},
            "kafka_ssl_keyfile needs kafka_ssl_certfile",
        ),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "AWS_MSK_IAM"},
            "AWS_MSK_IAM needs kafka_security_protocol SASL_SSL",
        ),
    ],
)
def test_inconsistent_settings_are_refused_at_start_up(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Settings(kafka_bootstrap="h:1", **kw)


def test_oauth_token_provider_is_built_from_its_path() -> None:
    s = Settings(
        kafka_bootstrap="h:1",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_sasl_oauth_token_provider="tests.unit.test_kafka_config:StaticToken",
    )
    assert kafka_args(s)["sasl_oauth_token_provider"].token() == "a-token"
    bad = s.model_copy(update={"kafka_sasl_oauth_token_provider": "tests.unit:Nope"})
    with pytest.raises(ValueError, match="cannot be imported"):
        kafka_args(bad)


def _token_provider_base():
    from kafka.net.sasl.oauth import AbstractTokenProvider

    return AbstractTokenProvider


class StaticToken(_token_provider_base()):
    def token(self) -> str:
        return "a-token"


# Messages as kafka-python 3.0 logs them against the SASL_SSL test broker.
CASES = [
    (
        "<KafkaSSLTransport [127.0.0.1:29194<-59868]>: Abort ([Error 58] "
        "SaslAuthenticationFailedError: SaslAuthenticationFailedError: Authentication failed "
        "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256)",
        AUTHENTICATION_FAILED,
        "refused the login",
    ),
    (
        "Connection failed: KafkaConnectionError: Handshake failed: [SSL: "
        "CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in "
        "certificate chain (_ssl.c:1006)",
        TLS_FAILED,
        "not trusted (self-signed certificate in certificate chain)",
    ),
    (
        "Connection failed: KafkaConnectionError: Handshake failed: [SSL: "
        "CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch, certificate "
        "is not valid for '127.0.0.1'. (_ssl.c:1006)",
        TLS_FAILED,
        "IP address mismatch",
    ),
    (
        "<KafkaConnection node_id=bootstrap-0 broker_version=(4, 1) (disconnected)>: Connection "
        "lost: KafkaConnectionError: socket disconnected",
        AUTHENTICATION_FAILED,
        "closed the connection during SASL authentication",
    ),
]


@pytest.mark.parametrize(("message", "reason", "words"), CASES)
def test_the_diagnosis_reads_kafka_pythons_log(message: str, reason: str, words: str) -> None:
    cfg = KafkaClientConfig.from_settings(Settings(**SCRAM))
    seen: list = []
    with ConnectionDiagnosis(cfg, lambda *found: seen.append(found)) as d:
        logging.getLogger("kafka.net.connection").error("%s", message)
    assert d.last is not None and d.last[0] == reason and words in d.last[1]
    assert seen == [d.last] and "broker:9093" in d.last[1] and "pw-123" not in d.last[1]
    err = d.error()
    assert err.reason == reason and str(err) == d.last[1]
    assert logging.getLogger("kafka").handlers.count(d) == 0  # detached


def test_a_lost_connection_is_no_login_failure_once_connected_or_without_sasl() -> None:
    lost = CASES[-1][0]
    cfg = KafkaClientConfig.from_settings(Settings(**SCRAM))
    with ConnectionDiagnosis(cfg) as d:
        d.bootstrapped = True
        logging.getLogger("kafka.net.connection").error("%s", lost)
    assert d.last is None and d.error().reason == "kafka_unreachable"
    plain = KafkaClientConfig.from_settings(Settings(kafka_bootstrap="h:1"))
    with ConnectionDiagnosis(plain) as d:
        logging.getLogger("kafka.net.connection").error("%s", lost)
        logging.getLogger("kafka.net.connection").error(
            "<KafkaConnection node_id=bootstrap-0 broker_version=unknown (disconnected)>: "
            "Connection lost: KafkaConnectionError: 111 ECONNREFUSED"
        )
    assert d.last is None


def test_required_acls_only_the_service_writes_snapshots() -> None:
    s = Settings(topic_prefix="p.", group_id="g")
    service, producer = required_acls(s, "service"), required_acls(s, "producer")
    writers = {name for kind, name, op in service + producer if op == "WRITE"}
    assert "p.snapshots" in writers
    assert not [a for a in producer if a[1] == "p.snapshots"]
    assert ("group", "g", "READ") in service
    assert {a[1] for a in producer} == {"p.events", "p.labels"}
