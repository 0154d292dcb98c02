"""Broker restart: stop the Kafka broker while the service learns, start it again; nothing is lost.

``streamlearn serve --kafka`` learns a labelled stream (snapshots every second, so checkpoints
are attempted while the broker is away). While it is still consuming the first part of the
stream the broker is stopped (``kafka.sh stop``: the same node, its data kept) for
``outage`` seconds, then started again; the rest of the stream is produced after the restart.
Checked:

1. ``/ready`` answers 503 during the outage and 200 again after it; ``/health`` answers 200
   throughout and the service never exits;
2. the outage falls mid-run: when the broker starts again, events produced before the stop are
   still unlearned (the counter is read after the broker is gone, and again just before it
   starts: the service cannot have consumed them while no broker answered);
3. the learned counter (``/metrics``) equals the number of events produced;
4. every event has a prediction record, and the served model predicts a probe set exactly like
   an uninterrupted run over the same records (nothing lost, nothing learned twice).

Script: ``python -m tests.reliability.broker [--events N] [--outage S] [--long]`` on a broker it
starts itself (it must be able to stop it); ``--long`` = 20 000 events and a 90 s outage (longer
than the output producer's and the snapshot writer's 60 s timeouts).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
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


@dataclass
class BrokerResult:
    events: int
    outage_seconds: float = 0.0
    first_part: int = 0  # events produced before the stop
    learned_before_stop: float = 0.0  # when the stop was asked for
    learned_after_stop: float = 0.0  # once the broker was gone
    learned_before_start: float = 0.0  # just before it was started again
    seconds_to_not_ready: float | None = None  # after the broker stopped
    seconds_to_ready: float | None = None  # after the broker started again
    ready_codes_during_outage: list[int] = field(default_factory=list)
    health_failures: int = 0
    learned: float = 0.0
    prediction_offsets: int = 0
    probe_identical: bool = False
    snapshot_errors: float = 0.0
    dlq: int = 0
    exit_code: int | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d["ready_codes_during_outage"] = sorted(set(self.ready_codes_during_outage))
        return d


class _Watch(threading.Thread):
    """Polls /ready and /health every 0.25 s; records (time, ready code, health code)."""

    def __init__(self, svc: Served) -> None:
        super().__init__(daemon=True)
        self.svc = svc
        self.samples: list[tuple[float, int | None, int | None]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            ready = self.svc.ready_status()
            try:
                health = self.svc.get("/health", timeout=3).status_code
            except Exception:
                health = None
            self.samples.append((time.monotonic(), ready, health))
            self.stop.wait(0.25)


def run_broker_restart(
    bootstrap: str,
    control: Any,
    workdir: Path,
    *,
    n_events: int = 4000,
    outage: float = 8.0,
    seed: int = 0,
    probe: int = 300,
    log: Any = None,
) -> BrokerResult:

    say = reporter("broker", log)

    t_start = time.monotonic()
    prefix = unique_prefix("broker")
    stream = labelled_stream(n_events, seed=seed)
    first = int(n_events * 0.6)
    res = BrokerResult(events=n_events, first_part=first)
    env = service_env(
        prefix,
        snapshot_interval_seconds="1",
        snapshot_interval_events="500",
        poll_max_records="100",
        seed=str(seed),
    )
    svc: Served | None = None
    watch: _Watch | None = None
    try:
        create_service_topics(bootstrap, prefix)
        produce_all(bootstrap, prefix + "events", stream.records[:first])
        svc = Served(["--kafka", bootstrap], env, workdir / "serve.log")
        svc.wait_ready(timeout=300)
        svc.wait_learned(min(first // 8, 300), timeout=300, poll=0.05)
        watch = _Watch(svc)
        watch.start()
        res.learned_before_stop = svc.learned()
        say(f"learned {res.learned_before_stop} of {first}: stopping the broker")
        t_stop = time.monotonic()
        control.stop()
        stopped = time.monotonic()
        res.learned_after_stop = svc.learned()
        say(f"broker stopped in {stopped - t_stop:.1f} s; learned {res.learned_after_stop}")
        time.sleep(outage)
        res.learned_before_start = svc.learned()
        say(f"learned {res.learned_before_start} of {first}: starting the broker again")
        t_start_broker = time.monotonic()
        control.start()
        started = time.monotonic()
        res.outage_seconds = round(started - t_stop, 1)
        deadline = time.monotonic() + 300
        while svc.ready_status() != 200:
            assert svc.proc.poll() is None, f"serve exited:\n{svc.tail()}"
            assert time.monotonic() < deadline, f"not ready after the restart:\n{svc.tail()}"
            time.sleep(0.1)
        res.seconds_to_ready = round(time.monotonic() - started, 2)
        watch.stop.set()
        watch.join(10)
        for t, ready, health in watch.samples:
            if stopped <= t <= t_start_broker:
                res.ready_codes_during_outage.append(ready if ready is not None else -1)
                if res.seconds_to_not_ready is None and ready == 503:
                    res.seconds_to_not_ready = round(t - stopped, 2)
            if health != 200:
                res.health_failures += 1
        say("producing the rest of the stream")
        produce_all(bootstrap, prefix + "events", stream.records[first:])
        svc.wait_learned(n_events, timeout=600, poll=0.5)
        deadline = time.monotonic() + 60
        while svc.get("/v1/model").json()["model_version"] < n_events:
            assert time.monotonic() < deadline, "the final model was not published"
            time.sleep(0.2)
        text = svc.metrics()
        res.learned = metric_sum(text, "streamlearn_events_learned_total")
        res.snapshot_errors = metric_sum(text, "streamlearn_snapshots_total", outcome="error")
        res.dlq = int(metric_sum(text, "streamlearn_dlq_total"))
        P = probe_set(probe, seed=seed + 1000)
        served = svc.post("/v1/predict", {"instances": P.tolist()}).json()
        res.exit_code = svc.terminate()
        svc = None
        ref, _, _ = reference_run([v for _, v in stream.records], reference_settings(seed=seed))
        labels = [str(lab) for lab in ref.state.schema.labels]
        got = np.array([[p["proba"][lab] for lab in labels] for p in served["predictions"]])
        res.probe_identical = served["model_version"] == n_events and np.array_equal(
            got, ref.learner.predict_proba_many(P)
        )
        offsets = {
            json.loads(r.value)["offset"] for r in read_all(bootstrap, prefix + "predictions")
        }
        res.prediction_offsets = len(offsets & set(range(n_events)))
    finally:
        if watch is not None:
            watch.stop.set()
        if svc is not None:
            svc.close()
        if not control.is_running():
            control.start()
        delete_prefixed_topics(bootstrap, prefix)
    res.seconds = round(time.monotonic() - t_start, 1)
    return res


def main(argv: list[str] | None = None) -> int:
    p = script_parser(__doc__.split("\n", 1)[0])
    p.add_argument("--events", type=int)
    p.add_argument("--outage", type=float, help="seconds without a broker")
    args = p.parse_args(argv)
    from tests.reliability.common import broker_for_script
    from tests.support.served import warm_default_learner

    n = args.events or (20_000 if args.long else 4000)
    outage = args.outage or (90.0 if args.long else 8.0)
    warm_default_learner(20, 8)
    workdir = script_workdir(args, "broker")
    with broker_for_script(args.kafka) as (bootstrap, control):
        if control is None:
            print("this script stops the broker: give none (or STREAMLEARN_TEST_KAFKA_DIR)")
            return 2
        res = run_broker_restart(
            bootstrap, control, workdir, n_events=n, outage=outage, seed=args.seed, log=sys.stderr
        )
    checks = {
        "the outage fell mid-run": res.learned_before_start < res.first_part,
        "/ready 503 during the outage": 503 in res.ready_codes_during_outage,
        "/health always 200": res.health_failures == 0,
        "learned counter = events": res.learned == n,
        "a prediction for every offset": res.prediction_offsets == n,
        "probe predictions identical": res.probe_identical,
        "clean exit": res.exit_code == 0,
    }
    problems = [name for name, ok in checks.items() if not ok]
    return script_result(res.summary(), problems, workdir, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
