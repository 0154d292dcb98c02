"""``streamlearn bench``: several learners side by side on one stream, in one process.

Rules (docs/evaluation.md):

- the stream is loaded once, before any timing; each learner gets it in its natural form
  (prepared before its clock starts) and runs strict per-instance test-then-train
  (:func:`~streamlearn.evaluate.prequential.prequential`);
- each of our (array-form) learners first makes one untimed pass over the same instances, so
  numba's one-off costs (loading compiled kernels from the cache on their first call in the
  process, for code paths a short warm-up does not reach) are never counted as learning time;
- a peer too slow for the whole stream may run on a prefix (``peer_limit`` applies to
  ``natural_form="dicts"`` learners); then our learners are ALSO run, from scratch, on that same
  prefix, and a speed ratio ``speedup_vs_<peer>`` is only ever computed between two runs over the
  very same instances.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from streamlearn.evaluate.prequential import ProgressInfo, prequential
from streamlearn.multilabel import learner_class, make_learner

__all__ = ["bench", "warm_up"]


def warm_up(
    name: str, dataset: Any, params: Mapping[str, Any] | None = None, *,
    limit: int | None = None, seed: int | None = None,
) -> None:  # fmt: skip
    """One untimed pass of learner ``name`` over ``dataset`` (its first ``limit`` instances).

    It pays numba's one-off costs of the code paths the 8-row warm-up of
    :func:`~streamlearn.evaluate.prequential.prequential` does not reach (loading compiled
    kernels from the cache on their first call in the process: about 2 s for iHOMER's
    restructuring paths), so that a timed run that follows measures learning only.
    """
    prequential(make_learner(name, params, seed), dataset, limit=limit, curve_points=0)


def bench(
    dataset: Any,
    learners: Sequence[str],
    *,
    limit: int | None = None,
    peer_limit: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int | None = None,
    progress: Callable[[ProgressInfo], None] | None = None,
    curve_points: int = 0,
    window: int = 1000,
    warm: bool = True,
) -> list[dict[str, Any]]:
    """Run ``learners`` (registry names) on ``dataset``; one result dict per run.

    With ``warm``, each array-form learner first makes one untimed pass (:func:`warm_up`).

    Each dict is :meth:`PrequentialResult.to_dict` plus ``run`` (``"main"``, or ``"prefix"``
    for the extra runs of our learners on a peer's prefix) and, for array-form learners,
    ``speedup_vs_<peer>`` = peer seconds / our seconds over the same instances.
    """
    params = params or {}
    n_full = len(dataset) if limit is None else min(limit, len(dataset))
    forms = {name: getattr(learner_class(name), "natural_form", "arrays") for name in learners}

    def run(name: str, n: int, role: str) -> dict[str, Any]:
        learner = make_learner(name, params.get(name), seed)
        gc.collect()
        res = prequential(
            learner,
            dataset,
            limit=n,
            progress=progress,
            curve_points=curve_points,
            window=window,
            name=name,
        )
        d = res.to_dict(curve=curve_points > 0)
        d["run"] = role
        return d

    if warm:
        for name in learners:
            if forms[name] == "arrays":
                warm_up(name, dataset, params.get(name), limit=n_full, seed=seed)
    results = []
    for name in learners:
        n = n_full
        if forms[name] == "dicts" and peer_limit is not None:
            n = min(n_full, peer_limit)
        results.append(run(name, n, "main"))

    prefixes = sorted(
        {r["instances"] for r in results if forms[r["learner"]] == "dicts"} - {n_full}
    )
    for p in prefixes:
        for name in learners:
            if forms[name] == "arrays":
                results.append(run(name, p, "prefix"))

    for r in results:
        if forms[r["learner"]] != "arrays":
            continue
        for q in results:
            if forms[q["learner"]] == "dicts" and q["instances"] == r["instances"]:
                r[f"speedup_vs_{q['learner']}"] = (
                    q["seconds"] / r["seconds"] if r["seconds"] > 0 else None
                )
    return results
