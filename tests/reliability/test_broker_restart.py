"""The broker stops mid-run and comes back: /ready follows, nothing is lost or learned twice
(see tests/reliability/broker.py; the long version has a 90 s outage)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.broker import run_broker_restart

# Enough events that the broker stops while the first part (60 %, 12 000 events) is still being
# consumed: the stop is asked for once 300 are learned, the broker is gone 2-3 s later, and by
# then the service had learned 2 600 events in a run here (test_broker_restart_mid_run checks
# that the outage did fall mid-run).
N_EVENTS = 20_000


def test_broker_restart_mid_run(kafka_broker_control, tmp_path: Path) -> None:
    bootstrap = kafka_broker_control.bootstrap
    res = run_broker_restart(bootstrap, kafka_broker_control, tmp_path, n_events=N_EVENTS, outage=8)
    # the outage fell mid-run: events produced before the stop were still unlearned when the
    # broker came back
    assert res.learned_before_stop <= res.learned_after_stop <= res.learned_before_start
    assert res.learned_before_start < res.first_part, res.summary()
    # /ready: 503 during the outage, 200 after it; /health and the process alive throughout
    assert 503 in res.ready_codes_during_outage and res.seconds_to_not_ready is not None
    assert res.seconds_to_ready is not None
    assert res.health_failures == 0
    # no event lost, none learned twice
    assert res.learned == N_EVENTS and res.prediction_offsets == N_EVENTS
    assert res.probe_identical
    assert res.dlq == 0 and res.exit_code == 0
