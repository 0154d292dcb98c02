"""Kernels of the label-space drift monitors (:mod:`streamlearn.drift.label_monitor`).

Per-label error drift: a stack ``states[n_labels, size]`` of detectors of one kind (the state
vectors of :mod:`.adwin`, :mod:`.page_hinkley`, :mod:`.ddm`, :mod:`.eddm`, :mod:`.hddm_a`,
:mod:`.kswin`); ``detector_update(kind, state, x)`` dispatches on the kind code
(``KINDS``) and returns the detector's code (bit 0 drift, bit 1 warning).
``errors_update(kind, states, E, M, use_mask, start, rows, labels, codes, estimates, report)``
runs a whole batch (``E[n, n_labels]`` errors, optional mask ``M``), recording every
detection (and warning) as ``(row, label, code, estimate)`` in the output arrays.

Label co-occurrence (Jaccard) drift: counts over a current window and a reference, updated
only for the labels that are present (``O(k^2)`` per instance with ``k`` positive labels):
``n1[a]`` instances with label a, ``n11[a, b]`` (``a < b``) instances with both.
``cooc_absorb`` adds rows until the window is full; ``cooc_test`` compares, for every pair
with enough support in both, the Jaccard index ``J = n11 / (n1[a] + n1[b] - n11)`` of the
window with the reference's, with the Hoeffding bound
``eps = sqrt((1/u_ref + 1/u_cur) * ln(2 m / delta) / 2)`` (``u`` = instances with a or b,
``m`` = pairs tested, Bonferroni); it returns the pairs sorted by ``|dJ| / eps``.
"""

from __future__ import annotations

import math

import numpy as np

from streamlearn._kernels._config import njit
from streamlearn._kernels.adwin import adwin_estimation, adwin_update
from streamlearn._kernels.ddm import ddm_estimation, ddm_update
from streamlearn._kernels.eddm import eddm_estimation, eddm_update
from streamlearn._kernels.hddm_a import hddm_a_estimation, hddm_a_update
from streamlearn._kernels.kswin import kswin_update
from streamlearn._kernels.page_hinkley import ph_estimation, ph_update

__all__ = [
    "KINDS",
    "cooc_absorb",
    "cooc_test",
    "detector_estimation",
    "detector_update",
    "errors_update",
]

#: kind codes of the detectors a stack can hold
KINDS = {"ADWIN": 0, "PageHinkley": 1, "DDM": 2, "EDDM": 3, "HDDM_A": 4, "KSWIN": 5}


@njit
def detector_update(kind, state, x):
    """Update one detector of the given kind; code: bit 0 drift, bit 1 warning."""
    if kind == 0:
        return 1 if adwin_update(state, x) else 0
    if kind == 1:
        return 1 if ph_update(state, x) else 0
    if kind == 2:
        return ddm_update(state, x)
    if kind == 3:
        return eddm_update(state, x)
    if kind == 4:
        return hddm_a_update(state, x)
    return 1 if kswin_update(state, x) else 0


@njit
def detector_estimation(kind, state):
    """The detector's current estimate (window mean, error rate, ...; KSWIN: p-value)."""
    if kind == 0:
        return adwin_estimation(state)
    if kind == 1:
        return ph_estimation(state)
    if kind == 2:
        return ddm_estimation(state)
    if kind == 3:
        return eddm_estimation(state)
    if kind == 4:
        return hddm_a_estimation(state)
    return state[1]


@njit
def errors_update(kind, states, E, M, use_mask, start, rows, labels, codes, estimates, report):
    """Feed rows ``start..`` of ``E`` to the per-label detectors (see module doc).

    ``report``: the code bits worth recording (1 = drifts, 3 = drifts and warnings).
    Returns ``(k, next_row)``: ``k`` records were written; ``next_row < len(E)`` when the
    outputs could not hold another full row of records (call again from ``next_row``).
    """
    n, n_labels = E.shape
    k = 0
    cap = rows.shape[0]
    for i in range(start, n):
        if k + n_labels > cap:
            return k, i
        for j in range(n_labels):
            if use_mask and not M[i, j]:
                continue
            c = detector_update(kind, states[j], E[i, j])
            if c & report:
                rows[k] = i
                labels[k] = j
                codes[k] = c
                estimates[k] = detector_estimation(kind, states[j])
                k += 1
    return k, n


@njit
def cooc_absorb(indptr, indices, start, n1, n11, count, window_size):
    """Add rows ``start..`` (positive labels of row i: ``indices[indptr[i]:indptr[i+1]]``)
    to the window counts until it holds ``window_size`` instances; returns the next row.
    ``count[0]`` is the window's instance count."""
    n = indptr.shape[0] - 1
    i = start
    while i < n and count[0] < window_size:
        a0 = indptr[i]
        a1 = indptr[i + 1]
        for p in range(a0, a1):
            a = indices[p]
            n1[a] += 1
            for q in range(p + 1, a1):
                b = indices[q]
                if a < b:
                    n11[a, b] += 1
                else:
                    n11[b, a] += 1
        count[0] += 1
        i += 1
    return i


@njit
def cooc_test(ref_n1, ref_n11, cur_n1, cur_n11, delta, min_support):
    """Jaccard comparison of every supported pair; returns ``(m, a, b, j_ref, j_cur, ratio)``
    with the pairs sorted by decreasing ``ratio = |j_cur - j_ref| / eps``."""
    L = ref_n1.shape[0]
    m = 0
    for a in range(L):
        if ref_n1[a] == 0 and cur_n1[a] == 0:
            continue
        for b in range(a + 1, L):
            ur = ref_n1[a] + ref_n1[b] - ref_n11[a, b]
            uc = cur_n1[a] + cur_n1[b] - cur_n11[a, b]
            if ur >= min_support and uc >= min_support:
                m += 1
    pa = np.empty(m, dtype=np.int64)
    pb = np.empty(m, dtype=np.int64)
    jr = np.empty(m, dtype=np.float64)
    jc = np.empty(m, dtype=np.float64)
    ratio = np.empty(m, dtype=np.float64)
    if m == 0:
        return m, pa, pb, jr, jc, ratio
    log_term = math.log(2.0 * m / delta)
    k = 0
    for a in range(L):
        if ref_n1[a] == 0 and cur_n1[a] == 0:
            continue
        for b in range(a + 1, L):
            ur = ref_n1[a] + ref_n1[b] - ref_n11[a, b]
            uc = cur_n1[a] + cur_n1[b] - cur_n11[a, b]
            if ur >= min_support and uc >= min_support:
                pa[k] = a
                pb[k] = b
                jr[k] = ref_n11[a, b] / ur
                jc[k] = cur_n11[a, b] / uc
                eps = math.sqrt((1.0 / ur + 1.0 / uc) * log_term / 2.0)
                ratio[k] = abs(jc[k] - jr[k]) / eps
                k += 1
    order = np.argsort(-ratio, kind="mergesort")
    return m, pa[order], pb[order], jr[order], jc[order], ratio[order]
