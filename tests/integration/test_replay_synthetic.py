"""``streamlearn replay --synthetic`` (the compose deployment's replay job) into a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import islice

from consumers.replay import synthetic_records
from streamlearn.settings import Settings
from tests.support.served import ROOT
from tests.support.service import read_topic


def test_replay_synthetic_with_delayed_labels(kafka_bootstrap: str, topic_factory) -> None:
    events, labels = topic_factory(), topic_factory()
    env = {**os.environ, "STREAMLEARN_SYNTH_DRIFT_EVERY": "40", "STREAMLEARN_SEED": "3"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamlearn",
            "replay",
            "--synthetic",
            "--kafka",
            kafka_bootstrap,
            "--topic",
            events,
            "--labels-topic",
            labels,
            "--labels",
            "delayed",
            "--label-delay",
            "10",
            "--limit",
            "100",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "replayed 100 events" in r.stderr
    got_events = read_topic(kafka_bootstrap, events, 100)
    got_labels = read_topic(kafka_bootstrap, labels, 100)
    assert len(got_events) == len(got_labels) == 100
    want = list(
        islice(synthetic_records(Settings(synth_drift_every=40, seed=3), with_labels=False), 100)
    )
    assert [(e.key.decode(), e.value) for e in got_events] == [(w[0], w[1]) for w in want]
    # every event's labels, keyed like the event (same partition of the labels topic)
    assert [(lr.key.decode(), json.loads(lr.value)) for lr in got_labels] == [
        (w[0], {"id": w[0], "labels": w[2]}) for w in want
    ]
