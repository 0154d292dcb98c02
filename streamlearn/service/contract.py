"""The wire contract (DESIGN §4): every record the service reads or writes, one typed model each.

Inputs
    ``events`` (:class:`Event`): ``{"id": str, "ts": float?, "x": {name: number} | [number, ...]
    | {"indices": [int, ...], "values": [number, ...]}, "labels": [name, ...]?}``

    ``labels`` (:class:`LabelRecord`): ``{"id": str, "labels": [name, ...], "known": [name,
    ...]?}`` — the labels of an earlier event; ``known`` (optional) restricts learning to the
    labels it names (a partial answer, e.g. to an active-learning query); absent, the label set
    is complete.

Outputs
    ``predictions`` (:class:`Prediction`): ``{"id", "labels", "proba": {label: p},
    "model_version", "offset", "shard"}``, written by :class:`PredictionEncoder`;
    ``label-requests`` (:class:`LabelRequest`): ``{"id", "x", "labels_asked", "score", "shard",
    "offset"}``; ``drift`` (:class:`DriftRecord`): a :class:`~streamlearn.base.DriftEvent` with
    its ``shard``; ``dlq`` (:class:`DeadLetter`): the raw bytes of an unusable input with headers
    ``reason``, ``error``, ``source_topic``, ``source_partition``, ``source_offset`` (and
    ``truncated_from``, ``sha256`` when cut to the size limit).

Every input that cannot be used raises :class:`DecodeError` with one of the :data:`REASONS`
and a message naming what is wrong and where. Each model has its decode (``decode_*`` or
``model_validate_json``) and its encode (``encode_*`` / ``to_record``) here, so that producers
(``streamlearn replay``, the benchmarks, tests) and the service agree on one definition.

Examples
--------
>>> ev = decode_event(b'{"id": "e1", "x": [0.5, 1.5], "labels": ["a"]}')
>>> ev.id, ev.x, ev.labels
('e1', [0.5, 1.5], ['a'])
>>> decode_event(encode_event("e2", [1.0, 2.0])).x
[1.0, 2.0]
>>> decode_event(b'{"id": "e2", "x": [NaN]}')
Traceback (most recent call last):
...
streamlearn.service.contract.DecodeError: non_finite: x.0: Input should be a finite number
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Sequence
from typing import Annotated, Any, NamedTuple

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

__all__ = [
    "REASONS",
    "DeadLetter",
    "DecodeError",
    "DriftRecord",
    "Event",
    "Features",
    "LabelRecord",
    "LabelRequest",
    "OutRecord",
    "OutputError",
    "Prediction",
    "PredictionEncoder",
    "SparseFeatures",
    "decode_event",
    "decode_label_record",
    "encode_event",
    "encode_label_record",
    "fit_prediction",
    "raw_bytes",
    "validation_message",
    "x_to_json",
]

EMPTY = "empty"
OVERSIZED = "oversized"
BAD_ENCODING = "bad_encoding"
INVALID_JSON = "invalid_json"
INVALID_SCHEMA = "invalid_schema"
NON_FINITE = "non_finite"
WRONG_DIMENSIONS = "wrong_dimensions"
UNKNOWN_FEATURE = "unknown_feature"
UNKNOWN_LABEL = "unknown_label"
UNMATCHED_LABEL = "unmatched_label"
LEARNER_ERROR = "learner_error"
TOO_MANY_LABELS = "too_many_labels"

#: Every DLQ reason, in the order of the checks.
REASONS: tuple[str, ...] = (
    EMPTY,
    OVERSIZED,
    BAD_ENCODING,
    INVALID_JSON,
    INVALID_SCHEMA,
    NON_FINITE,
    WRONG_DIMENSIONS,
    UNKNOWN_FEATURE,
    UNKNOWN_LABEL,
    UNMATCHED_LABEL,
    LEARNER_ERROR,
    TOO_MANY_LABELS,
)


class DecodeError(ValueError):
    """An input record that cannot be used; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------------- inputs
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=512)]
RecordId = Annotated[str, Field(min_length=1, max_length=256)]


