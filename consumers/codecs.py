"""The event contract (DESIGN §4) as pydantic models, and the codecs of every topic.

Inputs
    ``events``: ``{"id": str, "ts": float?, "x": {name: number} | [number, ...] |
    {"indices": [int, ...], "values": [number, ...]}, "labels": [name, ...]?}``

    ``labels``: ``{"id": str, "labels": [name, ...], "known": [name, ...]?}`` — the labels of an
    earlier event; ``known`` (optional) restricts learning to the labels it names (a partial
    answer, e.g. to an active-learning query); absent, the label set is complete.

Outputs
    ``predictions``: ``{"id", "labels", "proba": {label: p}, "model_version", "offset", "shard"}``;
    ``label-requests``: ``{"id", "x", "labels_asked", "score", "shard", "offset"}``;
    ``dlq``: the raw bytes with headers ``reason``, ``error``, ``source_topic``,
    ``source_partition``, ``source_offset``; ``drift``: a :class:`~streamlearn.base.DriftEvent`
    as JSON with ``shard``.

Every input that cannot be used raises :class:`DecodeError` with one of the :data:`REASONS`
and a message naming what is wrong and where.

Examples
--------
>>> ev = decode_event(b'{"id": "e1", "x": [0.5, 1.5], "labels": ["a"]}')
>>> ev.id, ev.x, ev.labels
('e1', [0.5, 1.5], ['a'])
>>> decode_event(b'{"id": "e2", "x": [NaN]}')
Traceback (most recent call last):
...
consumers.codecs.DecodeError: non_finite: x.0: Input should be a finite number
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Sequence
from typing import Annotated, Any, Literal, NamedTuple

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

from streamlearn.schema import Schema

__all__ = [
    "REASONS",
    "DecodeError",
    "Event",
    "FeatureEncoder",
    "LabelRecord",
    "LabelRequest",
    "OutRecord",
    "Prediction",
    "PredictionEncoder",
    "SparseFeatures",
    "decode_event",
    "decode_label_record",
    "dlq_record",
    "validation_message",
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
)


class DecodeError(ValueError):
    """An input record that cannot be used; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------------- models
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=512)]


class SparseFeatures(BaseModel):
    """Sparse features: column ``indices`` (0-based, distinct) and their ``values``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indices: list[Annotated[int, Field(strict=True, ge=0)]]
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
    """One record of the ``events`` topic."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=256)]
    ts: Number | None = None
    x: Features
    labels: list[Name] | None = None


