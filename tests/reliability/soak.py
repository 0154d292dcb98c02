"""Soak: a long stream through the service; memory and latency stay flat, bounded state stays bounded.

A producer process feeds ``streamlearn serve --kafka`` at a steady rate with the seeded synthetic
stream (20 features, 8 labels in 3 groups, a drift every 200 000 events): most events carry their
labels, some get them later on the ``labels`` topic, some never do (they fill the bounded pending
store, which must evict them). A client process calls ``/v1/predict`` all along (20 requests/s).
Every few seconds the sampler records the resident memory of each service process (HTTP, learning,
output), the service's metrics (learned events, learn and batch latency, pending store,
snapshots, lag, model memory) and the on-disk size of the snapshots topic.

Reported (and checked): the slope of RSS, predict latency (p50/p99 per window) and per-event learn
latency over the run after a warm-up (least squares, per 100 000 events); the pending store never
above ``pending_max_size`` and its evictions counted; snapshots taken on schedule (age bounded),
their size, and the snapshots topic compacted (bounded on disk); every labelled instance learned
(inline labels + late labels joined = learned counter; late labels that found no event are in
the DLQ as ``unmatched_label``).

Script: ``python -m tests.reliability.soak [--events N] [--rate R] [--long]``; ``--long`` =
1 000 000 events at 1 000 events/s (about 17 minutes).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.reliability.common import (
    N_FEATURES,
    N_LABELS,
    create_service_topics,
    delete_prefixed_topics,
    linear_slope,
    read_all,
    reporter,
    script_parser,
    script_result,
    script_workdir,
    service_env,
    unique_prefix,
)
from tests.support.served import ROOT, Served, metric_sum

LABELS = [f"L{j}" for j in range(N_LABELS)]
LATE_EVERY = 10  # every 10th event gets its labels later, on the labels topic
NEVER_EVERY = 20  # every 20th (of the others) never gets labels: the pending store evicts it
LABEL_DELAY = 500  # late labels are sent this many events after their event


def _kind(i: int) -> str:
    if i % LATE_EVERY == 3:
        return "late"
    if i % NEVER_EVERY == 7:
        return "never"
    return "inline"


def expected_counts(n: int) -> dict[str, int]:
    out = {"inline": 0, "late": 0, "never": 0}
    for i in range(n):
        out[_kind(i)] += 1
    return out


def _producer(bootstrap: str, prefix: str, n: int, rate: float, seed: int, done: Any) -> None:
    """Produce n events (and their late labels) at ``rate`` events/s; sets ``done`` when done."""
    from kafka import KafkaProducer

    from streamlearn.stream.synth import iter_events

    prod = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=1 << 20)
    it = iter_events(
        n_features=N_FEATURES, n_labels=N_LABELS, n_groups=3, drift_every=200_000, seed=seed
    )
    ev_topic, lab_topic = prefix + "events", prefix + "labels"
    pending: list[tuple[int, bytes]] = []  # (send at, labels record)
    t0 = time.perf_counter()
    for i in range(n):
        x, y = next(it)
        labels = [LABELS[j] for j in np.flatnonzero(y)]
        kind = _kind(i)
        body: dict[str, Any] = {"id": f"s{i}", "x": np.round(x, 6).tolist()}
        if kind == "inline":
            body["labels"] = labels
        elif kind == "late":
            pending.append(
                (i + LABEL_DELAY, json.dumps({"id": f"s{i}", "labels": labels}).encode())
            )
        prod.send(ev_topic, value=json.dumps(body).encode(), partition=0)
        while pending and pending[0][0] <= i:
            prod.send(lab_topic, value=pending.pop(0)[1], partition=0)
        if rate > 0 and i % 100 == 99:
            ahead = (i + 1) / rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
    for _, rec in pending:
        prod.send(lab_topic, value=rec, partition=0)
    prod.flush(120)
    prod.close(30)
    done.set()


def _rss_by_role(svc: Served) -> dict[str, float]:
    """Resident memory (MB) of the service's processes, by role."""
    out: dict[str, float] = {}
    for pid in svc.pids():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        role = (
            "worker"
            if "consumers.worker" in cmd
            else "output"
            if "consumers.output" in cmd
            else "http"
        )
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        out[role] = out.get(role, 0.0) + kb / 1024.0
    return out


