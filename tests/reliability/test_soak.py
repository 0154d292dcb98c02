"""A short soak: bounded state stays bounded, every labelled instance is learned (see
tests/reliability/soak.py; the 1 000 000-event version is ``python -m tests.reliability.soak
--long``, its figures in docs/reliability.md)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.reliability.soak import check, run_soak
from tests.support.kafka import ENV_DIR


def test_short_soak_keeps_the_pending_store_and_snapshots_bounded(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    kdir = os.environ.get(ENV_DIR)
    res = run_soak(
        kafka_bootstrap,
        tmp_path,
        n_events=15_000,
        rate=1500,
        sample_every=1.0,
        pending_max_size=300,
        snapshot_interval_seconds=3.0,
        orphan_ttl_seconds=2.0,
        kafka_dir=Path(kdir) if kdir else None,
    )
    f = res.figures(warmup=0.0)
    # the pending store hit its limit and evicted (never-labelled events), never above it
    assert f["pending"]["evicted_size"] > 0 and f["pending"]["max"] <= 300
    assert f["snapshots"]["taken"] >= 3
    assert f["predict_ms"]["requests"] > 0
    assert check(res) == [], f
