"""Fixtures of the real-Kafka integration tests (see tests/support/kafka.py and prometheus.py)."""

import pytest

from tests.support.kafka import (  # noqa: F401 - re-exported fixtures
    consumer_factory,
    kafka_bootstrap,
    kafka_broker_control,
    producer_factory,
    secure_kafka,
    topic_factory,
)
from tests.support.prometheus import prometheus_server  # noqa: F401 - re-exported fixture
from tests.support.service import delete_prefixed_topics, unique_prefix


@pytest.fixture
def prefix(kafka_bootstrap: str):  # noqa: F811 - the fixture imported above
    """A fresh topic-name prefix for one test; its topics are deleted afterwards."""
    p = unique_prefix()
    yield p
    try:
        delete_prefixed_topics(kafka_bootstrap, p)
    except Exception:  # a leftover test topic is no failure
        pass