class SparseFeatures(BaseModel):
    """Sparse features: column ``indices`` (0-based, distinct) and their ``values``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indices: list[Annotated[int, Field(strict=True, ge=0, lt=1 << 31)]]
    values: list[Number]

    @model_validator(mode="after")
    def _check(self) -> SparseFeatures:
        if len(self.indices) != len(self.values):
            raise ValueError(
                f"indices and values differ in length ({len(self.indices)} != {len(self.values)})"
            )
        if len(set(self.indices)) != len(self.indices):
            raise ValueError("indices repeat a column")
        return self


def _x_kind(v: Any) -> str | None:
    if isinstance(v, list):
        return "dense"
    if isinstance(v, dict):
        return "sparse" if "indices" in v or "values" in v else "named"
    if isinstance(v, SparseFeatures):
        return "sparse"
    return None


Features = Annotated[
    Annotated[list[Number], Tag("dense")]
    | Annotated[SparseFeatures, Tag("sparse")]
    | Annotated[dict[Name, Number], Tag("named")],
    Discriminator(
        _x_kind,
        custom_error_type="features_type",
        custom_error_message="x must be an array of numbers, an object {name: number} or "
        "{indices, values}",
    ),
]


class Event(BaseModel):
    """One record of the ``events`` topic.

    Decoded from JSON its ``x`` is a list, a :class:`SparseFeatures` or a dict; a source that
    already holds arrays (the embedded replay) builds events with ``x`` a ``float64`` row or a
    ``(indices, values)`` pair through :meth:`from_row`, and the feature encoder checks those
    just as strictly (dimensions, finite values).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: RecordId
    ts: Number | None = None
    x: Features
    labels: list[Name] | None = None

    @classmethod
    def from_row(cls, eid: str, x: Any, labels: list[str] | None = None) -> Event:
        """An event around an array row, without validation (the encoder validates ``x``)."""
        return cls.model_construct(id=eid, ts=None, x=x, labels=labels)


class LabelRecord(BaseModel):
    """One record of the ``labels`` topic (the labels of an earlier event)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: RecordId
    labels: list[Name]
    known: list[Name] | None = None


_EVENT = TypeAdapter(Event)
_LABELS = TypeAdapter(LabelRecord)


def validation_message(exc: ValidationError, limit: int = 5) -> str:
    """A compact, readable message from a pydantic error: ``loc: msg; loc: msg``."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"] if p not in ("dense", "sparse", "named"))
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def _decode(adapter: TypeAdapter, raw: bytes | None, max_bytes: int, what: str) -> Any:
    if raw is None or not raw.strip():
        raise DecodeError(EMPTY, f"empty {what} record")
    if len(raw) > max_bytes:
        raise DecodeError(OVERSIZED, f"{what} record of {len(raw)} bytes exceeds {max_bytes}")
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        kinds = {e["type"] for e in errors}
        if "json_invalid" in kinds:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as uexc:
                raise DecodeError(BAD_ENCODING, f"not UTF-8: {uexc}") from None
            raise DecodeError(INVALID_JSON, validation_message(exc)) from None
        if raw.strip() == b"null":
            raise DecodeError(EMPTY, f"empty {what} record (null)") from None
        if "finite_number" in kinds:
            raise DecodeError(NON_FINITE, validation_message(exc)) from None
        raise DecodeError(INVALID_SCHEMA, validation_message(exc)) from None


def decode_event(raw: bytes | None, max_bytes: int = 1 << 20) -> Event:
    """Validate one ``events`` record; raise :class:`DecodeError` saying why it is unusable."""
    return _decode(_EVENT, raw, max_bytes, "event")


def decode_label_record(raw: bytes | None, max_bytes: int = 1 << 20) -> LabelRecord:
    """Validate one ``labels`` record; raise :class:`DecodeError` saying why it is unusable."""
    return _decode(_LABELS, raw, max_bytes, "labels")


