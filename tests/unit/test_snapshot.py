"""Versioned snapshots: exact round trip, refusal and migration of formats, corruption."""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest

from streamlearn import snapshot
from streamlearn.schema import Schema
from streamlearn.snapshot import FORMAT_VERSION, LocalSnapshotStore, SnapshotError, SnapshotKeys
from tests.support.learners import CentroidLearner

KEYS = SnapshotKeys.parse("test-key-test-key-test-key-test-key")
TRUSTED = ("tests.support",)


def _trained(n: int = 50, seed: int = 0) -> tuple[CentroidLearner, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2 * n, 4))
    Y = (rng.random((2 * n, 3)) < 0.4).astype(np.uint8)
    m = CentroidLearner()
    m.set_schema(Schema(features=list("abcd"), labels=list("xyz")))
    m.learn_many(X[:n], Y[:n])
    return m, X, Y


def test_round_trip_is_exact_and_continues_identically() -> None:
    m, X, Y = _trained()
    blob = snapshot.dumps(m, KEYS, learner="tiny", shard="3", offsets={"events": 50, "labels": 7})
    snap = snapshot.loads(blob, KEYS, trusted_modules=TRUSTED)
    r = snap.state
    assert snap.header.offsets == {"events": 50, "labels": 7}
    assert snap.header.shard == "3" and snap.header.learner == "tiny"
    assert snap.header.format_version == FORMAT_VERSION
    assert set(snap.header.versions) >= {"python", "numpy", "numba", "river", "streamlearn"}
    assert snap.warnings == ()
    # the restored model predicts and then learns exactly like the original
    p_orig = m.predict_learn_many(X[50:], Y[50:])
    p_rest = r.predict_learn_many(X[50:], Y[50:])
    np.testing.assert_array_equal(p_orig, p_rest)
    for name in ("sum1", "sum0", "n1", "n0"):
        np.testing.assert_array_equal(getattr(m, name), getattr(r, name))


def _rewrite(blob: bytes, **changes: object) -> bytes:
    """``blob`` with header changes, signed again (a snapshot as an honest writer made it)."""
    hdr, rest = snapshot._split(blob)
    hdr.update(changes)
    return snapshot._signed(snapshot._pack(hdr, bytes(rest[:-32])), KEYS)


def test_newer_format_is_refused_with_a_clear_message() -> None:
    blob = _rewrite(
        snapshot.dumps([1], KEYS, learner="t", shard="0", offsets={}), format_version=99
    )
    with pytest.raises(SnapshotError, match=r"format 99 .*upgrade streamlearn"):
        snapshot.loads(blob, KEYS)


def test_older_format_without_migration_is_refused() -> None:
    blob = _rewrite(snapshot.dumps([1], KEYS, learner="t", shard="0", offsets={}), format_version=0)
    with pytest.raises(SnapshotError, match=r"format 0 .*no longer supported"):
        snapshot.loads(blob, KEYS, migrations={})


def test_a_format_1_snapshot_of_the_old_service_is_refused_with_what_to_do() -> None:
    blob = _rewrite(snapshot.dumps([1], KEYS, learner="t", shard="0", offsets={}), format_version=1)
    with pytest.raises(SnapshotError, match=r"format 1 .*start the shard from scratch"):
        snapshot.loads(blob, KEYS)


