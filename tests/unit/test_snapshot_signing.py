"""Signed snapshots: forged, unsigned and tampered snapshots are refused before any unpickling;
the restricted unpickler admits a real shard state and nothing else; keys rotate."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamlearn import snapshot
from streamlearn.service.shard import InRecord as Record
from streamlearn.service.shard import Shard
from streamlearn.settings import Settings
from streamlearn.snapshot import SnapshotError, SnapshotKeys
from tests.support.forged import forged, payloads

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 40
KEYS = SnapshotKeys.parse(KEY)
OTHER = SnapshotKeys.parse("o" * 40)


def _forged(payload: bytes, *, key_id: str | None, mac: bytes | None) -> bytes:
    return forged(payload, key_id=key_id, mac=mac, keys=KEYS)


def _payloads(path: Path) -> list[bytes]:
    return payloads(path)


@pytest.mark.parametrize("kind", ["unsigned", "other key", "forged mac", "other key's mac"])
def test_forged_snapshots_are_refused_and_nothing_runs(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "pwned"
    for payload in _payloads(target):
        if kind == "unsigned":
            blob, match = _forged(payload, key_id=None, mac=None), "unsigned snapshot"
        elif kind == "other key":
            blob = _forged(payload, key_id=OTHER.signing_id, mac=b"\0" * 32)
            match = "not one of the accepted keys"
        elif kind == "forged mac":
            blob = _forged(payload, key_id=KEYS.signing_id, mac=os.urandom(32))
            match = "signature does not match"
        else:  # a real MAC, made with a key the service does not accept, under the right id
            body = _forged(payload, key_id=KEYS.signing_id, mac=b"")
            blob = body + OTHER.mac(OTHER.signing_id, body)
            match = "signature does not match"
        with pytest.raises(SnapshotError, match=match):
            snapshot.loads(blob, KEYS)
        with pytest.raises(SnapshotError, match=match):
            snapshot.verify(blob, KEYS)
        assert not target.exists()


def test_a_changed_header_breaks_the_signature() -> None:
    blob = snapshot.dumps([1], KEYS, learner="t", shard="0", offsets={"events": 10})
    hdr, rest = snapshot._split(blob)
    hdr["offsets"] = {"events": 10_000}  # skip input: a forged offset, payload untouched
    tampered = snapshot._pack(hdr, bytes(rest[:-32])) + bytes(rest[-32:])
    with pytest.raises(SnapshotError, match="signature does not match"):
        snapshot.loads(tampered, KEYS)


@pytest.mark.parametrize(
    "what",
    [
        "os.system",
        "builtins.open",
        "builtins.eval",
        "a service function",
        "a name a state module imported",
        "a dotted path to a function",
        "a class of a module that is not state",
    ],
)
def test_the_unpickler_refuses_what_a_shard_state_is_not_made_of(tmp_path: Path, what) -> None:
    """The second wall: even a payload signed with the right key (a leaked key) runs nothing."""
    target = tmp_path / "pwned"
    if what == "os.system":
        payload = _payloads(target)[0]
    elif what == "builtins.open":
        payload = _payloads(target)[1]
    else:
        module, name, args = {
            "builtins.eval": ("builtins", "eval", (f"open({str(target)!r}, 'w')",)),
            "a service function": (
                "streamlearn.service.learners",
                "make_service_learner",
                ("os:system", {"command": f"touch {target}"}),
            ),
            "a name a state module imported": ("streamlearn.multilabel.ihomer", "np", ()),
            "a dotted path to a function": (
                "streamlearn.multilabel.ihomer",
                "IHOMER.learn_many",
                (),
            ),
            "a class of a module that is not state": (
                "streamlearn.snapshot",
                "LocalSnapshotStore",
                (str(tmp_path / "store"),),
            ),
        }[what]
        payload = _global_call(module, name, args)
    blob = snapshot._signed(_forged(payload, key_id=KEYS.signing_id, mac=b""), KEYS)
    with pytest.raises(SnapshotError, match="not part of a shard state"):
        snapshot.loads(blob, KEYS)
    assert not target.exists() and not (tmp_path / "store").exists()


def _global_call(module: str, name: str, args: tuple) -> bytes:
    """A protocol-4 pickle that looks up ``module.name`` and calls it with ``args``."""
    return (
        b"\x80\x04"
        + b"\x8c"
        + bytes([len(module)])
        + module.encode()
        + b"\x8c"
        + bytes([len(name)])
        + name.encode()
        + b"\x93"  # STACK_GLOBAL
        + pickle.dumps(args, protocol=4)[2:-1]  # the args tuple, without PROTO and STOP
        + b"R."  # REDUCE, STOP
    )


def _rec(i: int, body: dict) -> Record:
    return Record("events", 0, i, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("learner", "active"),
    [
        ("ihomer", None),
        ("ihomer", "split"),
        ("mlhat", "rvu"),
        ("br-ht", None),
        ("br-nb", "vu"),
        ("cc-lr", None),
        ("tests.support.learners:CentroidLearner", None),
    ],
)
def test_real_shard_states_pass_the_restricted_unpickler(
    tmp_path: Path, learner: str, active: str | None
) -> None:
    s = Settings(learner=learner, active_learning=active, snapshot_keys=KEY, snapshot_dir=tmp_path)
    proc = Shard.new("0", s)
    rng = np.random.default_rng(0)
    recs = []
    for i in range(400):
        body: dict = {"id": str(i), "x": rng.normal(size=6).round(3).tolist()}
        if i % 4:
            body["labels"] = [f"l{j}" for j in range(5) if rng.random() < 0.35]
        recs.append(_rec(i, body))
    proc.process(recs[:300])
    restored = Shard.restore(proc.snapshot(), s)
    # the restored shard goes on exactly like the original
    a, b = proc.process(recs[300:]), restored.process(recs[300:])
    assert [r[2] for r in a] == [r[2] for r in b]
    assert restored.state.counts == proc.state.counts


def test_a_custom_learner_needs_its_module_trusted(tmp_path: Path) -> None:
    s = Settings(
        learner="tests.support.learners:CentroidLearner", snapshot_keys=KEY, snapshot_dir=tmp_path
    )
    proc = Shard.new("0", s)
    proc.process([_rec(i, {"id": str(i), "x": [i, 1.0], "labels": ["a"]}) for i in range(5)])
    assert s.trusted_modules() == ("tests",)
    with pytest.raises(SnapshotError, match="tests.support.learners.CentroidLearner"):
        snapshot.loads(proc.snapshot(), KEYS)  # without trusted_modules


def test_rotation_old_keys_verify_the_first_signs() -> None:
    old, new = "a" * 32, "b" * 32
    blob_old = snapshot.dumps([1], SnapshotKeys.parse(old), learner="t", shard="0", offsets={})
    rotated = SnapshotKeys.parse(f"{new}, {old}")
    assert snapshot.loads(blob_old, rotated).state == [1]
    blob_new = snapshot.dumps([2], rotated, learner="t", shard="0", offsets={})
    assert snapshot.read_header(blob_new).key_id == SnapshotKeys.key_id(new)
    assert snapshot.loads(blob_new, SnapshotKeys.parse(new)).state == [2]
    with pytest.raises(SnapshotError, match="not one of the accepted keys"):
        snapshot.loads(blob_new, SnapshotKeys.parse(old))
    assert old not in repr(rotated) and new not in repr(rotated)


def test_short_keys_are_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Settings(snapshot_keys="short")
    with pytest.raises(ValueError, match="at least 32"):
        Settings(snapshot_keys="a" * 40 + " tooshort")


def test_the_host_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "var" / "snapshot.key"
    s = Settings(snapshot_key_file=path)
    k1 = s.signing_keys()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    k2 = Settings(snapshot_key_file=path).signing_keys()
    assert k1.ids == k2.ids  # the same key on the next run
    blob = snapshot.dumps([3], k1, learner="t", shard="0", offsets={})
    assert snapshot.loads(blob, k2).state == [3]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamlearn", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=120,
    )


def test_snapshot_show_verifies_and_sign_adopts_a_trusted_unsigned_file(tmp_path: Path) -> None:
    env = {"STREAMLEARN_SNAPSHOT_KEYS": KEY}
    good = tmp_path / "good.snap"
    good.write_bytes(snapshot.dumps({"w": 1}, KEYS, learner="t", shard="0", offsets={"e": 1}))
    target = tmp_path / "pwned"
    forged = tmp_path / "forged.snap"
    forged.write_bytes(_forged(_payloads(target)[0], key_id=KEYS.signing_id, mac=b"\1" * 32))
    out = _cli("snapshot", "show", "--load", str(tmp_path), env=env)
    assert out.returncode == 1
    assert "forged.snap: snapshot signature does not match" in out.stderr
    shown = json.loads(out.stdout)
    assert shown["source"].endswith("good.snap") and shown["verified"] is True
    assert not target.exists()

    # an unsigned (format 2) snapshot of a trusted older version: refused, then signed
    hdr = snapshot.read_header(good.read_bytes()).to_dict()
    hdr.pop("key_id")
    hdr["format_version"] = 2
    payload = pickle.dumps({"w": 1}, protocol=5)
    old = tmp_path / "old" / "s.snap"
    old.parent.mkdir()
    old.write_bytes(snapshot._pack(hdr, payload))
    out = _cli("snapshot", "show", str(old), env=env)
    assert out.returncode == 1 and "unsigned snapshot (format 2" in out.stderr
    out = _cli("snapshot", "sign", str(old), env=env)
    assert out.returncode == 0, out.stderr
    snap = snapshot.loads(old.read_bytes(), KEYS)
    assert snap.state == {"w": 1} and snap.header.format_version == snapshot.FORMAT_VERSION
    out = _cli("snapshot", "sign", str(old), env=env)
    assert out.returncode == 1 and "already signed" in out.stderr


def test_the_embedded_service_refuses_a_forged_snapshot_file(tmp_path: Path) -> None:
    """The directory store: a real service run, a real forged file, nothing executed."""
    from prometheus_client import CollectorRegistry

    from consumers.embedded import embedded_loop
    from streamlearn.observability.metrics import ServiceMetrics
    from streamlearn.service.published import ServiceState
    from streamlearn.snapshot import LocalSnapshotStore
    from tests.unit.test_service_embedded import LEARNER, source

    s = Settings(learner=LEARNER, snapshot_dir=tmp_path / "snaps", rate=0, snapshot_keys=KEY)
    embedded_loop(s, ServiceState(), None, stream=source(50)).run()  # a genuine snapshot
    store = LocalSnapshotStore(tmp_path / "snaps")
    (key,) = store.keys()
    genuine = store.load(key)
    target = tmp_path / "pwned"
    for bad in (
        _forged(_payloads(target)[0], key_id=None, mac=None),
        _forged(_payloads(target)[0], key_id=KEYS.signing_id, mac=os.urandom(32)),
    ):
        store.save(key, bad)
        metrics = ServiceMetrics(CollectorRegistry())
        state = ServiceState()
        loop = embedded_loop(s, state, metrics, stream=source(100))
        with pytest.raises(SnapshotError, match=rf"{key}.snap: .*(unsigned|signature).*move"):
            loop.run()
        assert not target.exists()
        assert state.ready() == (False, "snapshot_refused")
        refused = metrics.registry.get_sample_value(
            "streamlearn_snapshot_restores_total", {"shard": "0", "outcome": "refused"}
        )
        assert refused == 1
    store.save(key, genuine)  # the genuine one restores again
    loop = embedded_loop(s, ServiceState(), None, stream=source(100))
    loop.run()
    assert loop.shards["0"].state.counts["events_consumed"] == 100


def test_a_format_1_snapshot_is_refused_as_too_old_not_offered_for_signing() -> None:
    blob = forged(pickle.dumps([1]), key_id=None, mac=None)
    hdr, rest = snapshot._split(blob)
    hdr["format_version"] = 1  # streamlearn 0.1's consumers.processor state: no migration
    with pytest.raises(SnapshotError, match="format 1 .*no longer supported.*start the shard"):
        snapshot.loads(snapshot._pack(hdr, bytes(rest)), KEYS)