def x_to_json(x: Any) -> Any:
    """The ``x`` of an event as plain JSON-able data: a list, ``{indices, values}`` or a dict.

    Accepts the decoded forms and the array forms of :meth:`Event.from_row`.
    """
    if isinstance(x, SparseFeatures):
        return {"indices": list(x.indices), "values": list(x.values)}
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return {"indices": np.asarray(x[0]).tolist(), "values": np.asarray(x[1]).tolist()}
    return x


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def encode_event(
    eid: str, x: Any, labels: Sequence[str] | None = None, ts: float | None = None
) -> bytes:
    """One ``events`` record: ``x`` as a list/array, ``(indices, values)``, :class:`SparseFeatures`
    or ``{name: value}``; ``labels`` (names) when known.

    >>> encode_event("e1", ([0, 3], [1.5, 2.0]), ["a"])
    b'{"id":"e1","x":{"indices":[0,3],"values":[1.5,2.0]},"labels":["a"]}'
    """
    body: dict[str, Any] = {"id": eid}
    if ts is not None:
        body["ts"] = ts
    body["x"] = x_to_json(x)
    if labels is not None:
        body["labels"] = list(labels)
    return _compact(body)


def encode_label_record(
    eid: str, labels: Sequence[str], known: Sequence[str] | None = None
) -> bytes:
    """One ``labels`` record (``known`` for a partial answer).

    >>> encode_label_record("e1", ["a"], known=["b"])
    b'{"id":"e1","labels":["a"],"known":["b"]}'
    """
    body: dict[str, Any] = {"id": eid, "labels": list(labels)}
    if known is not None:
        body["known"] = list(known)
    return _compact(body)


