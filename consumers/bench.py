"""``streamlearn bench-service``: the service's end-to-end rate beside bare kafka-python consume.

One run, one broker, one fresh set of topics:

1. produce N Yeast-shaped events (103 features rounded to 6 decimals like the Yeast file, 14
   labels, labels inline) from the seeded synthetic generator;
2. *bare consume*: a kafka-python consumer reads the N records of the partition (no decoding);
3. *end to end*: the service exactly as ``streamlearn serve --kafka`` runs it — its learning
   process (fresh consumer group, the service's default learner unless ``--learner``) consumes,
   decodes, predicts, learns and hands the predictions to its output process, which produces
   them; HTTP (uvicorn) runs in this process, and a separate client process calls
   ``/v1/predict`` every few milliseconds and times each call;
4. bare consume again (the reported bare rate is the mean of both runs).

End-to-end time runs from the end of the service's first processed batch (whose time includes
loading or compiling the learner's kernels) until all N events are learned and every
prediction is acknowledged by the broker; the rate counts the events after that first batch.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, TextIO

import numpy as np

__all__ = ["run_bench"]

N_FEATURES = 103
N_LABELS = 14


def _say(log: TextIO | None, msg: str) -> None:
    if log is not None:
        print(f"bench-service: {msg}", file=log, flush=True)


def _yeast_like(n: int) -> tuple[np.ndarray, np.ndarray]:
    from streamlearn.stream.synth import iter_events

    it = iter_events(n_features=N_FEATURES, n_labels=N_LABELS, n_groups=3, seed=0)
    X = np.empty((n, N_FEATURES))
    Y = np.empty((n, N_LABELS), dtype=np.uint8)
    for i in range(n):
        X[i], Y[i] = next(it)
    return np.round(X, 6), Y


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bare_consume(kafka: dict[str, Any], topic: str, n: int, max_records: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        **kafka,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=64 << 20,
        max_partition_fetch_bytes=8 << 20,
    )
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = 0
        t0 = time.perf_counter()
        while got < n:
            for recs in c.poll(timeout_ms=1000, max_records=max_records).values():
                got += len(recs)
        return n / (time.perf_counter() - t0)
    finally:
        c.close()


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc; empty elsewhere)."""
    kids = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return kids
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            kids.append(int(name))
    return kids


