"""Versioned, signed model snapshots: a self-describing header, a pickled payload, an HMAC.

A snapshot is what makes the service's "exactly-once effect on the model" work: it holds the
state of one model shard together with the input offsets that state has consumed up to, so a
restarted (or re-assigned) shard restores it and seeks its input to exactly those offsets.

Wire format (all integers big-endian)::

    MAGIC        8 bytes   b"SLSNAP\\r\\n"
    header_len   4 bytes   length of the header
    header       JSON, UTF-8 (see :class:`SnapshotHeader`)
    payload      pickle (protocol 5) of the shard state, ``header.payload_bytes`` long
    mac          32 bytes  HMAC-SHA256 of everything above, with the key ``header.key_id`` names

The header carries the format version, the versions of streamlearn / numpy / numba / river /
Python that wrote it, the learner's name, the shard, the next offsets, the creation time, the
SHA-256 of the payload and the id of the signing key. A payload is a pickle, and unpickling runs
code: :func:`loads` therefore checks the magic, the lengths and the checksum, then the HMAC with
a constant-time compare, and unpickles only a snapshot signed with one of its
:class:`SnapshotKeys`. Even then the payload goes through :class:`StateUnpickler`, which admits
only the classes a shard state is made of (a second wall). Then an older format is brought up to
date through :data:`MIGRATIONS` (one step per version) or refused with a message that says what
to do. Unsigned snapshots (formats 1 and 2, written before snapshots were signed) are refused;
``streamlearn snapshot sign`` signs one that you trust.

Examples
--------
>>> keys = SnapshotKeys.parse("an-example-key-of-32-characters!")
>>> blob = dumps({"weights": [1.0, 2.0]}, keys, learner="demo", shard="0", offsets={"events/0": 42})
>>> snap = loads(blob, keys)
>>> snap.state, snap.header.offsets, snap.header.format_version == FORMAT_VERSION
({'weights': [1.0, 2.0]}, {'events/0': 42}, True)
>>> loads(blob, SnapshotKeys.parse("another-key-of-32-characters!!!!"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
streamlearn.snapshot.SnapshotError: snapshot signed with key ... which is not one of the accepted keys (...): refused without reading its payload; give the key it was signed with (STREAMLEARN_SNAPSHOT_KEYS)
>>> loads(b"not a snapshot", keys)
Traceback (most recent call last):
...
streamlearn.snapshot.SnapshotError: not a streamlearn snapshot (bad magic bytes)
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import pickle
import platform
import re
import secrets
import struct
import tempfile
import time
from collections.abc import Callable, Iterable
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
    "SnapshotKeys",
    "StateUnpickler",
    "dumps",
    "library_versions",
    "load_or_create_key",
    "loads",
    "read_header",
    "sign",
    "verify",
]

MAGIC = b"SLSNAP\r\n"
#: The format this build writes. Bump it (and register a migration) when the layout of the
#: header or of the pickled shard state changes incompatibly. Format 3: signed (``key_id`` in
#: the header, an HMAC after the payload). Format 2: the shard state of the service core
#: (``streamlearn.service.state.ShardState``), unsigned. Format 1 held
#: ``consumers.processor.ShardState``, unsigned, and has no migration.
FORMAT_VERSION = 3
_LEN = struct.Struct(">I")
_MAX_HEADER = 1 << 20
_MAC_BYTES = 32
#: Shortest signing key accepted (characters of the configured secret).
MIN_KEY_CHARS = 32


class SnapshotError(ValueError):
    """A snapshot that cannot be used: not a snapshot, corrupted, unsigned or forged, or of an
    unsupported format."""


class SnapshotKeys:
    """The snapshot HMAC keys: the first signs, every one is accepted when verifying.

    Rotation: put the new key first and keep the old one after it until every snapshot has
    been rewritten with the new one (one snapshot interval of every shard), then drop it.

    Parameters
    ----------
    keys
        The secret keys, the signing key first. Each must have at least
        :data:`MIN_KEY_CHARS` characters (``secrets.token_urlsafe(32)`` makes a good one).
    """

    def __init__(self, keys: Iterable[str]) -> None:
        ks = [k for k in keys if k]
        if not ks:
            raise ValueError("no snapshot signing key given")
        for k in ks:
            if len(k) < MIN_KEY_CHARS:
                raise ValueError(
                    f"a snapshot signing key has {len(k)} characters; at least {MIN_KEY_CHARS} "
                    "are needed (make one with: python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))')"
                )
        self._keys = {self.key_id(k): k.encode() for k in ks}
        self.signing_id = self.key_id(ks[0])

    @classmethod
    def parse(cls, text: str) -> SnapshotKeys:
        """Keys from one secret string: separated by whitespace or commas, signing key first."""
        return cls(re.split(r"[\s,]+", text.strip()))

    @staticmethod
    def key_id(key: str) -> str:
        """A public name of a key (an HMAC of a fixed text: it tells nothing about the key)."""
        return hmac.new(key.encode(), b"streamlearn snapshot key id", "sha256").hexdigest()[:16]

    @property
    def ids(self) -> list[str]:
        return list(self._keys)

    def mac(self, key_id: str, data: bytes | memoryview) -> bytes:
        return hmac.new(self._keys[key_id], data, "sha256").digest()

    def __repr__(self) -> str:  # never the keys themselves
        return f"SnapshotKeys(ids={self.ids}, signing={self.signing_id!r})"


def load_or_create_key(path: str | os.PathLike[str]) -> SnapshotKeys:
    """The keys kept in ``path`` (one per line or separated by spaces, signing key first);
    a new random key is written there (mode 0600) when the file does not exist yet.

    This is the default of a service with no ``STREAMLEARN_SNAPSHOT_KEYS``: its snapshots are
    signed with a key of its own, kept beside them.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except FileNotFoundError:
        p.parent.mkdir(parents=True, exist_ok=True)
        return load_or_create_key(p)
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
    deadline = time.monotonic() + 5.0
    while True:  # another process may have created it a moment ago and still be writing
        text = p.read_text()
        if text.strip() or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    try:
        return SnapshotKeys.parse(text)
    except ValueError as exc:
        raise ValueError(f"snapshot key file {p}: {exc}") from None


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
    key_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Snapshot:
    """A loaded snapshot: its header, the unpickled state, and compatibility warnings."""

    header: SnapshotHeader
    state: Any
    warnings: tuple[str, ...] = ()


