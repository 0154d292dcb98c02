"""The HTTP API through FastAPI's TestClient: routes, 4xx cases, auth, batches, immutability."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.service.published import ServiceState
from streamlearn.service.shard import InRecord as Record
from streamlearn.service.shard import Shard
from streamlearn.serving.app import create_app
from streamlearn.settings import Settings

LEARNER = "tests.support.learners:CentroidLearner"
FEATURES = ["f0", "f1", "f2", "f3"]


def settings(**kw) -> Settings:
    base = {"learner": LEARNER, "labels": ["a", "b"], "features": FEATURES}
    base.update(kw)
    return Settings(**base)


def events(n: int, start: int = 0, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        x = rng.normal(size=4)
        labels = ["a"] if x[0] > 0 else ["b"]
        out.append(
            Record(
                "e", 0, i, json.dumps({"id": str(i), "x": x.tolist(), "labels": labels}).encode()
            )
        )
    return out


@pytest.fixture
def service():
    st = settings()
    state = ServiceState()
    metrics = ServiceMetrics(CollectorRegistry())
    proc = Shard.new("0", st, recorder=metrics.shard("0"), readers=state)
    proc.process(events(50))
    proc.maybe_publish(force=True)
    state.restored = state.connected = True
    client = TestClient(create_app(state, st, metrics=metrics))
    return client, proc, state, metrics


def test_health_ready_and_not_ready() -> None:
    state = ServiceState()
    client = TestClient(create_app(state, settings()))
    assert client.get("/health").json()["status"] == "ok"
    r = client.get("/ready")
    assert r.status_code == 503 and r.json()["ready"] is False
    state.restored = True
    state.reason = "kafka_authentication_failed"
    r = client.get("/ready")
    assert r.status_code == 503 and r.json()["reason"] == "kafka_authentication_failed"
    with pytest.raises(ValueError, match="unknown readiness reason"):
        state.reason = "Traceback: something went wrong"  # codes only, never exception text
    state.connected = True
    assert client.get("/ready").status_code == 200
    state.connected = False  # e.g. the broker went away
    assert client.get("/ready").status_code == 503
    assert client.post("/v1/predict", json={"x": [1, 2, 3, 4]}).status_code == 503


def test_model_route(service) -> None:
    client, proc, _, _ = service
    body = client.get("/v1/model").json()
    assert body["learner"] == LEARNER and body["labels"] == ["a", "b"]
    assert body["n_features"] == 4 and body["features"] == FEATURES
    assert body["model_version"] == 50 and body["instances_seen"] == 50
    assert body["offsets"] == {"events": 50}
    assert body["description"]["clusters"] == [{"id": 0, "labels": ["a", "b"]}]
    assert body["shards"] == ["0"]
    assert client.get("/v1/model", params={"shard": "7"}).status_code == 404


def test_predict_single_in_every_feature_form(service) -> None:
    client, proc, _, _ = service
    x = np.array([1.5, -0.2, 0.0, 0.3])
    want = proc.learner.predict_proba_many(x[None])[0]
    forms = [
        x.tolist(),
        {"f0": 1.5, "f1": -0.2, "f3": 0.3},
        {"indices": [3, 0, 1], "values": [0.3, 1.5, -0.2]},
    ]
    for form in forms:
        r = client.post("/v1/predict", json={"x": form})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model_version"] == 50 and body["shard"] == "0"
        assert [body["proba"][k] for k in ("a", "b")] == want.tolist()
        assert body["labels"] == [k for k, p in zip("ab", want) if p > 0.5]


def test_predict_batch(service) -> None:
    client, proc, _, _ = service
    X = np.random.default_rng(1).normal(size=(7, 4))
    r = client.post("/v1/predict", json={"instances": X.tolist()})
    assert r.status_code == 200
    preds = r.json()["predictions"]
    want = proc.learner.predict_proba_many(X)
    assert [[p["proba"]["a"], p["proba"]["b"]] for p in preds] == want.tolist()


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"x": [1, 2, 3]}, 422, "x: wrong_dimensions"),
        ({"x": {"nope": 1}}, 422, "unknown feature 'nope'"),
        ({"x": [1, "a", 3, 4]}, 422, "valid number"),
        ({"x": [1, 2, 3, 4], "instances": [[1, 2, 3, 4]]}, 422, "exactly one"),
        ({}, 422, "exactly one"),
        ({"instances": []}, 422, "at least 1"),
        ({"instances": [[1, 2, 3, 4], [1, 2]]}, 422, "instances[1]"),
        ({"x": {"indices": [9], "values": [1]}}, 422, "feature space has 4"),
        ({"y": 1, "x": [1, 2, 3, 4]}, 422, "Extra inputs"),
    ],
)
def test_predict_errors_are_clear(service, body, status: int, needle: str) -> None:
    client = service[0]
    r = client.post("/v1/predict", json=body)
    assert r.status_code == status
    assert needle in r.text


def test_invalid_json_body(service) -> None:
    r = service[0].post(
        "/v1/predict", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "json" in r.text.lower()


def test_request_limits() -> None:
    st = settings(max_request_bytes=2048, predict_batch_limit=3)
    state = ServiceState()
    metrics = ServiceMetrics(CollectorRegistry())
    proc = Shard.new("0", st, readers=state)
    proc.process(events(5))
    proc.maybe_publish(force=True)
    client = TestClient(create_app(state, st, metrics=metrics))
    r = client.post("/v1/predict", json={"instances": [[1, 2, 3, 4]] * 4})
    assert r.status_code == 413 and "limit 3" in r.text
    big = {"instances": [[1.123456789, 2.123456789, 3.123456789, 4.123456789]] * 60}
    r = client.post("/v1/predict", json=big)
    assert r.status_code == 413 and "2048 bytes" in r.text

    def chunks():  # no content-length: the limit is enforced while reading
        yield b'{"instances": ['
        for _ in range(100):
            yield b"[1.123456789, 2.123456789, 3.123456789, 4.123456789],"
        yield b"[1, 2, 3, 4]]}"

    r = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert (
        metrics.registry.get_sample_value(
            "streamlearn_http_requests_total",
            {"route": "/v1/predict", "method": "POST", "status": "413"},
        )
        >= 2
    )


def test_bearer_token() -> None:
    st = settings(api_token="s3cret-token-0123")
    state = ServiceState()
    proc = Shard.new("0", st, readers=state)
    proc.process(events(5))
    proc.maybe_publish(force=True)
    client = TestClient(create_app(state, st))
    for method, path, kw in [
        ("get", "/v1/model", {}),
        ("post", "/v1/predict", {"json": {"x": [1, 2, 3, 4]}}),
    ]:
        r = getattr(client, method)(path, **kw)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = getattr(client, method)(path, headers={"Authorization": "Bearer wrong"}, **kw)
        assert r.status_code == 401
        r = getattr(client, method)(
            path, headers={"Authorization": "Bearer s3cret-token-0123"}, **kw
        )
        assert r.status_code == 200
    assert client.get("/health").status_code == 200  # status routes stay open
    assert client.get("/metrics").status_code == 200


def test_metrics_route_and_http_counters(service) -> None:
    client, _, _, metrics = service
    client.post("/v1/predict", json={"x": [1, 2, 3, 4]})
    client.post("/v1/predict", json={"x": [1, 2]})
    text = client.get("/metrics").text
    assert 'streamlearn_events_learned_total{shard="0"} 50.0' in text
    assert (
        'streamlearn_http_requests_total{method="POST",route="/v1/predict",status="200"} 1.0'
        in text
    )
    assert (
        'streamlearn_http_requests_total{method="POST",route="/v1/predict",status="422"} 1.0'
        in text
    )
    assert 'streamlearn_http_predict_seconds_count{shard="0"} 1.0' in text
    assert "streamlearn_ready 1.0" in text


def test_openapi_schema_documents_the_routes(service) -> None:
    spec = service[0].get("/openapi.json").json()
    for path in ("/health", "/ready", "/v1/model", "/v1/predict", "/metrics"):
        assert path in spec["paths"]
    assert "PredictRequest" in spec["components"]["schemas"]


def test_reads_use_immutable_versions_while_learning(service) -> None:
    """Concurrent learning + publishing never changes what a published version answers."""
    client, proc, state, _ = service
    x = [0.3, -1.0, 0.5, 2.0]
    stop = threading.Event()
    errors = []

    def learn() -> None:
        try:
            off = 50
            while not stop.is_set() and off < 3000:
                proc.process(events(10, start=off, seed=off))
                off += 10
                proc.maybe_publish(force=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=learn)
    t.start()
    seen: dict[int, list] = {}
    try:
        for _ in range(150):
            body = client.post("/v1/predict", json={"x": x}).json()
            seen.setdefault(body["model_version"], []).append(body["proba"])
    finally:
        stop.set()
        t.join()
    assert not errors
    assert len(seen) > 1  # learning went on during the reads
    versions = sorted(seen)
    for v in versions:  # one version always answers the same
        assert all(p == seen[v][0] for p in seen[v])
    # and it answers what a model that learned exactly v events answers
    replay = Shard.new("0", settings())
    replay.process(events(50))
    done = 50
    for v in versions:
        while done < v:
            replay.process(events(10, start=done, seed=done))
            done += 10
        want = replay.learner.predict_proba_many(np.array([x]))[0]
        assert [seen[v][0]["a"], seen[v][0]["b"]] == want.tolist()


def _fast_answer(app):
    """The fast path's decision function (``None`` = the FastAPI route answers)."""
    from streamlearn.serving.app import _FastPredict

    (mw,) = [m for m in app.user_middleware if m.cls is _FastPredict]
    return mw.kwargs["answer"]


