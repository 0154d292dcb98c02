"""The online label clusterer (streamlearn.cluster.odac) on planted and random label streams."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from streamlearn.base.arrays import InputError
from streamlearn.base.events import DriftEvent
from streamlearn.cluster import JaccardODAC, random_partition
from streamlearn.stream import Drift, make_stream
from tests.twins.odac_twin import twin_counts, twin_dissimilarity

# ------------------------------------------------------------------------------- helpers


def ari(partition: list[np.ndarray], groups: list[list[int]], L: int) -> float:
    got = np.full(L, -1)
    want = np.full(L, -1)
    for i, g in enumerate(partition):
        got[g] = i
    for i, g in enumerate(groups):
        want[g] = i
    assert (got >= 0).all() and (want >= 0).all()
    return adjusted_rand_score(want, got)


def run_by_check(odac: JaccardODAC, Y: np.ndarray, known: np.ndarray | None = None):
    """Feed ``Y`` cut at every check; yield ``(rows seen, events of that check)``."""
    r = 0
    while r < len(Y):
        step = min(odac.next_check_in(), len(Y) - r)
        k = None if known is None else known[r : r + step]
        ev = odac.update_many(Y[r : r + step], k)
        r += step
        yield r, ev


def planted(
    rng: np.random.Generator, n: int, groups: list[list[int]], L: int, p_second: float = 0.35
) -> np.ndarray:
    """Rows in the make_stream model: one or two active groups, labels of a group on at 0.85."""
    Y = (rng.random((n, L)) < 0.05).astype(np.uint8)
    G = len(groups)
    for r in range(n):
        act = [int(rng.integers(G))]
        if G > 1 and rng.random() < p_second:
            act.append((act[0] + int(rng.integers(1, G))) % G)
        for g in act:
            on = rng.random(len(groups[g])) < 0.85
            if not on.any():
                on[rng.integers(len(on))] = True
            Y[r, groups[g]] = on
    return Y


def check_events(events: list[DriftEvent], L: int, delta: float = 1e-3) -> None:
    """Structure of every event, and the partition they imply replayed from the start."""
    clusters: dict[int, list[int]] = {}
    last = -1
    for e in events:
        assert isinstance(e, DriftEvent)
        assert e.level == "cluster"
        assert e.kind in ("split", "merge", "new_label")
        assert e.index >= last
        last = e.index
        assert all(isinstance(s, str) for s in e.scope) and e.scope
        json.dumps(e.to_dict())  # JSON-able
        d = e.detail
        if e.kind == "split":
            assert e.detector == "ODAC-split"
            a, b = d["children_labels"]
            assert sorted(a + b) == d["labels"] and a and b
            assert e.scope == (str(d["parent"]), *map(str, d["children"]))
            assert d["d1"] >= d["d2"] and d["d1"] >= d["d_avg"] >= d["d0"]
            # n rows in the window; fewer effective rows when some labels were unknown
            assert d["eps"] >= math.sqrt(math.log(1 / delta) / (2 * d["n"])) * (1 - 1e-12)
            clusters.pop(d["parent"], None)
            clusters[d["children"][0]], clusters[d["children"][1]] = a, b
        elif e.kind == "merge":
            assert e.detector == "ODAC-merge"
            assert d["reason"] in ("aggregate", "closer")
            assert sorted(sum(d["children_labels"], [])) == d["labels"]
            for i in d["retired"]:
                clusters.pop(i)
            clusters[d["parent"]] = d["labels"]
        else:
            assert e.detector == "ODAC-new-label"
            for labels in clusters.values():
                if d["label"] in labels:
                    labels.remove(d["label"])
            clusters.setdefault(d["cluster"], []).append(d["label"])
    if clusters:
        flat = sorted(x for labels in clusters.values() for x in labels)
        assert flat == list(range(L))


# ------------------------------------------------------------------------------- counts


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("with_known", [False, True])
def test_window_counts_equal_batch_recompute(seed: int, with_known: bool) -> None:
    rng = np.random.default_rng(seed)
    L = int(rng.integers(3, 12))
    n = int(rng.integers(200, 1500))
    freq = rng.uniform(0, 0.5, size=L) ** 2
    Y = (rng.random((n, L)) < freq).astype(np.uint8)
    known = rng.random((n, L)) < 0.75 if with_known else None
    window = None if seed % 3 == 0 else int(rng.integers(3, 9)) * 100
    odac = JaccardODAC(n_min=50, window=window, delta=0.1, tau=0.2)
    odac.set_n_labels(L)
    r = 0
    while r < n:  # chunks that do not line up with the checks
        step = int(rng.integers(1, 120))
        odac.update_many(Y[r : r + step], None if known is None else known[r : r + step])
        r += step
    c = odac.counts()
    m = c["n"]
    if window is None:
        assert m == n
    else:
        assert odac.bucket_size <= m < 2 * odac.bucket_size or m == n
    rows = Y[n - m :]
    k = None if known is None else known[n - m :].tolist()
    tn, tunk, tn1, tn11 = twin_counts(rows.tolist(), k)
    assert tn == m
    assert c["unk"].tolist() == tunk
    assert c["n1"].tolist() == tn1
    assert c["n11"].tolist() == tn11
    T = twin_dissimilarity(list(range(L)), tn, tunk, tn1, tn11, 0)
    np.testing.assert_array_equal(odac.dissimilarities(), np.array(T))


def test_reset_statistics_counts_only_the_rows_after_it_and_keeps_the_partition() -> None:
    rng = np.random.default_rng(3)
    L, n_before, n_after = 8, 1100, 370
    Y = (rng.random((n_before + n_after, L)) < 0.3).astype(np.uint8)
    Y[:, 1] = Y[:, 0]  # a pair that always co-occurs: the partition has something to find
    odac = JaccardODAC(n_min=50, window=None, delta=0.1, tau=0.2)
    odac.update_many(Y[:n_before])
    before = [c.tolist() for c in odac.partition()]
    odac.reset_statistics()
    assert odac.counts()["n"] == 0 and odac.n_seen == n_before
    assert [c.tolist() for c in odac.partition()] == before
    assert odac.next_check_in() == 50 - n_before % 50  # the check schedule is kept
    odac.update_many(Y[n_before:])
    tn, tunk, tn1, tn11 = twin_counts(Y[n_before:].tolist(), None)
    c = odac.counts()
    assert c["n"] == tn == n_after
    assert c["n1"].tolist() == tn1 and c["n11"].tolist() == tn11


# ------------------------------------------------------------------------------- planted groups

SETTINGS = [(8, 2), (12, 3), (12, 4), (20, 5), (16, 8), (24, 2)]


@pytest.mark.parametrize("L,G", SETTINGS)
@pytest.mark.parametrize("seed", range(3))
def test_recovers_planted_groups(L: int, G: int, seed: int) -> None:
    s = make_stream(4_000, n_labels=L, n_groups=G, seed=seed)
    odac = JaccardODAC()
    odac.set_n_labels(L)
    scores = [ari(odac.partition(), s.groups[0], L) for _ in run_by_check(odac, s.dataset.Y)]
    assert scores[-1] >= 0.9
    # stays recovered once found (no churn on a stationary stream)
    first = next(i for i, v in enumerate(scores) if v >= 0.9)
    assert min(scores[first:]) >= 0.9


def test_odac_split_test_alone_cannot_split_two_balanced_groups() -> None:
    """Why the separation rule exists: 12 + 12 labels give ODAC's h ~ 0."""
    s = make_stream(4_000, n_labels=24, n_groups=2, seed=0)
    pure = JaccardODAC(separation=0.0)
    pure.set_n_labels(24)
    assert pure.update_many(s.dataset.Y) == []
    assert pure.n_clusters == 1
    both = JaccardODAC()
    both.set_n_labels(24)
    ev = both.update_many(s.dataset.Y)
    assert ev[0].detail["rule"] == "separation"
    assert ari(both.partition(), s.groups[0], 24) == 1.0


