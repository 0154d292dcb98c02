"""Streaming multi-label metrics against scikit-learn on every prefix, and windows against a
batch recompute over the last ``window`` rows."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)

from streamlearn.base.arrays import InputError
from streamlearn.metrics import METRICS, MultiLabelMetrics, WindowedMultiLabelMetrics

TOL = 1e-12


def sklearn_metrics(Yt: np.ndarray, Yp: np.ndarray, zero_division: float = 0.0) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = precision_recall_fscore_support(Yt, Yp, average="micro", zero_division=0)
        return {
            "hamming_loss": hamming_loss(Yt, Yp),
            "subset_accuracy": accuracy_score(Yt, Yp),
            "micro_f1": f,
            "macro_f1": f1_score(Yt, Yp, average="macro", zero_division=0),
            "example_f1": f1_score(Yt, Yp, average="samples", zero_division=zero_division),
            "micro_precision": p,
            "micro_recall": r,
        }


def assert_close(ours: dict, ref: dict, where: str) -> None:
    assert set(ref) == set(METRICS)
    for name in METRICS:
        assert abs(ours[name] - ref[name]) <= TOL, f"{name} at {where}: {ours[name]} != {ref[name]}"


def random_stream(rng: np.random.Generator, n: int, n_labels: int) -> tuple[np.ndarray, ...]:
    """Truth and predictions with all-zero rows, empty predictions and rare labels."""
    p = rng.uniform(0.05, 0.6, size=n_labels)
    Yt = (rng.random((n, n_labels)) < p).astype(np.uint8)
    Yp = Yt.copy()
    flip = rng.random((n, n_labels)) < rng.uniform(0.0, 0.5)
    Yp[flip] ^= 1
    Yt[rng.random(n) < 0.15] = 0  # empty truth
    Yp[rng.random(n) < 0.15] = 0  # empty prediction
    Yt[:, -1] = 0  # a label that is never true ...
    Yp[:, -1] = 0  # ... and never predicted: it scores 0 in macro-F1
    return Yt, Yp


def label_matrix(n_labels: int, n_rows: int):
    return st.lists(
        st.lists(st.integers(0, 1), min_size=n_labels, max_size=n_labels),
        min_size=n_rows,
        max_size=n_rows,
    ).map(lambda rows: np.array(rows, dtype=np.uint8).reshape(n_rows, n_labels))


@st.composite
def streams(draw):
    n_labels = draw(st.integers(2, 6))
    n = draw(st.integers(1, 12))
    return draw(label_matrix(n_labels, n)), draw(label_matrix(n_labels, n))


# ---------------------------------------------------------------- cumulative vs scikit-learn
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_cumulative_matches_sklearn_on_every_prefix(seed, zero_division):
    rng = np.random.default_rng(seed)
    Yt, Yp = random_stream(rng, 30, int(rng.integers(2, 9)))
    one = MultiLabelMetrics(Yt.shape[1], zero_division=zero_division)
    for i in range(len(Yt)):
        one.update(Yt[i], Yp[i])
        assert one.n == i + 1
        assert_close(one.get(), sklearn_metrics(Yt[: i + 1], Yp[: i + 1], zero_division), i)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from([0.0, 1.0]))
def test_cumulative_matches_sklearn_hypothesis(stream, zero_division):
    Yt, Yp = stream
    m = MultiLabelMetrics(Yt.shape[1], zero_division=zero_division)
    for i in range(len(Yt)):
        m.update(Yt[i].astype(bool), Yp[i])
        assert_close(m.get(), sklearn_metrics(Yt[: i + 1], Yp[: i + 1], zero_division), i)


@pytest.mark.parametrize("seed", range(3))
def test_update_many_gives_the_state_of_update(seed):
    rng = np.random.default_rng(100 + seed)
    Yt, Yp = random_stream(rng, 200, 7)
    one, many = MultiLabelMetrics(7), MultiLabelMetrics(7)
    for i in range(len(Yt)):
        one.update(Yt[i], Yp[i])
    cuts = np.sort(rng.choice(np.arange(1, 200), size=12, replace=False))
    for a, b in zip([0, *cuts], [*cuts, 200]):
        many.update_many(Yt[a:b], Yp[a:b])
    assert one.to_dict() == many.to_dict()  # exact: integer state, order-free formulas
    assert np.array_equal(one.tp, many.tp) and one.example_keys == many.example_keys
    assert_close(many.get(), sklearn_metrics(Yt, Yp), "end")


@pytest.mark.parametrize("seed", range(2))
def test_growing_label_space_matches_sklearn_on_zero_padded_prefixes(seed):
    rng = np.random.default_rng(200 + seed)
    n, n_labels = 40, 8
    Yt, Yp = random_stream(rng, n, n_labels)
    # label j joins the space at instance born[j]; before that it is false everywhere
    born = np.sort(rng.choice(np.arange(1, n), size=n_labels - 2, replace=False))
    born = np.concatenate([[0, 0], born])
    for j in range(n_labels):
        Yt[: born[j], j] = 0
        Yp[: born[j], j] = 0
    m = MultiLabelMetrics(2)
    w = WindowedMultiLabelMetrics(window=13, n_labels=2)
    for i in range(n):
        L = int((born <= i).sum())
        m.grow(L)
        w.grow(L)
        m.update(Yt[i, :L], Yp[i, :L])
        w.update(Yt[i, :L], Yp[i, :L])
        assert_close(m.get(), sklearn_metrics(Yt[: i + 1, :L], Yp[: i + 1, :L]), i)
        lo = max(0, i + 1 - 13)
        assert w.get() == batch(Yt[lo : i + 1, :L], Yp[lo : i + 1, :L])


def test_label_never_true_never_predicted_scores_zero_in_macro_f1():
    m = MultiLabelMetrics(3)
    m.update_many(np.array([[1, 1, 0], [1, 0, 0]]), np.array([[1, 1, 0], [1, 0, 0]]))
    r = m.get()
    assert r["micro_f1"] == 1.0
    assert r["macro_f1"] == pytest.approx(2 / 3)  # labels 0 and 1 score 1, label 2 scores 0


def test_empty_truth_and_prediction_follows_zero_division():
    for z in (0.0, 1.0):
        m = MultiLabelMetrics(2, zero_division=z)
        m.update([0, 0], [0, 0])
        assert m.get()["example_f1"] == z
        assert m.get()["subset_accuracy"] == 1.0
        assert m.get()["hamming_loss"] == 0.0


def test_nothing_seen_gives_zeros_and_json_values():
    for m in (MultiLabelMetrics(3), WindowedMultiLabelMetrics(5, 3), MultiLabelMetrics(0)):
        d = m.to_dict()
        assert d["instances"] == 0
        assert all(d[k] == 0.0 for k in METRICS)


# ---------------------------------------------------------------- windowed vs batch recompute
def batch(Yt: np.ndarray, Yp: np.ndarray) -> dict:
    """The metrics recomputed from scratch over the given rows (checked against sklearn above)."""
    m = MultiLabelMetrics(Yt.shape[1])
    m.update_many(Yt, Yp)
    return m.get()


def test_windowed_matches_sklearn_on_last_window_rows():
    rng = np.random.default_rng(300)
    Yt, Yp = random_stream(rng, 30, 5)
    w = WindowedMultiLabelMetrics(7, 5)
    for i in range(len(Yt)):
        w.update(Yt[i], Yp[i])
        lo = max(0, i + 1 - 7)
        assert_close(w.get(), sklearn_metrics(Yt[lo : i + 1], Yp[lo : i + 1]), i)


@pytest.mark.parametrize("window", [1, 7, 50, 500])
@pytest.mark.parametrize("seed", range(2))
def test_windowed_matches_recompute_on_last_window_rows(window, seed):
    rng = np.random.default_rng(310 + seed)
    Yt, Yp = random_stream(rng, 300, 6)
    w = WindowedMultiLabelMetrics(window, 6)
    for i in range(len(Yt)):
        w.update(Yt[i], Yp[i])
        lo = max(0, i + 1 - window)
        assert w.n == i + 1 - lo
        assert w.get() == batch(Yt[lo : i + 1], Yp[lo : i + 1]), i  # exact


@pytest.mark.parametrize("window", [1, 5, 16, 64])
@pytest.mark.parametrize("seed", range(3))
def test_windowed_update_many_any_batch_sizes(window, seed):
    rng = np.random.default_rng(400 + seed)
    n = 150
    Yt, Yp = random_stream(rng, n, 5)
    one, many = WindowedMultiLabelMetrics(window, 5), WindowedMultiLabelMetrics(window, 5)
    for i in range(n):
        one.update(Yt[i], Yp[i])
    a = 0
    while a < n:
        b = min(n, a + int(rng.integers(0, 3 * window)))  # empty, small and larger-than-window
        many.update_many(Yt[a:b], Yp[a:b])
        assert many.get() == batch(Yt[max(0, b - window) : b], Yp[max(0, b - window) : b])
        a = b
    assert one.get() == many.get()
    assert one.example_keys == many.example_keys and np.array_equal(one.fn, many.fn)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.integers(1, 8))
def test_windowed_hypothesis(stream, window):
    Yt, Yp = stream
    w = WindowedMultiLabelMetrics(window, Yt.shape[1])
    for i in range(len(Yt)):
        w.update(Yt[i], Yp[i])
        lo = max(0, i + 1 - window)
        assert w.get() == batch(Yt[lo : i + 1], Yp[lo : i + 1]), i


def test_windowed_pickle_round_trip_continues_exactly():
    rng = np.random.default_rng(9)
    Yt, Yp = random_stream(rng, 100, 4)
    w = WindowedMultiLabelMetrics(10, 4)
    w.update_many(Yt[:55], Yp[:55])
    w2 = pickle.loads(pickle.dumps(w))
    w.update_many(Yt[55:], Yp[55:])
    w2.update_many(Yt[55:], Yp[55:])
    assert w.get() == w2.get()


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", [MultiLabelMetrics, lambda n: WindowedMultiLabelMetrics(4, n)])
def test_bad_input_raises_clear_errors(cls):
    m = cls(3)
    with pytest.raises(InputError, match="3 labels"):
        m.update([1, 0], [1, 0])
    with pytest.raises(InputError, match="rows"):
        m.update_many(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(InputError, match="0 and 1"):
        m.update([2, 0, 0], [1, 0, 0])
    with pytest.raises(InputError, match="shrink"):
        m.grow(2)
    assert m.n == 0  # nothing was counted