def _same_layout(header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
    return header, payload


#: Migrations of older formats: ``MIGRATIONS[v]`` turns a (header dict, payload bytes) of
#: format ``v`` into format ``v + 1``. Format 3 only added the signature: a format-2 snapshot
#: signed with ``streamlearn snapshot sign`` has the same header and payload. A format-1
#: snapshot (streamlearn 0.1's service) is refused with a message that says to start the shard
#: afresh.
MIGRATIONS: dict[int, Callable[[dict[str, Any], bytes], tuple[dict[str, Any], bytes]]] = {
    2: _same_layout
}


def dumps(
    state: Any,
    keys: SnapshotKeys,
    *,
    learner: str,
    shard: str,
    offsets: dict[str, int],
    meta: dict[str, Any] | None = None,
    created: float | None = None,
) -> bytes:
    """Serialise a shard state with its header, signed with ``keys``' signing key."""
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
        key_id=keys.signing_id,
    )
    return _signed(_pack(header.to_dict(), payload), keys)


def _pack(header: dict[str, Any], payload: bytes) -> bytes:
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return b"".join((MAGIC, _LEN.pack(len(hb)), hb, payload))


def _signed(body: bytes, keys: SnapshotKeys) -> bytes:
    return body + keys.mac(keys.signing_id, body)