@pytest.mark.parametrize("L,G", [(8, 2), (12, 3), (12, 4), (20, 5), (16, 8)])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_min,window", [(200, 2_000), (100, 1_000), (200, 4_000)])
def test_regroups_after_label_drift_within_the_bound(
    L: int, G: int, seed: int, n_min: int, window: int
) -> None:
    t0 = 6_123  # not on the check grid
    odac = JaccardODAC(n_min=n_min, window=window)
    bound = 2 * odac.bucket_size  # the bound stated in the module docstring
    n = t0 + bound + 2_000
    s = make_stream(n, n_labels=L, n_groups=G, drifts=[Drift(t0, kind="labels")], seed=seed)
    odac.set_n_labels(L)
    merged = False
    for seen, ev in run_by_check(odac, s.dataset.Y):
        merged |= any(e.kind == "merge" and e.index > t0 for e in ev)
        if t0 - 2 * n_min <= seen <= t0:
            assert ari(odac.partition(), s.groups[0], L) >= 0.9, seen
        if seen >= t0 + bound:
            assert ari(odac.partition(), s.groups[1], L) >= 0.9, seen
    assert merged


@pytest.mark.parametrize("seed", range(2))
def test_regroups_after_gradual_drift_within_the_bound(seed: int) -> None:
    L, G, pos, width = 12, 3, 5_000, 1_000
    odac = JaccardODAC()
    bound = 2 * odac.bucket_size
    end = pos + width // 2
    n = end + bound + 1_000
    s = make_stream(
        n, n_labels=L, n_groups=G, drifts=[Drift(pos, width=width, kind="labels")], seed=seed
    )
    odac.set_n_labels(L)
    for seen, _ in run_by_check(odac, s.dataset.Y):
        if seen >= end + bound:
            assert ari(odac.partition(), s.groups[1], L) >= 0.9


