"""Strategies and the policy against the paper's pseudo-code (tests/unit/_paper_al.py) and
hand-made sequences; confidence; ordering of label-wise queries; cold start."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlearn.active import (
    STRATEGIES,
    FixedUncertainty,
    LabelQueryPolicy,
    Random,
    RandomizedVariableUncertainty,
    Split,
    VariableUncertainty,
    confidence,
    make_strategy,
)
from streamlearn.base.arrays import InputError
from tests.unit._paper_al import paper_stream

PARAMS = {
    "random": {},
    "fixed-uncertainty": {"theta": 0.8},
    "variable-uncertainty": {"step": 0.05},
    "randomized-variable-uncertainty": {"step": 0.05, "delta": 0.7},
    "split": {"step": 0.05, "v": 0.3},
}


def paper_kwargs(name: str) -> dict:
    p = PARAMS[name]
    out = {}
    if "theta" in p:
        out["theta_fixed"] = p["theta"]
    for k in ("step", "delta", "v"):
        if k in p:
            out[k] = p[k]
    return out


# ---------------------------------------------------------------------------- hand-made
def test_fixed_uncertainty_asks_strictly_below_theta():
    s = FixedUncertainty(theta=0.8)
    assert [s.ask(c, 0.1) for c in (0.7, 0.8, 0.95, 0.5)] == [True, False, False, True]
    assert s.threshold() == 0.8


def test_variable_uncertainty_threshold_moves_as_algorithm_3():
    s = VariableUncertainty(step=0.5)
    out = [(s.ask(c, 0.1), s.threshold()) for c in (0.9, 0.9, 0.7, 0.3, 0.99)]
    # 0.9<1 ask: 0.5 | 0.9>=0.5 refuse: 0.75 | 0.7<0.75 ask: 0.375 | 0.3<0.375 ask: 0.1875
    # | 0.99 >= 0.1875 refuse: 0.28125
    assert out == [(True, 0.5), (False, 0.75), (True, 0.375), (True, 0.1875), (False, 0.28125)]


def test_thresholds_are_per_slot():
    s = VariableUncertainty(step=0.5)
    assert s.ask(0.9, 0.1, slot=3)
    assert s.threshold(3) == 0.5 and s.threshold(0) == 1.0 and s.threshold(7) == 1.0
    assert s.thresholds(4).tolist() == [1.0, 1.0, 1.0, 0.5]


def test_randomized_threshold_without_noise_is_variable_uncertainty():
    a, b = RandomizedVariableUncertainty(step=0.2, delta=0.0, seed=3), VariableUncertainty(0.2)
    confs = np.random.default_rng(0).uniform(0.5, 1.0, 200)
    assert [a.ask(c, 0.1) for c in confs] == [b.ask(c, 0.1) for c in confs]
    assert a.threshold() == b.threshold()


def test_randomized_threshold_sometimes_asks_confident_predictions():
    s = RandomizedVariableUncertainty(step=1e-9, delta=1.0, seed=0)  # theta stays ~1
    asks = [s.ask(0.999, 0.1) for _ in range(2000)]
    # P(theta * eta > 0.999) = P(eta > 0.999) ~ 0.5
    assert 0.4 < np.mean(asks) < 0.6


def test_split_extremes():
    pure_random = Split(v=1.0, step=0.5, seed=1)
    asks = [pure_random.ask(0.5, 0.3) for _ in range(3000)]
    assert pure_random.threshold() == 1.0  # the random part never moves the threshold
    assert 0.27 < np.mean(asks) < 0.33 and pure_random.last_random_
    vu, ref = Split(v=0.0, step=0.5), VariableUncertainty(step=0.5)
    confs = [0.9, 0.9, 0.7, 0.3, 0.99]
    assert [vu.ask(c, 0.3) for c in confs] == [ref.ask(c, 0.3) for c in confs]
    assert not vu.last_random_


def test_random_extremes():
    s = Random(seed=0)
    assert not any(s.ask(0.5, 0.0) for _ in range(100))
    assert all(s.ask(1.0, 1.0) for _ in range(100))


def test_budget_gates_the_strategy_like_the_framework():
    """w=4, B=0.5, paper form: affordable while 0.75 u + 1 <= 2. A strategy that always asks
    gets T,T,F,T,F,F,T; a variable threshold moves only when consulted (asked here)."""
    fu = LabelQueryPolicy(
        FixedUncertainty(theta=1.01), budget=0.5, window=4, bias_correction=False, seed=0
    )
    got = [bool(fu.decide(np.array([0.5]), 10)[0]) for _ in range(7)]
    assert got == [True, True, False, True, False, False, True]
    vu = LabelQueryPolicy(
        VariableUncertainty(step=0.01), budget=0.5, window=4, bias_correction=False, seed=0
    )
    thetas = []
    for _ in range(7):
        vu.decide(np.array([0.5]), 10)
        thetas.append(vu.strategy_.threshold())
    expect, theta = [], 1.0
    for asked in [True, True, False, True, False, False, True]:
        theta = theta * 0.99 if asked else theta  # refused by the budget: not consulted
        expect.append(theta)
    assert thetas == expect


# ---------------------------------------------------------------------------- vs the paper
@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(STRATEGIES)),
    posts=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=150),
    budget=st.floats(0.0, 1.0),
    window=st.integers(1, 60),
    seed=st.integers(0, 2**31),
    label_wise=st.booleans(),
)
def test_single_label_policy_follows_the_paper(name, posts, budget, window, seed, label_wise):
    """With one label, both query modes are the paper's framework, decision for decision, and
    the threshold after every instance is the pseudo-code's."""
    strategy = make_strategy(name, seed=seed, **PARAMS[name])
    policy = LabelQueryPolicy(
        strategy, budget=budget, window=window, label_wise=label_wise, bias_correction=False
    )
    probas = np.array(posts)
    conf = confidence(probas)
    want, want_theta = paper_stream(
        name, conf.tolist(), budget=budget, window=window, seed=seed, **paper_kwargs(name)
    )
    got, got_theta = [], []
    for p in probas:
        got.append(bool(policy.decide(np.array([p]), n_seen=5)[0]))
        got_theta.append(policy.strategy_.threshold())
    assert got == want
    if name != "fixed-uncertainty" and name != "random":
        assert got_theta == want_theta


