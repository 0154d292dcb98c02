"""Versioned model snapshots: a self-describing header and a pickled payload.

A snapshot is what makes the service's "exactly-once effect on the model" work: it holds the
state of one model shard together with the input offsets that state has consumed up to, so a
restarted (or re-assigned) shard restores it and seeks its input to exactly those offsets.

Wire format (all integers big-endian)::

    MAGIC        8 bytes   b"SLSNAP\\r\\n"
    header_len   4 bytes   length of the header
    header       JSON, UTF-8 (see :class:`SnapshotHeader`)
    payload      pickle (protocol 5) of the shard state, ``header.payload_bytes`` long

The header carries the format version, the versions of streamlearn / numpy / numba / river /
Python that wrote it, the learner's name, the shard, the next offsets, the creation time and the
SHA-256 of the payload. :func:`loads` checks the magic, the lengths and the checksum, then brings
an older format up to date through :data:`MIGRATIONS` (one step per version) or refuses it with a
message that says what to do. A payload is a pickle: load snapshots only from stores you trust
(your own directory, your own Kafka topic).

Examples
--------
>>> blob = dumps({"weights": [1.0, 2.0]}, learner="demo", shard="0", offsets={"events/0": 42})
>>> snap = loads(blob)
>>> snap.state, snap.header.offsets, snap.header.format_version == FORMAT_VERSION
({'weights': [1.0, 2.0]}, {'events/0': 42}, True)
>>> loads(b"not a snapshot")
Traceback (most recent call last):
...
streamlearn.snapshot.SnapshotError: not a streamlearn snapshot (bad magic bytes)
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import re
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MIGRATIONS",
    "LocalSnapshotStore",
    "Snapshot",
    "SnapshotError",
    "SnapshotHeader",
    "dumps",
    "library_versions",
    "loads",
    "read_header",
]

MAGIC = b"SLSNAP\r\n"
#: The format this build writes. Bump it (and register a migration) when the layout of the
#: header or of the pickled shard state changes incompatibly. Format 2: the shard state of the
#: service core (``streamlearn.service.state.ShardState``: late-label join, scorer, label-space
#: monitors); format 1 held ``consumers.processor.ShardState`` and has no migration.
FORMAT_VERSION = 2
_LEN = struct.Struct(">I")
_MAX_HEADER = 1 << 20


class SnapshotError(ValueError):
    """A snapshot that cannot be used: not a snapshot, corrupted, or of an unsupported format."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose objects end up in a snapshot."""
    out = {"python": platform.python_version()}
    for dist in ("streamlearn", "numpy", "numba", "river"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # pragma: no cover - always installed
            out[dist] = "unknown"
    return out


@dataclass(frozen=True)
class SnapshotHeader:
    """What a snapshot says about itself (readable without unpickling the payload)."""

    format_version: int
    learner: str
    shard: str
    offsets: dict[str, int]
    created: float
    payload_sha256: str
    payload_bytes: int
    versions: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Snapshot:
    """A loaded snapshot: its header, the unpickled state, and compatibility warnings."""

    header: SnapshotHeader
    state: Any
    warnings: tuple[str, ...] = ()


#: Migrations of older formats: ``MIGRATIONS[v]`` turns a (header dict, payload bytes) of
#: format ``v`` into format ``v + 1``. None is registered: a format-1 snapshot (streamlearn
#: 0.1's service) is refused with a message that says to start the shard afresh.
MIGRATIONS: dict[int, Callable[[dict[str, Any], bytes], tuple[dict[str, Any], bytes]]] = {}


def dumps(
    state: Any,
    *,
    learner: str,
    shard: str,
    offsets: dict[str, int],
    meta: dict[str, Any] | None = None,
    created: float | None = None,
) -> bytes:
    """Serialise a shard state with its header."""
    payload = pickle.dumps(state, protocol=5)
    header = SnapshotHeader(
        format_version=FORMAT_VERSION,
        learner=learner,
        shard=str(shard),
        offsets={str(k): int(v) for k, v in offsets.items()},
        created=time.time() if created is None else float(created),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        payload_bytes=len(payload),
        versions=library_versions(),
        meta=dict(meta or {}),
    )
    return _pack(header.to_dict(), payload)


def _pack(header: dict[str, Any], payload: bytes) -> bytes:
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return b"".join((MAGIC, _LEN.pack(len(hb)), hb, payload))


def _split(data: bytes) -> tuple[dict[str, Any], memoryview]:
    view = memoryview(data)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise SnapshotError("not a streamlearn snapshot (bad magic bytes)")
    if len(view) < len(MAGIC) + _LEN.size:
        raise SnapshotError("corrupted snapshot: truncated header")
    (hlen,) = _LEN.unpack_from(view, len(MAGIC))
    start = len(MAGIC) + _LEN.size
    if hlen > _MAX_HEADER or start + hlen > len(view):
        raise SnapshotError("corrupted snapshot: truncated header")
    try:
        header = json.loads(bytes(view[start : start + hlen]))
    except ValueError as exc:
        raise SnapshotError(f"corrupted snapshot: unreadable header ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("format_version"), int):
        raise SnapshotError("corrupted snapshot: header has no format_version")
    return header, view[start + hlen :]


def read_header(data: bytes) -> SnapshotHeader:
    """The header of a snapshot (current format), without touching the payload."""
    header, _ = _split(data)
    return _header(header)


def _header(d: dict[str, Any]) -> SnapshotHeader:
    try:
        return SnapshotHeader(**d)
    except TypeError as exc:
        raise SnapshotError(f"corrupted snapshot: unexpected header fields ({exc})") from None


def loads(data: bytes, *, migrations: dict[int, Callable] | None = None) -> Snapshot:
    """Check, migrate and unpickle a snapshot.

    Raises
    ------
    SnapshotError
        Not a snapshot, truncated, checksum mismatch, written by a newer streamlearn, or an
        older format that no registered migration can bring up to date.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    header, view = _split(data)
    version = header["format_version"]
    written_by = header.get("versions", {}).get("streamlearn", "unknown")
    if version > FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot format {version} was written by streamlearn {written_by}; this build "
            f"reads formats up to {FORMAT_VERSION}: upgrade streamlearn to restore it"
        )
    size = header.get("payload_bytes")
    if size != len(view):
        raise SnapshotError(
            f"corrupted snapshot: payload is {len(view)} bytes, header says {size} (truncated?)"
        )
    if hashlib.sha256(view).hexdigest() != header.get("payload_sha256"):
        raise SnapshotError("corrupted snapshot: payload checksum mismatch")
    payload = bytes(view)
    while version < FORMAT_VERSION:
        step = migrations.get(version)
        if step is None:
            raise SnapshotError(
                f"snapshot format {version} (written by streamlearn {written_by}) is no longer "
                f"supported and cannot be migrated to format {FORMAT_VERSION}: start the shard "
                "from scratch or restore it with an older streamlearn"
            )
        header, payload = step(dict(header), payload)
        version += 1
        header["format_version"] = version
        header["payload_bytes"] = len(payload)
        header["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    hdr = _header(header)
    try:
        state = pickle.loads(payload)
    except Exception as exc:
        raise SnapshotError(
            f"snapshot payload cannot be restored ({type(exc).__name__}: {exc}); it was written "
            f"with {_fmt_versions(hdr.versions)}"
        ) from exc
    return Snapshot(hdr, state, _version_warnings(hdr.versions))


def _fmt_versions(v: dict[str, str]) -> str:
    return ", ".join(f"{k} {val}" for k, val in sorted(v.items())) or "unknown versions"


def _version_warnings(written: dict[str, str]) -> tuple[str, ...]:
    now = library_versions()
    out = []
    for lib in ("streamlearn", "numpy", "numba", "river"):
        if lib in written and written[lib] != now.get(lib):
            out.append(f"snapshot written with {lib} {written[lib]}, running {now.get(lib)}")
    return tuple(out)


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class LocalSnapshotStore:
    """Snapshots in a local directory, one file per shard key, replaced atomically.

    ``save`` writes a temporary file in the same directory, ``fsync``\\ s it, renames it over the
    previous snapshot and ``fsync``\\ s the directory: when it returns the snapshot is durable, and
    a crash at any moment leaves either the old or the new snapshot, never a torn one.

    >>> import tempfile
    >>> store = LocalSnapshotStore(tempfile.mkdtemp())
    >>> store.save("shard-0", b"abc")
    3
    >>> store.load("shard-0"), store.load("shard-1")
    (b'abc', None)
    >>> store.keys()
    ['shard-0']
    """

    suffix = ".snap"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        if not key or _SAFE.search(key) or key.startswith("."):
            raise ValueError(f"snapshot key {key!r} must be made of letters, digits, '.', '_', '-'")
        return self.directory / (key + self.suffix)

    def save(self, key: str, data: bytes) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(key)
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return len(data)

    def load(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def keys(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return [p.name[: -len(self.suffix)] for p in sorted(self.directory.glob("*" + self.suffix))]
