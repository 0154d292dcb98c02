"""The budget manager: a hard cap on the share of labels asked over a sliding window.

The paper's estimate of spending (Žliobaitė et al. 2014, Section III-B) is an exponentially
weighted count of queries over a window of ``w`` instances, ``lambda = (w - 1) / w``::

    u_t = lambda * u_{t-1} + labelling_t

and a query is allowed only while ``u_t / w < B``. Here queries are labels, so
``labelling_t`` is the number ``k_t`` of labels asked at instance ``t`` and the budget is a
fraction of the labels *available*: ``L_t``, the size of the label space at ``t``. The manager
keeps the same weighting of the labels available,

    a_t = lambda * a_{t-1} + L_t,

and its spending is ``b_t = u_t / a_t``: labels asked / labels available over the
exponentially weighted window. (``a_t = w * L * (1 - lambda ** t)`` for a fixed label space, so
``b_t`` is the paper's ``u_t / (w L)`` with the start-up bias removed; ``bias_correction=False``
uses the paper's ``u_t / (w L_t)`` as it is, which lets a fresh manager spend up to ``w * B``
instances' worth of labels at once.)

Hard guarantee
--------------
A request is granted only if it keeps the spending at or below ``B`` *after* counting it:
:meth:`BudgetManager.allowance` is the largest ``k <= L_t`` with
``lambda * u_{t-1} + k <= B * (lambda * a_{t-1} + L_t)``, evaluated in exactly the floating-point
operations that then update the state. Hence, for every ``t``:

1. ``b_t = u_t / a_t <= B`` (bias-corrected), resp. ``u_t / (w L_t) <= B`` (paper's form, with
   ``L_t`` the largest label space so far), exactly for the stored ``u_t`` and ``a_t``; by
   induction, since a step without queries only decays ``u``. (Recomputed in exact rational
   arithmetic the two recurrences differ from the stored floats by rounding only, less than
   ``1e-12`` relative.)
2. With bias correction, the labels asked over the whole stream so far are at most ``B`` times
   the labels available: summing ``k_s = u_s - lambda u_{s-1}`` and ``L_s = a_s - lambda
   a_{s-1}`` over ``s <= t`` gives ``sum k = u_t + (1 - lambda) sum_{s<t} u_s <= B (a_t +
   (1 - lambda) sum_{s<t} a_s) = B sum L``. So that rounding can never tip it, the manager
   also enforces this on its exact integer totals, with ``B`` as the nearest fraction of
   denominator at most ``10**9`` (``0.2`` is 1/5, ``1/3`` is 1/3). (Paper's form: ``sum k <= B L (t + w - 1)``, it allows a burst at the start.)
3. Over any ``w`` consecutive instances, ``sum k <= u_t / lambda ** (w - 1) <= e * B * w * L``.

With ``budget >= 1`` every request is granted.

Examples
--------
>>> bm = BudgetManager(budget=0.2, window=10)
>>> [bm.request(5) for _ in range(4)]     # 5 labels available each time, 20 % of them
[1, 1, 1, 1]
>>> round(bm.spending, 3) <= 0.2
True

"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = ["BudgetManager"]


class BudgetManager:
    """Share of labels asked over an exponentially weighted window of ``window`` instances.

    Parameters
    ----------
    budget
        ``B``: the largest share of the available labels that may be asked, in ``[0, 1]``.
    window
        ``w``: the window of the spending estimate, in instances (``lambda = (w - 1) / w``).
    bias_correction
        Divide by the weighted count of labels available (``True``, the default) or by
        ``w * L_t`` as in the paper.

    Attributes
    ----------
    spent_
        ``u_t``: weighted labels asked.
    available_
        ``a_t``: weighted labels available.
    n_
        Instances seen.
    labels_asked_, labels_available_
        Exact totals since the start.
    """

    def __init__(self, budget: float, window: int = 1000, bias_correction: bool = True) -> None:
        if not (isinstance(budget, int | float) and 0.0 <= budget <= 1.0):
            raise ValueError(f"budget must be a fraction in [0, 1], got {budget!r}")
        if not (isinstance(window, int) and window >= 1):
            raise ValueError(f"window must be an integer >= 1, got {window!r}")
        self.budget = float(budget)
        self.budget_fraction_ = Fraction(self.budget).limit_denominator(10**9)
        self.window = window
        self.bias_correction = bias_correction
        self.spent_ = 0.0
        self.available_ = 0.0
        self.n_ = 0
        self.labels_asked_ = 0
        self.labels_available_ = 0
        self.n_labels_ = 0  # largest label space seen (the paper's form normalises by it)

    @property
    def decay(self) -> float:
        """``lambda = (w - 1) / w``."""
        return (self.window - 1) / self.window

    def _step(self, n_available: int) -> tuple[float, float, float]:
        """``(lambda * u_{t-1}, a_t, capacity)`` for an instance with ``n_available`` labels."""
        lam = self.decay
        u_base = lam * self.spent_
        a_new = lam * self.available_ + n_available
        if self.bias_correction:
            cap = self.budget * a_new
        else:
            cap = self.budget * (self.window * max(n_available, self.n_labels_))
        return u_base, a_new, cap

    def allowance(self, n_available: int) -> int:
        """Largest number of labels of this instance that may be asked (0 to ``n_available``)."""
        if n_available < 0:
            raise ValueError(f"n_available must be >= 0, got {n_available}")
        if self.budget >= 1.0:
            return n_available
        u_base, _, cap = self._step(n_available)
        room = cap - u_base
        if room < 0.0:
            return 0
        k = min(n_available, math.floor(room))
        while k > 0 and u_base + k > cap:  # the very comparison the stored state satisfies
            k -= 1
        if self.bias_correction:  # guarantee 2 on the exact integer totals
            total = self.budget_fraction_ * (self.labels_available_ + n_available)
            k = min(k, math.floor(total) - self.labels_asked_)
        return max(k, 0)

    def spend(self, n_asked: int, n_available: int) -> None:
        """Record an instance: ``n_asked`` of its ``n_available`` labels were asked.

        Raises ``ValueError`` if that is more than :meth:`allowance` grants.
        """
        allowed = self.allowance(n_available)
        if not 0 <= n_asked <= allowed:
            raise ValueError(
                f"asking {n_asked} of {n_available} labels exceeds the budget "
                f"(allowance {allowed}, budget {self.budget})"
            )
        u_base, a_new, _ = self._step(n_available)
        self.spent_ = u_base + n_asked
        self.available_ = a_new
        self.n_ += 1
        self.labels_asked_ += n_asked
        self.labels_available_ += n_available
        self.n_labels_ = max(self.n_labels_, n_available)

    def request(self, n_wanted: int, n_available: int | None = None) -> int:
        """Grant as many of ``n_wanted`` labels as the budget allows, record the instance and
        return the number granted (``n_available`` defaults to ``n_wanted``)."""
        n_available = n_wanted if n_available is None else n_available
        if not 0 <= n_wanted <= n_available:
            raise ValueError(f"n_wanted must be in [0, {n_available}], got {n_wanted}")
        granted = min(n_wanted, self.allowance(n_available))
        self.spend(granted, n_available)
        return granted

    @property
    def spending(self) -> float:
        """The guaranteed quantity: ``u_t / a_t`` (bias-corrected) or ``u_t / (w L_t)``."""
        if self.bias_correction:
            return self.spent_ / self.available_ if self.available_ > 0 else 0.0
        denom = self.window * self.n_labels_
        return self.spent_ / denom if denom > 0 else 0.0

    @property
    def budget_used(self) -> float:
        """Share of all labels available so far that were asked (exact totals)."""
        if self.labels_available_ == 0:
            return 0.0
        return self.labels_asked_ / self.labels_available_
