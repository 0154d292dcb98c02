"""Synthetic streams: determinism, planted label groups, drift at the known points."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streamlearn.base.arrays import CSR
from streamlearn.stream import Drift, iter_events, make_stream


def jaccard(Y: np.ndarray) -> np.ndarray:
    Yf = Y.astype(np.float64)
    n11 = Yf.T @ Yf
    n1 = np.diag(n11)
    union = n1[:, None] + n1[None, :] - n11
    return np.divide(n11, union, out=np.zeros_like(n11), where=union > 0)


def within_across(J: np.ndarray, groups: list[list[int]]) -> tuple[float, float]:
    group_of = {label: g for g, members in enumerate(groups) for label in members}
    within, across = [], []
    for a, b in itertools.combinations(range(J.shape[0]), 2):
        (within if group_of[a] == group_of[b] else across).append(J[a, b])
    return float(np.mean(within)), float(np.mean(across))


@pytest.mark.parametrize("sparse", [False, True])
def test_same_seed_same_arrays(sparse: bool) -> None:
    kw = dict(drifts=[Drift(700, width=200, kind="both")], sparse=sparse, n_labels=9)
    a = make_stream(2000, seed=5, **kw)
    b = make_stream(2000, seed=5, **kw)
    c = make_stream(2000, seed=6, **kw)
    assert np.array_equal(a.dataset.Y, b.dataset.Y)
    assert np.array_equal(a.concept_at, b.concept_at)
    assert a.groups == b.groups
    if sparse:
        for name in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(a.dataset.X, name), getattr(b.dataset.X, name))
    else:
        assert np.array_equal(a.dataset.X, b.dataset.X)
    assert not np.array_equal(a.dataset.Y, c.dataset.Y)


def test_shapes_names_and_forms() -> None:
    s = make_stream(500, n_features=7, n_labels=5, n_groups=2, seed=1)
    ds = s.dataset
    assert ds.X.shape == (500, 7) and ds.X.dtype == np.float64 and ds.X.flags.c_contiguous
    assert ds.Y.shape == (500, 5) and ds.Y.dtype == np.uint8
    assert ds.schema.features == [f"f{j}" for j in range(7)]
    assert ds.schema.labels == [f"L{j}" for j in range(5)]
    assert not ds.schema.sparse and ds.name == "synthetic"
    assert sorted(itertools.chain(*s.groups[0])) == list(range(5))
    assert s.drifts == () and np.all(s.concept_at == 0)

    sp = make_stream(3000, n_features=500, n_labels=10, sparse=True, density=0.04, seed=1)
    X = sp.dataset.X
    assert isinstance(X, CSR) and sp.dataset.schema.sparse
    assert np.all(X.data > 0) and X.indices.max() < 500
    starts = X.indptr[:-1][np.diff(X.indptr) > 0]
    inside = np.ones(X.indices.size, dtype=bool)
    inside[starts] = False
    assert np.all(np.diff(X.indices)[inside[1:]] > 0)  # sorted, unique per row
    assert X.nnz / 3000 == pytest.approx(0.04 * 500, rel=0.25)


@pytest.mark.parametrize("sparse", [False, True])
def test_planted_groups_show_in_label_cooccurrence(sparse: bool) -> None:
    s = make_stream(6000, n_features=60, n_labels=12, n_groups=4, sparse=sparse, seed=2)
    within, across = within_across(jaccard(s.dataset.Y), s.groups[0])
    assert within > 0.5 and across < 0.15 and within > 4 * across, (within, across)
    freq = s.dataset.Y.mean(axis=0)
    assert freq.min() > 0.1


def test_label_drift_regroups_the_labels_at_its_position() -> None:
    n, at = 8000, 4000
    s = make_stream(n, n_labels=12, n_groups=3, drifts=[Drift(at, kind="labels")], seed=3)
    assert np.array_equal(s.concept_at, (np.arange(n) >= at).astype(int))
    g0, g1 = s.groups
    assert sorted(itertools.chain(*g1)) == list(range(12)) and g0 != g1
    before, after = jaccard(s.dataset.Y[:at]), jaccard(s.dataset.Y[at:])
    w_b0, a_b0 = within_across(before, g0)
    w_a1, a_a1 = within_across(after, g1)
    assert w_b0 > 4 * a_b0 and w_a1 > 4 * a_a1
    # the old grouping no longer explains the new co-occurrences, and vice versa
    assert within_across(after, g0)[0] < 0.6 * w_b0
    assert within_across(before, g1)[0] < 0.6 * w_a1
    for part in (s.dataset.Y[:at], s.dataset.Y[at:]):
        assert part.mean(axis=0).min() > 0.15


def _fit_accuracy(X: np.ndarray, Y: np.ndarray, Xt: np.ndarray, Yt: np.ndarray) -> float:
    A = np.c_[X, np.ones(len(X))]
    W, *_ = np.linalg.lstsq(A, Y.astype(float), rcond=None)
    pred = (np.c_[Xt, np.ones(len(Xt))] @ W) > 0.5
    return float(np.mean(pred == Yt.astype(bool)))


@pytest.mark.parametrize(("kind", "breaks"), [("features", True), ("labels", False)])
def test_feature_drift_changes_the_mapping_label_drift_keeps_it(kind: str, breaks: bool) -> None:
    n, at = 8000, 4000
    s = make_stream(n, n_features=30, n_labels=8, n_groups=2, drifts=[Drift(at, kind=kind)], seed=4)
    X, Y = s.dataset.X, s.dataset.Y
    same = _fit_accuracy(X[:3000], Y[:3000], X[3000:at], Y[3000:at])
    later = _fit_accuracy(X[:3000], Y[:3000], X[at:], Y[at:])
    assert same > 0.9
    if breaks:
        assert later < same - 0.15, (same, later)
        assert s.groups[0] == s.groups[1]
    else:
        assert later > same - 0.05, (same, later)


def test_gradual_drift_mixes_concepts_over_its_width() -> None:
    n = 20_000
    dr = Drift(10_000, width=4_000, kind="both")
    s = make_stream(n, drifts=[dr], seed=7)
    c = s.concept_at
    assert np.all(c[:8_000] == 0) and np.all(c[12_000:] == 1)
    for a in range(8_000, 12_000, 500):
        window = c[a : a + 500]
        p = dr.probability(np.arange(a, a + 500)).mean()
        assert abs(window.mean() - p) < 4 * np.sqrt(p * (1 - p) / 500) + 1e-9
        if 8_500 <= a < 11_500:
            assert 0 < window.sum() < 500  # both concepts present
    # the labels follow the concept of each instance
    J_old = jaccard(s.dataset.Y[c == 0])
    J_new = jaccard(s.dataset.Y[c == 1])
    assert within_across(J_old, s.groups[0])[0] > within_across(J_new, s.groups[0])[0] + 0.2


def test_several_drifts_in_any_order() -> None:
    drifts = [Drift(3000, kind="features"), Drift(1000), Drift(2000, width=400, kind="both")]
    s = make_stream(4000, n_labels=6, n_groups=2, drifts=drifts, seed=0)
    assert [d.position for d in s.drifts] == [1000, 2000, 3000]
    assert len(s.groups) == 4
    assert s.concept_at[999] == 0 and s.concept_at[1000] == 1 and s.concept_at[2999] == 2
    assert s.concept_at[3000] == 3
    assert np.all(np.diff(s.concept_at[:1700]) >= 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(drifts=[Drift(100, width=100), Drift(140)]), "overlap"),
        (dict(drifts=[Drift(100), Drift(100, kind="features")]), "overlap"),
        (dict(drifts=[Drift(5000)]), "beyond"),
        (dict(n_groups=1, drifts=[Drift(10)]), "n_groups >= 2"),
        (dict(n_groups=13), "n_groups"),
        (dict(density=0.1), "sparse"),
        (dict(sparse=True, density=0.0), "density"),
        (dict(noise=1.0), "noise"),
        (dict(n_features=0), "n_features"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_stream(1000, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [dict(position=-1), dict(position=1, width=0), dict(position=1, kind="x")]
)
def test_bad_drift(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Drift(**kwargs)


def test_iter_events_is_deterministic_and_drifts_periodically() -> None:
    a = list(itertools.islice(iter_events(seed=3, drift_every=2000), 6000))
    b = list(itertools.islice(iter_events(seed=3, drift_every=2000), 6000))
    assert all(np.array_equal(x, x2) and np.array_equal(y, y2) for (x, y), (x2, y2) in zip(a, b))
    x, y = a[0]
    assert x.shape == (20,) and x.dtype == np.float64 and y.shape == (12,) and y.dtype == np.uint8
    Y = np.array([y for _, y in a])
    # the first drift (at 2000) re-groups the labels: co-occurrence structure changes
    J0, J1 = jaccard(Y[:2000]), jaccard(Y[2000:4000])
    assert np.abs(J0 - J1).max() > 0.3
    steady = list(itertools.islice(iter_events(seed=3), 4000))
    Ys = np.array([y for _, y in steady])
    assert np.abs(jaccard(Ys[:2000]) - jaccard(Ys[2000:])).max() < 0.15
    with pytest.raises(ValueError):
        next(iter_events(drift_every=0))
