"""The one service loop over in-memory sources, sinks and snapshot stores: checkpoint order,
restore and resume, rebalances, refused outputs, and the label-space monitors on the embedded
planted drift."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from itertools import islice

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from consumers.embedded import EmbeddedStream, embedded_loop, synthetic_stream
from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.schema import Schema
from streamlearn.service.contract import OutputError, OutRecord, encode_event
from streamlearn.service.loop import Loop, ShardBatch
from streamlearn.service.published import ServiceState
from streamlearn.service.shard import InRecord, Shard
from streamlearn.settings import Settings

LEARNER = "tests.support.learners:CentroidLearner"
LABELS = ["a", "b", "c"]


def events(n: int, seed: int, shard: str) -> list[InRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = rng.normal(size=4)
        y = rng.random(3) < 0.5
        x[0] += 2.0 * y[0]
        value = encode_event(f"{shard}-{i}", x, [LABELS[j] for j in np.flatnonzero(y)])
        out.append(InRecord("events", int(shard), i, value, f"{shard}-{i}".encode()))
    return out


class MemorySource:
    """Shards' event records in memory; ``rebalance`` = {poll number: (revoke, assign)}."""

    def __init__(
        self,
        records: dict[str, list[InRecord]],
        batch: int = 7,
        journal: list | None = None,
        rebalance: dict[int, tuple[list[str], list[str]]] | None = None,
    ) -> None:
        self.records = records
        self.batch = batch
        self.pos: dict[str, int] = {}
        self.committed: dict[str, dict[str, int]] = {}
        self.journal = journal if journal is not None else []
        self.rebalance = rebalance or {}
        self.polls = 0
        self.connected = False
        self.loop: Loop | None = None
        self.held: set[str] = set()

    @property
    def finished(self) -> bool:
        return all(self.pos.get(s, 0) >= len(r) for s, r in self.records.items())

    def open(self, loop: Loop) -> bool:
        self.loop = loop
        self.held = set(self.records)
        loop.assign(self.held)
        self.connected = loop.readers.connected = True
        return True

    def poll(self, timeout_ms: int) -> dict[str, ShardBatch]:
        self.polls += 1
        if self.polls in self.rebalance:
            revoke, assign = self.rebalance[self.polls]
            for shard, offsets in self.loop.revoke(revoke).items():
                self.commit(shard, offsets)
            self.held -= set(revoke)
            self.held |= set(assign)
            self.loop.assign(self.held)
        out = {}
        for shard in sorted(self.held):
            a = self.pos.get(shard, 0)
            recs = self.records[shard][a : a + self.batch]
            if recs:
                self.pos[shard] = a + len(recs)
                out[shard] = ShardBatch(recs, ())
        return out

    def seek(self, shard: str, offsets: Mapping[str, int]) -> None:
        self.pos[shard] = offsets.get("events", 0)

    def commit(self, shard: str, offsets: Mapping[str, int]) -> None:
        self.committed[shard] = dict(offsets)
        self.journal.append(("commit", shard, offsets.get("events")))

    def schema(self, shard: str) -> Schema | None:
        return None

    def lag(self, shard: str, offsets: Mapping[str, int]) -> Iterable[tuple[str, int]]:
        return [("events", len(self.records[shard]) - offsets.get("events", 0))]

    def close(self) -> None:
        pass


class MemorySink:
    def __init__(self, journal: list, refuse_after: int | None = None) -> None:
        self.journal = journal
        self.records: list[tuple[str, OutRecord]] = []
        self.refuse_after = refuse_after
        self.errors = 0

    def open(self) -> None:
        pass

    def send(self, records: list[OutRecord], shard: str) -> None:
        for r in records:
            if self.refuse_after is not None and len(self.records) >= self.refuse_after:
                self.errors += 1
            else:
                self.records.append((shard, r))

    def flush(self, timeout: float) -> None:
        self.journal.append(("flush", len(self.records)))

    def close(self) -> None:
        pass