def _split(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """The header and what follows it (the payload, and the MAC of a signed snapshot)."""
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
    """The header of a snapshot, without checking anything but its framing (not verified:
    use :func:`verify` before trusting what it says)."""
    header, _ = _split(data)
    return _header(header)


def _header(d: dict[str, Any]) -> SnapshotHeader:
    try:
        return SnapshotHeader(**d)
    except TypeError as exc:
        raise SnapshotError(f"corrupted snapshot: unexpected header fields ({exc})") from None


def _verified(
    data: bytes, keys: SnapshotKeys, migrations: dict[int, Callable] | None = None
) -> tuple[dict[str, Any], memoryview]:
    """Header and payload of a snapshot whose framing, checksum and signature are right.

    Nothing of the payload is interpreted here: it is hashed, that is all.
    """
    header, rest = _split(data)
    version = header["format_version"]
    written_by = header.get("versions", {}).get("streamlearn", "unknown")
    if version > FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot format {version} was written by streamlearn {written_by}; this build "
            f"reads formats up to {FORMAT_VERSION}: upgrade streamlearn to restore it"
        )
    key_id = header.get("key_id")
    migrations = MIGRATIONS if migrations is None else migrations
    if not key_id and not all(v in migrations for v in range(version, FORMAT_VERSION)):
        raise SnapshotError(
            f"snapshot format {version} (written by streamlearn {written_by}) is no longer "
            f"supported and cannot be migrated to format {FORMAT_VERSION}: start the shard "
            "from scratch or restore it with an older streamlearn"
        )
    if not key_id:
        raise SnapshotError(
            f"unsigned snapshot (format {version}, written by streamlearn {written_by}): "
            "refused without reading its payload; if you trust where it comes from, sign it "
            "with 'streamlearn snapshot sign'"
        )
    size = header.get("payload_bytes")
    payload = rest[:-_MAC_BYTES] if len(rest) >= _MAC_BYTES else rest[:0]
    if not isinstance(size, int) or size != len(payload):
        raise SnapshotError(
            f"corrupted snapshot: payload is {len(payload)} bytes, header says {size} (truncated?)"
        )
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise SnapshotError("corrupted snapshot: payload checksum mismatch")
    if key_id not in keys.ids:
        raise SnapshotError(
            f"snapshot signed with key {key_id!r}, which is not one of the accepted keys "
            f"({', '.join(keys.ids)}): refused without reading its payload; give the key it "
            "was signed with (STREAMLEARN_SNAPSHOT_KEYS)"
        )
    body = memoryview(data)[: len(data) - _MAC_BYTES]
    if not hmac.compare_digest(keys.mac(key_id, body), bytes(rest[-_MAC_BYTES:])):
        raise SnapshotError(
            f"snapshot signature does not match (key {key_id!r}): forged or altered; refused "
            "without reading its payload"
        )
    return header, payload


def verify(data: bytes, keys: SnapshotKeys) -> SnapshotHeader:
    """The header of a snapshot once its checksum and signature are verified (no unpickling).

    Raises
    ------
    SnapshotError
        Not a snapshot, corrupted, unsigned, signed with a key not in ``keys``, or forged.
    """
    header, _ = _verified(data, keys)
    return _header(header)


def sign(data: bytes, keys: SnapshotKeys) -> bytes:
    """An unsigned (format 2) snapshot signed with ``keys``' signing key, payload untouched.

    Only for snapshots you trust: the payload is not checked (it cannot be without unpickling
    it). A snapshot that is already signed is refused.
    """
    header, payload = _split(data)
    if header.get("key_id"):
        raise SnapshotError(f"snapshot is already signed (key {header['key_id']!r})")
    if header.get("payload_bytes") != len(payload):
        raise SnapshotError("corrupted snapshot: payload length does not match its header")
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise SnapshotError("corrupted snapshot: payload checksum mismatch")
    header["key_id"] = keys.signing_id
    return _signed(_pack(header, bytes(payload)), keys)