def test_older_format_is_migrated_step_by_step() -> None:
    # format 0 (hypothetical): the payload was a pickled (model, offsets) pair and the header
    # had no offsets; the migration moves the offsets into the header.
    old_payload = pickle.dumps(({"w": [1.0]}, {"events": 9}))
    import hashlib

    hdr = {
        "format_version": 0,
        "learner": "t",
        "shard": "0",
        "created": 0.0,
        "payload_sha256": hashlib.sha256(old_payload).hexdigest(),
        "payload_bytes": len(old_payload),
        "versions": {"streamlearn": "0.0.1"},
        "key_id": KEYS.signing_id,
    }
    blob = snapshot._signed(snapshot._pack(hdr, old_payload), KEYS)
    calls = []

    def v0_to_v1(header: dict, payload: bytes) -> tuple[dict, bytes]:
        calls.append(header["format_version"])
        model, offsets = pickle.loads(payload)
        header["offsets"] = offsets
        header.setdefault("meta", {})
        return header, pickle.dumps(model)

    def v1_to_v2(header: dict, payload: bytes) -> tuple[dict, bytes]:
        calls.append(header["format_version"])
        return header, payload

    snap = snapshot.loads(blob, KEYS, migrations={**snapshot.MIGRATIONS, 0: v0_to_v1, 1: v1_to_v2})
    assert calls == [0, 1]
    assert snap.state == {"w": [1.0]} and snap.header.offsets == {"events": 9}
    assert snap.header.format_version == FORMAT_VERSION


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b[: len(b) - 3], "truncated"),
        (lambda b: b[:-40] + bytes([b[-40] ^ 0xFF]) + b[-39:], "checksum"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 0xFF]), "signature does not match"),
        (lambda b: b"XX" + b[2:], "bad magic"),
        (lambda b: b[:10], "truncated header"),
        (lambda b: b[:8] + struct.pack(">I", 5) + b"{nope" + b[12:], "unreadable header"),
        (lambda b: b"", "bad magic"),
    ],
)
def test_corrupted_snapshots_are_refused(mutate, match: str) -> None:
    blob = snapshot.dumps({"a": np.arange(10)}, KEYS, learner="t", shard="0", offsets={"events": 1})
    with pytest.raises(SnapshotError, match=match):
        snapshot.loads(mutate(blob), KEYS)


def test_unpicklable_payload_names_the_versions() -> None:
    payload = b"\x80\x05not a pickle"
    import hashlib

    blob = snapshot.dumps(1, KEYS, learner="t", shard="0", offsets={})
    hdr = snapshot.read_header(blob).to_dict()
    hdr.update(payload_sha256=hashlib.sha256(payload).hexdigest(), payload_bytes=len(payload))
    with pytest.raises(SnapshotError, match="cannot be restored .*numpy"):
        snapshot.loads(snapshot._signed(snapshot._pack(hdr, payload), KEYS), KEYS)


def test_version_mismatch_is_a_warning() -> None:
    blob = snapshot.dumps(1, KEYS, learner="t", shard="0", offsets={})
    hdr = snapshot.read_header(blob).to_dict()
    blob = _rewrite(blob, versions={**hdr["versions"], "numpy": "1.0.0"})
    snap = snapshot.loads(blob, KEYS)
    assert snap.state == 1
    assert any("numpy 1.0.0" in w for w in snap.warnings)


def test_header_is_json_readable_without_unpickling() -> None:
    blob = snapshot.dumps(
        object.__new__(CentroidLearner), KEYS, learner="tiny", shard="s", offsets={"events": 3}
    )
    hdr = snapshot.read_header(blob)
    assert hdr.learner == "tiny" and hdr.offsets == {"events": 3}
    raw = blob[12 : 12 + struct.unpack(">I", blob[8:12])[0]]
    assert json.loads(raw)["shard"] == "s"


def test_local_store_replaces_atomically(tmp_path) -> None:
    store = LocalSnapshotStore(tmp_path / "snaps")
    assert store.load("shard-0") is None and store.keys() == []
    store.save("shard-0", b"one")
    store.save("shard-0", b"two")
    store.save("shard-1", b"x")
    assert store.load("shard-0") == b"two"
    assert store.keys() == ["shard-0", "shard-1"]
    assert sorted(os.listdir(tmp_path / "snaps")) == ["shard-0.snap", "shard-1.snap"]  # no temp
    with pytest.raises(ValueError, match="letters, digits"):
        store.save("../evil", b"x")


def test_local_store_failed_write_keeps_the_old_snapshot(tmp_path, monkeypatch) -> None:
    store = LocalSnapshotStore(tmp_path)
    store.save("s", b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.save("s", b"new")
    assert store.load("s") == b"old"
    assert sorted(os.listdir(tmp_path)) == ["s.snap"]