class LabelRecord(BaseModel):
    """One record of the ``labels`` topic (the labels of an earlier event)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=256)]
    labels: list[Name]
    known: list[Name] | None = None


class Prediction(BaseModel):
    """One record of the ``predictions`` topic."""

    id: str
    labels: list[str]
    proba: dict[str, float]
    model_version: int
    offset: int
    shard: str


class LabelRequest(BaseModel):
    """One record of the ``label-requests`` topic (an active-learning query)."""

    id: str
    x: list[float] | SparseFeatures | dict[str, float]
    labels_asked: list[str]
    score: float
    shard: str
    offset: int


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


# ---------------------------------------------------------------------- features -> arrays
Row = np.ndarray | tuple[np.ndarray, np.ndarray]


class FeatureEncoder:
    """Turns the ``x`` of events into rows over a fixed feature space.

    Dense schemas give ``float64`` rows of length ``n_features``; sparse schemas give sorted
    ``(indices int64, values float64)`` pairs. A dense array must have exactly ``n_features``
    values; sparse indices must be below ``n_features``; names must be in the schema unless
    ``unknown_features="ignore"``.

    A dense array in a dense schema is returned as it is (its length checked): a batch of them
    becomes one matrix in a single ``np.array`` call.

    >>> enc = FeatureEncoder(Schema(features=["a", "b", "c"]))
    >>> enc.row([1.0, 2.0, 3.0]), enc.row({"c": 5}).tolist()
    ([1.0, 2.0, 3.0], [0.0, 0.0, 5.0])
    >>> enc.row([1, 2])
    Traceback (most recent call last):
    ...
    consumers.codecs.DecodeError: wrong_dimensions: x has 2 values, the feature space has 3
    """

    def __init__(
        self, schema: Schema, unknown_features: Literal["ignore", "reject"] = "reject"
    ) -> None:
        self.schema = schema
        self.n = schema.n_features
        self.sparse = schema.sparse
        self.strict = unknown_features == "reject"
        self._index = {str(f): i for i, f in enumerate(schema.features)}

    def row(self, x: Any) -> Row:
        n = self.n
        if isinstance(x, list):
            if len(x) != n:
                raise DecodeError(
                    WRONG_DIMENSIONS, f"x has {len(x)} values, the feature space has {n}"
                )
            if self.sparse:
                arr = np.asarray(x, dtype=np.float64)
                nz = np.flatnonzero(arr)
                return nz.astype(np.int64), arr[nz]
            return x  # validated floats: the batch is made an array at once
        if isinstance(x, SparseFeatures):
            idx = np.asarray(x.indices, dtype=np.int64)
            val = np.asarray(x.values, dtype=np.float64)
            if idx.size and int(idx.max()) >= n:
                raise DecodeError(
                    WRONG_DIMENSIONS,
                    f"x.indices has column {int(idx.max())}, the feature space has {n} columns",
                )
            if self.sparse:
                order = np.argsort(idx, kind="stable")
                keep = val[order] != 0.0
                return idx[order][keep], val[order][keep]
            out = np.zeros(n, dtype=np.float64)
            out[idx] = val
            return out
        # named features
        index = self._index
        pairs = []
        for name, value in x.items():
            i = index.get(name)
            if i is None:
                if self.strict:
                    raise DecodeError(UNKNOWN_FEATURE, f"x has unknown feature {name!r}")
                continue
            pairs.append((i, value))
        if self.sparse:
            pairs.sort()
            idx = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
            val = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
            keep = val != 0.0
            return idx[keep], val[keep]
        out = np.zeros(n, dtype=np.float64)
        for i, v in pairs:
            out[i] = v
        return out


def schema_from_event(
    x: Any, *, features: Sequence[str] | None, n_features: int | None, sparse: bool | None
) -> Schema:
    """The feature space implied by the first event (when the settings do not give it)."""
    if features is not None:
        names = list(features)
    elif n_features is not None:
        names = [f"x{i}" for i in range(n_features)]
    elif isinstance(x, list):
        names = [f"x{i}" for i in range(len(x))]
    elif isinstance(x, SparseFeatures):
        raise DecodeError(
            WRONG_DIMENSIONS,
            "sparse x needs a known feature space: set STREAMLEARN_N_FEATURES or "
            "STREAMLEARN_FEATURES",
        )
    else:
        names = sorted(x)
    is_sparse = isinstance(x, SparseFeatures) if sparse is None else sparse
    return Schema(features=names, labels=[], sparse=is_sparse)


def split_labels(names: Iterable[Hashable], schema: Schema) -> tuple[list[Hashable], list[str]]:
    """(names in the label space, names not in it), each without duplicates, in input order."""
    known, unknown = [], []
    for name in dict.fromkeys(names):
        (known if schema.has_label(name) else unknown).append(name)
    return known, unknown


# ---------------------------------------------------------------------- outputs
class OutRecord(NamedTuple):
    """A record for an output topic (``kind`` is a topic kind: predictions, dlq, ...)."""

    kind: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None = None


def dlq_record(
    raw: bytes | None,
    reason: str,
    message: str,
    topic: str,
    partition: int,
    offset: int,
    max_value_bytes: int | None = None,
) -> OutRecord:
    """The dead letter of an unusable input record: its raw bytes, the why and the where.

    A record longer than ``max_value_bytes`` keeps only its first ``max_value_bytes`` bytes (a
    dead letter must fit the DLQ topic's record size limit, 1 MB by default, whatever got into
    the input topic), with headers ``truncated_from`` (its size) and ``sha256`` (of all of it).

    >>> rec = dlq_record(b"x" * 10, "oversized", "too big", "t", 0, 7, max_value_bytes=4)
    >>> rec.value, dict(rec.headers)["truncated_from"]
    (b'xxxx', b'10')
    """
    value = raw if raw is not None else b""
    headers = [
        ("reason", reason.encode()),
        ("error", message[:2000].encode("utf-8", "replace")),
        ("source_topic", topic.encode()),
        ("source_partition", str(partition).encode()),
        ("source_offset", str(offset).encode()),
    ]
    if max_value_bytes is not None and len(value) > max_value_bytes:
        import hashlib

        headers.append(("truncated_from", str(len(value)).encode()))
        headers.append(("sha256", hashlib.sha256(value).hexdigest().encode()))
        value = value[:max_value_bytes]
    return OutRecord("dlq", None, value, headers)


def _json_str(s: str) -> str:
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    return json.dumps(s)


class PredictionEncoder:
    """Fast JSON encoding of prediction records (one format string per label space).

    >>> enc = PredictionEncoder()
    >>> json.loads(enc.encode("e1", ["a", "b"], np.array([0.75, 0.25]), 0.5, 7, 3, "0"))
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


def x_to_json(x: Any) -> Any:
    """The ``x`` of an event as plain JSON-able data (for label requests)."""
    if isinstance(x, SparseFeatures):
        return {"indices": list(x.indices), "values": list(x.values)}
    return x
