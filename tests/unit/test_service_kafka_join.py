"""``rejoin_if_join_dropped`` on stand-ins for kafka-python's coordinator (the real client is in
tests/integration/test_service_kafka.py::test_a_short_poll_timeout_still_gets_the_shards)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from consumers.kafka_source import rejoin_if_join_dropped


class Coordinator:
    def __init__(self, task: object, rejoin: bool) -> None:
        self._join_task = task
        self.rejoin = rejoin
        self.requested = 0

    def need_rejoin(self) -> bool:
        return self.rejoin

    def request_rejoin(self) -> None:
        self.requested += 1


@pytest.mark.parametrize(
    ("task", "rejoin", "mended"),
    [
        (None, False, False),  # no join under way
        (SimpleNamespace(is_done=False), False, False),  # in flight: the next poll awaits it
        (SimpleNamespace(is_done=True), True, False),  # the next poll awaits and applies it
        (SimpleNamespace(is_done=True), False, True),  # finished and forgotten: rejoin
    ],
)
def test_only_a_finished_join_with_no_rejoin_pending_is_mended(
    task: object, rejoin: bool, mended: bool
) -> None:
    co = Coordinator(task, rejoin)
    assert rejoin_if_join_dropped(SimpleNamespace(_coordinator=co)) is mended
    assert co.requested == int(mended)


def test_another_client_version_is_left_alone() -> None:
    assert rejoin_if_join_dropped(SimpleNamespace()) is False
    assert rejoin_if_join_dropped(SimpleNamespace(_coordinator=SimpleNamespace())) is False
