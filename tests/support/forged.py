"""Forged snapshots, as an attacker who can write a snapshot store would make them.

Every payload here would create a file if it were unpickled (``touch`` through ``os.system``,
or ``open(path, "w")``); a test that hands one to the service checks that the file never
appears.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from streamlearn import snapshot
from streamlearn.snapshot import SnapshotKeys


class Touch:
    """Unpickling this runs ``touch path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class Open:
    """Unpickling this runs ``open(path, "w")``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def payloads(path: Path) -> list[bytes]:
    """Pickles that would create ``path``."""
    return [pickle.dumps(Touch(path), protocol=5), pickle.dumps(Open(path), protocol=2)]


def forged(
    payload: bytes, *, key_id: str | None, mac: bytes | None, keys: SnapshotKeys | None = None
) -> bytes:
    """A snapshot with a well-formed header (checksum right) around ``payload``.

    ``key_id=None``: unsigned (format 2, the last unsigned one; no MAC). Otherwise the header names ``key_id`` and
    ``mac`` follows the payload (``b""`` for none).
    """
    keys = keys or SnapshotKeys.parse("x" * 32)
    d = snapshot.read_header(snapshot.dumps({}, keys, learner="x", shard="0", offsets={})).to_dict()
    d.update(payload_sha256=hashlib.sha256(payload).hexdigest(), payload_bytes=len(payload))
    if key_id is None:
        d.pop("key_id")
        d["format_version"] = 2
    else:
        d["key_id"] = key_id
    return snapshot._pack(d, payload) + (mac if mac is not None else b"")
