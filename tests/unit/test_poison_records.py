"""No crash loop from any record, and bounded label and feature spaces: every record that the
decoder, the encoder or the learner cannot use is dead-lettered with its reason, and the shard
goes on with the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamlearn.service.shard import InRecord as Record
from streamlearn.settings import Settings
from tests.support.learners import CentroidLearner
from tests.unit.test_service_shard import Stream, by_kind, make_proc, make_settings, sample


def reasons(out) -> list[str]:
    return [dict(r.headers)["reason"].decode() for r in by_kind(out, "dlq")]


def event(off: int, body: dict | bytes) -> Record:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Record("t.events", 0, off, raw, None)


def test_a_huge_sparse_index_is_a_dead_letter_not_a_crash() -> None:
    proc, _ = make_proc(make_settings(sparse=True, n_features=4))
    raw = b'{"id": "p", "x": {"indices": [99999999999999999999], "values": [1]}, "labels": ["a"]}'
    out = proc.process(
        [
            event(0, raw),
            event(1, {"id": "ok", "x": {"indices": [1], "values": [2.0]}, "labels": ["a"]}),
        ]
    )
    assert reasons(out) == ["invalid_schema"]
    assert len(by_kind(out, "predictions")) == 1


def test_too_many_labels_in_one_record_or_in_total() -> None:
    proc, metrics = make_proc(
        make_settings(labels=None, unknown_labels=None, max_labels=5, max_labels_per_record=3)
    )
    out = proc.process(
        [
            event(0, {"id": "a", "x": [1, 2, 3, 4], "labels": ["l1", "l2"]}),
            event(1, {"id": "b", "x": [1, 2, 3, 4], "labels": ["l1", "l2", "l3", "l4"]}),
            event(2, {"id": "c", "x": [1, 2, 3, 4], "labels": ["l3", "l4", "l5"]}),  # 5 in all
            event(3, {"id": "d", "x": [1, 2, 3, 4], "labels": ["l6"]}),  # a 6th: refused
            event(4, {"id": "e", "x": [1, 2, 3, 4], "labels": ["l1"]}),
        ]
    )
    assert reasons(out) == ["too_many_labels", "too_many_labels"]
    assert proc.state.schema.n_labels == 5
    assert sample(metrics, "streamlearn_events_learned_total", shard="0") == 3
    assert sample(metrics, "streamlearn_dlq_total", reason="too_many_labels", source="events") == 2


def test_configured_labels_refuse_unknown_labels_by_default() -> None:
    assert Settings(labels=["a"]).label_policy == "reject"
    assert Settings().label_policy == "grow"
    assert Settings(labels=["a"], unknown_labels="grow").label_policy == "grow"
    proc, _ = make_proc(make_settings(unknown_labels=None))
    out = proc.process([event(0, {"id": "a", "x": [1, 2, 3, 4], "labels": ["zzz"]})])
    assert reasons(out) == ["unknown_label"]


def test_an_inferred_feature_space_is_capped() -> None:
    proc, _ = make_proc(make_settings(max_features=10))
    out = proc.process(
        [
            event(0, {"id": "big", "x": [0.0] * 11, "labels": ["a"]}),
            event(1, {"id": "ok", "x": [0.0] * 10, "labels": ["a"]}),
        ]
    )
    assert reasons(out) == ["wrong_dimensions"]
    assert proc.state.schema.n_features == 10


class FailsOn(CentroidLearner):
    """A learner that raises on rows whose first feature is 666, and when learning (not
    predicting) rows whose first feature is 777 (a learner bug's victims)."""

    @staticmethod
    def _check(X, bad: tuple[int, ...] = (666,)) -> None:
        first = X[:, 0] if isinstance(X, np.ndarray) else np.zeros(0)
        if np.any(np.isin(first, bad)):
            raise FloatingPointError(f"the kernel cannot handle {bad}")

    def predict_learn_many(self, X, Y, known=None):
        self._check(X)
        return super().predict_learn_many(X, Y, known=known)

    def predict_proba_many(self, X):
        self._check(X)
        return super().predict_proba_many(X)

    def learn_many(self, X, Y, known=None):
        self._check(X, (666, 777))
        return super().learn_many(X, Y, known=known)


@pytest.mark.parametrize("labelled", [True, False])
def test_a_record_the_learner_fails_on_is_dead_lettered_and_the_rest_learned(
    labelled: bool,
) -> None:
    proc, metrics = make_proc(
        make_settings(learner="tests.unit.test_poison_records:FailsOn", labels=["a", "b", "c"])
    )
    s = Stream(1)
    warm = [s.event() for _ in range(5)]
    proc.process(warm)
    bad = {"id": "bad", "x": [666, 1, 2, 3]}
    if labelled:
        bad["labels"] = ["a"]
    recs = [s.event(labelled), event(s.ev_off, bad), s.event(labelled)]
    s.ev_off += 1
    recs[2] = recs[2]._replace(offset=s.ev_off)
    out = proc.process(recs)
    assert reasons(out) == ["learner_error"]
    assert dict(by_kind(out, "dlq")[0].headers)["source_offset"] == str(recs[1].offset).encode()
    assert len(by_kind(out, "predictions")) == 2
    learned = sample(metrics, "streamlearn_events_learned_total", shard="0")
    assert learned == 5 + (2 if labelled else 0)
    # unlabelled: the two good events wait for their labels and are learned when they come
    if not labelled:
        ids = [json.loads(r.value)["id"] for r in (recs[0], recs[2])]
        joined = proc.process([], [s.labels(i) for i in ids])
        assert reasons(joined) == [] and proc.state.counts["events_learned"] == 7


def test_a_late_label_the_learner_fails_on_is_dead_lettered() -> None:
    proc, _ = make_proc(
        make_settings(learner="tests.unit.test_poison_records:FailsOn", labels=["a", "b", "c"])
    )
    s = Stream(1)
    proc.process([s.event() for _ in range(3)])
    proc.process(
        [event(3, {"id": "bad", "x": [777, 1, 2, 3]}), event(4, {"id": "good", "x": [1, 1, 2, 3]})]
    )
    out = proc.process(
        [],
        [
            Record("t.labels", 0, 0, b'{"id": "bad", "labels": ["a"]}', None),
            Record("t.labels", 0, 1, b'{"id": "good", "labels": ["b"]}', None),
        ],
    )
    assert reasons(out) == ["learner_error"]
    assert dict(by_kind(out, "dlq")[0].headers)["source_topic"] == b"t.labels"
    assert proc.state.counts["events_learned"] == 4 and proc.state.counts["labels_joined"] == 1


def test_outputs_are_cut_to_the_topic_record_limit_never_refused() -> None:
    from streamlearn.service.contract import Prediction

    many = [f"label-{j:04d}" for j in range(400)]
    proc, _ = make_proc(make_settings(labels=many, max_output_bytes=2048))
    out = proc.process(
        [
            event(i, {"id": f"e{i}", "x": [i, 1, 2, 3], "labels": many[i : i + 40]})
            for i in range(20)
        ]
    )
    preds = by_kind(out, "predictions")
    assert len(preds) == 20 and reasons(out) == []
    for r in preds:
        assert len(r.value) <= 2048
        p = Prediction.model_validate_json(r.value)
        assert p.omitted is not None and p.omitted + len(p.proba) == len(many)
        top = sorted(p.proba.values(), reverse=True)
        assert list(p.proba.values()) == top  # the highest probabilities are the ones kept
    small = make_proc(make_settings(labels=many))[0].process(
        [event(0, {"id": "x", "x": [1, 1, 2, 3]})]
    )
    assert Prediction.model_validate_json(by_kind(small, "predictions")[0].value).omitted is None
