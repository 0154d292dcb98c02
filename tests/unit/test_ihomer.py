"""Behaviour of iHOMER (streamlearn.multilabel.ihomer) as docs/learners.md promises it.

The clusterer has its own tests (test_odac.py) and the generic contract is in
test_estimator_checks.py; these tests check the learner on synthetic streams with planted label
groups and label-correlation drifts (streamlearn.stream.synth), through the public API:
``describe()`` (clusters, hierarchy, counters), ``pop_events()``, the array API and the
constructor parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from streamlearn.multilabel.ihomer import IHOMER
from streamlearn.multilabel.mlhat import MLHAT
from streamlearn.schema import Schema
from streamlearn.stream.synth import Drift, make_stream

THR = 0.4  # the trees' (and so iHOMER's) default decision threshold
#: Event kinds iHOMER documents: the clusterer's (split, merge, new_label), its own
#: (restructure, takeover) and the global detector's (drift).
KINDS = {"split", "merge", "new_label", "restructure", "takeover", "drift"}


def _acc(P: np.ndarray, Y: np.ndarray) -> float:
    return float(((P > THR) == Y.astype(bool)).mean())


def _model(**kw) -> IHOMER:
    kw.setdefault("tree", MLHAT(grace_period=20))
    return IHOMER(**kw)


def _planted(groups: list[list[int]], L: int) -> np.ndarray:
    out = np.full(L, -1)
    for g, members in enumerate(groups):
        out[members] = g
    return out


def _owner_labels(desc: dict) -> np.ndarray:
    """Cluster (tree id) that owns each label, from describe()."""
    names = desc["labels"]
    out = np.full(len(names), -1)
    for c in desc["clusters"]:
        for lab in c["owns"]:
            assert out[names.index(lab)] == -1, f"{lab} owned twice"
            out[names.index(lab)] = c["tree"]
    return out


def _hierarchy_leaves(node: dict) -> list[list[int]]:
    if not node["children"]:
        return [node["labels"]] if node["active"] else []
    return [leaf for child in node["children"] for leaf in _hierarchy_leaves(child)]


def _run(model: IHOMER, X, Y, size: int = 250, check=None):
    """predict_learn_many in batches; all events; ``check(model, stop)`` after each batch."""
    P, events = np.zeros(Y.shape), []
    for a in range(0, len(Y), size):
        b = min(len(Y), a + size)
        P[a:b] = model.predict_learn_many(X[a:b], Y[a:b])
        events += model.pop_events()
        if check is not None:
            check(model, b)
    return P, events


def _check_describe(model: IHOMER, seen: int) -> None:
    """describe() is consistent: a cluster per tree with labels, size, age and accuracy; every
    label owned by exactly one cluster; the hierarchy's active leaves partition the labels."""
    d = model.describe()
    L = d["n_labels"]
    assert d["n_samples_seen"] == seen
    owner = _owner_labels(d)
    assert (owner >= 0).all(), "every label is predicted by some cluster"
    assert sum(len(c["owns"]) for c in d["clusters"]) == L
    for c in d["clusters"]:
        assert c["size"] == len(c["labels"]) >= 1
        assert set(c["owns"]) <= set(c["labels"])
        assert c["age"] == seen - c["created_at"]
        assert 0 <= c["age"] <= seen
        assert c["accuracy"] is None or 0.0 <= c["accuracy"] <= 1.0
        assert c["recent_accuracy"] is None or 0.0 <= c["recent_accuracy"] <= 1.0
        if c["owns"] and c["age"] > 0:
            assert c["accuracy"] is not None
    if d["hierarchy"] is not None:
        leaves = _hierarchy_leaves(d["hierarchy"])
        assert sorted(x for leaf in leaves for x in leaf) == list(range(L))