def _machine_busy_seconds() -> float | None:
    """CPU time all cores spent busy so far (every process of the machine, the broker too)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_snapshot(pids: dict[str, list[int]]) -> dict[str, float | None]:
    snap: dict[str, float | None] = {}
    for role, ps in pids.items():
        vals = [_cpu_seconds(p) for p in ps]
        snap[role] = None if not vals or None in vals else sum(v for v in vals if v is not None)
    snap["machine"] = _machine_busy_seconds()
    return snap


def run_bench(
    bootstrap: str,
    *,
    n_events: int = 20_000,
    learner: str | None = None,
    predict_interval_ms: float = 5.0,
    keep_topics: bool = False,
    log: TextIO | None = None,
) -> dict[str, Any]:
    import uvicorn
    from kafka import KafkaAdminClient, KafkaProducer

    from consumers.kafka_config import kafka_args
    from consumers.replay import encode_rows
    from consumers.service import LearnerProcess, start_http
    from consumers.topics import ensure_topics
    from streamlearn.service.learners import resolve_learner_name
    from streamlearn.service.published import ServiceState
    from streamlearn.settings import Settings

    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    kw: dict[str, Any] = {}
    if learner is not None:
        kw["learner"] = learner
    settings = Settings(
        kafka_bootstrap=bootstrap, topic_prefix=prefix, group_id=prefix + "service", **kw
    )
    name = resolve_learner_name(settings.learner)
    topic = settings.topic("events")
    kafka = kafka_args(settings)  # TLS and SASL from STREAMLEARN_KAFKA_* as for the service
    admin = KafkaAdminClient(**kafka)
    try:
        ensure_topics(settings, admin)
        _say(log, f"topics {prefix}*; learner {name}; {n_events} events")

        # 1. produce
        X, Y = _yeast_like(n_events)
        features = [f"x{i}" for i in range(N_FEATURES)]
        labels = [f"Class{j + 1}" for j in range(N_LABELS)]
        values = [v for _, v, _ in encode_rows(X, Y, features, labels)]
        prod = KafkaProducer(**kafka, acks="all", linger_ms=20, batch_size=1 << 20)
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            prod.send(topic, value=v, key=str(i).encode(), partition=0)
        prod.flush(120)
        produce_rate = n_events / (time.perf_counter() - t0)
        prod.close(30)
        bytes_per_event = sum(map(len, values)) / n_events
        _say(log, f"produced at {produce_rate:,.0f} events/s ({bytes_per_event:.0f} bytes each)")

        # 2. bare consume
        bare = [_bare_consume(kafka, topic, n_events, settings.poll_max_records)]
        _say(log, f"bare consume {bare[0]:,.0f} events/s")

        # 3. end to end, as `streamlearn serve --kafka` runs: learning process + HTTP here
        state = ServiceState(mode="kafka", learner=name)
        worker = LearnerProcess(settings, state)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                start_http(settings, state, name, "kafka", worker),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off",
            )
        )
        http = threading.Thread(target=server.run, daemon=True)
        http.start()
        with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
            f.write(json.dumps({"x": X[-1].tolist()}).encode())
            body_file = f.name
        client = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "consumers.bench_client",
                f"http://127.0.0.1:{port}",
                str(predict_interval_ms),
                body_file,
            ],
            stdout=subprocess.PIPE,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        try:
            # the first batch (the learner's kernels compiled or loaded) is not timed
            if not worker.wait_learned(1, 300):
                raise RuntimeError(f"the service did not start learning: {worker.error}")
            while state.model("0") is None or state.model("0").model is None:
                if worker.exited.is_set():
                    raise RuntimeError(f"the service failed: {worker.error}")
                time.sleep(0.01)  # the first model copy reached the HTTP side (and is warm)
            first = worker.learned()
            roles = {
                "learning": [worker.proc.pid],
                "output": _children(worker.proc.pid),
                "http": [os.getpid()],
                "client": [client.pid],
            }
            cpu0 = _cpu_snapshot(roles)
            t_start = time.time()
            p0 = time.perf_counter()
            if not worker.wait_learned(n_events, 3600):
                raise RuntimeError(f"the service failed: {worker.error}")
            worker.flush()  # every prediction acknowledged by the broker
            e2e_seconds = time.perf_counter() - p0
            cpu1 = _cpu_snapshot(roles)
            t_end = time.time()
            time.sleep(2.0)  # the same requests against an idle service, for comparison
            t_idle = time.time()
        finally:
            client.terminate()
            out, _ = client.communicate(timeout=60)
            os.unlink(body_file)
            worker.stop()
            server.should_exit = True
            http.join(30)
        e2e_rate = (n_events - first) / e2e_seconds
        _say(log, f"end to end {e2e_rate:,.0f} events/s (after a first batch of {first})")

        calls = json.loads(out or b"[]")
        during = [c for c in calls if t_start <= c[0] and c[0] + c[1] <= t_end]
        ok = sorted(c[1] for c in during if c[2] == 200)
        errors = sum(1 for c in during if c[2] != 200)
        idle = sorted(c[1] for c in calls if t_end + 0.2 <= c[0] <= t_idle and c[2] == 200)

        # 4. bare consume again
        bare.append(_bare_consume(kafka, topic, n_events, settings.poll_max_records))
        _say(log, f"bare consume {bare[1]:,.0f} events/s")
    finally:
        if not keep_topics:
            try:
                names = [t for t in admin.list_topics() if t.startswith(prefix)]
                if names:
                    admin.delete_topics(names)
            except Exception:  # a leftover bench topic is no failure
                pass
        admin.close()

    bare_rate = statistics.fmean(bare)
    timed = max(1, n_events - first)
    cpu_us = {
        role: round(1e6 * (cpu1[role] - v0) / timed, 1)
        for role, v0 in cpu0.items()
        if v0 is not None and cpu1.get(role) is not None
    }

    def pct(q: float, xs: list[float] = ok) -> float | None:
        if not xs:
            return None
        return round(1000.0 * xs[min(len(xs) - 1, int(q * len(xs)))], 3)

    return {
        "events": n_events,
        "learner": name,
        "bytes_per_event": round(bytes_per_event, 1),
        "produce_events_per_second": round(produce_rate, 1),
        "bare_consume_events_per_second": round(bare_rate, 1),
        "bare_consume_runs": [round(b, 1) for b in bare],
        "end_to_end_events_per_second": round(e2e_rate, 1),
        "end_to_end_seconds": round(e2e_seconds, 3),
        "ratio": round(e2e_rate / bare_rate, 3),
        "predict_p50_ms": pct(0.50),
        "predict_p99_ms": pct(0.99),
        "predict_max_ms": round(1000.0 * ok[-1], 3) if ok else None,
        "predict_requests": len(ok),
        "predict_errors": errors,
        "predict_idle_p50_ms": pct(0.50, idle),
        "predict_idle_p99_ms": pct(0.99, idle),
        "cpu_us_per_event": cpu_us,
        "cpus": os.cpu_count(),
    }
