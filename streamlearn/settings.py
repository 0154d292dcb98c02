"""The one settings object of the service (pydantic-settings, environment prefix ``STREAMLEARN_``).

Every knob of ``streamlearn serve``, the Kafka runner, the embedded runner and the HTTP API lives
here, with its default. Values come from (highest priority first) explicit keyword arguments
(the CLI passes its flags this way), ``STREAMLEARN_*`` environment variables, then the defaults.
The object is frozen: a running service never changes its settings.

Examples
--------
>>> s = Settings(port=9000, learner="br-nb")
>>> s.port, s.learner, s.host
(9000, 'br-nb', '127.0.0.1')
>>> s.topic("events")
'streamlearn.events'
>>> Settings(snapshot_interval_events=0)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
snapshot_interval_events
  Input should be greater than or equal to 1 [type=greater_than_equal, input_value=0, input_type=int]
...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

if TYPE_CHECKING:
    from streamlearn.snapshot import SnapshotKeys

__all__ = ["MIN_TOKEN_CHARS", "TOPIC_KINDS", "Settings"]

#: Shortest API token accepted (characters).
MIN_TOKEN_CHARS = 16
#: Directory of secret files: one file per setting, named like its environment variable
#: (``streamlearn_kafka_sasl_password``...), as Docker and Kubernetes mount secrets.
SECRETS_DIR_ENV = "STREAMLEARN_SECRETS_DIR"

#: The topics of the service; each is named ``topic_prefix + kind``.
TOPIC_KINDS: tuple[str, ...] = (
    "events",
    "labels",
    "predictions",
    "label-requests",
    "dlq",
    "snapshots",
    "drift",
)


class Settings(BaseSettings):
    """Settings of the service. See docs/service.md for the table of every field."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMLEARN_", frozen=True, extra="forbid", validate_default=True
    )

    # --- HTTP
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_request_bytes: int = Field(1 << 20, ge=1024, description="largest HTTP body accepted")
    predict_batch_limit: int = Field(1000, ge=1, description="most instances per /v1/predict")
    api_token: SecretStr | None = Field(
        None,
        description="when set, every /v1/* route needs 'Authorization: Bearer <token>' (at "
        f"least {MIN_TOKEN_CHARS} characters)",
    )
    insecure: bool = Field(
        False,
        description="allow a bind address other than loopback without an API token (the /v1/* "
        "routes are then open to anyone who can reach the port)",
    )

    # --- learner
    learner: str = Field(
        "auto",
        description="registry name (ihomer, mlhat, br-nb...), 'auto' = first available of "
        "ihomer, mlhat, br-nb, or 'module:Class' of a MultiLabelClassifier",
    )
    learner_params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    labels: list[str] | None = Field(
        None, description="the label space up front (else it is learned from the events)"
    )
    features: list[str] | None = Field(
        None, description="feature names in column order (else taken from the first event)"
    )
    n_features: int | None = Field(
        None, ge=1, description="number of features when they have no names (x0, x1, ...)"
    )
    sparse: bool | None = Field(
        None, description="sparse model input (CSR); None = sparse iff the first event is"
    )
    unknown_labels: Literal["ignore", "grow", "reject"] | None = Field(
        None,
        description="a label not in the label space: drop it, grow the space, or DLQ; None = "
        "reject when labels are configured, else grow",
    )
    max_labels: int = Field(
        10_000,
        ge=1,
        description="largest label space: a record that would grow it beyond "
        "goes to the DLQ (too_many_labels)",
    )
    max_labels_per_record: int = Field(
        1000, ge=1, description="most labels one record may name (more: DLQ too_many_labels)"
    )
    max_features: int = Field(
        100_000,
        ge=1,
        description="largest feature space the first event may set when none "
        "is configured (a larger event goes to the DLQ)",
    )
    unknown_features: Literal["ignore", "reject"] = Field(
        "reject", description="a feature name not in the feature space: drop it, or DLQ"
    )

    # --- active learning
    active_learning: str | None = Field(
        None,
        description="strategy of the label-query policy for unlabelled events (random, fu, vu, "
        "rvu, split...); None = ask nothing",
    )
    label_budget: float = Field(0.2, ge=0, le=1, description="share of labels that may be asked")
    active_learning_params: dict[str, Any] = Field(
        default_factory=dict, description="more LabelQueryPolicy parameters"
    )

    # --- Kafka
    kafka_bootstrap: str | None = Field(None, description="None = embedded mode (no Kafka)")
    topic_prefix: str = "streamlearn."
    group_id: str = "streamlearn"
    partitions: int = Field(1, ge=1, description="partitions of topics the service creates")
    poll_max_records: int = Field(2000, ge=1)
    poll_timeout_ms: int = Field(100, ge=0)
    max_event_bytes: int = Field(1 << 20, ge=64, description="larger events go to the DLQ")
    max_output_bytes: int = Field(
        1_000_000,
        ge=1024,
        description="largest output record (the output topics' record limit): a larger "
        "prediction keeps its labels and its top probabilities, a larger label request drops x",
    )
    dlq_max_value_bytes: int = Field(
        1_000_000,
        ge=1024,
        description="dead letters keep at most this many bytes of the raw record (the DLQ "
        "topic's record limit: 1 MB by default)",
    )
    consumer_session_timeout_ms: int = Field(
        45_000,
        ge=1000,
        description="a replica that stops heartbeating (crashed) loses its partitions after "
        "this long; the broker bounds it (group.min/max.session.timeout.ms)",
    )
    producer_linger_ms: int = Field(5, ge=0)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how every Kafka client talks to the brokers"
    )
    kafka_sasl_mechanism: (
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "AWS_MSK_IAM"] | None
    ) = Field(None, description="SASL mechanism (SASL_PLAINTEXT / SASL_SSL only)")
    kafka_sasl_username: str | None = Field(None, description="PLAIN / SCRAM user name")
    kafka_sasl_password: SecretStr | None = Field(None, description="PLAIN / SCRAM password")
    kafka_sasl_oauth_token_provider: str | None = Field(
        None,
        description="OAUTHBEARER: 'module:Class' of a kafka-python AbstractTokenProvider "
        "(built without arguments in every process that connects)",
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates (else "
        "the system's trusted CAs)",
    )
    kafka_ssl_certfile: Path | None = Field(None, description="PEM client certificate (mutual TLS)")
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of the certificate")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="password of the private key, when it is encrypted"
    )
    kafka_ssl_check_hostname: bool = Field(
        True, description="check that a broker's certificate names the host connected to"
    )
    output_process: bool = Field(
        True, description="produce output records from a child process (frees the learner's core)"
    )

    # --- snapshots
    snapshot_dir: Path = Path("var/snapshots")
    snapshot_interval_events: int = Field(50_000, ge=1)
    snapshot_interval_seconds: float = Field(60.0, gt=0)
    snapshot_chunk_bytes: int = Field(
        900_000, ge=1024, description="Kafka mode: snapshots are written in records of this size"
    )
    snapshot_keys: SecretStr | None = Field(
        None,
        description="HMAC keys of the snapshots, separated by spaces or commas: the first "
        "signs, all are accepted (rotation); at least 32 characters each. None = a key of this "
        "host, made on first run and kept in snapshot_key_file",
    )
    snapshot_key_file: Path = Field(
        Path("var/snapshot.key"),
        description="where the host's own snapshot key is kept when snapshot_keys is not set",
    )

    # --- late labels
    pending_ttl_seconds: float = Field(3600.0, gt=0)
    pending_max_size: int = Field(100_000, ge=1)
    pending_max_bytes: int = Field(
        256 << 20,
        ge=1 << 20,
        description="bytes the waiting events (rows, probabilities) and, apart, the waiting "
        "label records may hold; the oldest are evicted beyond",
    )
    orphan_ttl_seconds: float = Field(
        60.0, gt=0, description="a label record waits this long for its event to be consumed"
    )

    # --- model publication for the HTTP API
    publish_every_events: int = Field(
        2000, ge=1, description="publish a model copy for HTTP readers every N learned events"
    )
    publish_interval_ms: float = Field(
        1000.0, gt=0, description="... or when this much time went by (and it changed)"
    )

    # --- prequential metrics and label-space drift monitors
    metric_windows: list[int] = Field(default_factory=lambda: [1000])
    label_monitors: bool = Field(
        True,
        description="per-label error drift (ADWIN per label) and label co-occurrence drift "
        "monitors in every shard; their events go to the drift topic",
    )
    cooccurrence_window: int = Field(
        500, ge=10, description="instances per window of the co-occurrence drift test"
    )
    cooccurrence_max_labels: int = Field(
        1000, ge=2, description="above this many labels the co-occurrence monitor is off"
    )

    # --- embedded replay (no Kafka)
    data: Path | None = Field(None, description="ARFF file to replay (None = synthetic stream)")
    rate: float = Field(200.0, ge=0, description="events/s of the embedded replay; 0 = no limit")
    loop: bool = Field(True, description="restart the ARFF file at its end")
    synth_features: int = Field(20, ge=1)
    synth_labels: int = Field(8, ge=1)
    synth_groups: int = Field(3, ge=1)
    synth_drift_every: int | None = Field(20_000, ge=1)
    label_delay: int = Field(
        0, ge=0, description="embedded: send labels this many events later (0 = with the event)"
    )

    # --- misc
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets_dir = os.environ.get(SECRETS_DIR_ENV)
        if secrets_dir:
            file_secret_settings = SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @field_validator("api_token")
    @classmethod
    def _token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value().strip()) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"the API token must have at least {MIN_TOKEN_CHARS} characters (an empty or "
                "short token is refused, not ignored); unset it to run without one"
            )
        return v

    @field_validator("snapshot_keys")
    @classmethod
    def _snapshot_keys(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            from streamlearn.snapshot import SnapshotKeys

            SnapshotKeys.parse(v.get_secret_value())  # refused now, not at the first snapshot
        return v

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        proto, mech = self.kafka_security_protocol, self.kafka_sasl_mechanism
        sasl, tls = proto.startswith("SASL_"), proto.endswith("SSL")
        if sasl and mech is None:
            raise ValueError(f"kafka_security_protocol {proto} needs a kafka_sasl_mechanism")
        if not sasl and mech is not None:
            raise ValueError(
                f"kafka_sasl_mechanism {mech} needs kafka_security_protocol SASL_SSL (or "
                f"SASL_PLAINTEXT), not {proto}"
            )
        if mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512") and (
            not self.kafka_sasl_username or self.kafka_sasl_password is None
        ):
            raise ValueError(f"SASL {mech} needs kafka_sasl_username and kafka_sasl_password")
        if mech == "OAUTHBEARER" and not self.kafka_sasl_oauth_token_provider:
            raise ValueError("SASL OAUTHBEARER needs kafka_sasl_oauth_token_provider")
        if mech == "AWS_MSK_IAM" and proto != "SASL_SSL":
            raise ValueError("SASL AWS_MSK_IAM needs kafka_security_protocol SASL_SSL")
        files = [
            name
            for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
            if getattr(self, name) is not None
        ]
        if files and not tls:
            raise ValueError(
                f"{', '.join(files)} given but kafka_security_protocol is {proto}: TLS settings "
                "are only used with SSL or SASL_SSL"
            )
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError("kafka_ssl_keyfile needs kafka_ssl_certfile (mutual TLS)")
        return self

    @field_validator("metric_windows")
    @classmethod
    def _windows(cls, v: list[int]) -> list[int]:
        if any(w < 1 for w in v):
            raise ValueError("every metric window must be >= 1")
        return sorted(set(v))

    def topic(self, kind: str) -> str:
        """Full name of one of the service's topics (``kind`` in :data:`TOPIC_KINDS`)."""
        if kind not in TOPIC_KINDS:
            raise ValueError(f"unknown topic kind {kind!r}; one of {', '.join(TOPIC_KINDS)}")
        return f"{self.topic_prefix}{kind}"

    @property
    def label_policy(self) -> str:
        """The unknown-label policy in force (``unknown_labels``, else by ``labels``)."""
        if self.unknown_labels is not None:
            return self.unknown_labels
        return "reject" if self.labels else "grow"

    @property
    def token(self) -> str | None:
        return None if self.api_token is None else self.api_token.get_secret_value()

    def signing_keys(self) -> SnapshotKeys:
        """The snapshot HMAC keys: ``snapshot_keys``, else the host's own key (made on first
        use in ``snapshot_key_file``)."""
        from streamlearn.snapshot import SnapshotKeys, load_or_create_key

        if self.snapshot_keys is not None:
            return SnapshotKeys.parse(self.snapshot_keys.get_secret_value())
        return load_or_create_key(self.snapshot_key_file)

    def trusted_modules(self) -> tuple[str, ...]:
        """Modules whose classes a snapshot may hold besides a shard state's: the top-level
        package of a ``module:Class`` learner (its code is trusted: it is the learner)."""
        if ":" in self.learner:
            return (self.learner.partition(":")[0].split(".")[0],)
        return ()