def _dir_bytes(path: Path) -> int | None:
    if not path.is_dir():
        return None
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@dataclass
class Sample:
    t: float
    wall: float
    consumed: float
    learned: float
    rss: dict[str, float]
    pending: float
    evicted_size: float
    evicted_ttl: float
    snapshot_bytes: float
    snapshot_age: float
    snapshots: float
    model_memory: float
    learn_sum: float
    batch_sum: float
    batch_count: float
    lag: float
    joined: float
    unmatched: float
    snapshots_topic_bytes: int | None


@dataclass
class SoakResult:
    events: int
    rate: float
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)
    learned: float = 0.0
    labels_joined: float = 0.0
    unmatched_labels: float = 0.0
    other_dlq: float = 0.0
    predictions: int = 0
    pending_max_size: int = 0
    snapshot_interval_seconds: float = 0.0
    predict_windows: list[dict[str, float]] = field(default_factory=list)
    predict_errors: int = 0
    exit_code: int | None = None
    live_snapshot_chunks: int = 0
    latest_snapshot_chunks: int = 0

    def figures(self, warmup: float = 0.1) -> dict[str, Any]:
        """Slopes and bounds after the first ``warmup`` share of the events."""
        S = [s for s in self.samples if s.learned >= warmup * self.events] or self.samples
        per = 100_000.0
        ev = [s.learned / per for s in S]
        out: dict[str, Any] = {
            "events": self.events,
            "rate_events_per_second": self.rate,
            "seconds": round(self.seconds, 1),
            "samples": len(self.samples),
        }
        roles = sorted({r for s in S for r in s.rss})
        out["rss_mb"] = {
            r: {
                "start": round(S[0].rss.get(r, 0.0), 1),
                "end": round(S[-1].rss.get(r, 0.0), 1),
                "max": round(max(s.rss.get(r, 0.0) for s in S), 1),
                "slope_mb_per_100k_events": round(
                    linear_slope(ev, [s.rss.get(r, 0.0) for s in S]), 2
                ),
            }
            for r in roles
        }
        out["model_memory_mb"] = {
            "start": round(S[0].model_memory / 2**20, 2),
            "end": round(S[-1].model_memory / 2**20, 2),
            "slope_mb_per_100k_events": round(
                linear_slope(ev, [s.model_memory / 2**20 for s in S]), 3
            ),
        }
        # per-event learn and batch latency per sampling window
        lt, lv, bv = [], [], []
        for a, b in zip(S, S[1:]):
            d = b.learned - a.learned
            if d > 0:
                lt.append(b.learned / per)
                lv.append(1e6 * (b.learn_sum - a.learn_sum) / d)
            if b.batch_count > a.batch_count:
                bv.append(1e3 * (b.batch_sum - a.batch_sum) / (b.batch_count - a.batch_count))
        out["learn_us_per_event"] = {
            "first_window": round(lv[0], 1) if lv else None,
            "last_window": round(lv[-1], 1) if lv else None,
            "median": round(float(np.median(lv)), 1) if lv else None,
            "slope_us_per_100k_events": round(linear_slope(lt, lv), 2),
        }
        out["batch_ms"] = {
            "median": round(float(np.median(bv)), 2) if bv else None,
            "slope_ms_per_100k_events": round(linear_slope(lt[: len(bv)], bv), 3),
        }
        W = [w for w in self.predict_windows if w["learned"] >= warmup * self.events]
        out["predict_ms"] = {
            "requests": int(sum(w["n"] for w in self.predict_windows)),
            "errors": self.predict_errors,
            "p50_median": round(float(np.median([w["p50"] for w in W])), 2) if W else None,
            "p99_median": round(float(np.median([w["p99"] for w in W])), 2) if W else None,
            "p50_slope_ms_per_100k_events": round(
                linear_slope([w["learned"] / per for w in W], [w["p50"] for w in W]), 3
            ),
            "p99_slope_ms_per_100k_events": round(
                linear_slope([w["learned"] / per for w in W], [w["p99"] for w in W]), 3
            ),
        }
        out["pending"] = {
            "limit": self.pending_max_size,
            "max": max(s.pending for s in self.samples),
            "evicted_size": self.samples[-1].evicted_size,
            "evicted_ttl": self.samples[-1].evicted_ttl,
        }
        sizes = [s.snapshot_bytes for s in S if s.snapshot_bytes]
        disk = [s.snapshots_topic_bytes for s in self.samples if s.snapshots_topic_bytes]
        out["snapshots"] = {
            "taken": self.samples[-1].snapshots,
            "interval_seconds": self.snapshot_interval_seconds,
            "max_age_seconds": round(max(s.snapshot_age for s in self.samples), 1),
            "bytes_first": sizes[0] if sizes else None,
            "bytes_last": sizes[-1] if sizes else None,
            "bytes_slope_per_100k_events": round(
                linear_slope([s.learned / per for s in S if s.snapshot_bytes], sizes), 0
            ),
            "topic_disk_mb_max": round(max(disk) / 2**20, 2) if disk else None,
            "topic_disk_mb_last": round(disk[-1] / 2**20, 2) if disk else None,
            "live_chunks": self.live_snapshot_chunks,
            "latest_snapshot_chunks": self.latest_snapshot_chunks,
        }
        out["lag_max"] = max(s.lag for s in self.samples)
        out["accounting"] = {
            "expected": self.expected,
            "learned": self.learned,
            "labels_joined": self.labels_joined,
            "unmatched_labels_in_dlq": self.unmatched_labels,
            "other_dlq": self.other_dlq,
            "prediction_records": self.predictions,
        }
        return out


