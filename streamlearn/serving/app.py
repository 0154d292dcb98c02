"""The HTTP query API (FastAPI app factory).

Routes: ``GET /health`` (the process is alive), ``GET /ready`` (503 until the models are restored
and the source is connected), ``GET /v1/model`` (what the model is), ``POST /v1/predict`` (one
instance or a batch), ``GET /metrics`` (Prometheus), plus the OpenAPI schema at
``/openapi.json`` and its UI at ``/docs``.

Reads only ever use the latest *published* immutable model version of a shard (see
:mod:`streamlearn.service.published`): no lock that learning holds is ever taken here. With several
shards in one process, a request picks one with ``?shard=``; by default the most trained one.
"""

# No ``from __future__ import annotations`` here: FastAPI resolves the dependency annotations
# of the route functions at run time, and some refer to closure variables.

import ipaddress
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from streamlearn import __version__
from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.schema import Schema
from streamlearn.service.contract import DecodeError, Features
from streamlearn.service.encoding import FeatureEncoder, stack
from streamlearn.service.published import ModelVersion, ServiceState
from streamlearn.settings import Settings

__all__ = ["INLINE_BODY_BYTES", "ROUTES", "PredictRequest", "bind_refusal", "create_app"]

#: The API's routes (label values of the HTTP metrics; anything else is "unmatched").
ROUTES = frozenset(
    {"/health", "/ready", "/metrics", "/v1/model", "/v1/predict", "/openapi.json", "/docs"}
)


#: /v1/predict bodies up to this size are answered on the event loop (a few rows: the thread
#: hand-off would cost more than the prediction); larger ones, whose decoding and prediction
#: take milliseconds, in a worker thread, so that other requests are not held up meanwhile.
INLINE_BODY_BYTES = 16 << 10


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def bind_refusal(settings: Settings) -> str | None:
    """Why the HTTP API must not start on ``settings.host`` (None when it may).

    An address other than loopback without an API token would open ``/v1/*`` to anyone who
    reaches the port: refused unless ``settings.insecure`` says that is meant.
    """
    if settings.token is not None or settings.insecure or _loopback(settings.host):
        return None
    return (
        f"refusing to serve the API on {settings.host} without a token: anyone who can reach "
        "the port could query the model. Set STREAMLEARN_API_TOKEN (at least 16 characters), "
        "bind to 127.0.0.1, or pass --insecure (STREAMLEARN_INSECURE=true) if that is meant"
    )