def test_merge_reasons_on_crafted_drifts() -> None:
    rng = np.random.default_rng(0)
    L = 12
    four = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    # two groups fuse: labels across their cut come closer, the cut goes
    fused = [[0, 1, 2, 3, 4, 5], [6, 7, 8], [9, 10, 11]]
    Y = np.vstack([planted(rng, 6_000, four, L), planted(rng, 8_000, fused, L)])
    odac = JaccardODAC()
    odac.set_n_labels(L)
    ev = odac.update_many(Y)
    assert ari(odac.partition(), fused, L) == 1.0
    assert {e.detail["reason"] for e in ev if e.kind == "merge"} == {"closer"}
    # a group's labels become mutually exclusive: its diameter grows past the parent's
    g3 = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    Y1 = planted(rng, 6_000, g3, 9, p_second=0.8)
    Y2 = planted(rng, 6_000, g3, 9, p_second=0.8)
    for r in range(len(Y2)):
        on = np.flatnonzero(Y2[r, :3])
        if on.size > 1:
            Y2[r, :3] = 0
            Y2[r, rng.choice(on)] = 1
    odac = JaccardODAC()
    odac.set_n_labels(9)
    ev = odac.update_many(np.vstack([Y1, Y2]))
    reasons = [e.detail["reason"] for e in ev if e.kind == "merge"]
    assert reasons and reasons[0] == "aggregate"
    assert all(len({0, 1, 2} & set(g.tolist())) <= 1 for g in odac.partition())
    # planted re-grouping: labels move to other clusters
    s = make_stream(12_000, n_labels=12, n_groups=3, drifts=[Drift(6_000)], seed=1)
    odac = JaccardODAC()
    odac.set_n_labels(12)
    ev = odac.update_many(s.dataset.Y)
    assert "closer" in {e.detail["reason"] for e in ev if e.kind == "merge"}
    check_events(ev, 12)