class MemoryStore:
    def __init__(self, journal: list, data: dict[str, bytes] | None = None) -> None:
        self.journal = journal
        self.data = data if data is not None else {}
        self.loads: list[str] = []

    def open(self) -> None:
        pass

    def load(self, shard: str) -> bytes | None:
        self.loads.append(shard)
        return self.data.get(shard)

    def save(self, shard: str, data: bytes) -> int:
        self.data[shard] = data
        self.journal.append(("save", shard))
        return len(data)

    def where(self, shard: str) -> str:
        return f"memory/{shard}"

    def close(self) -> None:
        pass


def settings(**kw) -> Settings:
    base = {"learner": LEARNER, "labels": LABELS, "snapshot_interval_events": 20}
    base.update(kw)
    return Settings(**base)


def run(source: MemorySource, sink: MemorySink, store: MemoryStore, **kw) -> Loop:
    loop = Loop(settings(**kw), source, sink, store, ServiceState(), ServiceMetrics())
    loop.run()
    return loop


def predictions(sink: MemorySink) -> dict[tuple[str, int], bytes]:
    return {
        (shard, json.loads(r.value)["offset"]): r.value
        for shard, r in sink.records
        if r.kind == "predictions"
    }


def test_checkpoints_flush_then_save_then_commit_and_a_restart_resumes_exactly() -> None:
    recs = {"0": events(60, 0, "0"), "1": events(45, 1, "1")}
    journal: list = []
    sink, store = MemorySink(journal), MemoryStore(journal)
    loop = run(MemorySource(recs, journal=journal), sink, store)
    assert loop.error is None
    # every save follows a flush and precedes its commit
    for k, entry in enumerate(journal):
        if entry[0] == "save":
            assert journal[k - 1][0] == "flush" and journal[k + 1][:2] == ("commit", entry[1])
    assert {s: sh.version for s, sh in loop.shards.items()} == {"0": 60, "1": 45}
    straight = predictions(sink)
    assert len(straight) == 105

    # a crash after 33 events of shard 0 and 20 of shard 1, then a restart from the store
    journal2: list = []
    sink2, store2 = MemorySink(journal2), MemoryStore(journal2)
    first = {"0": recs["0"][:33], "1": recs["1"][:20]}
    src = MemorySource(first, journal=journal2)
    crashed = Loop(settings(), src, sink2, store2, ServiceState())
    crashed.run()
    saved = dict(store2.data)
    assert set(saved) == {"0", "1"}
    again = MemorySource(recs, journal=journal2)
    restarted = run(again, sink2, MemoryStore(journal2, saved))
    assert {s: sh.version for s, sh in restarted.shards.items()} == {"0": 60, "1": 45}
    np.testing.assert_array_equal(restarted.shards["0"].learner.sum1, loop.shards["0"].learner.sum1)
    assert predictions(sink2) == straight  # same records, byte for byte, nothing twice


def test_revoked_shards_are_checkpointed_and_kept_for_a_quick_return() -> None:
    recs = {"0": events(40, 2, "0"), "1": events(40, 3, "1")}
    journal: list = []
    store = MemoryStore(journal)
    # poll 3: an eager rebalance gives both shards back (kept, not loaded again); poll 5: shard 1
    # goes to another replica (forgotten); poll 7: it comes back (restored from the store)
    src = MemorySource(
        recs,
        journal=journal,
        rebalance={3: (["0", "1"], ["0", "1"]), 5: (["0", "1"], ["0"]), 7: (["0"], ["0", "1"])},
    )
    metrics = ServiceMetrics(CollectorRegistry())
    loop = Loop(
        settings(snapshot_interval_events=1000),
        src,
        MemorySink(journal),
        store,
        ServiceState(),
        metrics,
    )
    loop.run()
    assert loop.error is None
    k = journal.index(("save", "1"))  # at the first revocation, after 2 polls of 7
    assert ("commit", "1", 14) in journal[k:]
    assert store.loads == ["0", "1", "1"]  # at the start, and shard 1's return
    assert loop.shards["1"].version == 40 and loop.shards["0"].version == 40

    def restores(outcome: str) -> float:
        return metrics.registry.get_sample_value(
            "streamlearn_snapshot_restores_total", {"shard": "1", "outcome": outcome}
        )

    assert (restores("fresh"), restores("restored")) == (None, 1.0)  # series of the last stay