# ---------------------------------------------------------------------------------- partition


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learned_partition_recovers_the_planted_label_groups(seed):
    s = make_stream(2000, n_features=20, n_labels=9, n_groups=3, seed=seed)
    ds = s.dataset
    model = _model().set_schema(ds.schema)
    P, events = _run(model, ds.X, ds.Y, check=_check_describe)
    d = model.describe()
    planted = _planted(s.groups[0], 9)
    assert adjusted_rand_score(planted, _owner_labels(d)) >= 0.9
    leaves = _hierarchy_leaves(d["hierarchy"])
    assert adjusted_rand_score(planted, _planted(leaves, 9)) >= 0.9
    assert {e.kind for e in events} <= KINDS
    assert d["n_restructures"] == sum(e.kind == "restructure" for e in events) >= 1
    assert d["n_global_drifts"] == sum(e.level == "global" for e in events)
    assert _acc(P[1000:], ds.Y[1000:]) > 0.95


def test_prediction_is_the_union_of_the_cluster_trees():
    """With a fixed (random) partition, iHOMER's probabilities for a cluster's labels are
    exactly those of an MLHAT learning these labels alone (shared rows and neighbour search
    change nothing), and its decisions are the probabilities above the threshold."""
    ds = make_stream(1200, n_features=15, n_labels=8, n_groups=2, seed=3).dataset
    model = _model(partition="random", n_random_clusters=3, seed=5).set_schema(ds.schema)
    P = model.predict_learn_many(ds.X, ds.Y)
    clusters = model.describe()["clusters"]
    assert len(clusters) == 3
    names = list(ds.schema.labels)
    for c in clusters:
        assert c["owns"] == c["labels"]
        idx = [names.index(lab) for lab in c["labels"]]
        alone = MLHAT(grace_period=20).set_schema(
            Schema(features=ds.schema.features, labels=c["labels"])
        )
        np.testing.assert_array_equal(P[:, idx], alone.predict_learn_many(ds.X, ds.Y[:, idx]))
        np.testing.assert_array_equal(
            model.predict_proba_many(ds.X[:100])[:, idx], alone.predict_proba_many(ds.X[:100])
        )
    Q = model.predict_proba_many(ds.X[:300])
    np.testing.assert_array_equal(model.predict_many(ds.X[:300]), Q > model.threshold)
    assert model.threshold == THR


def test_cluster_accuracy_in_describe_is_its_trees_label_accuracy():
    ds = make_stream(1000, n_features=15, n_labels=8, n_groups=2, seed=4).dataset
    model = _model(partition="random", n_random_clusters=2, seed=1).set_schema(ds.schema)
    P = model.predict_learn_many(ds.X, ds.Y)
    names = list(ds.schema.labels)
    for c in model.describe()["clusters"]:
        idx = [names.index(lab) for lab in c["labels"]]
        assert c["accuracy"] == pytest.approx(_acc(P[:, idx], ds.Y[:, idx]), abs=1e-12)


def test_single_partition_is_one_mlhat():
    s = make_stream(1500, n_features=15, n_labels=8, n_groups=2, drifts=[Drift(700)], seed=3)
    ds = s.dataset
    model = _model(partition="single").set_schema(ds.schema)
    P, events = _run(model, ds.X, ds.Y)
    ref = MLHAT(grace_period=20).set_schema(ds.schema).predict_learn_many(ds.X, ds.Y)
    np.testing.assert_array_equal(P, ref)
    d = model.describe()
    assert len(d["clusters"]) == 1 and d["clusters"][0]["labels"] == d["labels"]
    assert d["hierarchy"] is None and d["n_restructures"] == 0
    # the first tree starts in the background (owning the labels nobody owns) and becomes
    # warm once: no other structural event
    assert {e.kind for e in events} <= {"drift", "takeover"}
    assert sum(e.kind == "takeover" for e in events) <= 1