def test_confidence_is_the_maximum_posterior():
    p = np.random.default_rng(0).random(1000)
    np.testing.assert_array_equal(confidence(p), np.maximum(p, 1 - p))
    # another decision threshold: 0.5 on it, 1 at 0 and 1, monotone on each side
    c = confidence(np.array([0.0, 0.1, 0.2, 0.3, 0.6, 1.0]), threshold=0.3)
    assert c[3] == 0.5 and c[0] == 1.0 and c[5] == 1.0
    assert c[0] > c[1] > c[2] > c[3] < c[4] < c[5]
    with pytest.raises(ValueError, match="threshold"):
        confidence(p, threshold=1.0)


# ---------------------------------------------------------------------------- multi-label
def test_label_wise_allowance_goes_to_the_most_uncertain_labels():
    # budget 0.4 of 5 labels, window 1: 2 labels per instance; all candidates (theta 1.01)
    policy = LabelQueryPolicy(
        FixedUncertainty(theta=1.01), budget=0.4, window=1, thresholds="shared", seed=0
    )
    m = policy.decide(np.array([0.05, 0.45, 0.99, 0.7, 0.0]), n_seen=10)
    assert m.tolist() == [False, True, False, True, False]


def test_per_label_thresholds_rank_by_confidence_relative_to_the_label():
    s = VariableUncertainty(step=0.01)
    s.theta_ = np.array([0.6, 1.2, 1.0])  # label 0 is usually confident... for its threshold
    policy = LabelQueryPolicy(s, budget=1 / 3, window=1, thresholds="per-label", seed=0)
    policy.strategy_.theta_ = s.theta_.copy()
    # confidences 0.55, 0.9, 0.8 -> relative 0.917, 0.75, 0.8: label 1 first
    m = policy.decide(np.array([0.45, 0.9, 0.2]), n_seen=10)
    assert m.tolist() == [False, True, False]
    assert policy.strategy_.threshold(1) == pytest.approx(1.2 * 0.99)
    assert policy.strategy_.threshold(0) == 0.6  # not consulted: allowance used up


