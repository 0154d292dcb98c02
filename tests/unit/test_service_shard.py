"""The per-shard step: test-then-train order, late labels, DLQ, metrics, snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from streamlearn.observability.metrics import ServiceMetrics
from streamlearn.schema import Schema
from streamlearn.service.published import ServiceState
from streamlearn.service.shard import InRecord as Record
from streamlearn.service.shard import Shard
from streamlearn.settings import Settings
from tests.support.learners import CentroidLearner
from tests.support.prequential import metric_values

LEARNER = "tests.support.learners:CentroidLearner"
LABELS = ["a", "b", "c"]


def make_settings(**kw) -> Settings:
    base = {"learner": LEARNER, "labels": LABELS, "unknown_labels": "reject", "metric_windows": [5]}
    base.update(kw)
    return Settings(**base)


def make_proc(settings: Settings | None = None, **kw) -> tuple[Shard, ServiceMetrics]:
    metrics = ServiceMetrics(CollectorRegistry())
    proc = Shard.new("0", settings or make_settings(), recorder=metrics.shard("0"), **kw)
    return proc, metrics


def sample(metrics: ServiceMetrics, name: str, **labels) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


class Stream:
    """Builds event / label records with consecutive offsets, and remembers the truth."""

    def __init__(self, seed: int = 0, nf: int = 4) -> None:
        self.rng = np.random.default_rng(seed)
        self.nf = nf
        self.ev_off = 0
        self.lab_off = 0
        self.truth: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def event(self, labelled: bool = True, raw: bytes | None = None) -> Record:
        off = self.ev_off
        self.ev_off += 1
        if raw is None:
            x = self.rng.normal(size=self.nf)
            y = (self.rng.random(len(LABELS)) < 0.5).astype(np.uint8)
            x[0] += 2.0 * y[0]  # something to learn
            eid = f"e{off}"
            self.truth[eid] = (x, y)
            body = {"id": eid, "x": x.tolist()}
            if labelled:
                body["labels"] = [LABELS[j] for j in np.flatnonzero(y)]
            raw = json.dumps(body).encode()
        return Record("t.events", 0, off, raw, None)

    def labels(self, eid: str, raw: bytes | None = None) -> Record:
        off = self.lab_off
        self.lab_off += 1
        if raw is None:
            y = self.truth[eid][1]
            raw = json.dumps({"id": eid, "labels": [LABELS[j] for j in np.flatnonzero(y)]}).encode()
        return Record("t.labels", 0, off, raw, None)


def by_kind(out, kind: str) -> list:
    return [r for r in out if r.kind == kind]


def twin() -> CentroidLearner:
    m = CentroidLearner()
    m.set_schema(Schema(features=[f"x{i}" for i in range(4)], labels=LABELS))
    return m


def test_strict_test_then_train_matches_naive_twin() -> None:
    proc, metrics = make_proc()
    s = Stream()
    preds = []
    for size in (1, 7, 3, 20, 2, 9):
        out = proc.process([s.event() for _ in range(size)])
        preds += [json.loads(r.value) for r in by_kind(out, "predictions")]
    assert len(preds) == 42
    m = twin()
    for k, p in enumerate(preds):
        x, y = s.truth[p["id"]]
        expected = m.predict_proba_many(x[None])[0]  # predict first ...
        m.learn_many(x[None], y[None])  # ... then learn
        assert p["offset"] == k and p["model_version"] == k
        assert [p["proba"][lab] for lab in LABELS] == expected.tolist()
        assert p["labels"] == [lab for lab, v in zip(LABELS, expected) if v > 0.5]
    np.testing.assert_array_equal(proc.learner.sum1, m.sum1)
    assert proc.state.offsets == {"events": 42}
    assert sample(metrics, "streamlearn_events_learned_total", shard="0") == 42
    assert sample(metrics, "streamlearn_events_predicted_total", shard="0") == 42


def test_late_labels_join_through_pending_store() -> None:
    proc, metrics = make_proc()
    s = Stream(1)
    m = twin()
    evs = [s.event(labelled=(k % 3 == 0)) for k in range(12)]
    out = proc.process(evs[:6])
    out += proc.process(evs[6:], [s.labels("e1"), s.labels("e2")])
    out += proc.process([], [s.labels(f"e{k}") for k in (4, 5, 7, 8, 10)])
    preds = {json.loads(r.value)["id"]: json.loads(r.value) for r in by_kind(out, "predictions")}
    # twin: batch 1 events; batch 2 events then labels e1, e2; batch 3 labels
    order = [("ev", k) for k in range(6)]
    order += [("ev", k) for k in range(6, 12)] + [("lab", 1), ("lab", 2)]
    order += [("lab", k) for k in (4, 5, 7, 8, 10)]
    Yt, Pt = [], []
    stored = {}
    for kind, k in order:
        x, y = s.truth[f"e{k}"]
        if kind == "ev":
            p = m.predict_proba_many(x[None])[0]
            assert [preds[f"e{k}"]["proba"][lab] for lab in LABELS] == p.tolist()
            if k % 3 == 0:
                m.learn_many(x[None], y[None])
                Yt.append(y), Pt.append(p > 0.5)
            else:
                stored[k] = p
        else:
            m.learn_many(x[None], y[None])
            Yt.append(y), Pt.append(stored[k] > 0.5)
    np.testing.assert_array_equal(proc.learner.sum1, m.sum1)
    np.testing.assert_array_equal(proc.learner.n0, m.n0)
    assert len(proc.state.join.pending) == 1  # e11 still waits
    assert sample(metrics, "streamlearn_labels_joined_total", shard="0") == 7
    assert sample(metrics, "streamlearn_events_learned_total", shard="0") == 4 + 7
    assert sample(metrics, "streamlearn_pending_size", shard="0") == 1
    # prequential metrics score the predictions made when the events arrived
    want = metric_values(np.vstack(Yt), np.vstack(Pt))
    for name, v in want.items():
        got = sample(metrics, f"streamlearn_prequential_{name}", shard="0", window="cumulative")
        assert got == pytest.approx(v)
    want5 = metric_values(np.vstack(Yt[-5:]), np.vstack(Pt[-5:]))
    assert sample(
        metrics, "streamlearn_prequential_micro_f1", shard="0", window="5"
    ) == pytest.approx(want5["micro_f1"])
    assert proc.state.offsets == {"events": 12, "labels": 7}


def test_bad_records_go_to_the_dlq_and_the_rest_is_processed() -> None:
    proc, metrics = make_proc()
    s = Stream(2)
    recs = [
        s.event(),
        s.event(raw=b"{broken"),
        s.event(),
        s.event(raw=b'{"id": "z", "x": [1, 2]}'),  # 2 features, the space has 4
        s.event(raw=b'{"id": "q", "x": [1, 2, 3, 4], "labels": ["nope"]}'),
        s.event(raw=b""),
        s.event(),
    ]
    out = proc.process(recs, [s.labels("x", raw=b'{"id": "never-seen", "labels": []}')])
    out += proc.tick()  # the orphan label waits for its event ...
    assert len(by_kind(out, "dlq")) == 4
    proc.clock = proc.state.join.orphans.clock = lambda: 1e12  # ... until the orphan TTL is over
    out += proc.tick()
    dlq = by_kind(out, "dlq")
    reasons = [dict(r.headers)["reason"].decode() for r in dlq]
    assert reasons == [
        "invalid_json",
        "wrong_dimensions",
        "unknown_label",
        "empty",
        "unmatched_label",
    ]
    assert [dict(r.headers)["source_offset"] for r in dlq] == [b"1", b"3", b"4", b"5", b"0"]
    assert dict(dlq[0].headers)["source_topic"] == b"t.events"
    assert dict(dlq[-1].headers)["source_topic"] == b"t.labels"
    assert dlq[0].value == b"{broken"
    assert len(by_kind(out, "predictions")) == 3
    assert sample(metrics, "streamlearn_dlq_total", reason="invalid_json", source="events") == 1
    assert sample(metrics, "streamlearn_dlq_total", reason="unmatched_label", source="labels") == 1
    assert sample(metrics, "streamlearn_events_consumed_total", shard="0") == 7
    assert sample(metrics, "streamlearn_events_learned_total", shard="0") == 3
    assert proc.state.offsets["events"] == 7


def test_ttl_and_size_evictions_are_counted() -> None:
    now = [1000.0]
    proc, metrics = make_proc(
        make_settings(pending_ttl_seconds=10, pending_max_size=3), clock=lambda: now[0]
    )
    s = Stream(3)
    proc.process([s.event(labelled=False) for _ in range(5)])  # e0, e1 evicted by size
    assert sample(metrics, "streamlearn_pending_evictions_total", shard="0", reason="size") == 2
    now[0] += 11
    out = proc.process([], [s.labels("e2")])  # expired before the batch expiry runs
    assert [dict(r.headers)["reason"] for r in by_kind(out, "dlq")] == [b"unmatched_label"]
    assert b"pending TTL" in dict(by_kind(out, "dlq")[0].headers)["error"]
    assert sample(metrics, "streamlearn_pending_evictions_total", shard="0", reason="ttl") == 3
    assert sample(metrics, "streamlearn_pending_size", shard="0") == 0


@pytest.mark.parametrize("policy", ["ignore", "grow", "reject"])
def test_unknown_label_policies(policy: str) -> None:
    proc, metrics = make_proc(make_settings(unknown_labels=policy))
    raw = b'{"id": "n", "x": [1, 2, 3, 4], "labels": ["a", "new"]}'
    out = proc.process(
        [
            Record("t", 0, 0, b'{"id": "m", "x": [0, 0, 0, 1], "labels": ["b"]}'),
            Record("t", 0, 1, raw),
        ]
    )
    if policy == "reject":
        assert [dict(r.headers)["reason"] for r in by_kind(out, "dlq")] == [b"unknown_label"]
        assert proc.state.schema.labels == LABELS
    elif policy == "ignore":
        assert not by_kind(out, "dlq") and proc.learner.n1.tolist() == [1, 1, 0]
    else:
        assert not by_kind(out, "dlq")
        assert proc.state.schema.labels == [*LABELS, "new"]
        assert proc.learner.schema.labels == [*LABELS, "new"]
        assert proc.learner.n1.tolist() == [1, 1, 0, 1]
        pred = json.loads(by_kind(out, "predictions")[1].value)
        assert set(pred["proba"]) == {*LABELS, "new"}


def test_learner_that_cannot_grow_sends_the_event_to_the_dlq() -> None:
    st = make_settings(unknown_labels="grow", learner_params={"grows": False})
    proc, _ = make_proc(st)
    out = proc.process(
        [
            Record("t", 0, 0, b'{"id": "m", "x": [0, 0, 0, 1], "labels": ["b"]}'),
            Record("t", 0, 1, b'{"id": "n", "x": [1, 2, 3, 4], "labels": ["zz"]}'),
            Record("t", 0, 2, b'{"id": "o", "x": [1, 2, 3, 4], "labels": ["a"]}'),
        ]
    )
    dlq = by_kind(out, "dlq")
    assert [dict(r.headers)["reason"] for r in dlq] == [b"unknown_label"]
    assert b"cannot grow" in dict(dlq[0].headers)["error"]
    assert proc.state.schema.labels == LABELS and proc.version == 2


def test_label_space_learned_from_events_when_not_configured() -> None:
    proc, _ = make_proc(Settings(learner=LEARNER))
    out = proc.process(
        [
            Record("t", 0, 0, b'{"id": "u", "x": {"f": 1, "g": 2}}'),  # no label yet: no model
            Record("t", 0, 1, b'{"id": "m", "x": {"g": 1}, "labels": ["b", "a"]}'),
            Record("t", 0, 2, b'{"id": "n", "x": {"f": 3}, "labels": ["c"]}'),
        ]
    )
    preds = [json.loads(r.value) for r in by_kind(out, "predictions")]
    assert preds[0]["proba"] == {} and preds[0]["labels"] == []
    assert list(preds[2]["proba"]) == ["b", "a", "c"]
    assert proc.state.schema.features == ["f", "g"]
    assert proc.version == 2


def test_partial_label_answers_learn_only_known_labels() -> None:
    proc, _ = make_proc()
    proc.process([Record("t", 0, 0, b'{"id": "u", "x": [1, 1, 1, 1]}')])
    proc.process([], [Record("l", 0, 0, b'{"id": "u", "labels": ["a"], "known": ["b"]}')])
    # a known true, b known false, c unknown
    assert proc.learner.n1.tolist() == [1, 0, 0]
    assert proc.learner.n0.tolist() == [0, 1, 0]


class AskUncertain:
    budget_used = 0.25

    def __init__(self) -> None:
        self.calls = []

    def decide(self, proba_row: np.ndarray, n_seen: int) -> np.ndarray:
        self.calls.append(n_seen)
        return (proba_row > 0.2) & (proba_row < 0.8)


def test_active_learning_hook_emits_label_requests() -> None:
    hook = AskUncertain()
    proc, metrics = make_proc(hook=hook)
    s = Stream(4)
    proc.process([s.event() for _ in range(10)])
    out = proc.process([s.event(labelled=False) for _ in range(5)])
    reqs = [json.loads(r.value) for r in by_kind(out, "label-requests")]
    preds = {json.loads(r.value)["id"]: json.loads(r.value) for r in by_kind(out, "predictions")}
    assert len(hook.calls) == 5  # only unlabelled events are offered to the policy
    asked = 0
    for eid, p in preds.items():
        want = [lab for lab in LABELS if 0.2 < p["proba"][lab] < 0.8]
        got = [r for r in reqs if r["id"] == eid]
        if want:
            assert got[0]["labels_asked"] == want and got[0]["x"] == s.truth[eid][0].tolist()
            assert 0.0 <= got[0]["score"] <= 1.0
            asked += len(want)
        else:
            assert not got
    assert sample(metrics, "streamlearn_label_requests_total", shard="0") == len(reqs)
    assert sample(metrics, "streamlearn_labels_requested_total", shard="0") == asked
    assert sample(metrics, "streamlearn_label_budget_used", shard="0") == 0.25


def test_drift_events_become_records_and_metrics() -> None:
    proc, metrics = make_proc(make_settings(learner_params={"drift_every": 4}))
    s = Stream(5)
    out = proc.process([s.event() for _ in range(13)])
    drift = [json.loads(r.value) for r in by_kind(out, "drift")]
    assert [d["index"] for d in drift] == [4, 8, 12]
    assert [d["kind"] for d in drift] == ["split", "drift", "split"]
    assert all(d["shard"] == "0" and d["level"] == "global" for d in drift)
    assert (
        sample(metrics, "streamlearn_drift_events_total", shard="0", level="global", kind="split")
        == 2
    )
    assert sample(metrics, "streamlearn_restructures_total", shard="0") == 2


def test_snapshot_restore_continues_exactly() -> None:
    s = Stream(6)
    batches = [
        [s.event(labelled=(k % 4 != 1)) for k in range(b * 10, b * 10 + 10)] for b in range(4)
    ]
    lab = [[s.labels(f"e{k}") for k in range(b * 10, b * 10 + 10) if k % 4 == 1] for b in range(4)]
    straight, _ = make_proc()
    want = [straight.process(batches[b], lab[b]) for b in range(4)]

    first, _ = make_proc()
    first.process(batches[0], lab[0])
    first.process(batches[1], lab[1])
    blob = first.snapshot()
    metrics = ServiceMetrics(CollectorRegistry())
    restored = Shard.restore(blob, make_settings(), recorder=metrics.shard("0"))
    assert restored.state.offsets == {"events": 20, "labels": 5}
    got = [restored.process(batches[b], lab[b]) for b in (2, 3)]
    assert [r.value for r in got[0] + got[1]] == [r.value for r in want[2] + want[3]]
    np.testing.assert_array_equal(restored.learner.sum1, straight.learner.sum1)
    # counters resume from the snapshot: every instance counted once
    assert sample(metrics, "streamlearn_events_learned_total", shard="0") == straight.version == 40


def test_publication_cadence_and_immutability() -> None:
    now = [0.0]
    state = ServiceState()
    proc, metrics = make_proc(
        make_settings(publish_every_events=10, publish_interval_ms=1000),
        readers=state,
        clock=lambda: now[0],
    )
    s = Stream(7)
    proc.process([s.event() for _ in range(3)])
    assert proc.maybe_publish() is not None  # first publication
    proc.process([s.event() for _ in range(3)])
    assert proc.maybe_publish() is None  # 3 events, 0 ms: not yet
    now[0] += 1.5
    mv = proc.maybe_publish()
    assert mv is not None and mv.version == 6 and state.model() is mv
    x = np.ones((1, 4))
    before = mv.model.predict_proba_many(x)
    proc.process([s.event() for _ in range(9)])
    assert proc.maybe_publish() is None
    proc.process([s.event()])
    mv2 = proc.maybe_publish()
    assert mv2.version == 16 and state.model() is mv2
    np.testing.assert_array_equal(mv.model.predict_proba_many(x), before)  # old copy untouched
    assert not np.array_equal(mv2.model.predict_proba_many(x), before)
    assert sample(metrics, "streamlearn_model_version", shard="0") == 16
    assert sample(metrics, "streamlearn_model_publications_total", shard="0") == 3
    assert sample(metrics, "streamlearn_clusters", shard="0") == 1


def test_snapshot_due_by_events_and_time() -> None:
    now = [0.0]
    proc, _ = make_proc(
        make_settings(snapshot_interval_events=5, snapshot_interval_seconds=30),
        clock=lambda: now[0],
    )
    proc.state.created = 0.0
    s = Stream(8)
    assert not proc.snapshot_due()
    proc.process([s.event() for _ in range(4)])
    assert not proc.snapshot_due()
    proc.process([s.event()])
    assert proc.snapshot_due()
    proc.mark_snapshot(10, 0.01)
    assert not proc.snapshot_due()
    proc.process([s.event()])
    assert not proc.snapshot_due()
    now[0] += 31
    assert proc.snapshot_due()


def test_labels_before_their_event_wait_as_orphans() -> None:
    now = [0.0]
    proc, metrics = make_proc(make_settings(orphan_ttl_seconds=5), clock=lambda: now[0])
    s = Stream(9)
    e0, e1, e2 = (s.event(labelled=False) for _ in range(3))
    early = [s.labels("e0"), s.labels("e1")]
    partial = s.labels("x", raw=b'{"id": "e2", "labels": ["a"], "known": ["a", "b"]}')
    out = proc.process([], [*early, partial])
    assert not by_kind(out, "dlq") and len(proc.state.join.orphans) == 3
    out = proc.process([e0, e1, e2])
    m = twin()
    for k in (0, 1):  # complete labels: the events are learned in the test-then-train order
        x, y = s.truth[f"e{k}"]
        p = json.loads(by_kind(out, "predictions")[k].value)
        assert [p["proba"][lab] for lab in LABELS] == m.predict_proba_many(x[None])[0].tolist()
        assert p["model_version"] == k
        m.learn_many(x[None], y[None])
    x2 = s.truth["e2"][0]  # partial answer: predicted, then joined (a, b known; c not)
    m.learn_many(x2[None], np.array([[1, 0, 0]]), known=np.array([[True, True, False]]))
    np.testing.assert_array_equal(proc.learner.sum1, m.sum1)
    np.testing.assert_array_equal(proc.learner.n0, m.n0)
    assert len(proc.state.join.orphans) == 0 and len(proc.state.join.pending) == 0
    assert sample(metrics, "streamlearn_labels_joined_total", shard="0") == 3
    # an orphan whose event never comes is a dead letter once its TTL is over
    proc.process([], [s.labels("x", raw=b'{"id": "ghost", "labels": ["a"]}')])
    now[0] += 6
    dlq = by_kind(proc.tick(), "dlq")
    assert [dict(r.headers)["reason"] for r in dlq] == [b"unmatched_label"]
    assert b"waited 5 s for its event" in dict(dlq[0].headers)["error"]


def test_prequential_gauges_with_the_library_metrics() -> None:
    """The shard's gauges equal the naive recomputation (streamlearn.metrics behind them)."""
    proc, metrics = make_proc()
    s = Stream(10)
    out = proc.process([s.event() for _ in range(30)])
    preds = [json.loads(r.value) for r in by_kind(out, "predictions")]
    P = np.array([[p["proba"][lab] > 0.5 for lab in LABELS] for p in preds])
    Y = np.vstack([s.truth[p["id"]][1] for p in preds])
    for window, rows in (("cumulative", slice(None)), ("5", slice(-5, None))):
        want = metric_values(Y[rows], P[rows])
        for name, v in want.items():
            got = sample(metrics, f"streamlearn_prequential_{name}", shard="0", window=window)
            assert got == pytest.approx(v), (window, name)


def test_active_learning_policy_from_the_settings_snapshots_with_the_shard() -> None:
    st = make_settings(active_learning="rvu", label_budget=0.5)
    proc, metrics = make_proc(st)
    s = Stream(11)
    proc.process([s.event() for _ in range(20)])
    out = proc.process([s.event(labelled=False) for _ in range(40)])
    reqs = [json.loads(r.value) for r in by_kind(out, "label-requests")]
    hook = proc.state.hook
    assert hook is not None and reqs
    assert sum(len(r["labels_asked"]) for r in reqs) == hook.labels_asked_
    assert 0 < hook.budget_used <= 0.5 + 1e-9
    assert sample(metrics, "streamlearn_label_budget_used", shard="0") == hook.budget_used
    # the policy's state is in the snapshot: a restored shard asks exactly what it would have
    blob = proc.snapshot()
    more = [s.event(labelled=False) for _ in range(30)]
    want = [r.value for r in by_kind(proc.process(more), "label-requests")]
    restored = Shard.restore(blob, st)
    got = [r.value for r in by_kind(restored.process(more), "label-requests")]
    assert got == want