def test_without_merge_the_structure_only_grows() -> None:
    s = make_stream(14_000, n_labels=12, n_groups=3, drifts=[Drift(6_000)], seed=0)
    odac = JaccardODAC(merge=False)
    odac.set_n_labels(12)
    ev = odac.update_many(s.dataset.Y)
    assert {e.kind for e in ev} == {"split"}
    assert ari(odac.partition(), s.groups[1], 12) < 0.9


def test_partial_label_sets_still_recover_groups() -> None:
    s = make_stream(6_000, n_labels=12, n_groups=3, seed=4)
    known = np.random.default_rng(0).random((6_000, 12)) < 0.6
    odac = JaccardODAC()
    odac.set_n_labels(12)
    for _ in run_by_check(odac, s.dataset.Y, known):
        pass
    assert ari(odac.partition(), s.groups[0], 12) >= 0.9
    # unknown labels are counted as unknown, not as negatives
    assert odac.counts()["unk"].sum() == (~known[-odac.counts()["n"] :]).sum()


def test_correlation_variant() -> None:
    s = make_stream(5_000, n_labels=12, n_groups=4, seed=0)
    odac = JaccardODAC(dissimilarity="correlation")
    odac.set_n_labels(12)
    odac.update_many(s.dataset.Y)
    assert ari(odac.partition(), s.groups[0], 12) >= 0.9
    D = odac.dissimilarities()
    Yw = s.dataset.Y[-odac.counts()["n"] :].astype(float)
    C = np.corrcoef(Yw.T)
    np.testing.assert_allclose(D, np.sqrt((1 - C) / 2) * (1 - np.eye(12)), atol=1e-12)


# ------------------------------------------------------------------------------- state


def test_deterministic_and_pickle_round_trip_mid_stream() -> None:
    s = make_stream(12_000, n_labels=16, n_groups=4, drifts=[Drift(6_000)], seed=7)
    Y = s.dataset.Y
    a, b = JaccardODAC(), JaccardODAC()
    a.set_n_labels(16)
    b.set_n_labels(16)
    ev_a = a.update_many(Y[:5_123])
    assert [e.to_dict() for e in ev_a] == [e.to_dict() for e in b.update_many(Y[:5_123])]
    c = pickle.loads(pickle.dumps(a))
    rest_a = a.update_many(Y[5_123:])
    rest_c = c.update_many(Y[5_123:])
    assert rest_a and [e.to_dict() for e in rest_a] == [e.to_dict() for e in rest_c]
    assert a.hierarchy() == c.hierarchy()
    assert [g.tolist() for g in a.partition()] == [g.tolist() for g in c.partition()]
    for k, v in a.counts().items():
        np.testing.assert_array_equal(v, c.counts()[k])
    check_events(ev_a + rest_a, 16)


def test_events_index_and_check_schedule() -> None:
    s = make_stream(1_000, n_labels=9, n_groups=3, seed=0)
    a, b = JaccardODAC(n_min=100, window=1_000), JaccardODAC(n_min=100, window=1_000)
    a.set_n_labels(9)
    b.set_n_labels(9)
    assert a.next_check_in() == 100
    assert a.update_many(s.dataset.Y[:37]) == []
    assert a.next_check_in() == 63
    ev_a = a.update_many(s.dataset.Y[37:], index=10_037)  # the caller's own stream position
    ev_b = b.update_many(s.dataset.Y)  # default: the clusterer's row count
    assert ev_b and [e.index for e in ev_a] == [e.index + 10_000 for e in ev_b]
    assert all(e.index % 100 == 0 for e in ev_b)
    # no split before eps < tau, i.e. before ln(1/delta) / (2 tau^2) = 346 rows
    need = math.log(1 / b.delta) / (2 * b.tau**2)
    assert ev_b[0].index == 100 * math.ceil(need / 100) == 400
    assert a.n_seen == 1_000 and a.next_check_in() == 100


