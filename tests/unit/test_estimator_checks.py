"""River's own estimator checks, plus streamlearn's contract checks, over EVERY registered learner.

Parametrised over ``available_learners()``, so a learner that lands in the registry is covered
without touching this file. Learners declare their test parameters with River's
``_unit_test_params`` (the first set is used for our own checks).
"""

from __future__ import annotations

import inspect
import os
import pickle
import shutil

import numpy as np
import pytest
from river.checks import yield_checks

from streamlearn.base.arrays import InputError
from streamlearn.multilabel import available_learners, learner_class
from streamlearn.schema import Schema
from tests.unit._learners import toy_dataset

LEARNERS = available_learners()


def _params(name: str, index: int = 0) -> dict:
    params = list(learner_class(name)._unit_test_params())[index]
    return dict(params)


def _make(name: str, seed: int = 7, index: int = 0):
    cls = learner_class(name)
    params = _params(name, index)
    if "seed" in inspect.signature(cls).parameters:
        params["seed"] = seed
    return cls(**params)


def _river_cases():
    for name in LEARNERS:
        cls = learner_class(name)
        for i, params in enumerate(cls._unit_test_params()):
            seen: dict[str, int] = {}
            for check in yield_checks(cls(**params)):
                k = seen.get(check.__name__, 0)
                seen[check.__name__] = k + 1
                yield pytest.param(
                    name, i, check.__name__, k, id=f"{name}-{i}-{check.__name__}-{k}"
                )


@pytest.fixture(scope="module")
def river_data(tmp_path_factory, datasets_dir):
    """``$RIVER_DATA`` laid out as River expects, from the shared copy of Music (no download)."""
    home = tmp_path_factory.mktemp("river_data")
    (home / "Music").mkdir()
    shutil.copy(datasets_dir / "river" / "music.csv", home / "Music" / "music.csv")
    old = os.environ.get("RIVER_DATA")
    os.environ["RIVER_DATA"] = str(home)
    yield home
    if old is None:
        del os.environ["RIVER_DATA"]
    else:
        os.environ["RIVER_DATA"] = old


@pytest.mark.parametrize("name,index,check_name,k", list(_river_cases()))
def test_river_check_estimator(river_data, name, index, check_name, k):
    model = learner_class(name)(**_params(name, index))
    if check_name in model._unit_test_skips():
        pytest.skip(f"{name} skips {check_name}")
    checks = [c for c in yield_checks(model) if c.__name__ == check_name]
    checks[k](model.clone())


# ------------------------------------------------------------------ streamlearn's own checks
def _dict_pass(learner, ds):
    """predict_proba_one then learn_one per instance (River style)."""
    labels = ds.schema.labels
    out = np.zeros((len(ds), len(labels)))
    decided = np.zeros((len(ds), len(labels)), dtype=bool)
    for i, (x, y) in enumerate(ds.iter_dicts()):
        proba = learner.predict_proba_one(x)
        pred = learner.predict_one(x)
        out[i] = [proba[lab][True] for lab in labels]
        decided[i] = [pred[lab] for lab in labels]
        learner.learn_one(x, y)
    return out, decided


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name", LEARNERS)
def test_dict_and_array_apis_predict_the_same(name, sparse):
    ds = toy_dataset(160, sparse=sparse)
    a = _make(name).set_schema(ds.schema)
    b = _make(name).set_schema(ds.schema)
    pa, da = _dict_pass(a, ds)
    pb = b.predict_learn_many(ds.X, ds.Y)
    np.testing.assert_allclose(pa, pb, rtol=0, atol=1e-12)
    assert np.array_equal(da, pb > b.threshold)
    assert a.n_samples_seen == b.n_samples_seen == len(ds)
    # learn_many then predict_many agrees with the dict API too
    c = _make(name).set_schema(ds.schema)
    c.learn_many(ds.head(100).X, ds.head(100).Y)
    tail = ds.slice(100, 160)
    d = _make(name).set_schema(ds.schema)
    for x, y in ds.head(100).iter_dicts():
        d.learn_one(x, y)
    got = c.predict_proba_many(tail.X)
    for i, (x, _) in enumerate(tail.iter_dicts()):
        p = d.predict_proba_one(x)
        np.testing.assert_allclose(got[i], [p[lab][True] for lab in ds.schema.labels], atol=1e-12)


@pytest.mark.parametrize("name", LEARNERS)
def test_deterministic_given_seed(name):
    ds = toy_dataset(200, seed=3)
    runs = []
    for _ in range(2):
        learner = _make(name, seed=11).set_schema(ds.schema)
        runs.append(learner.predict_learn_many(ds.X, ds.Y))
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name", LEARNERS)
def test_pickle_round_trip_mid_stream_continues_identically(name, sparse):
    ds = toy_dataset(240, sparse=sparse, seed=5)
    first, rest = ds.slice(0, 120), ds.slice(120, 240)
    learner = _make(name).set_schema(ds.schema)
    learner.predict_learn_many(first.X, first.Y)
    restored = pickle.loads(pickle.dumps(learner))
    assert np.array_equal(
        learner.predict_learn_many(rest.X, rest.Y), restored.predict_learn_many(rest.X, rest.Y)
    )
    # and through the dict API
    x, y = next(ds.slice(0, 1).iter_dicts())
    assert learner.predict_one(x) == restored.predict_one(x)


