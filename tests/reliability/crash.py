"""Crash consistency: kill -9 the whole service again and again; the result is as if it never died.

``streamlearn serve --kafka`` (HTTP process, learning process, output process) learns a labelled
stream that is already in its ``events`` topic. It is killed with SIGKILL — every process of the
service at once — at planned points and restarted each time:

- ``time`` kills: when the exported learned counter reaches a random target (the learning process
  is then predicting and learning a batch, or encoding/handing over outputs);
- fault-point kills (:mod:`streamlearn.service.faults`): the learning process pauses at a chosen step of a
  checkpoint and is killed there — ``batch`` (a batch learned, its outputs not handed over),
  ``snapshot-flushed`` (outputs acknowledged, snapshot not written), ``snapshot-partial`` (half
  of the snapshot's chunks written, no manifest: a torn snapshot), ``snapshot-manifest`` (the
  snapshot durable, the old one not yet deleted), ``commit-before`` (snapshot durable, offsets not
  committed) and ``commit-after``.

After the last kill the service runs to the end of the stream. Then:

1. ``streamlearn_events_learned_total`` (scraped from ``/metrics``) equals the number of events
   produced, and the final snapshot says the same;
2. the served model's predictions on a probe set (``POST /v1/predict``) are identical, float for
   float, to those of an uninterrupted run of the same learner, seed and records;
3. every prediction record in the ``predictions`` topic (at-least-once: replayed events are
   predicted again) is byte-identical to the uninterrupted run's record of the same offset, and
   every offset has one (so every event was predicted by a model that had learned exactly the
   events before it, once);
4. nothing went to the DLQ; the snapshots topic holds the latest snapshot of the shard plus at
   most one torn one (stale chunks are deleted).

Script: ``python -m tests.reliability.crash [--events N] [--kills K] [--long]`` — default 100 000
events and 12 kills (the issue's figure); ``--long`` is the same; prints the figures.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.reliability.common import (
    create_service_topics,
    delete_prefixed_topics,
    labelled_stream,
    probe_set,
    produce_all,
    read_all,
    reference_run,
    reference_settings,
    reporter,
    script_parser,
    script_result,
    script_workdir,
    service_env,
    unique_prefix,
)
from tests.support.served import Served, metric_sum

#: Every fault point of a checkpoint; a plan of >= 10 kills covers each at least once.
POINT_KILLS = (
    "batch",
    "snapshot-flushed",
    "snapshot-partial",
    "snapshot-manifest",
    "commit-before",
    "commit-after",
)


@dataclass
class Kill:
    kind: str  # "time" or a fault point
    hit: int = 1  # fault points: pause at the hit-th time the point is reached
    target: int = 0  # time kills: kill once this many events are learned (exported counter)
    learned_at_kill: float | None = None
    restored_from: float | None = None  # learned counter right after the restart
    seconds_to_ready: float | None = None
    seconds: float | None = None


@dataclass
class CrashResult:
    events: int
    kills: list[Kill] = field(default_factory=list)
    learned: float = 0.0
    snapshot_learned: int = 0
    prediction_records: int = 0
    duplicate_predictions: int = 0
    probe: int = 0
    probe_identical: bool = False
    predictions_identical: bool = False
    dlq: int = 0
    mismatches: list[Any] = field(default_factory=list)
    unreached: int = 0
    live_snapshot_chunks: int = 0
    latest_snapshot_chunks: int = 0
    seconds: float = 0.0
    reference_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for k in self.kills:
            kinds[k.kind] = kinds.get(k.kind, 0) + 1
        return {
            "events": self.events,
            "kills": len(self.kills),
            "kills_by_kind": kinds,
            "learned_counter": self.learned,
            "snapshot_events_learned": self.snapshot_learned,
            "prediction_records": self.prediction_records,
            "duplicate_predictions": self.duplicate_predictions,
            "probe_instances": self.probe,
            "probe_predictions_identical": self.probe_identical,
            "prediction_records_identical": self.predictions_identical,
            "dlq_records": self.dlq,
            "fault_points_not_reached": self.unreached,
            "first_mismatches": self.mismatches,
            "live_snapshot_chunks": self.live_snapshot_chunks,
            "latest_snapshot_chunks": self.latest_snapshot_chunks,
            "seconds": round(self.seconds, 1),
            "reference_seconds": round(self.reference_seconds, 1),
            "kill_log": [
                {
                    "kind": k.kind,
                    "hit": k.hit,
                    "learned_after_ready": k.restored_from,
                    "learned_at_kill": k.learned_at_kill,
                    "seconds_to_ready": k.seconds_to_ready,
                }
                for k in self.kills
            ],
        }


def plan_kills(n_kills: int, n_events: int, interval: int, rng: np.random.Generator) -> list[Kill]:
    """Every fault point once (in random order), then random-time kills.

    Fault points come first, while the stream still has checkpoints ahead of them: a kill
    after a durable checkpoint moves the restored state on by one checkpoint at most. A time
    kill can move it much further — the learned counter is polled, and a fast learner may be
    far past its target (up to the end of a short stream) when the kill lands — after which
    no checkpoint might be left for a fault point to be reached at.
    """
    kills: list[Kill] = []
    points = list(POINT_KILLS)
    rng.shuffle(points)
    for k in range(n_kills):
        if k < len(points) and n_kills >= len(points) + 2:
            kind = points[k]
        elif n_kills < len(points) + 2 and k % 2:
            kind = str(rng.choice(POINT_KILLS))  # too few kills for every point: a sample
        else:
            kind = "time"
        if kind == "time":
            # up to 2.5 checkpoints past the restored one: a time kill may cross 0, 1 or 2
            kills.append(Kill("time", target=int(rng.integers(interval // 4, 5 * interval // 2))))
        elif kind == "batch":
            kills.append(Kill(kind, hit=int(rng.integers(1, 4))))
        else:
            kills.append(Kill(kind))
    return kills


def _wait_mark(svc: Served, mark: Path, lines: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mark.exists() and len(mark.read_text().splitlines()) > lines:
            return True
        if svc.proc.poll() is not None:
            raise AssertionError(f"serve exited before its fault point:\n{svc.tail()}")
        time.sleep(0.05)
    return False


def _learned_now(svc: Served) -> float | None:
    try:
        return svc.learned()
    except Exception:
        return None


def run_crash_consistency(
    bootstrap: str,
    workdir: Path,
    *,
    n_events: int,
    n_kills: int,
    interval: int | None = None,
    seed: int = 0,
    chunk_bytes: int = 65536,
    poll_records: int | None = None,
    probe: int = 500,
    log: Any = None,
) -> CrashResult:
    """Run the scenario of the module doc; returns the figures (assertions are the caller's)."""

    say = reporter("crash", log)

    t_start = time.monotonic()
    # a checkpoint every `interval` events: a kill after a durable checkpoint moves on by one
    # interval, a time kill by up to 2.5 (or none): the plan of plan_kills() cannot reach the
    # end of the stream before its last kill, and spreads the kills over about half of it
    interval = interval or max(100, n_events // (n_kills + 2))
    poll_records = poll_records or max(50, interval // 3)
    rng = np.random.default_rng(seed)
    prefix = unique_prefix("crash")
    stream = labelled_stream(n_events, seed=seed)
    res = CrashResult(events=n_events)
    settings = dict(
        snapshot_interval_events=str(interval),
        snapshot_interval_seconds="3600",
        snapshot_chunk_bytes=str(chunk_bytes),
        poll_max_records=str(poll_records),
        seed=str(seed),
        consumer_session_timeout_ms="6000",  # the broker's minimum: quick failover
    )
    env = service_env(prefix, **settings)
    mark = workdir / "fault-marks"
    mark.write_text("")
    log_path = workdir / "serve.log"
    svc: Served | None = None
    try:
        create_service_topics(bootstrap, prefix)
        produce_all(bootstrap, prefix + "events", stream.records)
        say(f"{n_events} events produced to {prefix}events; {n_kills} kills planned")
        for i, kill in enumerate(plan_kills(n_kills, n_events, interval, rng)):
            fenv = dict(env)
            if kill.kind != "time":
                fenv["STREAMLEARN_FAULT_PAUSE"] = f"{kill.kind}:{kill.hit}"
                fenv["STREAMLEARN_FAULT_MARK"] = str(mark)
            t0 = time.monotonic()
            lines = len(mark.read_text().splitlines())
            svc = Served(["--kafka", bootstrap], fenv, log_path)
            if kill.kind == "time":
                svc.wait_ready(timeout=300)
                kill.seconds_to_ready = round(time.monotonic() - t0, 2)
                kill.restored_from = _learned_now(svc)
                target = min(n_events, int(kill.restored_from or 0) + kill.target)
                kill.target = target
                svc.wait_learned(target, timeout=600, poll=0.1)
            else:
                if not _wait_mark(svc, mark, lines, timeout=120):
                    say(f"kill {i + 1}: fault point {kill.kind} not reached in 120 s: killing")
                    res.unreached += 1
                kill.seconds_to_ready = None
            kill.learned_at_kill = _learned_now(svc)
            svc.kill9()
            svc = None
            kill.seconds = round(time.monotonic() - t0, 2)
            res.kills.append(kill)
            say(
                f"kill {i + 1}/{n_kills} at {kill.kind}"
                + (f" (hit {kill.hit})" if kill.kind != "time" else f" (target {kill.target})")
                + f": learned {kill.learned_at_kill} when killed, {kill.seconds} s"
            )
        # the last run: no fault, to the end of the stream
        svc = Served(["--kafka", bootstrap], env, log_path)
        svc.wait_ready(timeout=300)
        svc.wait_learned(n_events, timeout=max(600.0, n_events / 50), poll=0.5)
        deadline = time.monotonic() + 60
        while svc.get("/v1/model").json()["model_version"] < n_events:  # last publication
            assert time.monotonic() < deadline, "the final model was not published"
            time.sleep(0.2)
        text = svc.metrics()
        res.learned = metric_sum(text, "streamlearn_events_learned_total")
        res.dlq = int(metric_sum(text, "streamlearn_dlq_total"))
        P = probe_set(probe, seed=seed + 1000)
        r = svc.post("/v1/predict", {"instances": P.tolist()})
        assert r.status_code == 200, r.text
        served = r.json()
        code = svc.terminate()
        svc = None
        assert code == 0, f"serve exited {code}"
        say(f"final run: learned counter {res.learned}; computing the uninterrupted run")

        # the uninterrupted run
        t0 = time.monotonic()
        ref_settings = reference_settings(seed=seed)
        ref, ref_preds, _ = reference_run([v for _, v in stream.records], ref_settings)
        res.reference_seconds = time.monotonic() - t0
        labels = [str(lab) for lab in ref.state.schema.labels]
        want = ref.learner.predict_proba_many(P)
        got = np.array([[p["proba"][lab] for lab in labels] for p in served["predictions"]])
        res.probe = len(P)
        res.probe_identical = served["model_version"] == n_events and np.array_equal(got, want)

        # every prediction record equals the uninterrupted run's
        recs = read_all(bootstrap, prefix + "predictions")
        res.prediction_records = len(recs)
        by_offset: dict[int, set[bytes]] = {}
        for rec in recs:
            by_offset.setdefault(json.loads(rec.value)["offset"], set()).add(rec.value)
        res.duplicate_predictions = len(recs) - len(by_offset)
        res.mismatches = [
            (off, sorted(v.decode() for v in vals), (ref_preds.get(off) or b"").decode())
            for off, vals in sorted(by_offset.items())
            if vals != {ref_preds.get(off)}
        ][:5]
        res.predictions_identical = set(by_offset) == set(range(n_events)) and not res.mismatches

        # the final snapshot and what the snapshots topic keeps of it
        res.snapshot_learned, res.live_snapshot_chunks, res.latest_snapshot_chunks = (
            _snapshot_state(bootstrap, prefix)
        )
    finally:
        if svc is not None:
            svc.close()
        delete_prefixed_topics(bootstrap, prefix)
    res.seconds = time.monotonic() - t_start
    return res


def _snapshot_state(bootstrap: str, prefix: str) -> tuple[int, int, int]:
    """(events learned in the latest snapshot, live chunk keys, chunks of the latest snapshot)."""
    from consumers.snapshots import read_all_snapshots
    from streamlearn.settings import Settings
    from streamlearn.snapshot import verify

    s = Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix, group_id=prefix + "g")
    snaps = read_all_snapshots(s)
    (data,) = snaps.values()
    learned = int(verify(data, s.signing_keys()).meta["events_learned"])
    live: dict[bytes, bytes | None] = {}
    for rec in read_all(bootstrap, prefix + "snapshots"):
        live[rec.key] = rec.value
    chunks = [k for k, v in live.items() if v is not None and b"#" in k]
    manifests = [v for k, v in live.items() if v is not None and b"#" not in k]
    latest = json.loads(manifests[-1])["chunks"] if manifests else 0
    return learned, len(chunks), latest


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--kills", type=int, default=12)
    p.add_argument(
        "--interval", type=int, help="snapshot every N events (default events / (kills + 2))"
    )
    args = p.parse_args(argv)
    from tests.reliability.common import broker_for_script
    from tests.support.served import warm_default_learner

    warm_default_learner(20, 8)
    workdir = script_workdir(args, "crash")
    with broker_for_script(args.kafka) as (bootstrap, _):
        res = run_crash_consistency(
            bootstrap,
            workdir,
            n_events=args.events,
            n_kills=args.kills,
            interval=args.interval,
            seed=args.seed,
            log=sys.stderr,
        )
    checks = {
        "learned counter = events": res.learned == args.events,
        "final snapshot's count = events": res.snapshot_learned == args.events,
        "probe predictions identical": res.probe_identical,
        "prediction records identical": res.predictions_identical,
        "no dead letter": res.dlq == 0,
    }
    problems = [name for name, ok in checks.items() if not ok]
    return script_result(res.summary(), problems, workdir, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
