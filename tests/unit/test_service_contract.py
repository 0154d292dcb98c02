"""The wire contract and the feature encoding: every class of bad input gets the right reason;
every record type round-trips through its encode and decode."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamlearn.schema import Schema
from streamlearn.service import contract as codecs
from streamlearn.service.contract import DecodeError, decode_event, decode_label_record
from streamlearn.service.encoding import FeatureEncoder, schema_from_event


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
    s = schema_from_event([1.0, 2.0], features=None, n_features=None, sparse=None)
    assert s.features == ["x0", "x1"] and not s.sparse
    s = schema_from_event({"b": 1.0, "a": 2.0}, features=None, n_features=None, sparse=None)
    assert s.features == ["a", "b"]
    sx = codecs.SparseFeatures(indices=[1], values=[1.0])
    with pytest.raises(DecodeError) as info:
        schema_from_event(sx, features=None, n_features=None, sparse=None)
    assert info.value.reason == "wrong_dimensions"
    s = schema_from_event(sx, features=None, n_features=4, sparse=None)
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
    rec = codecs.DeadLetter.of(b"\x00raw", "invalid_json", "boom", "t.events", 3, 42).to_record()
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
    rec = codecs.DeadLetter.of(raw, "oversized", "big", "t.events", 0, 9).to_record(1_000_000)
    assert rec.value == raw[:1_000_000]
    h = dict(rec.headers)
    assert h["truncated_from"] == str(len(raw)).encode()
    assert h["sha256"] == hashlib.sha256(raw).hexdigest().encode()
    small = codecs.DeadLetter.of(raw[:10], "invalid_json", "x", "t", 0, 1).to_record(1024)
    assert small.value == raw[:10] and "truncated_from" not in dict(small.headers)


def test_dead_letters_read_back_from_their_headers() -> None:
    raw = b"x" * 50
    rec = codecs.DeadLetter.of(raw, "oversized", "big", "t.events", 2, 9).to_record(20)
    back = codecs.DeadLetter.from_headers(rec.headers, rec.value)
    assert (back.reason, back.source_topic, back.source_partition, back.source_offset) == (
        "oversized",
        "t.events",
        2,
        9,
    )
    assert back.truncated_from == 50 and back.value == raw[:20] and len(back.sha256) == 64


@pytest.mark.parametrize(
    "x",
    [[0.5, -1.25, 0.0], np.array([0.5, -1.25, 0.0]), ([0, 2], [1.5, -3.0]), {"a": 1.0, "c": 2.0}],
)
def test_events_round_trip_through_encode_and_decode(x) -> None:
    raw = codecs.encode_event("e1", x, ["p", "q"], ts=3.5)
    ev = decode_event(raw)
    assert (ev.id, ev.labels, ev.ts) == ("e1", ["p", "q"], 3.5)
    assert codecs.x_to_json(ev.x) == codecs.x_to_json(x)
    assert decode_event(codecs.encode_event("e2", x)).labels is None


def test_label_records_round_trip() -> None:
    lr = decode_label_record(codecs.encode_label_record("e1", ["a"], known=["b"]))
    assert (lr.id, lr.labels, lr.known) == ("e1", ["a"], ["b"])
    assert decode_label_record(codecs.encode_label_record("e2", [])).known is None


def test_label_requests_and_drift_records_decode_as_their_models() -> None:
    from streamlearn.base.events import DriftEvent

    req = codecs.LabelRequest.build("e1", np.array([1.0, 2.0]), ["a"], 0.5, "0", 7)
    rec = req.to_record(b"k")
    assert rec.kind == "label-requests" and rec.key == b"k"
    back = codecs.LabelRequest.model_validate_json(rec.value)
    assert back.x == [1.0, 2.0] and back.labels_asked == ["a"] and back.offset == 7
    ev = DriftEvent("label", "drift", ("a",), 12, "ADWIN", 0.25, {"label_index": 0})
    drift = codecs.DriftRecord.of(ev, "3").to_record()
    assert drift.kind == "drift" and drift.key == b"3"
    back_d = codecs.DriftRecord.model_validate_json(drift.value)
    assert (back_d.level, back_d.scope, back_d.shard, back_d.detail) == (
        "label",
        ["a"],
        "3",
        {"label_index": 0},
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_array_rows_are_checked_like_decoded_ones(sparse: bool) -> None:
    enc = FeatureEncoder(Schema(features=["a", "b", "c"], sparse=sparse))
    with pytest.raises(DecodeError) as info:
        enc.row(np.array([1.0, np.nan, 0.0]))
    assert info.value.reason == "non_finite"
    with pytest.raises(DecodeError) as info:
        enc.row(np.array([1.0, 2.0]))
    assert info.value.reason == "wrong_dimensions"
    with pytest.raises(DecodeError) as info:
        enc.row((np.array([0, 3]), np.array([1.0, 2.0])))
    assert info.value.reason == "wrong_dimensions"
    with pytest.raises(DecodeError) as info:
        enc.row((np.array([0, 1]), np.array([1.0, np.inf])))
    assert info.value.reason == "non_finite"
    got = enc.row((np.array([2, 0]), np.array([5.0, 1.0])))
    if sparse:
        assert got[0].tolist() == [0, 2] and got[1].tolist() == [1.0, 5.0]
    else:
        assert got.tolist() == [1.0, 0.0, 5.0]
