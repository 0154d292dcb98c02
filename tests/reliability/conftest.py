"""Fixtures of the reliability suite (see tests/support/kafka.py and served.py)."""

import pytest

from tests.support.kafka import (  # noqa: F401 - re-exported fixtures
    consumer_factory,
    kafka_bootstrap,
    kafka_broker_control,
    producer_factory,
    topic_factory,
)
from tests.support.served import warm_default_learner


@pytest.fixture(scope="session", autouse=True)
def warm_learner() -> None:
    """Compile the default learner's kernels once for the stream shape of these tests, so the
    service subprocesses load them from numba's disk cache."""
    warm_default_learner(20, 8)