def raw_bytes(value: bytes | Event | LabelRecord | None) -> bytes | None:
    """The wire form of an input record's value: raw bytes as they are, a decoded record (from
    a source that holds the data in memory) encoded again."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, Event):
        return encode_event(value.id, value.x, value.labels, value.ts)
    return encode_label_record(value.id, value.labels, value.known)


# ---------------------------------------------------------------------- outputs
class OutputError(RuntimeError):
    """Output records could not be delivered (refused, or not acknowledged in time)."""


class OutRecord(NamedTuple):
    """A record for an output topic (``kind`` is a topic kind: predictions, dlq, ...)."""

    kind: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None = None


class Prediction(BaseModel):
    """One record of the ``predictions`` topic (written by :class:`PredictionEncoder`).

    ``omitted`` (only in a record cut to fit the topic's record size, :func:`fit_prediction`):
    how many labels' probabilities were left out of ``proba``.
    """

    id: str
    labels: list[str]
    proba: dict[str, float]
    model_version: int
    offset: int
    shard: str
    omitted: int | None = None


def fit_prediction(value: bytes, max_bytes: int) -> bytes:
    """A prediction record cut to at most ``max_bytes``: its predicted labels and as many of
    the highest probabilities as fit (``omitted`` says how many were left out). A record never
    grows past the output topics' record limit, so it is never refused (which would stop the
    service).

    >>> v = PredictionEncoder().encode("e", ["a", "b", "c"], np.array([0.9, 0.2, 0.6]), 0.5, 1, 0, "0")
    >>> fit_prediction(v, 10_000) == v
    True
    >>> len(v), len(fit_prediction(v, 100))
    (104, 100)
    >>> json.loads(fit_prediction(v, 100))
    {'id': 'e', 'labels': ['a', 'c'], 'proba': {'a': 0.9}, 'model_version': 1, 'offset': 0, 'shard': '0', 'omitted': 2}
    """
    if len(value) <= max_bytes:
        return value
    body = json.loads(value)
    ranked = sorted(body["proba"].items(), key=lambda kv: -kv[1])

    def encoded(k: int, labels: list[str]) -> bytes:
        cut = {**body, "labels": labels, "proba": dict(ranked[:k]), "omitted": len(ranked) - k}
        return json.dumps(cut, separators=(",", ":")).encode()

    labels = list(body["labels"])
    while labels and len(encoded(0, labels)) > max_bytes:  # even the label set is too long
        labels = labels[: len(labels) // 2]
    lo, hi = 0, len(ranked)  # the most probabilities that fit: binary search
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(encoded(mid, labels)) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return encoded(lo, labels)


class LabelRequest(BaseModel):
    """One record of the ``label-requests`` topic (an active-learning query).

    ``score`` is the mean uncertainty ``1 - |2p - 1|`` of the labels asked.
    """

    id: str
    x: list[float] | SparseFeatures | dict[str, float]
    labels_asked: list[str]
    score: float
    shard: str
    offset: int

    @classmethod
    def build(
        cls, eid: str, x: Any, asked: list[str], score: float, shard: str, offset: int
    ) -> LabelRequest:
        return cls.model_construct(
            id=eid, x=x_to_json(x), labels_asked=asked, score=score, shard=shard, offset=offset
        )

    def to_record(self, key: bytes | None) -> OutRecord:
        body = {
            "id": self.id,
            "x": x_to_json(self.x),
            "labels_asked": self.labels_asked,
            "score": self.score,
            "shard": self.shard,
            "offset": self.offset,
        }
        return OutRecord("label-requests", key, json.dumps(body).encode())


class DriftRecord(BaseModel):
    """One record of the ``drift`` topic: a drift or structure event of a shard's model or
    of its label-space monitors (see :class:`~streamlearn.base.events.DriftEvent`)."""

    level: str
    kind: str
    scope: list[str]
    index: int
    detector: str
    statistic: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    shard: str

    @classmethod
    def of(cls, event: Any, shard: str) -> DriftRecord:
        return cls.model_construct(**event.to_dict(), shard=shard)

    def to_record(self) -> OutRecord:
        body = {
            "level": self.level,
            "kind": self.kind,
            "scope": list(self.scope),
            "index": self.index,
            "detector": self.detector,
            "statistic": self.statistic,
            "detail": self.detail,
            "shard": self.shard,
        }
        return OutRecord("drift", self.shard.encode(), json.dumps(body, default=str).encode())


class DeadLetter(BaseModel):
    """The dead letter of an unusable input record: its raw bytes, the why and the where.

    A record longer than ``max_value_bytes`` keeps only its first ``max_value_bytes`` bytes (a
    dead letter must fit the DLQ topic's record size limit, 1 MB by default, whatever got into
    the input topic), with headers ``truncated_from`` (its size) and ``sha256`` (of all of it).

    >>> rec = DeadLetter.of(b"x" * 10, "oversized", "too big", "t", 0, 7).to_record(4)
    >>> rec.value, dict(rec.headers)["truncated_from"]
    (b'xxxx', b'10')
    >>> DeadLetter.from_headers(rec.headers).source_offset
    7
    """

    reason: str
    error: str
    source_topic: str
    source_partition: int
    source_offset: int
    value: bytes = b""
    truncated_from: int | None = None
    sha256: str | None = None

    @classmethod
    def of(
        cls,
        raw: bytes | None,
        reason: str,
        message: str,
        topic: str,
        partition: int,
        offset: int,
    ) -> DeadLetter:
        return cls.model_construct(
            reason=reason,
            error=message[:2000],
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            value=raw if raw is not None else b"",
            truncated_from=None,
            sha256=None,
        )

    def to_record(self, max_value_bytes: int | None = None) -> OutRecord:
        value = self.value
        headers = [
            ("reason", self.reason.encode()),
            ("error", self.error.encode("utf-8", "replace")),
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(self.source_partition).encode()),
            ("source_offset", str(self.source_offset).encode()),
        ]
        if max_value_bytes is not None and len(value) > max_value_bytes:
            headers.append(("truncated_from", str(len(value)).encode()))
            headers.append(("sha256", hashlib.sha256(value).hexdigest().encode()))
            value = value[:max_value_bytes]
        return OutRecord("dlq", None, value, headers)

    @classmethod
    def from_headers(
        cls, headers: Sequence[tuple[str, bytes]], value: bytes | None = None
    ) -> DeadLetter:
        """A dead letter read back from the DLQ topic (its headers and value)."""
        h = {k: v.decode("utf-8", "replace") for k, v in headers}
        return cls(
            reason=h["reason"],
            error=h.get("error", ""),
            source_topic=h["source_topic"],
            source_partition=int(h["source_partition"]),
            source_offset=int(h["source_offset"]),
            value=value or b"",
            truncated_from=int(h["truncated_from"]) if "truncated_from" in h else None,
            sha256=h.get("sha256"),
        )


def _json_str(s: str) -> str:
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    return json.dumps(s)


class PredictionEncoder:
    """Fast JSON encoding of :class:`Prediction` records (one format string per label space).

    >>> enc = PredictionEncoder()
    >>> Prediction.model_validate_json(
    ...     enc.encode("e1", ["a", "b"], np.array([0.75, 0.25]), 0.5, 7, 3, "0")
    ... ).model_dump(exclude_none=True)
    {'id': 'e1', 'labels': ['a'], 'proba': {'a': 0.75, 'b': 0.25}, 'model_version': 7, 'offset': 3, 'shard': '0'}
    """

    #: Most label sets remembered (their JSON array text) before the memory starts afresh.
    MAX_CACHED_SETS = 4096

    def __init__(self) -> None:
        self._labels: tuple | None = None
        self._names: list[str] = []
        self._fmt = ""
        self._weights: np.ndarray | None = None
        self._sets: dict[Any, str] = {}

    def _prepare(self, labels: Sequence[Hashable]) -> None:
        if (
            self._labels is None
            or len(labels) != len(self._labels)
            or tuple(labels) != self._labels
        ):
            self._labels = tuple(labels)
            self._names = [json.dumps(str(lab)) for lab in labels]
            proba = ",".join(n.replace("%", "%%") + ":%r" for n in self._names)
            self._fmt = (
                '{"id":%s,"labels":[%s],"proba":{' + proba + '},"model_version":%d,'
                '"offset":%d,"shard":%s}'
            )
            n = len(self._labels)
            self._weights = (np.int64(1) << np.arange(n, dtype=np.int64)) if n <= 62 else None
            self._sets = {}

    def _label_sets(self, on: np.ndarray) -> list[str]:
        """The ``labels`` array text (without brackets) of each row of the boolean ``on``.

        A stream has few distinct predicted label sets: each row's set is turned into a key in
        one vectorised step (a bit pattern) and its text is built once per distinct set.
        """
        n_rows, n_labels = on.shape
        if n_labels == 0:
            return [""] * n_rows
        if self._weights is not None:
            keys: list[Any] = (on.astype(np.int64) @ self._weights).tolist()
        else:
            packed = np.packbits(on, axis=1)
            width = packed.shape[1]
            flat = packed.tobytes()
            keys = [flat[k * width : (k + 1) * width] for k in range(n_rows)]
        sets, names = self._sets, self._names
        if len(sets) > self.MAX_CACHED_SETS:
            sets.clear()
        out = []
        for k, key in enumerate(keys):
            text = sets.get(key)
            if text is None:
                text = sets[key] = ",".join([names[j] for j in np.flatnonzero(on[k])])
            out.append(text)
        return out

    def encode(
        self,
        event_id: str,
        labels: Sequence[Hashable],
        proba: np.ndarray,
        threshold: float,
        model_version: int,
        offset: int,
        shard: str,
    ) -> bytes:
        return self.encode_many(
            [event_id], labels, proba[None, :], threshold, model_version, [offset], shard, False
        )[0]

    def encode_many(
        self,
        ids: Sequence[str],
        labels: Sequence[Hashable],
        P: np.ndarray,
        threshold: float,
        model_version: int,
        offsets: Sequence[int],
        shard: str,
        learning: bool = False,
    ) -> list[bytes]:
        """Records of rows of ``P``; with ``learning`` row k's version is ``model_version + k``."""
        self._prepare(labels)
        fmt = self._fmt
        sh = _json_str(shard)
        sets = self._label_sets(P > threshold)
        rows = P.tolist()
        step = 1 if learning else 0
        return [
            (
                fmt % (_json_str(eid), sets[k], *rows[k], model_version + step * k, offsets[k], sh)
            ).encode()
            for k, eid in enumerate(ids)
        ]