def test_reading_api_is_consistent() -> None:
    s = make_stream(3_000, n_labels=20, n_groups=5, seed=2)
    odac = JaccardODAC()
    odac.set_n_labels(20)
    ev = odac.update_many(s.dataset.Y)
    check_events(ev, 20)
    parts, ids = odac.partition(), odac.cluster_ids()
    assert len(parts) == len(ids) == odac.n_clusters == 5
    assert sorted(np.concatenate(parts).tolist()) == list(range(20))
    assert [int(p[0]) for p in parts] == sorted(int(p[0]) for p in parts)
    lc = odac.label_cluster()
    for i, p in zip(ids, parts):
        assert (lc[p] == i).all() and p.dtype == np.int64 and (np.diff(p) > 0).all()
    h = odac.hierarchy()
    json.dumps(h)
    leaves = []

    def walk(node: dict, depth: int) -> None:
        assert node["depth"] == depth
        if node["active"]:
            assert node["children"] == []
            leaves.append((node["id"], node["labels"]))
            return
        a, b = node["children"]
        assert sorted(a["labels"] + b["labels"]) == node["labels"]
        walk(a, depth + 1)
        walk(b, depth + 1)

    walk(h, 0)
    assert sorted(leaves) == sorted(zip(ids, (p.tolist() for p in parts)))
    assert h["n"] == odac.counts()["n"] and 0 <= h["diameter"] <= 1


def test_max_depth_limits_the_hierarchy() -> None:
    s = make_stream(3_000, n_labels=16, n_groups=8, seed=0)
    odac = JaccardODAC(max_depth=1)
    odac.set_n_labels(16)
    odac.update_many(s.dataset.Y)
    assert odac.n_clusters == 2


def test_small_label_spaces() -> None:
    for L in (1, 2):
        odac = JaccardODAC(n_min=10, window=400, delta=0.1, tau=0.3)
        odac.set_n_labels(L)
        Y = (np.random.default_rng(0).random((500, L)) < 0.5).astype(np.uint8)
        assert odac.update_many(Y) == []
        assert [g.tolist() for g in odac.partition()] == [list(range(L))]
    odac = JaccardODAC()
    odac.set_n_labels(5)
    assert odac.update_many(np.zeros((0, 5), dtype=np.uint8)) == []
    assert odac.update_many(np.zeros((1_000, 5), dtype=np.uint8)) == []  # no evidence: 1 cluster
    assert odac.n_clusters == 1


# ------------------------------------------------------------------------------- new labels


def test_new_labels_join_the_cluster_they_co_occur_with() -> None:
    s = make_stream(12_000, n_labels=12, n_groups=3, seed=5)
    Y = s.dataset.Y
    hidden = [2, 7, 11]  # appear later, as labels 9, 10, 11
    order = [i for i in range(12) if i not in hidden] + hidden
    Y = np.ascontiguousarray(Y[:, order])
    groups = [sorted(order.index(a) for a in g) for g in s.groups[0]]
    odac = JaccardODAC()
    odac.set_n_labels(9)
    ev = odac.update_many(Y[:3_000, :9])
    added = odac.add_labels(3)
    assert [e.detail["placement"] for e in added] == ["added"] * 3
    assert len(set(odac.label_cluster()[9:])) == 1  # together, beside the old hierarchy
    assert odac.hierarchy()["pending"] == [9, 10, 11]
    ev += added + odac.update_many(Y[3_000:, :])
    placed = [e for e in ev if e.kind == "new_label" and e.detail["placement"] != "added"]
    assert sorted(e.detail["label"] for e in placed) == [9, 10, 11]
    assert all(e.detail["placement"] == "co-occurrence" for e in placed)
    assert ari(odac.partition(), groups, 12) >= 0.9
    assert odac.hierarchy()["pending"] == []
    check_events(ev, 12)


