"""Codecs of the event contract: every class of bad input gets the right reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from consumers import codecs
from consumers.codecs import DecodeError, FeatureEncoder, decode_event, decode_label_record
from streamlearn.schema import Schema


def _reason(raw: bytes | None, max_bytes: int = 1 << 20) -> str:
    with pytest.raises(DecodeError) as info:
        decode_event(raw, max_bytes)
    return info.value.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"null", "empty"),
        (b"\xff\xfe{}", "bad_encoding"),
        (b'{"id": "a", "x": [1, 2]', "invalid_json"),
        (b"{id: a}", "invalid_json"),
        (b"[1, 2, 3]", "invalid_schema"),
        (b'{"x": [1, 2]}', "invalid_schema"),  # no id
        (b'{"id": "", "x": [1]}', "invalid_schema"),  # empty id
        (b'{"id": 5, "x": [1]}', "invalid_schema"),  # id not a string
        (b'{"id": "a"}', "invalid_schema"),  # no x
        (b'{"id": "a", "x": "1,2"}', "invalid_schema"),
        (b'{"id": "a", "x": ["1", 2]}', "invalid_schema"),  # strings are not numbers
        (b'{"id": "a", "x": [true, 2]}', "invalid_schema"),  # nor are booleans
        (b'{"id": "a", "x": {"indices": [0, 1], "values": [1.0]}}', "invalid_schema"),
        (b'{"id": "a", "x": {"indices": [0, 0], "values": [1.0, 2.0]}}', "invalid_schema"),
        (b'{"id": "a", "x": {"indices": [-1], "values": [1.0]}}', "invalid_schema"),
        (b'{"id": "a", "x": [1], "labels": "a"}', "invalid_schema"),
        (b'{"id": "a", "x": [1], "labels": [""]}', "invalid_schema"),
        (b'{"id": "a", "x": [NaN, 1]}', "non_finite"),
        (b'{"id": "a", "x": {"f": Infinity}}', "non_finite"),
        (b'{"id": "a", "x": [1e999]}', "non_finite"),
        (b'{"id": "a", "x": {"indices": [3], "values": [-Infinity]}}', "non_finite"),
    ],
)
def test_bad_events_get_their_reason(raw: bytes | None, reason: str) -> None:
    assert _reason(raw) == reason


def test_oversized_is_checked_before_parsing() -> None:
    raw = json.dumps({"id": "a", "x": [1.0] * 100}).encode()
    assert _reason(raw, max_bytes=len(raw) - 1) == "oversized"
    assert decode_event(raw, max_bytes=len(raw)).x == [1.0] * 100


def test_messages_name_the_field() -> None:
    with pytest.raises(DecodeError) as info:
        decode_event(b'{"id": "a", "x": [1, "b", 3]}')
    assert "x.1" in info.value.message
    with pytest.raises(DecodeError) as info:
        decode_event(b'{"id": "a", "x": {"indices": [0, 1], "values": [1.0]}}')
    assert "differ in length" in info.value.message


def test_valid_event_forms() -> None:
    dense = decode_event(b'{"id": "1", "ts": 3.5, "x": [1, 2.5], "labels": ["a", "b"]}')
    assert dense.x == [1.0, 2.5] and dense.labels == ["a", "b"] and dense.ts == 3.5
    named = decode_event(b'{"id": "2", "x": {"f": 1}}')
    assert named.x == {"f": 1.0} and named.labels is None
    sparse = decode_event(b'{"id": "3", "x": {"indices": [2, 0], "values": [1, 2]}, "extra": 1}')
    assert isinstance(sparse.x, codecs.SparseFeatures)
    assert sparse.x.indices == [2, 0]


def test_label_records() -> None:
    lr = decode_label_record(b'{"id": "e1", "labels": ["a"], "known": ["a", "b"]}')
    assert lr.labels == ["a"] and lr.known == ["a", "b"]
    for raw, reason in [
        (b"", "empty"),
        (b'{"id": "e1"}', "invalid_schema"),
        (b'{"id": "e1", "labels": [1]}', "invalid_schema"),
        (b"{", "invalid_json"),
    ]:
        with pytest.raises(DecodeError) as info:
            decode_label_record(raw)
        assert info.value.reason == reason


def test_feature_encoder_dimensions_and_names() -> None:
    schema = Schema(features=["a", "b", "c"])
    enc = FeatureEncoder(schema)
    ev = decode_event(b'{"id": "1", "x": {"indices": [2, 0], "values": [5, 7]}}')
    assert list(enc.row(ev.x)) == [7.0, 0.0, 5.0]
    bad = decode_event(b'{"id": "1", "x": {"indices": [3], "values": [5]}}')
    with pytest.raises(DecodeError) as info:
        enc.row(bad.x)
    assert info.value.reason == "wrong_dimensions"
    with pytest.raises(DecodeError) as info:
        enc.row({"a": 1.0, "zz": 2.0})
    assert info.value.reason == "unknown_feature" and "'zz'" in info.value.message
    lenient = FeatureEncoder(schema, unknown_features="ignore")
    assert lenient.row({"a": 1.0, "zz": 2.0}).tolist() == [1.0, 0.0, 0.0]


def test_feature_encoder_sparse_schema() -> None:
    enc = FeatureEncoder(Schema(features=["a", "b", "c"], sparse=True))
    idx, val = enc.row([0.0, 3.0, 0.0])
    assert idx.tolist() == [1] and val.tolist() == [3.0]
    ev = decode_event(b'{"id": "1", "x": {"indices": [2, 0, 1], "values": [5, 7, 0]}}')
    idx, val = enc.row(ev.x)
    assert idx.tolist() == [0, 2] and val.tolist() == [7.0, 5.0]
    idx, val = enc.row({"c": 1.0, "a": 2.0})
    assert idx.tolist() == [0, 2] and val.tolist() == [2.0, 1.0]


def test_schema_from_first_event() -> None:
    s = codecs.schema_from_event([1.0, 2.0], features=None, n_features=None, sparse=None)
    assert s.features == ["x0", "x1"] and not s.sparse
    s = codecs.schema_from_event({"b": 1.0, "a": 2.0}, features=None, n_features=None, sparse=None)
    assert s.features == ["a", "b"]
    sx = codecs.SparseFeatures(indices=[1], values=[1.0])
    with pytest.raises(DecodeError) as info:
        codecs.schema_from_event(sx, features=None, n_features=None, sparse=None)
    assert info.value.reason == "wrong_dimensions"
    s = codecs.schema_from_event(sx, features=None, n_features=4, sparse=None)
    assert s.n_features == 4 and s.sparse


def test_prediction_encoder_matches_json() -> None:
    enc = codecs.PredictionEncoder()
    labels = ["a", 'we"ird', "c"]
    p = np.array([0.9, 0.51, 1e-12])
    out = json.loads(enc.encode('id"1', labels, p, 0.5, 3, 17, "0"))
    assert out == {
        "id": 'id"1',
        "labels": ["a", 'we"ird'],
        "proba": {"a": 0.9, 'we"ird': 0.51, "c": 1e-12},
        "model_version": 3,
        "offset": 17,
        "shard": "0",
    }
    many = enc.encode_many(["x", "y"], labels, np.vstack([p, 1 - p]), 0.5, 4, [1, 2], "0")
    assert [json.loads(m)["labels"] for m in many] == [["a", 'we"ird'], ["c"]]


def _reference_prediction(eid, labels, p, thr, version, offset, shard) -> bytes:
    """One prediction record the plain way (json.dumps of the documented dict)."""
    body = {
        "id": eid,
        "labels": [str(lab) for lab, v in zip(labels, p) if v > thr],
        "proba": {str(lab): float(v) for lab, v in zip(labels, p)},
        "model_version": version,
        "offset": offset,
        "shard": shard,
    }
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("n_labels", [0, 1, 14, 62, 63, 200])
@pytest.mark.parametrize("learning", [False, True])
def test_prediction_encoder_batch_equals_per_event_json(n_labels: int, learning: bool) -> None:
    rng = np.random.default_rng(n_labels)
    labels = [f"l{j}" for j in range(n_labels)]
    if n_labels > 2:
        labels[1], labels[2] = 'q"u%te', "\u00e9t\u00e9"
    n = 300
    P = rng.random((n, n_labels))
    P[rng.random((n, n_labels)) < 0.5] = 0.0  # few distinct label sets, as in a stream
    P[:5] = 1.0
    ids = [f"e{i}" if i % 7 else f'odd"id\n{i}' for i in range(n)]
    offsets = list(range(100, 100 + n))
    enc = codecs.PredictionEncoder()
    enc.MAX_CACHED_SETS = 8  # the memory of label sets starts afresh many times
    for _ in range(2):  # the second pass is served from the remembered label sets
        got = enc.encode_many(ids, labels, P, 0.4, 50, offsets, "3", learning)
        want = [
            _reference_prediction(
                ids[k], labels, P[k], 0.4, 50 + k if learning else 50, offsets[k], "3"
            )
            for k in range(n)
        ]
        assert got == want
    # a new label space is seen as such (no stale label set text)
    if n_labels:
        other = [f"m{j}" for j in range(n_labels)]
        got = enc.encode_many(ids[:3], other, P[:3], 0.4, 1, offsets[:3], "3")
        assert got == [
            _reference_prediction(ids[k], other, P[k], 0.4, 1, offsets[k], "3") for k in range(3)
        ]


def test_dlq_record_keeps_raw_bytes_and_origin() -> None:
    rec = codecs.dlq_record(b"\x00raw", "invalid_json", "boom", "t.events", 3, 42)
    assert rec.kind == "dlq" and rec.value == b"\x00raw"
    h = dict(rec.headers)
    assert h == {
        "reason": b"invalid_json",
        "error": b"boom",
        "source_topic": b"t.events",
        "source_partition": b"3",
        "source_offset": b"42",
    }


def test_dlq_record_of_a_huge_record_is_truncated_with_its_size_and_digest() -> None:
    import hashlib

    raw = bytes(range(256)) * 40_000  # 10 MB
    rec = codecs.dlq_record(raw, "oversized", "big", "t.events", 0, 9, max_value_bytes=1_000_000)
    assert rec.value == raw[:1_000_000]
    h = dict(rec.headers)
    assert h["truncated_from"] == str(len(raw)).encode()
    assert h["sha256"] == hashlib.sha256(raw).hexdigest().encode()
    small = codecs.dlq_record(raw[:10], "invalid_json", "x", "t", 0, 1, max_value_bytes=1024)
    assert small.value == raw[:10] and "truncated_from" not in dict(small.headers)