@pytest.mark.parametrize("token", [None, "s3cret-token-0123"])
def test_predict_fast_path_answers_as_the_route_does(token) -> None:
    """Plain valid requests skip FastAPI's machinery; their answers are the route's, byte for
    byte, and everything else still goes through the route."""
    st = settings(api_token=token)
    state = ServiceState()
    metrics = ServiceMetrics(CollectorRegistry())
    proc = Shard.new("0", st, readers=state)
    proc.process(events(20))
    proc.maybe_publish(force=True)
    app = create_app(state, st, metrics=metrics)
    client = TestClient(app)
    answer = _fast_answer(app)
    auth = {} if token is None else {"Authorization": f"Bearer {token}"}
    raw_auth = [] if token is None else [(b"authorization", f"Bearer {token}".encode())]
    X = np.random.default_rng(3).normal(size=(5, 4))
    bodies = [
        {"x": X[0].tolist()},
        {"x": {"f0": 1.5, "f3": -0.25}},
        {"x": {"indices": [3, 0], "values": [0.3, 1.5]}},
        {"instances": X.tolist()},
    ]
    for body in bodies:
        raw = json.dumps(body).encode()
        fast = answer([(b"content-type", b"application/json"), *raw_auth], raw)
        assert fast is not None
        # the route itself: a content type the fast path leaves to FastAPI
        routed = client.post(
            "/v1/predict",
            content=raw,
            headers={"content-type": "application/json; charset=utf-8", **auth},
        )
        assert routed.status_code == 200 and routed.content == fast
        r = client.post(
            "/v1/predict", content=raw, headers={"content-type": "application/json", **auth}
        )
        assert r.status_code == 200 and r.content == fast
        assert r.headers["content-type"] == routed.headers["content-type"]
    ok = {"content-type": "application/json", **auth}
    ct = [(b"content-type", b"application/json"), *raw_auth]
    # refusals are left to the route (its own status codes and messages)
    assert answer(ct, b'{"x": [1, 2]}') is None
    assert answer(ct, b"{nope") is None
    assert answer(ct, b'{"x": [1, 2, 3, 4], "y": 1}') is None
    assert answer([(b"content-type", b"text/plain"), *raw_auth], b'{"x": [1, 2, 3, 4]}') is None
    if token is not None:
        assert answer([(b"content-type", b"application/json")], b'{"x": [1, 2, 3, 4]}') is None
        wrong = [(b"content-type", b"application/json"), (b"authorization", b"Bearer nope")]
        assert answer(wrong, b'{"x": [1, 2, 3, 4]}') is None
        assert client.post("/v1/predict", json={"x": [1, 2, 3, 4]}).status_code == 401
    assert client.post("/v1/predict", content=b'{"x": [1, 2]}', headers=ok).status_code == 422
    # ?shard= goes through the route
    r = client.post("/v1/predict", params={"shard": "0"}, json={"x": [1, 2, 3, 4]}, headers=auth)
    assert r.status_code == 200 and r.json()["shard"] == "0"
    assert (
        client.post(
            "/v1/predict", params={"shard": "9"}, json={"x": [1, 2, 3, 4]}, headers=auth
        ).status_code
        == 404
    )
    # requests answered by the fast path are counted under their route like the others
    n_ok = metrics.registry.get_sample_value(
        "streamlearn_http_requests_total",
        {"route": "/v1/predict", "method": "POST", "status": "200"},
    )
    assert n_ok == 2 * len(bodies) + 1
    assert metrics.registry.get_sample_value(
        "streamlearn_http_predict_seconds_count", {"shard": "0"}
    ) >= 3 * len(bodies)
