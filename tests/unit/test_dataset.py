"""Dataset: sizes, slicing, batches and River-style dicts, dense and CSR."""

from __future__ import annotations

import numpy as np
import pytest

from streamlearn.base.arrays import CSR
from streamlearn.schema import Schema
from streamlearn.stream import Dataset


def make(sparse: bool, n: int = 7, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)) * (rng.random((n, 4)) < 0.5)
    Y = (rng.random((n, 3)) < 0.4).astype(np.uint8)
    schema = Schema(features=["a", "b", "c", "d"], labels=["x", "y", "z"], sparse=sparse)
    return Dataset(name="t", schema=schema, X=CSR.from_dense(X) if sparse else X, Y=Y)


def dense(X: np.ndarray | CSR) -> np.ndarray:
    return X.toarray() if isinstance(X, CSR) else X


@pytest.mark.parametrize("sparse", [False, True])
def test_sizes_and_cardinality(sparse: bool) -> None:
    ds = make(sparse)
    assert len(ds) == 7 and ds.n_features == 4 and ds.n_labels == 3
    assert ds.sparse is sparse
    assert ds.label_cardinality == pytest.approx(ds.Y.sum() / 7)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(("start", "stop"), [(0, 3), (2, 7), (5, 99), (-3, -1), (4, 2), (0, 0)])
def test_slice_follows_python_semantics(sparse: bool, start: int, stop: int) -> None:
    ds = make(sparse)
    part = ds.slice(start, stop)
    full = dense(ds.X)
    assert np.array_equal(dense(part.X), full[start:stop])
    assert np.array_equal(part.Y, ds.Y[start:stop])
    assert len(part) == len(range(7)[start:stop])
    part.schema.add_labels(["new"])
    assert ds.schema.n_labels == 3  # the schema was copied


@pytest.mark.parametrize("sparse", [False, True])
def test_head_and_batches(sparse: bool) -> None:
    ds = make(sparse)
    assert np.array_equal(dense(ds.head(2).X), dense(ds.X)[:2])
    assert len(ds.head(100)) == 7
    with pytest.raises(ValueError):
        ds.head(-1)
    blocks = list(ds.batches(3))
    assert [len(Yb) for _, Yb in blocks] == [3, 3, 1]
    assert all(isinstance(Xb, CSR) is sparse for Xb, _ in blocks)
    assert np.array_equal(np.concatenate([dense(Xb) for Xb, _ in blocks]), dense(ds.X))
    assert np.array_equal(np.concatenate([Yb for _, Yb in blocks]), ds.Y)
    with pytest.raises(ValueError):
        list(ds.batches(0))


@pytest.mark.parametrize("sparse", [False, True])
def test_iter_dicts(sparse: bool) -> None:
    ds = make(sparse)
    full = dense(ds.X)
    pairs = list(ds.iter_dicts())
    assert len(pairs) == 7
    for (x, y), row, yrow in zip(pairs, full, ds.Y):
        want = dict(zip("abcd", row.tolist()))
        if sparse:
            want = {k: v for k, v in want.items() if v != 0.0}
        assert x == want
        assert y == dict(zip("xyz", (bool(v) for v in yrow)))
        assert all(type(v) is bool for v in y.values())
        assert all(type(v) is float for v in x.values())


def test_validation() -> None:
    schema = Schema(features=["a"], labels=["x"])
    with pytest.raises(ValueError, match="rows"):
        Dataset("t", schema, np.zeros((2, 1)), np.zeros((3, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="columns"):
        Dataset("t", schema, np.zeros((2, 2)), np.zeros((2, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="columns"):
        Dataset("t", schema, np.zeros((2, 1)), np.zeros((2, 2), dtype=np.uint8))
    ds = Dataset("t", schema, np.zeros((2, 1), dtype=np.float32).T.T, np.ones((2, 1), dtype=int))
    assert ds.X.dtype == np.float64 and ds.Y.dtype == np.uint8
    assert "instances=2" in repr(ds)