def test_random_partition_is_seeded_and_fixed():
    s = make_stream(1500, n_features=15, n_labels=9, n_groups=3, drifts=[Drift(700)], seed=6)
    ds = s.dataset

    def run(seed):
        model = _model(partition="random", n_random_clusters=3, seed=seed).set_schema(ds.schema)
        parts = []

        def check(m, stop):
            parts.append(sorted(tuple(c["labels"]) for c in m.describe()["clusters"]))

        P, events = _run(model, ds.X, ds.Y, check=check)
        return P, events, parts

    a, b = run(7), run(7)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[2] == b[2]
    # the partition never changes, whatever the stream does
    assert all(p == a[2][0] for p in a[2]) and len(a[2][0]) == 3
    # no restructure: only the initial trees becoming warm (one takeover each)
    assert {e.kind for e in a[1]} <= {"drift", "takeover"}
    assert sum(e.kind == "takeover" for e in a[1]) <= 3
    # another seed, another partition (some seed among a few draws differs)
    others = [run(seed)[2][0] for seed in (8, 9, 10)]
    assert any(p != a[2][0] for p in others)


# ---------------------------------------------------------------------------------- drift


@pytest.fixture(scope="module")
def label_drift():
    """9 labels in 3 groups re-grouped at row 3000 (each label keeps its meaning in x)."""
    out = []
    for seed in (0, 1):
        s = make_stream(
            6000, n_features=20, n_labels=9, n_groups=3, drifts=[Drift(3000)], seed=seed
        )
        model = _model().set_schema(s.dataset.schema)
        P, events = _run(model, s.dataset.X, s.dataset.Y, check=_check_describe)
        out.append((s, model, P, events))
    return out


def test_label_correlation_drift_is_followed_by_a_regrouping(label_drift):
    for s, model, _, events in label_drift:
        assert {e.kind for e in events} <= KINDS
        after = [e for e in events if e.index > 3000]
        assert any(e.kind == "merge" for e in after)
        assert any(e.kind == "restructure" for e in after)
        # the clusterer's bound: re-grouped by t0 + 2 * bucket (1000 rows by default)
        new = _planted(s.groups[1], 9)
        assert adjusted_rand_score(new, _owner_labels(model.describe())) >= 0.9
        for e in events:
            if e.kind == "restructure":
                assert e.level == "cluster" and e.detector == "iHOMER"
                assert set(e.scope) <= set(model.schema.labels)
                assert e.detail["start"] in ("split", "regroup")
            if e.kind == "takeover":  # documented rule: no worse after warm_min, or warm_max
                rows = e.detail["rows"]
                assert rows >= 200
                assert e.statistic <= 0 or rows >= 1000


def test_restructuring_has_no_accuracy_cliff(label_drift):
    for s, _, P, events in label_drift:
        Y = s.dataset.Y
        marks = sorted({e.index for e in events if e.kind in ("restructure", "takeover")})
        marks = [i for i in marks if 500 <= i <= len(Y) - 250]
        assert any(i > 3000 for i in marks)
        for i in marks:
            before, after = (
                _acc(P[i - 250 : i], Y[i - 250 : i]),
                _acc(P[i : i + 250], Y[i : i + 250]),
            )
            assert after >= before - 0.03, (i, before, after)
        # and the stream's accuracy after the drift stays at its level before it
        assert _acc(P[3000:], Y[3000:]) >= _acc(P[1000:3000], Y[1000:3000]) - 0.02


