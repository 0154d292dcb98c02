"""Fixtures of the whole-service (e2e) tests (see tests/support/kafka.py and prometheus.py)."""

from tests.support.kafka import (  # noqa: F401 - re-exported fixtures
    consumer_factory,
    kafka_bootstrap,
    kafka_broker_control,
    producer_factory,
    secure_kafka,
    topic_factory,
)
from tests.support.prometheus import prometheus_server  # noqa: F401 - re-exported fixture
