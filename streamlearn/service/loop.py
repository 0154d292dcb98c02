"""The service loop, written once: restore -> process -> emit -> publish -> checkpoint.

One :class:`Loop` drives every mode of the service. What differs between modes is behind
three protocols, the transport's side:

- :class:`Source` — where input records come from, by shard (Kafka: a consumer group over the
  ``events`` and ``labels`` topics, one shard per partition; embedded: a replay of a file or
  of the synthetic stream in memory, one shard). It tells the loop which shards this replica
  holds through the loop's public interface — :meth:`Loop.assign`, :meth:`Loop.revoke`,
  :meth:`Loop.lose` — and positions its inputs where a restored shard resumes (``seek``);
- :class:`Sink` — where output records go (predictions, label requests, dead letters, drift),
  with ``flush`` = every record handed over so far is acknowledged;
- :class:`SnapshotStore` — where shard snapshots are kept (a compacted topic, a directory).

Delivery (DESIGN §5): at-least-once consumption, exactly-once effect on the model. Every N
records or T seconds, on revocation and at shutdown, a shard is *checkpointed*: the sink is
flushed (the outputs of the covered records are acknowledged), the snapshot (model, waiting
events, scores, next offsets) is written and acknowledged, and only then are the input offsets
committed. On assignment a shard restores its snapshot and the source seeks to its offsets. A
crash at any point therefore replays exactly the records the restored model has not seen.
Refused output records stop the loop without a commit past them (a restart emits them again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from streamlearn.schema import Schema
from streamlearn.service import faults
from streamlearn.service.contract import OutputError, OutRecord
from streamlearn.service.published import ServiceState
from streamlearn.service.recorder import Recorder
from streamlearn.service.shard import Shard
from streamlearn.settings import Settings
from streamlearn.snapshot import SnapshotError

__all__ = ["Loop", "OutputError", "ShardBatch", "Sink", "SnapshotStore", "Source"]

log = logging.getLogger("streamlearn.loop")

#: Seconds between two updates of the input lag.
LAG_EVERY = 2.0


class ShardBatch(NamedTuple):
    """One shard's records of a poll: ``events`` then ``labels``, each in offset order."""

    events: Sequence[Any] = ()
    labels: Sequence[Any] = ()


class Source(Protocol):
    """Input records by shard. Calls :meth:`Loop.assign` / :meth:`Loop.revoke` /
    :meth:`Loop.lose` (from :meth:`open` or :meth:`poll`) as shards come and go."""

    #: The source is reachable (readiness).
    connected: bool
    #: A finite source has nothing more to give: the loop ends (after a final checkpoint).
    finished: bool

    def open(self, loop: Loop) -> bool:
        """Connect; False when the loop was stopped meanwhile."""

    def poll(self, timeout_ms: int) -> Mapping[str, ShardBatch]:
        """The next records of each held shard (may be empty)."""

    def seek(self, shard: str, offsets: Mapping[str, int]) -> None:
        """Read ``shard``'s inputs from ``offsets`` (input kind -> next offset) on."""

    def commit(self, shard: str, offsets: Mapping[str, int]) -> None:
        """``shard``'s inputs are durably processed up to ``offsets``."""

    def schema(self, shard: str) -> Schema | None:
        """The feature/label spaces of a fresh shard, when the source knows them."""

    def lag(self, shard: str, offsets: Mapping[str, int]) -> Iterable[tuple[str, int]]:
        """``(input name, records not read yet)`` of ``shard``, reading at ``offsets``."""

    def close(self) -> None: ...


class Sink(Protocol):
    """Output records by shard."""

    #: Records refused so far (never decreases).
    errors: int

    def open(self) -> None: ...

    def send(self, records: list[OutRecord], shard: str) -> None: ...

    def flush(self, timeout: float) -> None:
        """Return once every record sent so far is acknowledged; :class:`OutputError` if not."""

    def close(self) -> None: ...


class SnapshotStore(Protocol):
    """Durable shard snapshots."""

    def open(self) -> None: ...

    def load(self, shard: str) -> bytes | None: ...

    def save(self, shard: str, data: bytes) -> int:
        """Write and wait until durable; return the bytes written."""

    def where(self, shard: str) -> str:
        """Where ``shard``'s snapshot is (for messages), e.g. a path or a topic key."""

    def close(self) -> None: ...


