"""The budget is never exceeded: a property over random streams, strategies and settings.

After every decision the spending is recomputed from the decisions alone, in exact rational
arithmetic, and checked against the documented guarantees (streamlearn/active/budget.py):

1. the weighted window spending ``u_t / a_t`` (resp. ``u_t / (w L_t)``) is at most ``B``;
2. bias-corrected: labels asked so far <= B x labels available so far (exact integers);
   paper's form: labels asked so far <= B L_t (t + w - 1);
3. over the last ``w`` instances, labels asked <= u_t / lambda^(w-1).
"""

from __future__ import annotations

import math
import pickle
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlearn.active import STRATEGIES, BudgetManager, LabelQueryPolicy

REL = Fraction(1, 10**12)  # float recurrences vs exact ones: rounding only


@st.composite
def streams(draw):
    """Rows of probabilities over a label space that may grow, with learned-instance counts."""
    n = draw(st.integers(1, 80))
    sizes = sorted(draw(st.lists(st.integers(1, 9), min_size=n, max_size=n)))
    if draw(st.booleans()):
        sizes = [sizes[-1]] * n  # fixed label space
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["uniform", "extreme", "uncertain"]))
    rows = []
    for L in sizes:
        if kind == "uniform":
            rows.append(rng.random(L))
        elif kind == "extreme":
            rows.append(rng.choice([0.0, 1.0, 0.01, 0.99], size=L))
        else:
            rows.append(0.5 + rng.normal(0, 0.05, L).clip(-0.5, 0.5))
    return rows, rng.integers(0, 5, n)


@settings(max_examples=150, deadline=None)
@given(
    rows_seen=streams(),
    name=st.sampled_from(sorted(STRATEGIES)),
    budget=st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.05, 0.1, 0.2, 1 / 3, 0.5, 1.0])),
    window=st.integers(1, 200),
    label_wise=st.booleans(),
    thresholds=st.sampled_from(["shared", "per-label"]),
    bias_correction=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_budget_is_never_exceeded(
    rows_seen, name, budget, window, label_wise, thresholds, bias_correction, seed
):
    rows, seen = rows_seen
    policy = LabelQueryPolicy(
        name,
        budget=budget,
        window=window,
        label_wise=label_wise,
        thresholds=thresholds,
        bias_correction=bias_correction,
        warmup=1,
        seed=seed,
    )
    B = Fraction(budget)
    lam = Fraction(window - 1, window)
    u = a = Fraction(0)
    asked_total = avail_total = 0
    history: list[int] = []
    L_max = 0
    for t, (p, k_seen) in enumerate(zip(rows, seen), start=1):
        mask = policy.decide(p, int(k_seen))
        k, L = int(mask.sum()), len(p)
        assert mask.dtype == np.bool_ and mask.shape == (L,)
        if not label_wise:
            assert k in (0, L)
        u = lam * u + k
        a = lam * a + L
        asked_total += k
        avail_total += L
        L_max = max(L_max, L)
        history.append(k)
        bm = policy.budget_
        if budget >= 1.0:
            continue
        # 1. the window spending, exactly as stored and in exact arithmetic
        if bias_correction:
            assert bm.spent_ <= bm.budget * bm.available_
            assert u <= B * a * (1 + REL)
            assert bm.spending <= budget
        else:
            assert bm.spent_ <= bm.budget * (window * L_max)
            assert u <= B * window * L_max * (1 + REL)
        # 2. the whole stream so far
        if bias_correction:
            assert asked_total <= Fraction(budget).limit_denominator(10**9) * avail_total
            assert asked_total <= B * avail_total * (1 + REL)
        else:
            assert asked_total <= B * L_max * (t + window - 1) * (1 + REL)
        # 3. the last w instances
        recent = sum(history[-window:])
        assert recent <= u / lam ** (window - 1) * (1 + REL) if window > 1 else recent <= u
    assert policy.labels_asked_ == asked_total and policy.labels_available_ == avail_total


@settings(max_examples=100, deadline=None)
@given(
    wants=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=120),
    budget=st.floats(0.0, 1.0),
    window=st.integers(1, 100),
)
def test_manager_grants_as_much_as_it_may(wants, budget, window):
    """request() never grants more than allowance(), and allowance() is the largest amount
    that keeps the guarantee (one more label would break it)."""
    bm = BudgetManager(budget, window=window)
    for want, extra in wants:
        L = want + extra
        allow = bm.allowance(L)
        assert 0 <= allow <= L
        if allow < L and budget < 1.0:  # one more would break guarantee 1 or 2
            lam = bm.decay
            over_ewma = lam * bm.spent_ + allow + 1 > budget * (lam * bm.available_ + L)
            over_total = bm.labels_asked_ + allow + 1 > math.floor(
                bm.budget_fraction_ * (bm.labels_available_ + L)
            )
            assert over_ewma or over_total
        granted = bm.request(want, L)
        assert granted == min(want, allow)


def test_spend_refuses_more_than_the_allowance():
    bm = BudgetManager(0.1, window=10)
    with pytest.raises(ValueError, match="exceeds the budget"):
        bm.spend(3, 10)
    bm.spend(1, 10)
    assert bm.labels_asked_ == 1


def test_long_run_spends_about_the_budget():
    """An always-asking strategy is held at B (not far below it)."""
    policy = LabelQueryPolicy("fixed-uncertainty", budget=0.2, window=100, seed=0)
    P = np.full((5000, 10), 0.5)
    policy.decide_many(P, 10)
    assert 0.195 <= policy.budget_used <= 0.2


def test_paper_form_allows_a_start_up_burst():
    """u_t / (w L) as in the paper: a fresh manager may spend w*B instances' worth at once."""
    bm = BudgetManager(0.1, window=100, bias_correction=False)
    granted = [bm.request(5) for _ in range(12)]
    assert granted[:9] == [5] * 9  # 9 instances x 5 labels < 0.1 * 100 * 5 = 50
    corrected = BudgetManager(0.1, window=100)
    assert sum(corrected.request(5) for _ in range(12)) <= 0.1 * 60


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="budget"):
        BudgetManager(-0.1)
    with pytest.raises(ValueError, match="window"):
        BudgetManager(0.1, window=0)
    with pytest.raises(ValueError, match="n_wanted"):
        BudgetManager(0.1).request(3, 2)


def test_manager_pickles_mid_stream():
    bm = BudgetManager(0.3, window=7)
    for L in range(1, 20):
        bm.request(L % 4, L)
    clone = pickle.loads(pickle.dumps(bm))
    assert [bm.request(3, 5) for _ in range(30)] == [clone.request(3, 5) for _ in range(30)]
    assert vars(bm) == vars(clone)