def _two_part_stream(seed: int, n: int = 5000):
    """Labels L0-L5 re-grouped at n/2; labels L6-L9 (another stream, 2 groups) never change."""
    a = make_stream(n, n_features=12, n_labels=6, n_groups=2, drifts=[Drift(n // 2)], seed=seed)
    b = make_stream(n, n_features=8, n_labels=4, n_groups=2, seed=seed + 100)
    X = np.hstack([a.dataset.X, b.dataset.X])
    Y = np.hstack([a.dataset.Y, b.dataset.Y])
    schema = Schema(features=[f"f{j}" for j in range(20)], labels=[f"L{j}" for j in range(10)])
    return X, Y, schema


@pytest.mark.parametrize("seed", [0, 1])
def test_unchanged_clusters_keep_their_tree(seed):
    X, Y, schema = _two_part_stream(seed)
    model = _model().set_schema(schema)
    history: list[dict] = []

    def check(m, stop):
        _check_describe(m, stop)
        history.append({tuple(c["labels"]): c for c in m.describe()["clusters"]})

    _, events = _run(model, X, Y, check=check)
    for prev, cur in zip(history, history[1:]):
        for labels, c in cur.items():
            if labels in prev:  # same label set: same tree, same birth
                assert c["tree"] == prev[labels]["tree"]
                assert c["created_at"] == prev[labels]["created_at"]
    late = [e.index for e in events if e.kind == "restructure" and e.index > 2500]
    assert late, "the drift of L0-L5 restructured their clusters"
    survivors = [
        c
        for labels, c in history[-1].items()
        if set(labels) <= {"L6", "L7", "L8", "L9"} and c["created_at"] < min(late)
    ]
    assert survivors, "a cluster of the unchanged labels kept its tree through the restructure"
    assert all(c["owns"] == c["labels"] for c in survivors)


def test_without_restructure_no_merge_is_emitted(label_drift):
    s = label_drift[0][0]
    model = _model(restructure=False).set_schema(s.dataset.schema)
    _, events = _run(model, s.dataset.X, s.dataset.Y, check=_check_describe)
    assert not [e for e in events if e.kind == "merge"]
    assert any(e.kind == "split" for e in events)


def test_without_restructure_the_partition_only_gets_finer():
    X, Y, schema = _two_part_stream(0)
    model = _model(restructure=False).set_schema(schema)
    parts: list[list[set]] = []

    def check(m, stop):
        parts.append([set(leaf) for leaf in _hierarchy_leaves(m.describe()["hierarchy"])])

    _, events = _run(model, X, Y, size=50, check=check)
    for prev, cur in zip(parts, parts[1:]):
        for c in cur:  # every new cluster lies inside one earlier cluster
            assert any(c <= p for p in prev), (c, prev)
    assert all(e.detail["start"] == "split" for e in events if e.kind == "restructure")


def _feature_drift_stream(seed: int):
    return make_stream(
        4000, n_features=20, n_labels=9, n_groups=3, drifts=[Drift(3000, kind="both")], seed=seed
    )


def test_global_detector_reports_the_drift_and_can_be_turned_off():
    s = _feature_drift_stream(0)
    ds = s.dataset
    on = _model().set_schema(ds.schema)
    _, events = _run(on, ds.X, ds.Y)
    glob = [e for e in events if e.level == "global"]
    assert glob and all(e.kind == "drift" and e.detector == "ADWIN" for e in glob)
    assert any(3000 <= e.index <= 3300 for e in glob), [e.index for e in glob]
    assert on.describe()["n_global_drifts"] == len(glob)
    off = _model(global_drift=False).set_schema(ds.schema)
    _, events = _run(off, ds.X, ds.Y)
    assert not [e for e in events if e.level == "global" or e.kind == "drift"]
    assert off.describe()["n_global_drifts"] == 0


def test_a_global_drift_restarts_the_clusterer_statistics():
    ds = _feature_drift_stream(0).dataset
    model = _model().set_schema(ds.schema)
    _run(model, ds.X[:2000], ds.Y[:2000])
    drift_at = None
    for a in range(2000, 4000, 50):
        model.predict_learn_many(ds.X[a : a + 50], ds.Y[a : a + 50])
        glob = [e.index for e in model.pop_events() if e.level == "global"]
        if glob and drift_at is None:
            drift_at = glob[0]
        if drift_at is not None and a + 50 >= drift_at + 300:
            break
    assert drift_at is not None and drift_at > 2000
    # acted upon at the next stream position (<= 256 rows later): the window restarted there
    assert model.describe()["hierarchy"]["n"] <= 300 + 256


def test_trees_replaced_by_a_takeover_are_retired():
    s = make_stream(6000, n_features=20, n_labels=9, n_groups=3, drifts=[Drift(3000)], seed=0)
    ds = s.dataset
    model = _model(seed=0).set_schema(ds.schema)
    stale: list[tuple[int, int]] = []

    def check(m, stop):
        for c in m.describe()["clusters"]:
            if c["warm"] and not c["owns"]:
                stale.append((stop, c["tree"]))

    _, events = _run(model, ds.X, ds.Y, check=check)
    assert any(e.kind == "takeover" and e.index > 3000 for e in events)
    assert not stale, stale[:5]


def _book_naively(ct, pred, owners, y, mask, thr):
    """One tree's booking of a chunk, written out label by label over its own columns."""
    dec = wrong = theirs = 0
    for i in range(pred.shape[0]):
        for c in range(pred.shape[1]):
            if mask is not None and not mask[i, c]:
                continue
            dec += 1
            wrong += bool(pred[i, c] > thr) != bool(y[i, c])
            theirs += bool(owners[i, c] > thr) != bool(y[i, c])
    ct.correct += dec - wrong
    ct.decisions += dec
    if dec:
        acc = (dec - wrong) / dec
        ct.recent_acc = acc if np.isnan(ct.recent_acc) else 0.9 * ct.recent_acc + 0.1 * acc
    ct.rows += pred.shape[0]
    if not ct.warm:
        ct.err_new += wrong
        ct.err_old += theirs


@pytest.mark.parametrize("partial", [False, True], ids=["complete", "partial"])
def test_trees_are_scored_on_their_own_columns_as_label_by_label(partial):
    """The chunk's booking of every tree at once (the trees' predictions side by side, labels
    shared between owners and background trees) equals booking each tree label by label."""
    from streamlearn.multilabel.ihomer import _ClusterTree, _Layout

    rng = np.random.default_rng([71, int(partial)])
    model = _model()
    for _ in range(40):
        L = int(rng.integers(1, 9))
        n = int(rng.integers(1, 12))
        parts = np.array_split(rng.permutation(L), int(rng.integers(1, L + 1)))
        trees = [_ClusterTree(j, np.sort(c), None, True, 0) for j, c in enumerate(parts)]
        for _ in range(int(rng.integers(0, 3))):  # background trees over random label subsets
            labels = np.sort(rng.choice(L, int(rng.integers(1, L + 1)), replace=False))
            trees.append(_ClusterTree(len(trees), labels, None, False, 0))
        owner = np.zeros(L, np.int64)
        for ct in trees[: len(parts)]:
            owner[ct.labels] = ct.tid
        for ct in trees[len(parts) :]:  # a background tree may own labels too
            pick = ct.labels[rng.random(len(ct.labels)) < 0.2]
            owner[pick] = ct.tid
        for ct in trees:
            if rng.random() < 0.5:
                ct.recent_acc = float(rng.random())
        lay = _Layout(trees, owner)
        mine = rng.random((n, lay.width))
        out = rng.random((n, L))
        y = rng.random((n, L)) < 0.4
        known = (rng.random((n, L)) < 0.6) if partial else None
        twins = [_ClusterTree(ct.tid, ct.labels, None, ct.warm, 0) for ct in trees]
        for ct, tw in zip(trees, twins):
            tw.recent_acc = ct.recent_acc
        model._score_trees(trees, lay, mine, out, y, known)
        for ct, tw, cols in zip(trees, twins, lay.ocols):
            lab = ct.labels
            _book_naively(tw, mine[:, cols], out[:, lab], y[:, lab],
                          None if known is None else known[:, lab], THR)  # fmt: skip
            for f in ("correct", "decisions", "rows", "err_new", "err_old"):
                assert getattr(ct, f) == getattr(tw, f), f
            assert ct.recent_acc == tw.recent_acc or (
                np.isnan(ct.recent_acc) and np.isnan(tw.recent_acc)
            )
        # the model's decisions come from each label's owner's columns
        assert sorted(lay.own_labels.tolist()) == list(range(L))
        for col, lab in zip(lay.own_cols, lay.own_labels):
            j = int(np.searchsorted(lay.starts, col, side="right")) - 1
            assert trees[j].tid == owner[lab] and trees[j].labels[col - lay.starts[j]] == lab
