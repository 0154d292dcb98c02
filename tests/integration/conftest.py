"""Fixtures of the real-Kafka integration tests (see tests/support/kafka.py and prometheus.py)."""

from tests.support.kafka import (  # noqa: F401 - re-exported fixtures
    consumer_factory,
    kafka_bootstrap,
    kafka_broker_control,
    producer_factory,
    topic_factory,
)
from tests.support.prometheus import prometheus_server  # noqa: F401 - re-exported fixture