def test_a_new_label_that_co_occurs_with_nothing_gets_its_own_cluster() -> None:
    s = make_stream(6_000, n_labels=9, n_groups=3, seed=1)
    odac = JaccardODAC()
    odac.set_n_labels(9)
    odac.update_many(s.dataset.Y[:2_000])
    odac.add_labels(1)
    Y = np.zeros((4_000, 10), dtype=np.uint8)
    Y[:, :9] = s.dataset.Y[2_000:]
    alone = np.random.default_rng(0).random(4_000) < 0.15
    Y[alone] = 0
    Y[alone, 9] = 1  # the new label is on only when nothing else is
    ev = odac.update_many(Y)
    placed = [e for e in ev if e.kind == "new_label"]
    assert [e.detail["placement"] for e in placed] == ["own cluster"]
    assert [9] in [g.tolist() for g in odac.partition()]
    assert ari(odac.partition(), [*s.groups[0], [9]], 10) >= 0.9


def test_add_labels_keeps_counts_exact() -> None:
    rng = np.random.default_rng(3)
    Y = (rng.random((900, 6)) < 0.3).astype(np.uint8)
    odac = JaccardODAC(n_min=50, window=600, delta=0.1, tau=0.2)
    odac.set_n_labels(4)
    odac.update_many(Y[:500, :4])
    odac.add_labels(2)
    odac.update_many(Y[500:])
    c = odac.counts()
    m = c["n"]
    known = np.ones((900, 6), dtype=bool)
    known[:500, 4:] = False  # before they existed, the new labels were unknown
    tn, tunk, tn1, tn11 = twin_counts(Y[-m:].tolist(), known[-m:].tolist())
    assert (c["unk"].tolist(), c["n1"].tolist(), c["n11"].tolist()) == (tunk, tn1, tn11)


# ------------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_min": 0},
        {"n_min": 2.5},
        {"delta": 0.0},
        {"delta": 1.0},
        {"tau": 0.0},
        {"max_depth": -1},
        {"dissimilarity": "cosine"},
        {"window": 0},
        {"window": 600, "n_min": 50},  # buckets of 300 rows < ln(1/delta) / (2 tau^2) = 346
        {"separation": -1.0},
        {"min_size": 0},
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        JaccardODAC(**kwargs)


def test_bad_inputs_are_rejected() -> None:
    odac = JaccardODAC()
    odac.set_n_labels(4)
    with pytest.raises(InputError, match="shape"):
        odac.update_many(np.zeros((3, 5), dtype=np.uint8))
    with pytest.raises(InputError, match="0/1"):
        odac.update_many(np.full((3, 4), 2, dtype=np.uint8))
    with pytest.raises(InputError, match="known-mask"):
        odac.update_many(np.zeros((3, 4), dtype=np.uint8), np.ones((2, 4), dtype=bool))
    with pytest.raises(ValueError, match="n_labels"):
        odac.set_n_labels(0)
    with pytest.raises(ValueError, match="n_new"):
        odac.add_labels(-1)
    fresh = JaccardODAC()
    fresh.update_many(np.zeros((10, 3), dtype=np.uint8))  # the first batch fixes the label space
    assert fresh.n_labels == 3


# ------------------------------------------------------------------------------- random partition


def test_random_partition() -> None:
    for L, k in [(1, 1), (10, 3), (159, 20), (6, 6)]:
        parts = random_partition(L, k, seed=1)
        assert len(parts) == k
        assert sorted(np.concatenate(parts).tolist()) == list(range(L))
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1
        assert [int(p[0]) for p in parts] == sorted(int(p[0]) for p in parts)
    a = [p.tolist() for p in random_partition(30, 4, seed=1)]
    assert a == [p.tolist() for p in random_partition(30, 4, seed=1)]
    assert a != [p.tolist() for p in random_partition(30, 4, seed=2)]
    with pytest.raises(ValueError, match="k must"):
        random_partition(3, 4)