def test_instance_level_asks_all_or_nothing_and_pays_every_label():
    policy = LabelQueryPolicy("variable-uncertainty", budget=0.5, label_wise=False, seed=0)
    rng = np.random.default_rng(1)
    for _ in range(300):
        m = policy.decide(rng.random(6), n_seen=10)
        assert m.all() or not m.any()
    assert policy.labels_asked_ % 6 == 0 and policy.labels_asked_ > 0
    assert policy.labels_asked_ <= 0.5 * policy.labels_available_


def test_instance_level_uses_the_least_confident_label():
    policy = LabelQueryPolicy(FixedUncertainty(theta=0.8), budget=1.0, label_wise=False)
    assert policy.decide(np.array([0.99, 0.01, 0.3]), 10).all()  # 0.3: confidence 0.7 < 0.8
    assert not policy.decide(np.array([0.99, 0.01, 0.1]), 10).any()


def test_cold_start_counts_every_label_as_uncertain():
    policy = LabelQueryPolicy(FixedUncertainty(theta=0.9), budget=1.0, warmup=3)
    assert policy.decide(np.zeros(4), n_seen=0).all()
    assert policy.decide(np.zeros(4), n_seen=2).all()
    assert not policy.decide(np.zeros(4), n_seen=3).any()


def test_random_label_wise_spreads_over_labels():
    policy = LabelQueryPolicy("random", budget=0.25, seed=0)
    rng = np.random.default_rng(0)
    M = policy.decide_many(rng.random((4000, 8)), 10)
    per_label = M.mean(axis=0)
    assert np.all(np.abs(per_label - per_label.mean()) < 0.03)
    assert M.sum() <= 0.25 * M.size


def test_decide_many_is_decide_row_by_row():
    P = np.random.default_rng(2).random((200, 5))
    a = LabelQueryPolicy("split", budget=0.3, seed=4)
    b = LabelQueryPolicy("split", budget=0.3, seed=4)
    seen = np.arange(200)
    np.testing.assert_array_equal(
        a.decide_many(P, seen), np.stack([b.decide(p, int(k)) for p, k in zip(P, seen)])
    )


def test_label_space_may_grow_between_calls():
    policy = LabelQueryPolicy("vu", budget=0.5, window=5, seed=0)
    for L in (2, 2, 3, 5, 5, 8):
        assert policy.decide(np.full(L, 0.5), 10).shape == (L,)
    assert policy.labels_available_ == 25
    assert policy.labels_asked_ <= 0.5 * 25


def test_bad_input_is_named():
    policy = LabelQueryPolicy("vu")
    with pytest.raises(InputError, match="1-d"):
        policy.decide(np.zeros((2, 2)), 0)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        policy.decide(np.array([0.2, 1.5]), 0)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        policy.decide(np.array([np.nan]), 0)
    with pytest.raises(ValueError, match="unknown active-learning strategy 'nope'"):
        LabelQueryPolicy("nope")
    with pytest.raises(ValueError, match="thresholds"):
        LabelQueryPolicy("vu", thresholds="global")
    with pytest.raises(ValueError, match="budget"):
        LabelQueryPolicy("vu", budget=1.5)
    with pytest.raises(ValueError, match="step"):
        VariableUncertainty(step=0.0)
    with pytest.raises(ValueError, match="v must"):
        Split(v=2.0)


def test_aliases():
    assert type(make_strategy("vu")) is VariableUncertainty
    assert type(make_strategy("rvu")) is RandomizedVariableUncertainty
    assert type(make_strategy("fu")) is FixedUncertainty
