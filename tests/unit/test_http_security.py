"""The HTTP API's deployment defaults: tokens, bind address, readiness reasons, metric labels,
large batches off the event loop, secrets from files."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.service.published import ServiceState
from streamlearn.service.shard import Shard
from streamlearn.serving.app import INLINE_BODY_BYTES, bind_refusal, create_app
from streamlearn.settings import Settings
from tests.unit.test_service_http import events, settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "a-token-of-enough-characters"


@pytest.mark.parametrize("token", ["", " ", "short", "fifteen-chars!!"])
def test_empty_or_short_tokens_are_refused_at_start_up(token: str) -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings(api_token=token)


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamlearn", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_serve_refuses_an_empty_token_and_an_open_bind() -> None:
    out = _serve(env={"STREAMLEARN_API_TOKEN": ""})
    assert out.returncode != 0 and "at least 16 characters" in out.stderr
    out = _serve("--host", "0.0.0.0")
    assert out.returncode == 2
    assert "refusing to serve the API on 0.0.0.0 without a token" in out.stderr
    assert "--insecure" in out.stderr


@pytest.mark.parametrize(
    ("host", "kw", "refused"),
    [
        ("127.0.0.1", {}, False),
        ("localhost", {}, False),
        ("::1", {}, False),
        ("0.0.0.0", {}, True),
        ("::", {}, True),
        ("10.1.2.3", {}, True),
        ("service.example", {}, True),
        ("0.0.0.0", {"api_token": TOKEN}, False),
        ("0.0.0.0", {"insecure": True}, False),
    ],
)
def test_bind_refusal(host: str, kw: dict, refused: bool) -> None:
    assert (bind_refusal(Settings(host=host, **kw)) is not None) == refused


def test_unknown_methods_do_not_make_new_metric_series() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    client = TestClient(create_app(ServiceState(), settings(), metrics=metrics))
    for method in ("FOO", "BAR", "X" * 200, "GET"):
        client.request(method, "/health")
    samples = {
        s.labels["method"]
        for m in metrics.registry.collect()
        if m.name == "streamlearn_http_requests"
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert samples == {"other", "GET"}


def test_ready_gives_a_reason_code_never_exception_text() -> None:
    state = ServiceState()
    client = TestClient(create_app(state, settings()))
    body = client.get("/ready").json()
    assert body["ready"] is False and body["reason"] == "starting" and "detail" not in body
    state.restored, state.reason = True, "kafka_tls_failed"
    assert client.get("/ready").json()["reason"] == "kafka_tls_failed"
    state.connected, state.reason = True, "ready"
    r = client.get("/ready")
    assert r.status_code == 200 and r.json()["reason"] == "ready"


class _Gate:
    """A model whose predictions of more than one row wait until the test opens the gate."""

    def __init__(self, model) -> None:
        self.model = model
        self.threshold = model.threshold
        self.entered = threading.Event()
        self.gate = threading.Event()

    def predict_proba_many(self, X):
        if X.shape[0] > 1:
            self.entered.set()
            assert self.gate.wait(30)
        return self.model.predict_proba_many(X)


@pytest.mark.parametrize("route", ["fast path", "route"])
def test_a_large_batch_runs_off_the_event_loop(route: str) -> None:
    st = settings()
    state = ServiceState()
    proc = Shard.new("0", st, readers=state)
    proc.process(events(30))
    mv = proc.maybe_publish(force=True)
    gated = _Gate(mv.model)
    object.__setattr__(mv, "model", gated)
    client = TestClient(create_app(state, st))
    rows = np.random.default_rng(0).normal(size=(st.predict_batch_limit, 4)).tolist()
    body = {"instances": rows}
    assert len(str(body)) > INLINE_BODY_BYTES
    url = "/v1/predict" if route == "fast path" else "/v1/predict?shard=0"
    answers: list = []
    batch = threading.Thread(target=lambda: answers.append(client.post(url, json=body)))
    batch.start()
    try:
        assert gated.entered.wait(30), "the batch never reached the model"
        # the batch is inside the model: other requests are still answered meanwhile
        assert client.get("/health").status_code == 200
        single = client.post("/v1/predict", json={"x": rows[0]})
        assert single.status_code == 200
    finally:
        gated.gate.set()
        batch.join(30)
    assert answers[0].status_code == 200
    assert len(answers[0].json()["predictions"]) == len(rows)


def test_secrets_can_be_files(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "streamlearn_kafka_sasl_password").write_text("from-a-file\n")
    (tmp_path / "STREAMLEARN_API_TOKEN").write_text(TOKEN)
    monkeypatch.setenv("STREAMLEARN_SECRETS_DIR", str(tmp_path))
    s = Settings(
        kafka_bootstrap="b:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
    )
    assert s.kafka_sasl_password.get_secret_value() == "from-a-file"
    assert s.token == TOKEN
    monkeypatch.setenv("STREAMLEARN_KAFKA_SASL_PASSWORD", "from-the-environment")
    assert (
        Settings(
            kafka_bootstrap="b:9093",
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="u",
        ).kafka_sasl_password.get_secret_value()
        == "from-the-environment"
    )