def loads(
    data: bytes,
    keys: SnapshotKeys,
    *,
    migrations: dict[int, Callable] | None = None,
    trusted_modules: Iterable[str] = (),
) -> Snapshot:
    """Verify, migrate and unpickle a snapshot.

    The signature is verified before anything of the payload is read; the payload is then
    unpickled by a :class:`StateUnpickler` (the classes of a shard state only, plus those of
    ``trusted_modules``: module name prefixes, e.g. the package of a custom learner).

    Raises
    ------
    SnapshotError
        Not a snapshot, truncated, checksum mismatch, unsigned, forged or signed with a key not
        in ``keys``, written by a newer streamlearn, an older format that no registered
        migration can bring up to date, or a payload that refers to something a shard state is
        not made of.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    header, view = _verified(data, keys, migrations)
    version = header["format_version"]
    written_by = header.get("versions", {}).get("streamlearn", "unknown")
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
        state = StateUnpickler(io.BytesIO(payload), trusted_modules).load()
    except _Refused as exc:
        raise SnapshotError(
            f"snapshot payload refers to {exc}, which is not part of a shard state: refused "
            "(a custom learner's package must be trusted: see docs/security.md)"
        ) from None
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


# ---------------------------------------------------------------------- restricted unpickling

#: Modules whose classes a shard state is made of (name prefixes). The shard state, its
#: late-label join, scorer and monitors are defined under ``streamlearn`` (the service core,
#: ``streamlearn.service``); River's classes make up the River peer learners.
STATE_MODULES: tuple[str, ...] = ("streamlearn.", "river.")
#: Modules under :data:`STATE_MODULES` that hold no state and whose classes start processes,
#: serve or read files: never admitted.
NOT_STATE_MODULES: tuple[str, ...] = (
    "streamlearn.serving",
    "streamlearn.cli",
    "streamlearn.snapshot",
    "river.datasets",
    "river.stream",
)
#: Everything else a shard state's pickle refers to: numpy arrays and random generators, and a
#: few standard library containers (each checked to be the object of that name).
STATE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("builtins", n) for n in ("set", "frozenset", "complex", "slice", "range", "bytearray")}
    | {("collections", n) for n in ("Counter", "OrderedDict", "defaultdict", "deque")}
    | {("fractions", "Fraction"), ("random", "Random"), ("functools", "partial")}
    | {
        (core + sub, n)
        for core in ("numpy._core", "numpy.core")
        for sub, n in (
            (".multiarray", "_reconstruct"),
            (".multiarray", "scalar"),
            (".numeric", "_frombuffer"),
        )
    }
    | {("numpy", "dtype"), ("numpy", "ndarray")}
    | {
        ("numpy.random._pickle", n)
        for n in ("__bit_generator_ctor", "__generator_ctor", "__randomstate_ctor")
    }
    | {
        ("numpy.random._pcg64", "PCG64"),
        ("numpy.random._pcg64", "PCG64DXSM"),
        ("numpy.random._mt19937", "MT19937"),
        ("numpy.random._philox", "Philox"),
        ("numpy.random._sfc64", "SFC64"),
        ("numpy.random._generator", "Generator"),
        ("numpy.random.mtrand", "RandomState"),
        ("numpy.random.bit_generator", "SeedSequence"),
        ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    }
)
#: Functions of :data:`STATE_MODULES` that pickles refer to (their classes are admitted as
#: classes; functions only by name, as a function could do anything with its arguments).
STATE_FUNCTIONS: frozenset[tuple[str, str]] = frozenset(
    {("river.naive_bayes.gaussian", "GaussianNB._make_gaussian")}
)


class _Refused(Exception):
    pass


def _prefixed(module: str, prefixes: Iterable[str]) -> bool:
    """``module`` is one of ``prefixes`` or inside one (``"a."`` and ``"a"`` both mean package
    ``a`` and what it contains)."""
    return any(module == p.rstrip(".") or module.startswith(p.rstrip(".") + ".") for p in prefixes)


class StateUnpickler(pickle.Unpickler):
    """An unpickler that admits only what a shard state is made of.

    A global is admitted when it is in :data:`STATE_GLOBALS` or :data:`STATE_FUNCTIONS`, or when
    it is a class defined (not merely imported) in a module of :data:`STATE_MODULES` (or of
    ``trusted`` module prefixes) outside :data:`NOT_STATE_MODULES`. Anything else — ``os``,
    ``subprocess``, ``builtins.eval``, a function of the service — raises before it is looked
    up further or called.

    This is the second wall: snapshots are verified (HMAC) before they are unpickled.
    """

    def __init__(self, file: Any, trusted: Iterable[str] = ()) -> None:
        super().__init__(file)
        self.trusted = tuple(STATE_MODULES) + tuple(trusted)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in STATE_GLOBALS or (module, name) in STATE_FUNCTIONS:
            return super().find_class(module, name)
        what = f"{module}.{name}"
        if (
            not _prefixed(module, self.trusted)
            or _prefixed(module, NOT_STATE_MODULES)
            or any(part.startswith("__") for part in name.split("."))
        ):
            raise _Refused(what)
        obj = super().find_class(module, name)
        # a class of that module itself, not a name it imported (os, pickle, a function...)
        if not isinstance(obj, type) or obj.__module__ != module or obj.__qualname__ != name:
            raise _Refused(what)
        return obj


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

    def __init__(self, directory: str | os.PathLike[str], suffix: str = ".snap") -> None:
        self.directory = Path(directory)
        self.suffix = suffix

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