@pytest.mark.parametrize("name", LEARNERS)
def test_partial_labels_learn_only_the_known_labels(name):
    ds = toy_dataset(200, seed=8)
    rng = np.random.default_rng(8)
    known = rng.random(ds.Y.shape) < 0.5
    scrambled = ds.Y.copy()
    scrambled[~known] = rng.integers(0, 2, size=int((~known).sum()))
    a = _make(name).set_schema(ds.schema)
    b = _make(name).set_schema(ds.schema)
    pa = a.predict_learn_many(ds.X, ds.Y, known)
    pb = b.predict_learn_many(ds.X, scrambled, known)
    assert np.array_equal(pa, pb), "values of unknown labels must not be learned from"
    # the dict API takes the names of the known labels
    c = _make(name).set_schema(ds.schema)
    labels = ds.schema.labels
    for i, (x, y) in enumerate(ds.head(60).iter_dicts()):
        c.learn_one(x, y, known=[lab for lab, k in zip(labels, known[i]) if k])
    d = _make(name).set_schema(ds.schema)
    d.learn_many(ds.head(60).X, ds.head(60).Y, known[:60])
    np.testing.assert_allclose(
        c.predict_proba_many(ds.slice(60, 80).X),
        d.predict_proba_many(ds.slice(60, 80).X),
        atol=1e-12,
    )


@pytest.mark.parametrize("name", LEARNERS)
def test_bad_input_raises_input_error(name):
    ds = toy_dataset(20)
    learner = _make(name).set_schema(ds.schema)
    X, Y = ds.X, ds.Y
    with pytest.raises(InputError, match="feature columns"):
        learner.learn_many(X[:, :-1], Y)
    with pytest.raises(InputError, match="label matrix"):
        learner.learn_many(X, Y[:, :-1])
    with pytest.raises(InputError, match="0/1"):
        learner.learn_many(X, Y * 2)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        learner.learn_many(bad, Y)
    with pytest.raises(InputError, match="NaN"):
        learner.predict_learn_many(bad, Y)
    with pytest.raises(InputError, match="feature columns"):
        learner.predict_many(X[:, :-1])
    with pytest.raises(InputError, match="known-mask"):
        learner.learn_many(X, Y, np.ones((len(X), 1), dtype=bool))
    with pytest.raises(ValueError, match="f01"):
        learner.learn_one({"f00": 1.0, "f01": float("nan")}, {"l00": True})
    assert learner.n_samples_seen == 0  # nothing was learned from the bad batches


@pytest.mark.parametrize("name", LEARNERS)
def test_predict_before_learn(name):
    ds = toy_dataset(10)
    x, _ = next(ds.iter_dicts())
    fresh = _make(name)
    assert all(v is False for v in fresh.predict_one(x).values())
    assert isinstance(fresh.predict_proba_one(x), dict)
    fresh.set_schema(ds.schema)
    P = fresh.predict_proba_many(ds.X)
    assert P.shape == (len(ds), ds.n_labels)
    assert np.all((P >= 0) & (P <= 1))
    assert fresh.predict_many(ds.X).dtype == np.bool_
    assert set(fresh.predict_one(x)) == set(ds.schema.labels)


def _learn_in_calls(learner, ds, cuts: list[int]) -> np.ndarray:
    """predict_learn_many over ``ds`` split at ``cuts``, the label space growing as the service
    grows it: a label joins at the first row that has it (extra splits there, in every run)."""
    Y = ds.Y
    first = np.array(
        [np.flatnonzero(Y[:, j])[0] if Y[:, j].any() else len(Y) for j in range(Y.shape[1])]
    )
    order = np.argsort(first, kind="stable")  # label columns in the order they appear
    names = [ds.schema.labels[j] for j in order]
    known_at = np.sort(first)
    bounds = sorted({int(f) for f in known_at if 0 < f < len(Y)} | set(cuts) | {len(Y)})
    out = np.zeros(Y.shape)
    a = 0
    for b in bounds:
        k = int(np.searchsorted(known_at, a, side="right"))  # labels known when row a comes
        schema = Schema(features=list(ds.schema.features), labels=names[:k])
        if learner.schema is None or learner.schema.n_labels != k:
            learner.set_schema(schema)
        if k:
            out[a:b, :k] = learner.predict_learn_many(ds.X[a:b], Y[a:b][:, order[:k]])
        a = b
    return out


@pytest.mark.parametrize("name", LEARNERS)
def test_how_rows_are_split_into_calls_does_not_matter(name):
    """A service polls batches of any size (and restarts from snapshots between them): the model
    and every prediction depend only on the rows and their order, not on the calls."""
    from streamlearn.stream.synth import Drift, make_stream

    # default parameters: structural decisions (iHOMER's background trees taking over after
    # warm_min rows, ...) happen at their real scale
    ds = make_stream(
        1000, n_features=20, n_labels=8, n_groups=3, drifts=[Drift(500, kind="labels")], seed=0
    ).dataset
    cls = learner_class(name)
    kw = {"seed": 7} if "seed" in inspect.signature(cls).parameters else {}
    whole = _learn_in_calls(cls(**kw), ds, [])
    rng = np.random.default_rng(0)
    for size in (45,):
        cuts = sorted(
            set(range(size, len(ds.Y), size)) | set(rng.integers(1, len(ds.Y), 5).tolist())
        )
        split = _learn_in_calls(cls(**kw), ds, cuts)
        bad = np.flatnonzero(~(split == whole).all(axis=1))
        assert bad.size == 0, (
            f"calls of {size} rows: {bad.size} rows predicted differently from {bad[0]}"
        )
