"""The whole service, as users run it, against a broker's SASL_SSL listener with ACLs enforced:
``streamlearn serve --kafka`` (password from a secrets file, API token), ``streamlearn replay``
and ``streamlearn bench-service`` over SASL_SSL; a wrong password is a non-ready ``/ready`` with a
reason code, never a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from consumers.kafka_config import required_acls
from streamlearn.settings import Settings
from tests.support.kafka import SecureBroker
from tests.support.served import ROOT, Served
from tests.support.service import read_topic

TOKEN = "e2e-api-token-0123456789"
KEYS = "e2e-snapshot-key-0123456789abcdefghij"


def _prefix() -> str:
    return f"slsec.{uuid.uuid4().hex[:8]}."


def _cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamlearn", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_serve_replay_and_snapshot_show_over_sasl_ssl(
    tmp_path: Path, secure_kafka: SecureBroker, datasets_dir: Path
) -> None:
    prefix = _prefix()
    base = {"STREAMLEARN_TOPIC_PREFIX": prefix, "STREAMLEARN_GROUP_ID": prefix + "g"}
    s = Settings(topic_prefix=prefix, group_id=prefix + "g")
    secure_kafka.grant("streamlearn", required_acls(s, "service"))
    secure_kafka.grant("producer", required_acls(s, "producer"))
    # the service's password and keys as secret files, the rest in the environment
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "streamlearn_kafka_sasl_password").write_text(secure_kafka.password("streamlearn"))
    (secrets / "streamlearn_snapshot_keys").write_text(KEYS)
    (secrets / "streamlearn_api_token").write_text(TOKEN)
    env = {
        **base,
        **secure_kafka.env("streamlearn", "SCRAM-SHA-512", kafka_sasl_password=None),
        "STREAMLEARN_SECRETS_DIR": str(secrets),
    }
    svc = Served(["--kafka", secure_kafka.bootstrap], env, tmp_path / "serve.log")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        svc.wait_ready()
        assert svc.get("/v1/model").status_code == 401  # the token came from its file
        replay = _cli(
            "replay",
            str(datasets_dir / "flags.arff.gz"),
            "--labels",
            "delayed",
            "--label-delay",
            "20",
            env={**base, **secure_kafka.env("producer", "SCRAM-SHA-256")},
        )
        assert replay.returncode == 0, replay.stderr
        assert "replayed 194 events" in replay.stderr
        deadline = time.monotonic() + 300
        while (m := httpx.get(svc.url + "/v1/model", headers=auth).json())["model_version"] < 194:
            assert time.monotonic() < deadline, f"learned only {m['model_version']}"
            time.sleep(0.2)
        admin = Settings(**secure_kafka.settings_kw("admin", "PLAIN"))
        preds = read_topic(admin, prefix + "predictions", 194)
        assert len({json.loads(p.value)["id"] for p in preds}) == 194
    finally:
        code = svc.terminate()
    assert code == 0, svc.tail()
    log = (tmp_path / "serve.log").read_text()
    assert secure_kafka.password("streamlearn") not in log and TOKEN not in log
    show = _cli(
        "snapshot",
        "show",
        "--load",
        "--kafka",
        secure_kafka.bootstrap,
        env={**env, "STREAMLEARN_SNAPSHOT_KEYS": KEYS},
    )
    assert show.returncode == 0, show.stderr
    header = json.loads(show.stdout)
    assert header["verified"] is True and header["counts"]["events_learned"] == 194


def test_a_wrong_password_is_a_reason_on_ready_not_a_hang(
    tmp_path: Path, secure_kafka: SecureBroker
) -> None:
    env = {
        "STREAMLEARN_TOPIC_PREFIX": _prefix(),
        "STREAMLEARN_SNAPSHOT_KEYS": KEYS,
        **secure_kafka.env("streamlearn", kafka_sasl_password="not-the-password"),
    }
    svc = Served([], env, tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert svc.proc.poll() is None, svc.tail()
            try:
                r = svc.get("/ready", timeout=3)
            except httpx.TransportError:
                r = None
            if r is not None and r.json().get("reason") == "kafka_authentication_failed":
                break
            assert time.monotonic() < deadline, f"/ready: {r and r.text}\n{svc.tail()}"
            time.sleep(0.2)
        assert r.status_code == 503 and svc.get("/health").status_code == 200
        assert "not-the-password" not in r.text
    finally:
        t0 = time.monotonic()
        code = svc.terminate(timeout=120)
    assert code == 0 and time.monotonic() - t0 < 60, svc.tail()
    assert "the broker refused the login" in svc.tail(200)


def test_bench_service_over_sasl_ssl(secure_kafka: SecureBroker) -> None:
    """``bench-service`` makes its own topics and group: the admin principal runs it."""
    out = _cli(
        "bench-service",
        "--kafka",
        secure_kafka.bootstrap,
        "--events",
        "5000",
        "--learner",
        "br-nb",
        "--json",
        env={**secure_kafka.env("admin", "SCRAM-SHA-256"), "STREAMLEARN_SNAPSHOT_KEYS": KEYS},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["events"] == 5000 and result["end_to_end_events_per_second"] > 0
    assert result["bare_consume_events_per_second"] > 0 and result["predict_errors"] == 0
