"""kill -9 of the whole service at >= 10 points (learning, snapshot writing, commit), restarted
each time: the result is exactly an uninterrupted run's (see tests/reliability/crash.py).

Short version: 3 000 events, 10 kills (each fault point of a checkpoint once, plus random-time
kills during learning). The long one, 100 000 events and 12 kills, is the script's default:
``python -m tests.reliability.crash`` (figures in docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

from tests.reliability.crash import POINT_KILLS, run_crash_consistency


def test_kill9_anywhere_and_restart_learns_every_event_exactly_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    res = run_crash_consistency(kafka_bootstrap, tmp_path, n_events=3000, n_kills=10, seed=0)
    kinds = {k.kind for k in res.kills}
    assert len(res.kills) == 10 and set(POINT_KILLS) | {"time"} <= kinds, kinds
    assert res.unreached == 0, "a fault point was never reached"
    # the exported counter (through /metrics) and the final snapshot: every event, once
    assert res.learned == 3000 and res.snapshot_learned == 3000
    # the served model predicts like the uninterrupted run, float for float
    assert res.probe_identical
    # every event predicted (at least once), each prediction identical to the uninterrupted
    # run's: made by a model that had learned exactly the events before it
    assert res.predictions_identical, res.mismatches
    assert res.duplicate_predictions > 0  # replays did happen (at-least-once outputs)
    assert res.dlq == 0
    # stale chunks of torn or replaced snapshots are cleaned up: at most one torn snapshot left
    assert res.live_snapshot_chunks <= 2 * res.latest_snapshot_chunks