class Loop:
    """Runs shards over a source, a sink and a snapshot store; :meth:`run` is the loop.

    Parameters
    ----------
    settings
        Batch sizes, snapshot and publication cadence, policies...
    source, sink, store
        The transport (see the module doc).
    readers
        The status and published model versions shared with the HTTP readers.
    recorder
        Where figures go (metrics); the no-op base by default.
    hook
        Optional active-learning policy, one instance shared by the shards.
    """

    def __init__(
        self,
        settings: Settings,
        source: Source,
        sink: Sink,
        store: SnapshotStore,
        readers: ServiceState,
        recorder: Recorder | None = None,
        hook: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.source = source
        self.sink = sink
        self.store = store
        self.readers = readers
        self.recorder = recorder if recorder is not None else Recorder()
        self.hook = hook
        self.clock = clock
        self.shards: dict[str, Shard] = {}
        self._retired: dict[str, Shard] = {}  # checkpointed at revocation, reusable
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self._final_snapshot = True
        self._flush_requests: list[Callable[[], None]] = []
        self._lost_outputs = 0  # output records the sink refused (fatal: see _check_outputs)
        self._first_batch = True
        self._t_start = time.perf_counter()

    # -------------------------------------------------------------- control
    def stop(self, final_snapshot: bool = True) -> None:
        """Stop the loop; with ``final_snapshot=False`` leave like a crash would (tests)."""
        self._final_snapshot = final_snapshot
        self.stop_event.set()

    def request_flush(self, done: Callable[[], None]) -> None:
        """Call ``done()`` (from the loop) once every output produced so far is acknowledged."""
        self._flush_requests.append(done)

    # -------------------------------------------------------------- the source's interface
    def assign(self, shards: Iterable[str]) -> None:
        """These shards are now held here: restore each (or keep it) and seek its inputs."""
        self.readers.restored = False
        self.readers.reason = "restoring"
        ids = sorted(set(shards))
        for shard in ids:
            if shard not in self.shards:
                self.shards[shard] = self._restore(shard)
        for shard in list(self._retired):  # given up for good: another replica holds it now
            self._forget(shard)
        self.readers.restored = True
        self.readers.reason = "ready"
        log.info("assigned shards %s", ids)

    def revoke(self, shards: Iterable[str]) -> dict[str, dict[str, int]]:
        """These shards leave: checkpoint each (snapshot durable); return the offsets that the
        source must commit for them (shards whose checkpoint failed are left out)."""
        if not self._final_snapshot:  # simulated crash: no checkpoint at all
            return {}
        commit: dict[str, dict[str, int]] = {}
        ids = sorted(set(shards) & set(self.shards))
        for shard in ids:
            proc = self.shards[shard]
            if not proc.dirty():  # its last snapshot is current (and committed)
                self._drop(shard, keep=True)
                continue
            offsets = self._snapshot(shard)
            if offsets is not None:
                commit[shard] = offsets
            self._drop(shard, keep=offsets is not None)
        if ids:
            log.info("revoked shards %s", ids)
        return commit

    def lose(self, shards: Iterable[str]) -> None:
        """These shards were taken away without a checkpoint (no longer a group member)."""
        for shard in sorted(set(shards)):
            self._drop(shard, keep=False)
        for shard in list(self._retired):
            self._forget(shard)

    # -------------------------------------------------------------- shards
    def _restore(self, shard: str) -> Shard:
        """A shard from its snapshot (or fresh), its inputs positioned at its offsets."""
        rec = self.recorder.shard(shard)
        kw = {"recorder": rec, "readers": self.readers, "hook": self.hook, "clock": self.clock}
        proc = self._retired.pop(shard, None)
        outcome = "kept"
        if proc is None:
            data = self.store.load(shard)
            if data is not None:
                try:
                    proc = Shard.restore(data, self.settings, **kw)
                    outcome = "restored"
                except SnapshotError as exc:
                    # Never learn on top of an unusable snapshot silently: refuse the shard.
                    rec.restored("refused")
                    raise SnapshotError(
                        f"{self.store.where(shard)}: {exc} (remove that snapshot, e.g. move "
                        "the file away, to start the shard afresh)"
                    ) from exc
            else:
                proc = Shard.new(shard, self.settings, self.source.schema(shard), **kw)
                outcome = "fresh"
            rec.restored(outcome)
        offsets = proc.state.offsets
        self.source.seek(shard, offsets)
        log.info(
            "%s shard %s: %d instances learned, next offsets %s (%s)",
            outcome,
            shard,
            proc.version,
            offsets or "(committed or earliest)",
            self.store.where(shard),
        )
        proc.maybe_publish(force=True)
        return proc

    def checkpoint(self, shard: str) -> bool:
        """Flush outputs, write ``shard``'s snapshot durably, then commit its offsets."""
        offsets = self._snapshot(shard)
        if offsets is None:
            return False
        faults.point("commit-before")
        try:
            self.source.commit(shard, offsets)
        except Exception as exc:
            log.warning("shard %s: offset commit failed after the snapshot (%s)", shard, exc)
        faults.point("commit-after")
        return True

    def _snapshot(self, shard: str) -> dict[str, int] | None:
        """The durable part of a checkpoint; returns the offsets to commit (None on failure)."""
        proc = self.shards[shard]
        t0 = time.perf_counter()
        try:
            try:
                self.sink.flush(timeout=60)  # outputs of the covered records are acknowledged
            finally:
                self._lost_outputs = max(self._lost_outputs, self.sink.errors)
            if self._lost_outputs:  # never commit past refused outputs (see _check_outputs)
                raise OutputError(f"{self._lost_outputs} output records could not be delivered")
            faults.point("snapshot-flushed")
            data = proc.snapshot({"key": self.store.where(shard)})
            self.store.save(shard, data)
        except Exception as exc:
            log.error("shard %s: snapshot failed (%s); offsets not committed", shard, exc)
            proc.mark_snapshot(0, time.perf_counter() - t0, ok=False)
            return None
        proc.mark_snapshot(len(data), time.perf_counter() - t0)
        return dict(proc.state.offsets)

    def _drop(self, shard: str, keep: bool) -> None:
        """Give ``shard`` up; ``keep`` = its checkpoint succeeded, it may be re-assigned at once."""
        proc = self.shards.pop(shard, None)
        if proc is not None and keep:
            self._retired[shard] = proc  # metrics and published model stay until reassignment
        else:
            self._forget(shard)

    def _forget(self, shard: str) -> None:
        self._retired.pop(shard, None)
        self.readers.drop(shard)
        self.recorder.remove_shard(shard)

    # -------------------------------------------------------------- the loop
    def run(self) -> None:
        """Until :meth:`stop` (or a finished source): then a final checkpoint of every shard."""
        try:
            self._run()
        except BaseException as exc:
            # a shard refused in a rebalance listener comes wrapped in the client's error
            refused = _cause(exc, SnapshotError)
            exc = refused if refused is not None else exc
            reason = getattr(exc, "reason", None)  # a source's error may carry its code
            if reason is not None:  # a clear error (e.g. a missing ACL): no traceback
                log.error("the service loop failed: %s", exc)
            else:
                log.exception("the service loop failed")
                reason = "snapshot_refused" if refused is not None else "runner_failed"
            self.error = exc
            self.readers.reason = reason
            self.readers.connected = False
            raise exc
        finally:
            self._close()

    def _run(self) -> None:
        if not self.source.open(self):
            return
        self.sink.open()
        self.store.open()
        s = self.settings
        last_lag = 0.0
        while not self.stop_event.is_set():
            for shard, batch in self.source.poll(s.poll_timeout_ms).items():
                proc = self.shards.get(shard)
                if proc is None:  # pragma: no cover - records of a revoked shard
                    continue
                self._process(shard, proc, batch)
            self._answer_flush_requests()
            now = self.clock()
            for shard, proc in list(self.shards.items()):
                housekeeping = proc.tick()
                if housekeeping:
                    self.sink.send(housekeeping, shard)
                proc.maybe_publish()
                if proc.snapshot_due(now) and self.readers.connected:  # else it could only fail
                    self.checkpoint(shard)
                proc.update_age(now)
            if now - last_lag >= LAG_EVERY:
                self._update_lag()
                last_lag = now
            self._check_outputs()
            if self.source.finished:
                log.info("the source has no more records")
                break
        if not self._final_snapshot:  # simulated crash (tests): leave without a checkpoint
            return
        for shard in list(self.shards):  # shutdown: a final checkpoint of every shard
            self.checkpoint(shard)
            self.shards[shard].maybe_publish(force=True)
        if self._lost_outputs:
            raise OutputError(f"{self._lost_outputs} output records were refused")

    def _process(self, shard: str, proc: Shard, batch: ShardBatch) -> None:
        first = self._first_batch and bool(batch.events or batch.labels)
        if first:
            log.info("learning (the first batch compiles the learner's kernels once)")
        out = proc.process(batch.events, batch.labels)
        if first:
            self._first_batch = False
            log.info("first batch done after %.2fs", time.perf_counter() - self._t_start)
        faults.point("batch")
        if out:
            self.sink.send(out, shard)

    def _answer_flush_requests(self) -> None:
        if not self._flush_requests:
            return
        try:
            self.sink.flush(timeout=120)
        except OutputError as exc:  # the broker is away: answer once it is back
            log.warning("flush: %s", exc)
            return
        while self._flush_requests:
            self._flush_requests.pop(0)()

    def _check_outputs(self) -> None:
        """Refused outputs stop the loop at once, not at the next checkpoint: a shard whose
        checkpoint cannot run (the group rebalancing, the coordinator unknown) would go on
        learning past them. At-least-once outputs: stop without committing past the lost
        records; a restart replays the records after the last snapshot and emits them again."""
        self._lost_outputs = max(self._lost_outputs, self.sink.errors)
        if self._lost_outputs:
            raise OutputError(
                f"{self._lost_outputs} output records were refused (see the log): stopping; "
                "a restart replays them from the last snapshot"
            )

    def _update_lag(self) -> None:
        for shard, proc in self.shards.items():
            for name, records in self.source.lag(shard, proc.state.offsets):
                self.recorder.lag(name, shard, records)

    def _close(self) -> None:
        for part in (self.source, self.store, self.sink):
            try:
                part.close()
            except Exception as exc:  # pragma: no cover
                log.warning("closing %s: %s", type(part).__name__, exc)


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the first of its causes that is a ``kind``."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, kind):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None