def test_refused_outputs_stop_the_loop_without_a_commit_past_them() -> None:
    recs = {"0": events(100, 4, "0")}
    journal: list = []
    src = MemorySource(recs, journal=journal)
    loop = Loop(
        settings(), src, MemorySink(journal, refuse_after=10), MemoryStore(journal), ServiceState()
    )
    with pytest.raises(OutputError, match="refused"):
        loop.run()
    assert "0" not in src.committed  # nothing committed past the refused records


def test_a_simulated_crash_leaves_without_a_final_checkpoint() -> None:
    recs = {"0": events(10, 5, "0")}
    journal: list = []

    class Crash(MemorySource):
        def poll(self, timeout_ms: int) -> dict[str, ShardBatch]:
            out = super().poll(timeout_ms)
            if self.polls == 1:
                self.loop.stop(final_snapshot=False)
            return out

    store = MemoryStore(journal)
    loop = Loop(
        settings(), Crash(recs, journal=journal), MemorySink(journal), store, ServiceState()
    )
    loop.run()
    assert loop.shards["0"].version == 7 and store.data == {}
    assert loop.revoke(["0"]) == {}  # no checkpoint at revocation either


def test_predecoded_events_give_the_predictions_of_their_json() -> None:
    """The embedded source's events are built from arrays; a shard fed their JSON (as Kafka
    delivers them) predicts and learns exactly the same."""
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(80, 4)), (rng.random((80, 3)) < 0.4).astype(np.uint8)
    schema = Schema(features=list("wxyz"), labels=LABELS)
    stream = EmbeddedStream("eq", schema, lambda start: zip(X[start:], Y[start:], strict=True))
    out: list[OutRecord] = []
    st = settings(rate=0, loop=False, snapshot_dir="/nonexistent-never-written", poll_max_records=9)
    loop = embedded_loop(st, ServiceState(), stream=stream, on_output=out.extend)
    loop.store.save = lambda shard, data: len(data)  # no files
    loop.run()
    shard = Shard.new("0", st, schema)
    json_recs = [
        InRecord("t", 0, i, encode_event(str(i), X[i], [LABELS[j] for j in np.flatnonzero(Y[i])]))
        for i in range(80)
    ]
    want = [r.value for k in range(0, 80, 9) for r in shard.process(json_recs[k : k + 9])]
    assert [r.value for r in out if r.kind == "predictions"] == want


def test_the_label_monitors_detect_the_embedded_planted_drift(tmp_path) -> None:
    """The embedded default's synthetic stream plants a label-structure drift, then a feature
    drift: the co-occurrence monitor and the per-label error monitors report them."""
    st = Settings(
        learner=LEARNER, snapshot_dir=tmp_path, rate=0, synth_drift_every=4000, loop=False
    )
    base = synthetic_stream(st)
    stream = EmbeddedStream(base.ident, base.schema, lambda s: islice(base.rows(s), 12_000 - s))
    drifts: list[dict] = []

    def keep(out: list[OutRecord]) -> None:
        drifts.extend(json.loads(r.value) for r in out if r.kind == "drift")

    metrics = ServiceMetrics(CollectorRegistry())
    embedded_loop(st, ServiceState(), metrics, stream=stream, on_output=keep).run()
    cooc = [d["index"] for d in drifts if d["detector"] == "JaccardCooccurrence"]
    assert cooc and 4000 <= cooc[0] < 4000 + 2 * st.cooccurrence_window  # labels drift at 4000
    assert all(i >= 4000 for i in cooc)  # no false alarm before it
    label = [d for d in drifts if d["level"] == "label"]
    assert any(8000 <= d["index"] < 8500 for d in label)  # the features drift at 8000
    assert all(d["shard"] == "0" and d["scope"] for d in label)
    got = metrics.registry.get_sample_value(
        "streamlearn_drift_events_total", {"shard": "0", "level": "label", "kind": "drift"}
    )
    assert got == len(label)
