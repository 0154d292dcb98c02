"""Helpers shared by the integration and e2e suites: a real Kafka broker and a Prometheus server.

The pytest fixtures are defined in :mod:`tests.support.kafka` and :mod:`tests.support.prometheus`
and re-exported by ``tests/integration/conftest.py`` and ``tests/e2e/conftest.py``.
"""