class PredictRequest(BaseModel):
    """Either ``x`` (one instance) or ``instances`` (a batch).

    Each instance is a dense array of numbers (one per feature, in the model's feature order),
    an object ``{feature name: number}`` (absent features are 0), or sparse
    ``{"indices": [...], "values": [...]}``.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"x": {"x0": 0.5, "x3": 1.25}},
                {"instances": [[0.1, 0.2, 0.3], {"indices": [0, 2], "values": [1.0, 2.0]}]},
            ]
        },
    )

    x: Features | None = None
    instances: list[Features] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_of(self) -> "PredictRequest":
        if (self.x is None) == (self.instances is None):
            raise ValueError("give exactly one of 'x' (one instance) or 'instances' (a batch)")
        return self


class LabelProba(BaseModel):
    labels: list[str] = Field(description="labels predicted true")
    proba: dict[str, float] = Field(description="probability that each label is true")


class PredictResponse(BaseModel):
    model_version: int = Field(description="instances the model had learned when published")
    shard: str
    labels: list[str] | None = Field(None, description="for a single 'x'")
    proba: dict[str, float] | None = Field(None, description="for a single 'x'")
    predictions: list[LabelProba] | None = Field(None, description="for 'instances'")


class ModelInfo(BaseModel):
    shard: str
    learner: str
    model_version: int
    instances_seen: int
    labels: list[str]
    n_labels: int
    n_features: int
    features: list[str]
    sparse: bool
    offsets: dict[str, int]
    published_at: float
    description: dict[str, Any] = Field(
        description="the learner's describe(): cluster hierarchy, memory, parameters..."
    )
    shards: list[str] = Field(description="every shard this process serves")


class _Limits:
    """Pure ASGI middleware: request size limit, and latency/count metrics by route."""

    def __init__(self, app: Any, max_bytes: int, metrics: ServiceMetrics | None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _reject(send, 413, f"request body larger than {limit} bytes")
                    self._observe(scope, 413, t0)
                    return
        has_length = any(name == b"content-length" for name, _ in scope.get("headers", ()))
        if not has_length and scope.get("method") in ("POST", "PUT", "PATCH"):
            # a streamed body: read it up to the limit before the app sees it
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # client went away
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
                if size > limit:
                    await _reject(send, 413, f"request body larger than {limit} bytes")
                    self._observe(scope, 413, t0)
                    return
            app_receive = _replaying(b"".join(chunks), receive)
        else:
            app_receive = receive

        async def tracking_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.app(scope, app_receive, tracking_send)
        self._observe(scope, status[0], t0)

    def _observe(self, scope: dict, status: int, t0: float) -> None:
        if self.metrics is None:
            return
        route = scope.get("route")
        path = getattr(route, "path", None)
        if path is None:  # rejected before routing, or no such route
            path = scope.get("path") if scope.get("path") in ROUTES else "unmatched"
        self.metrics.observe_http(path, scope.get("method", ""), status, time.perf_counter() - t0)


def _replaying(body: bytes, receive: Any) -> Callable[[], Awaitable[dict]]:
    """An ASGI ``receive`` that hands the app a body already read, whole, then defers to
    ``receive`` (for the disconnect message)."""
    delivered = False

    async def replay() -> dict:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reject(send: Any, status: int, detail: str) -> None:
    body = JSONResponse({"detail": detail}, status_code=status).body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _FastPredict:
    """Pure ASGI middleware: plain ``POST /v1/predict`` requests answered without FastAPI's
    routing, dependency solving and body re-parsing (they cost more than the prediction).

    ``answer(headers, body)`` returns the JSON of the answer, or ``None`` to hand the request
    (its body replayed) to the FastAPI route, which then answers or refuses it as usual.
    """

    def __init__(self, app: Any, answer: Callable[[list, bytes], bytes | None]) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path") != "/v1/predict"
            or scope.get("query_string")
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = scope.get("headers", [])
        if len(body) > INLINE_BODY_BYTES:  # a batch: off the event loop
            out = await run_in_threadpool(self.answer, headers, body)
        else:
            out = self.answer(headers, body)
        if out is None:
            await self.app(scope, _replaying(body, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(out)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": out})


_PREDICT_REQUEST = TypeAdapter(PredictRequest)


def _encoder(mv: ModelVersion, policy: str) -> FeatureEncoder:
    enc = getattr(mv, "_encoder", None)
    if enc is None:
        enc = FeatureEncoder(Schema(features=list(mv.features), sparse=mv.sparse), policy)  # type: ignore[arg-type]
        object.__setattr__(mv, "_encoder", enc)  # a cache on the frozen version; idempotent
    return enc


def create_app(
    state: ServiceState,
    settings: Settings | None = None,
    registry: CollectorRegistry | None = None,
    metrics: ServiceMetrics | None = None,
    extra_metrics: Callable[[], bytes] | None = None,
) -> FastAPI:
    """The HTTP API over a running service's state.

    Parameters
    ----------
    state
        Shared status and published model versions.
    settings
        Limits, token, policies (defaults when ``None``).
    registry
        The Prometheus registry served at ``/metrics`` (``metrics.registry`` when omitted).
    metrics
        The service's metrics, for HTTP request counters and predict latency.
    extra_metrics
        Returns more Prometheus text to serve before ``registry``'s (the learning process's
        metrics); called in a worker thread at each scrape.
    """
    settings = settings or Settings()
    if registry is None:
        registry = metrics.registry if metrics is not None else CollectorRegistry()
    token = settings.token
    bearer = HTTPBearer(auto_error=False, description="the service's API token")
    policy = settings.unknown_features
    batch_limit = settings.predict_batch_limit

    app = FastAPI(
        title="streamlearn",
        version=__version__,
        description="Online multi-label learning service: query the live model, "
        "check readiness, scrape metrics.",
    )
    # the last added is the outermost: limits and metrics see the fast path's requests too
    app.add_middleware(_FastPredict, answer=lambda headers, body: fast_answer(headers, body))
    app.add_middleware(_Limits, max_bytes=settings.max_request_bytes, metrics=metrics)
    if metrics is not None:
        metrics.ready.set_function(lambda: 1.0 if state.ready()[0] else 0.0)

    async def authorize(
        cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if token is None:
            return
        if cred is None or not secrets.compare_digest(cred.credentials.encode(), token.encode()):
            raise HTTPException(
                401,
                "missing or wrong bearer token (header 'Authorization: Bearer <token>')",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def pick(shard: str | None) -> ModelVersion:
        mv = state.model(shard)
        if mv is None:
            if shard is not None and state.models:
                raise HTTPException(
                    404, f"shard {shard!r} is not served here (shards: {sorted(state.models)})"
                )
            raise HTTPException(503, "no model published yet (the service is starting)")
        return mv

    @app.get("/health", tags=["status"], summary="Liveness: the process answers")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get(
        "/ready",
        tags=["status"],
        summary="Readiness: models restored and source connected (503 otherwise)",
        responses={503: {"description": "not ready; 'reason' says why (a code)"}},
    )
    async def ready() -> JSONResponse:
        ok, _ = state.ready()
        return JSONResponse(state.status(), status_code=200 if ok else 503)

    @app.get("/metrics", tags=["status"], summary="Prometheus metrics")
    async def prometheus() -> Response:
        body = generate_latest(registry)
        if extra_metrics is not None:
            body = await run_in_threadpool(extra_metrics) + body
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/v1/model",
        tags=["model"],
        summary="The published model: learner, labels, features, cluster hierarchy, offsets",
        dependencies=[Depends(authorize)],
        response_model=ModelInfo,
    )
    async def model(shard: Annotated[str | None, Query(description="shard id")] = None) -> Any:
        mv = pick(shard)
        return ModelInfo(
            shard=mv.shard,
            learner=mv.learner,
            model_version=mv.version,
            instances_seen=mv.instances_seen,
            labels=list(mv.labels),
            n_labels=len(mv.labels),
            n_features=mv.n_features,
            features=list(mv.features),
            sparse=mv.sparse,
            offsets=mv.offsets,
            published_at=mv.published_at,
            description=mv.description,
            shards=sorted(state.models),
        )

    @app.post(
        "/v1/predict",
        tags=["model"],
        summary="Predict the labels of one instance ('x') or a batch ('instances')",
        dependencies=[Depends(authorize)],
        response_model=PredictResponse,
        response_model_exclude_none=True,
        responses={
            413: {"description": "body or batch too large"},
            422: {"description": "invalid instance (the message says which and why)"},
            503: {"description": "no model yet"},
        },
    )
    async def predict(
        body: PredictRequest,
        request: Request,
        shard: Annotated[str | None, Query(description="shard id")] = None,
    ) -> Any:
        if body.instances is not None and len(body.instances) > 1:
            return JSONResponse(await run_in_threadpool(answer, body, shard))
        return JSONResponse(answer(body, shard))

    def answer(body: PredictRequest, shard: str | None) -> dict[str, Any]:
        """The body of a /v1/predict answer; HTTPException for every refusal."""
        xs = [body.x] if body.instances is None else body.instances
        if len(xs) > batch_limit:
            raise HTTPException(
                413, f"batch of {len(xs)} instances exceeds the limit {batch_limit}"
            )
        mv = pick(shard)
        if mv.model is None:
            raise HTTPException(
                503, f"shard {mv.shard} has not learned from any labelled event yet"
            )
        enc = _encoder(mv, policy)
        rows = []
        for i, x in enumerate(xs):
            try:
                rows.append(enc.row(x))
            except DecodeError as err:
                where = "x" if body.instances is None else f"instances[{i}]"
                raise HTTPException(422, f"{where}: {err.reason}: {err.message}") from None
        X = stack(rows, enc.schema)
        t0 = time.perf_counter()
        P = mv.model.predict_proba_many(X)
        if metrics is not None:
            metrics.http_predict_seconds.labels(mv.shard).observe(time.perf_counter() - t0)
        thr = mv.model.threshold
        labels = mv.labels
        preds = []
        for p in P.tolist():
            preds.append(
                {
                    "labels": [lab for lab, v in zip(labels, p) if v > thr],
                    "proba": dict(zip(labels, p)),
                }
            )
        out: dict[str, Any] = {"model_version": mv.version, "shard": mv.shard}
        if body.instances is None:
            out.update(preds[0])
        else:
            out["predictions"] = preds
        return out

    def fast_answer(headers: list, body: bytes) -> bytes | None:
        """The answer's JSON for a plain valid request, or None: FastAPI's route decides.

        Valid, authorised requests without a query string are answered here, without FastAPI's
        routing and dependency machinery; everything else (errors, ``?shard=``, other content
        types) goes through the route, so its answers and errors are FastAPI's own.
        """
        ctype = auth = None
        for name, value in headers:
            if name == b"content-type":
                ctype = value
            elif name == b"authorization":
                auth = value
        if ctype is None or ctype.lower() != b"application/json":
            return None
        if token is not None:
            scheme, _, cred = (auth or b"").decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                cred.encode(), token.encode()
            ):
                return None
        try:
            req = _PREDICT_REQUEST.validate_json(body)
            out = answer(req, None)
        except (ValidationError, HTTPException):
            return None
        return JSONResponse(out).body

    return app
