"""The one place where Kafka clients get their connection and security settings.

Every client of the service (the group consumer, the snapshot producer and reader, the output
producer in its own process, the admin client, ``replay`` and ``bench-service``) is built with
:func:`kafka_args`, so TLS and SASL apply everywhere or nowhere.

:class:`KafkaClientConfig` is the connection described independently of any client library
(plain values, secrets kept as ``SecretStr``, picklable: the output process receives it through
its pipe). :meth:`KafkaClientConfig.kafka_python` maps it to kafka-python's arguments; another
client (confluent-kafka / librdkafka: ``security.protocol``, ``sasl.mechanism``,
``sasl.username``, ``ssl.ca.location``, ``ssl.endpoint.identification.algorithm``...) gets a
method of its own next to it, from the same fields.

Examples
--------
>>> from streamlearn.settings import Settings
>>> s = Settings(
...     kafka_bootstrap="broker:9093",
...     kafka_security_protocol="SASL_SSL",
...     kafka_sasl_mechanism="SCRAM-SHA-512",
...     kafka_sasl_username="streamlearn",
...     kafka_sasl_password="s3cret",
... )
>>> cfg = KafkaClientConfig.from_settings(s)
>>> cfg.describe()
'broker:9093 over SASL_SSL (SCRAM-SHA-512 as streamlearn; system CAs; hostname checked)'
>>> args = cfg.kafka_python()
>>> args["security_protocol"], args["sasl_plain_password"]
('SASL_SSL', 's3cret')
>>> "s3cret" in repr(cfg)
False
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from streamlearn.settings import Settings

__all__ = [
    "AUTHENTICATION_FAILED",
    "NOT_AUTHORIZED",
    "TLS_FAILED",
    "UNREACHABLE",
    "ConnectionDiagnosis",
    "KafkaClientConfig",
    "KafkaConnectError",
    "authorization_error",
    "classify",
    "kafka_args",
    "required_acls",
]


@dataclass(frozen=True)
class KafkaClientConfig:
    """How to reach and authenticate to the brokers, for any client library."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_oauth_token_provider: str | None = None  # "module:Class"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaClientConfig:
        if not settings.kafka_bootstrap:
            raise ValueError("no Kafka bootstrap address (STREAMLEARN_KAFKA_BOOTSTRAP / --kafka)")
        s = settings

        def path(p: Any) -> str | None:
            return None if p is None else str(p)

        return cls(
            bootstrap=s.kafka_bootstrap,
            security_protocol=s.kafka_security_protocol,
            sasl_mechanism=s.kafka_sasl_mechanism,
            sasl_username=s.kafka_sasl_username,
            sasl_password=s.kafka_sasl_password,
            sasl_oauth_token_provider=s.kafka_sasl_oauth_token_provider,
            ssl_cafile=path(s.kafka_ssl_cafile),
            ssl_certfile=path(s.kafka_ssl_certfile),
            ssl_keyfile=path(s.kafka_ssl_keyfile),
            ssl_key_password=s.kafka_ssl_key_password,
            ssl_check_hostname=s.kafka_ssl_check_hostname,
        )

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def describe(self) -> str:
        """For logs and errors: where and how, never a secret."""
        parts = []
        if self.sasl_mechanism:
            who = f" as {self.sasl_username}" if self.sasl_username else ""
            parts.append(f"{self.sasl_mechanism}{who}")
        if self.tls:
            parts.append(f"CA {self.ssl_cafile}" if self.ssl_cafile else "system CAs")
            if self.ssl_certfile:
                parts.append(f"client certificate {self.ssl_certfile}")
            parts.append("hostname checked" if self.ssl_check_hostname else "hostname NOT checked")
        detail = f" ({'; '.join(parts)})" if parts else ""
        return f"{self.bootstrap} over {self.security_protocol}{detail}"

    def kafka_python(self) -> dict[str, Any]:
        """The arguments of kafka-python's ``KafkaConsumer`` / ``KafkaProducer`` /
        ``KafkaAdminClient`` (only those that differ from its defaults)."""
        out: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            out["sasl_mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            out["sasl_plain_username"] = self.sasl_username
        if self.sasl_password is not None:
            out["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.sasl_oauth_token_provider:
            out["sasl_oauth_token_provider"] = _token_provider(self.sasl_oauth_token_provider)
        if self.tls:
            out["ssl_check_hostname"] = self.ssl_check_hostname
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                if getattr(self, name) is not None:
                    out[name] = getattr(self, name)
            if self.ssl_key_password is not None:
                out["ssl_password"] = self.ssl_key_password.get_secret_value()
        return out


def _token_provider(spec: str) -> Any:
    from kafka.net.sasl.oauth import AbstractTokenProvider

    module, _, name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"OAUTHBEARER token provider {spec!r} cannot be imported: {exc}") from None
    provider = cls()
    if not isinstance(provider, AbstractTokenProvider):
        raise ValueError(f"{spec} is not a kafka-python AbstractTokenProvider")
    return provider


def kafka_args(settings: Settings | KafkaClientConfig) -> dict[str, Any]:
    """kafka-python client arguments (bootstrap servers, TLS, SASL) of ``settings``; add the
    client's own tuning beside them: ``KafkaConsumer(**kafka_args(s), group_id=...)``."""
    if isinstance(settings, Settings):
        settings = KafkaClientConfig.from_settings(settings)
    return settings.kafka_python()


# ---------------------------------------------------------------------- connection failures

#: Why a Kafka client cannot work, as readiness reason codes (``/ready``'s ``reason``).
UNREACHABLE = "kafka_unreachable"
AUTHENTICATION_FAILED = "kafka_authentication_failed"
TLS_FAILED = "kafka_tls_failed"
NOT_AUTHORIZED = "kafka_not_authorized"


class KafkaConnectError(ConnectionError):
    """A Kafka client could not connect; ``reason`` is one of the reason codes above."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def args_pair(self) -> tuple[str, str]:
        return self.reason, str(self)


class ConnectionDiagnosis(logging.Handler):
    """Tells why the Kafka clients of this process cannot connect.

    kafka-python reports a refused login or an untrusted certificate only in its log and then
    retries until a timeout (``Unable to bootstrap``); this handler, attached to its ``kafka``
    logger, keeps the last such failure so that the service can say what is wrong.

    kafka-python 3.0 often loses the broker's answer to a failed SASL login: the broker answers
    and closes the connection, and when both arrive together the client drops the answer and
    reports only "socket disconnected". So until the first connection succeeded
    (``bootstrapped``), a connection lost after the broker's version was learned (that is, once
    TLS worked, during authentication) counts as a refused login too.
    """

    def __init__(
        self,
        config: KafkaClientConfig,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(logging.WARNING)
        self.config = config
        self.on_failure = on_failure
        self.last: tuple[str, str] | None = None  # (reason code, message)
        self.bootstrapped = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            found = classify(message, self.config)
            if (
                found is None
                and not self.bootstrapped
                and self.config.sasl_mechanism
                and _LOST_AFTER_HELLO.search(message)
            ):
                found = (
                    AUTHENTICATION_FAILED,
                    f"Kafka at {self.config.describe()}: the broker closed the connection during "
                    "SASL authentication: most likely the broker refused the login (wrong user "
                    "name or password): check kafka_sasl_username / kafka_sasl_password",
                )
            if found is not None:
                self.last = found
                if self.on_failure is not None:
                    self.on_failure(*found)
        except Exception:  # pragma: no cover - never break the client's logging
            pass

    def __enter__(self) -> ConnectionDiagnosis:
        logging.getLogger("kafka").addHandler(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger("kafka").removeHandler(self)

    def error(self, exc: BaseException | None = None) -> KafkaConnectError:
        """The failure to report: the last diagnosed one, else "unreachable"."""
        if self.last is not None:
            return KafkaConnectError(*self.last)
        why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return KafkaConnectError(
            UNREACHABLE, f"Kafka at {self.config.describe()} is unreachable{why}"
        )


_SSL_REASON = re.compile(r"certificate verify failed: ([^(]*)")
# a connection whose broker version is known (ApiVersions answered) lost without an answer
_LOST_AFTER_HELLO = re.compile(
    r"broker_version=\(\d[^)]*\).*Connection lost: KafkaConnectionError: socket disconnected"
)


def classify(message: str, config: KafkaClientConfig) -> tuple[str, str] | None:
    """(reason code, clear message) of a kafka-python log message about a failed connection,
    or None when it is not one that configuration can explain."""
    where = config.describe()
    if "SaslAuthenticationFailed" in message:
        return (
            AUTHENTICATION_FAILED,
            f"Kafka at {where}: the broker refused the login (wrong user name or password, or "
            "a user unknown to this mechanism): check kafka_sasl_username / "
            "kafka_sasl_password",
        )
    if "UnsupportedSaslMechanism" in message:
        return (
            AUTHENTICATION_FAILED,
            f"Kafka at {where}: the broker does not offer SASL {config.sasl_mechanism} on this "
            "listener: check kafka_sasl_mechanism",
        )
    m = _SSL_REASON.search(message)
    if m is not None:
        return (
            TLS_FAILED,
            f"Kafka at {where}: the broker's certificate is not trusted ({m.group(1).strip()}): "
            "set kafka_ssl_cafile to the CA that signed it, and use a broker address that the "
            "certificate names",
        )
    if "WRONG_VERSION_NUMBER" in message or "wrong version number" in message:
        return (
            TLS_FAILED,
            f"Kafka at {where}: the broker does not speak TLS on this port: check "
            "kafka_security_protocol and the port",
        )
    return None


def authorization_error(exc: BaseException, config: KafkaClientConfig) -> KafkaConnectError | None:
    """A clear error for an ACL refusal (topic, group or cluster), None for anything else."""
    name = type(exc).__name__
    if "AuthorizationFailed" not in name:
        return None
    who = f"user {config.sasl_username}" if config.sasl_username else "this client's principal"
    return KafkaConnectError(
        NOT_AUTHORIZED,
        f"Kafka at {config.describe()}: {who} is not allowed to do this ({name}: {exc}); see "
        "docs/security.md for the ACLs the service needs",
    )


# ---------------------------------------------------------------------- ACLs

#: What each principal does on which of the service's topics (kind -> operations); ``CREATE``
#: is only needed while the service creates its own topics (the first start).
_ROLE_TOPIC_OPS: dict[str, dict[str, tuple[str, ...]]] = {
    "service": {
        "events": ("DESCRIBE", "READ", "CREATE"),
        "labels": ("DESCRIBE", "READ", "CREATE"),
        "snapshots": ("DESCRIBE", "READ", "WRITE", "CREATE"),
        "predictions": ("DESCRIBE", "WRITE", "CREATE"),
        "label-requests": ("DESCRIBE", "WRITE", "CREATE"),
        "dlq": ("DESCRIBE", "WRITE", "CREATE"),
        "drift": ("DESCRIBE", "WRITE", "CREATE"),
    },
    "producer": {"events": ("DESCRIBE", "WRITE"), "labels": ("DESCRIBE", "WRITE")},
}


def required_acls(settings: Settings, role: str = "service") -> list[tuple[str, str, str]]:
    """The ACLs (resource type, literal resource name, operation) that a principal needs.

    ``role`` is ``"service"`` (the service's own principal: it alone writes ``snapshots``) or
    ``"producer"`` (whoever feeds ``events`` and ``labels``, e.g. ``streamlearn replay``).

    >>> from streamlearn.settings import Settings
    >>> acls = required_acls(Settings(topic_prefix="sl.", group_id="g"))
    >>> ("topic", "sl.snapshots", "WRITE") in acls, ("group", "g", "READ") in acls
    (True, True)
    >>> [a for a in required_acls(Settings(topic_prefix="sl."), "producer") if a[2] == "WRITE"]
    [('topic', 'sl.events', 'WRITE'), ('topic', 'sl.labels', 'WRITE')]
    """
    out = [
        ("topic", settings.topic(kind), op)
        for kind, ops in _ROLE_TOPIC_OPS[role].items()
        for op in ops
    ]
    if role == "service":
        out.append(("group", settings.group_id, "READ"))
    return out
