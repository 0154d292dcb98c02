"""The whole service as users run it: ``streamlearn serve`` in a subprocess, queried over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from streamlearn.snapshot import FORMAT_VERSION
from tests.support.served import ROOT, Served, check_exposition, metric, warm_default_learner


@pytest.fixture(scope="module", autouse=True)
def warm_learner() -> None:
    """Compile the default learner's kernels once, here (numba caches them on disk), so the
    service subprocesses below load them instead of compiling under a request timeout."""
    warm_default_learner()


def test_serve_embedded_curl_and_final_snapshot(tmp_path: Path) -> None:
    env = {"STREAMLEARN_SNAPSHOT_DIR": str(tmp_path / "snaps"), "STREAMLEARN_RATE": "500"}
    log = tmp_path / "serve.log"
    svc = Served([], env, log)
    try:
        svc.wait_ready()
        assert httpx.get(svc.url + "/health").json()["status"] == "ok"
        deadline = time.monotonic() + 300  # a cold numba cache compiles the learner first
        while httpx.get(svc.url + "/v1/model").json()["model_version"] < 50:
            assert time.monotonic() < deadline, "no learning"
            time.sleep(0.1)
        model = httpx.get(svc.url + "/v1/model").json()
        assert model["n_features"] == 20 and len(model["labels"]) == 8
        x = [0.5] * model["n_features"]
        r = httpx.post(svc.url + "/v1/predict", json={"x": x})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body["proba"]) == set(model["labels"]) and body["model_version"] >= 50
        r = httpx.post(svc.url + "/v1/predict", json={"instances": [x, x]})
        assert len(r.json()["predictions"]) == 2
        assert httpx.post(svc.url + "/v1/predict", json={"x": [1.0]}).status_code == 422
        assert "/v1/predict" in httpx.get(svc.url + "/openapi.json").json()["paths"]
        metrics = httpx.get(svc.url + "/metrics").text
        check_exposition(metrics)
        learned = metric(metrics, "streamlearn_events_learned_total")
        assert learned >= 50
        assert metric(metrics, "streamlearn_ready") == 1.0
    finally:
        code = svc.terminate()
    assert code == 0, log.read_text()
    assert "final snapshot" in log.read_text()
    snaps = list((tmp_path / "snaps").glob("*.snap"))
    assert len(snaps) == 1
    # `snapshot show` reads it
    show = subprocess.run(
        [sys.executable, "-m", "streamlearn", "snapshot", "show", str(snaps[0])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert show.returncode == 0, show.stderr
    header = json.loads(show.stdout)
    saved = header["offsets"]["events"]
    assert saved >= learned and header["format_version"] == FORMAT_VERSION


def _model(svc: Served) -> dict:
    return httpx.get(svc.url + "/v1/model").json()


def _wait_version(svc: Served, n: int, timeout: float = 300.0) -> dict:
    """The published model once it has learned ``n`` instances."""
    deadline = time.monotonic() + timeout
    while (model := _model(svc))["model_version"] < n:
        assert svc.proc.poll() is None, svc.tail()
        assert time.monotonic() < deadline, f"learned only {model['model_version']} of {n}"
        time.sleep(0.1)
    return model


def _show(snaps: Path) -> dict:
    """``streamlearn snapshot show --load`` of the one snapshot in ``snaps``."""
    (snap,) = snaps.glob("*.snap")
    show = subprocess.run(
        [sys.executable, "-m", "streamlearn", "snapshot", "show", "--load", str(snap)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert show.returncode == 0, show.stderr
    return json.loads(show.stdout)


def _learned_state(description: dict) -> dict:
    """A learner's description without what depends on how rows were batched: iHOMER's
    per-tree ``recent_accuracy`` is a moving average updated once per chunk (it is reported
    only; the model's decisions do not read it)."""
    out = dict(description)
    out["clusters"] = [
        {k: v for k, v in c.items() if k != "recent_accuracy"} for c in out.get("clusters", [])
    ]
    return out


def test_a_restart_learns_nothing_twice(tmp_path: Path, datasets_dir: Path) -> None:
    """Stopped mid-stream and started again, the service resumes exactly where its snapshot
    ends: at the end of the file (a replay of a file without looping stops there, with a final
    snapshot), the learned count is the file's rows and the model is the one an uninterrupted
    run builds, down to every tree's running accuracy (a row learned twice, or skipped, changes
    them)."""
    data = datasets_dir / "yeast.arff.gz"
    n = 2417
    file_env = {"STREAMLEARN_DATA": str(data), "STREAMLEARN_LOOP": "false"}

    def serve(snaps: Path, rate: str, log: str) -> Served:
        env = {**file_env, "STREAMLEARN_SNAPSHOT_DIR": str(snaps), "STREAMLEARN_RATE": rate}
        return Served([], env, tmp_path / log)

    def run_to_the_end(svc: Served) -> None:
        try:
            assert svc.proc.wait(300) == 0, svc.tail()
        finally:
            svc.close()

    # interrupted: stopped (clean shutdown, final snapshot) while the file is being learned
    snaps = tmp_path / "snaps"
    svc = serve(snaps, "400", "first.log")
    try:
        svc.wait_ready()
        _wait_version(svc, 300)
    finally:
        assert svc.terminate() == 0, svc.tail()
    saved = _show(snaps)["offsets"]["events"]
    assert 300 <= saved < n - 500, saved  # the stop fell mid-stream
    # started again on that snapshot: it resumes from it (not from the start), to the end
    svc = serve(snaps, "500", "second.log")
    try:
        svc.wait_ready()
        m = svc.metrics()
        assert 'streamlearn_snapshot_restores_total{outcome="restored",shard="0"} 1.0' in m
        assert _model(svc)["model_version"] >= saved
    finally:
        run_to_the_end(svc)
    resumed = _show(snaps)
    # uninterrupted, from scratch
    svc = serve(tmp_path / "fresh", "0", "fresh.log")
    run_to_the_end(svc)
    uninterrupted = _show(tmp_path / "fresh")
    for header in (resumed, uninterrupted):
        assert header["offsets"]["events"] == header["counts"]["events_learned"] == n
        assert header["model"]["n_samples_seen"] == n
    assert _learned_state(resumed["model"]) == _learned_state(uninterrupted["model"])


def test_serve_replays_an_arff_file(tmp_path: Path, datasets_dir: Path) -> None:
    data = datasets_dir / "flags.arff.gz"
    env = {"STREAMLEARN_SNAPSHOT_DIR": str(tmp_path / "snaps")}
    svc = Served(["--data", str(data), "--rate", "0"], env, tmp_path / "serve.log")
    try:
        svc.wait_ready()
        deadline = time.monotonic() + 300  # a cold numba cache compiles the learner first
        while (model := httpx.get(svc.url + "/v1/model").json())["model_version"] < 100:
            assert time.monotonic() < deadline, "no learning"
            time.sleep(0.1)
        assert model["n_labels"] == 7 and model["n_features"] == 19
        assert model["labels"][0] == "red"
        x = dict.fromkeys(model["features"][:3], 1.0)
        r = httpx.post(svc.url + "/v1/predict", json={"x": x})
        assert r.status_code == 200 and set(r.json()["proba"]) == set(model["labels"])
    finally:
        assert svc.terminate() == 0


def _kafka_prefix() -> str:
    import uuid

    return f"sle2e.{uuid.uuid4().hex[:8]}."


def test_serve_kafka_with_replay(tmp_path: Path, kafka_bootstrap: str, datasets_dir: Path) -> None:
    """`streamlearn replay` feeds an ARFF file (labels delayed) into the topics that
    `streamlearn serve --kafka` consumes; predictions come out and the model is queryable."""
    from tests.support.service import delete_prefixed_topics, read_topic

    prefix = _kafka_prefix()
    env = {"STREAMLEARN_TOPIC_PREFIX": prefix, "STREAMLEARN_GROUP_ID": prefix + "g"}
    svc = Served(["--kafka", kafka_bootstrap], env, tmp_path / "serve.log")
    try:
        svc.wait_ready()
        replay = subprocess.run(
            [
                sys.executable,
                "-m",
                "streamlearn",
                "replay",
                str(datasets_dir / "flags.arff.gz"),
                "--kafka",
                kafka_bootstrap,
                "--labels",
                "delayed",
                "--label-delay",
                "20",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert replay.returncode == 0, replay.stderr
        assert "replayed 194 events" in replay.stderr
        deadline = time.monotonic() + 300  # a cold numba cache compiles the learner first
        while (m := httpx.get(svc.url + "/v1/model").json())["model_version"] < 194:
            assert time.monotonic() < deadline, f"learned only {m['model_version']}"
            time.sleep(0.2)
        assert m["n_labels"] == 7 and m["n_features"] == 19
        r = httpx.post(svc.url + "/v1/predict", json={"x": [0.0] * 19})
        assert r.status_code == 200 and len(r.json()["proba"]) == 7
        preds = read_topic(kafka_bootstrap, prefix + "predictions", 194)
        assert len({json.loads(p.value)["id"] for p in preds}) == 194
        metrics = httpx.get(svc.url + "/metrics").text
        assert metric(metrics, "streamlearn_labels_joined_total") == 194
        assert "streamlearn_consumer_lag" in metrics
    finally:
        code = svc.terminate()
    try:
        assert code == 0, (tmp_path / "serve.log").read_text()
        show = subprocess.run(
            [
                sys.executable,
                "-m",
                "streamlearn",
                "snapshot",
                "show",
                "--kafka",
                kafka_bootstrap,
                "--topic-prefix",
                prefix,
                "--load",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert show.returncode == 0, show.stderr
        header = json.loads(show.stdout)
        assert header["source"] == f"{prefix}g/{prefix}events/0"
        assert header["offsets"] == {"events": 194, "labels": 194}
        assert header["counts"]["events_learned"] == 194
    finally:
        delete_prefixed_topics(kafka_bootstrap, prefix)


def test_ready_follows_a_broker_outage(tmp_path: Path, kafka_broker_control) -> None:
    from tests.support.service import delete_prefixed_topics

    bootstrap = kafka_broker_control.bootstrap
    prefix = _kafka_prefix()
    env = {"STREAMLEARN_TOPIC_PREFIX": prefix, "STREAMLEARN_GROUP_ID": prefix + "g"}
    svc = Served(["--kafka", bootstrap], env, tmp_path / "serve.log")
    try:
        svc.wait_ready()
        kafka_broker_control.stop()
        deadline = time.monotonic() + 90
        while httpx.get(svc.url + "/ready").status_code != 503:
            assert time.monotonic() < deadline, "still ready without a broker"
            time.sleep(0.5)
        assert httpx.get(svc.url + "/health").status_code == 200  # alive all the same
        kafka_broker_control.start()
        svc.wait_ready(timeout=120)
    finally:
        code = svc.terminate()
        try:
            delete_prefixed_topics(kafka_broker_control.bootstrap, prefix)
        except Exception:
            pass
    assert code == 0