def run_soak(
    bootstrap: str,
    workdir: Path,
    *,
    n_events: int,
    rate: float,
    seed: int = 0,
    sample_every: float = 5.0,
    pending_max_size: int = 2000,
    snapshot_interval_seconds: float = 20.0,
    orphan_ttl_seconds: float = 60.0,
    kafka_dir: Path | None = None,
    log: Any = None,
) -> SoakResult:
    say = reporter("soak", log)

    t_start = time.monotonic()
    prefix = unique_prefix("soak")
    res = SoakResult(events=n_events, rate=rate, expected=expected_counts(n_events))
    res.pending_max_size = pending_max_size
    res.snapshot_interval_seconds = snapshot_interval_seconds
    env = service_env(
        prefix,
        pending_max_size=str(pending_max_size),
        pending_ttl_seconds="600",
        orphan_ttl_seconds=str(orphan_ttl_seconds),
        snapshot_interval_seconds=str(snapshot_interval_seconds),
        snapshot_interval_events="1000000000",
        seed=str(seed),
    )
    snap_dir = (kafka_dir / "data" / f"{prefix}snapshots-0") if kafka_dir else None
    svc: Served | None = None
    client: subprocess.Popen | None = None
    producer: Any = None
    try:
        create_service_topics(bootstrap, prefix)
        svc = Served(["--kafka", bootstrap], env, workdir / "serve.log")
        svc.wait_ready(timeout=300)
        body = workdir / "predict.json"
        body.write_text(json.dumps({"x": [0.25] * N_FEATURES}))
        done = mp.Event()
        producer = mp.get_context("fork").Process(
            target=_producer, args=(bootstrap, prefix, n_events, rate, seed, done), daemon=True
        )
        producer.start()
        deadline = time.monotonic() + 300
        while svc.post("/v1/predict", json.loads(body.read_text())).status_code != 200:
            assert time.monotonic() < deadline, f"no model to predict with:\n{svc.tail()}"
            time.sleep(0.2)  # a model is published: predictions can be timed from now on
        client = subprocess.Popen(
            [sys.executable, "-m", "consumers.bench_client", svc.url, "50", str(body)],
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        want = res.expected["inline"]
        drained: float | None = None
        next_sample = time.monotonic()
        last_log = 0.0
        while True:
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + sample_every
                s = _sample(svc, t_start, snap_dir)
                res.samples.append(s)
                if now - last_log > 60:
                    last_log = now
                    say(
                        f"{s.consumed:,.0f} consumed, {s.learned:,.0f} learned, lag {s.lag:,.0f}, "
                        f"RSS {s.rss}, pending {s.pending:,.0f}"
                    )
                if done.is_set() and s.consumed >= n_events and s.learned >= want:
                    # every late label joined or dead-lettered (orphans wait their TTL)
                    if s.joined + s.unmatched >= res.expected["late"]:
                        break
                    if s.lag == 0 and drained is None:
                        drained = now
                    if drained is not None and now - drained > orphan_ttl_seconds + 30:
                        break  # check() reports what is missing
            assert svc.proc.poll() is None, f"serve exited:\n{svc.tail()}"
            time.sleep(0.2)
        client.terminate()
        calls = json.loads(client.communicate(timeout=120)[0] or b"[]")
        client = None
        res.samples.append(_sample(svc, t_start, snap_dir))
        text = svc.metrics()
        res.learned = metric_sum(text, "streamlearn_events_learned_total")
        res.labels_joined = metric_sum(text, "streamlearn_labels_joined_total")
        res.unmatched_labels = metric_sum(text, "streamlearn_dlq_total", reason="unmatched_label")
        res.other_dlq = metric_sum(text, "streamlearn_dlq_total") - res.unmatched_labels
        res.exit_code = svc.terminate()
        svc = None
        res.predict_windows, res.predict_errors = _predict_windows(calls, res.samples)
        from tests.reliability.crash import _snapshot_state

        _, res.live_snapshot_chunks, res.latest_snapshot_chunks = _snapshot_state(bootstrap, prefix)
        res.predictions = len(read_all(bootstrap, prefix + "predictions"))
    finally:
        if client is not None:
            client.kill()
        if producer is not None and producer.is_alive():
            producer.kill()
        if svc is not None:
            svc.close()
        delete_prefixed_topics(bootstrap, prefix)
    res.seconds = time.monotonic() - t_start
    return res


def _sample(svc: Served, t0: float, snap_dir: Path | None) -> Sample:
    text = svc.metrics()

    def m(name: str, **labels: str) -> float:
        return metric_sum(text, name, **labels)

    return Sample(
        t=time.monotonic() - t0,
        wall=time.time(),
        consumed=m("streamlearn_events_consumed_total"),
        learned=m("streamlearn_events_learned_total"),
        rss=_rss_by_role(svc),
        pending=m("streamlearn_pending_size"),
        evicted_size=m("streamlearn_pending_evictions_total", reason="size"),
        evicted_ttl=m("streamlearn_pending_evictions_total", reason="ttl"),
        snapshot_bytes=m("streamlearn_snapshot_bytes"),
        snapshot_age=m("streamlearn_snapshot_age_seconds"),
        snapshots=m("streamlearn_snapshots_total", outcome="ok"),
        model_memory=m("streamlearn_model_memory_bytes"),
        learn_sum=m("streamlearn_learn_seconds_sum"),
        batch_sum=m("streamlearn_batch_seconds_sum"),
        batch_count=m("streamlearn_batch_seconds_count"),
        lag=m("streamlearn_consumer_lag"),
        joined=m("streamlearn_labels_joined_total"),
        unmatched=m("streamlearn_dlq_total", reason="unmatched_label"),
        snapshots_topic_bytes=_dir_bytes(snap_dir) if snap_dir else None,
    )


def _predict_windows(calls: list, samples: list[Sample]) -> tuple[list[dict[str, float]], int]:
    """p50/p99 of the predict calls between consecutive samples (by wall time)."""
    if not calls or len(samples) < 2:
        return [], 0
    errors = sum(1 for c in calls if c[2] != 200)
    out = []
    edges = [s.wall for s in samples]
    lat = sorted((c[0], c[1]) for c in calls if c[2] == 200)
    k = 0
    for i in range(1, len(edges)):
        xs = []
        while k < len(lat) and lat[k][0] < edges[i]:
            if lat[k][0] >= edges[i - 1]:
                xs.append(lat[k][1])
            k += 1
        if len(xs) >= 10:
            xs.sort()
            out.append(
                {
                    "learned": samples[i].learned,
                    "n": len(xs),
                    "p50": 1e3 * xs[len(xs) // 2],
                    "p99": 1e3 * xs[min(len(xs) - 1, int(0.99 * len(xs)))],
                }
            )
    return out, errors


def check(res: SoakResult) -> list[str]:
    """Bounds that must hold in any soak run (slopes are reported, not judged)."""
    problems = []
    f = res.figures()
    exp = res.expected
    if f["pending"]["max"] > res.pending_max_size:
        problems.append(f"pending store above its limit: {f['pending']}")
    if res.learned != exp["inline"] + res.labels_joined:
        problems.append(f"learned {res.learned} != inline {exp['inline']} + joined")
    if res.labels_joined + res.unmatched_labels != exp["late"]:
        problems.append(
            f"late labels: {res.labels_joined} joined + {res.unmatched_labels} unmatched "
            f"!= {exp['late']} sent"
        )
    if res.other_dlq:
        problems.append(f"{res.other_dlq} unexpected dead letters")
    if res.predictions < res.events:
        problems.append(f"{res.predictions} predictions for {res.events} events")
    if f["snapshots"]["max_age_seconds"] > res.snapshot_interval_seconds + 30:
        problems.append(f"snapshots late: {f['snapshots']}")
    if res.live_snapshot_chunks > 2 * max(1, res.latest_snapshot_chunks):
        problems.append(f"snapshots topic not cleaned: {f['snapshots']}")
    if res.predict_errors:
        problems.append(f"{res.predict_errors} predict requests failed")
    if res.exit_code != 0:
        problems.append(f"serve exited {res.exit_code}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int)
    p.add_argument("--rate", type=float, help="events/s produced (0 = as fast as possible)")
    p.add_argument("--sample-every", type=float, help="seconds between samples")
    args = p.parse_args(argv)
    from tests.reliability.common import broker_for_script
    from tests.support.kafka import ENV_DIR
    from tests.support.served import warm_default_learner

    n = args.events or (1_000_000 if args.long else 20_000)
    rate = args.rate if args.rate is not None else 1000.0
    every = args.sample_every or (10.0 if n >= 200_000 else 2.0)
    warm_default_learner(N_FEATURES, N_LABELS)
    workdir = script_workdir(args, "soak")
    with broker_for_script(args.kafka) as (bootstrap, control):
        kdir = None
        if control is not None:
            kdir = control._broker.directory
        elif os.environ.get(ENV_DIR):
            kdir = Path(os.environ[ENV_DIR])
        res = run_soak(
            bootstrap,
            workdir,
            n_events=n,
            rate=rate,
            seed=args.seed,
            sample_every=every,
            kafka_dir=kdir,
            log=sys.stderr,
        )
    (workdir / "samples.json").write_text(json.dumps([asdict(s) for s in res.samples]))
    return script_result(res.figures(), check(res), workdir, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
