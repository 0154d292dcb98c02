"""``streamlearn bench``: several learners side by side on one stream, in one process.

Rules (docs/evaluation.md):

- the stream is loaded once, before any timing; each learner gets it in its natural form
  (prepared before its clock starts) and runs strict per-instance test-then-train
  (:func:`~streamlearn.evaluate.prequential.prequential`);
- every learner, ours and the River peers alike, first makes one untimed pass over the same
  instances, so one-off costs (for ours numba's: loading compiled kernels from the cache on
  their first call in the process, for code paths a short warm-up does not reach) are never
  counted as learning time;
- every run is timed ``repeat`` times, interleaved, and its time is the median of those;
- a peer too slow for the whole stream may run on a prefix (``peer_limit`` applies to
  ``natural_form="dicts"`` learners); then our learners are ALSO run, from scratch, on that same
  prefix, and a speed ratio ``speedup_vs_<peer>`` is only ever computed between two runs over the
  very same instances.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from streamlearn.evaluate.prequential import ProgressInfo, prequential
from streamlearn.multilabel import learner_class, make_learner

__all__ = ["METRIC_KEYS", "bench", "warm_up"]

#: The prequential metrics of a result dict.
METRIC_KEYS = ("micro_f1", "macro_f1", "example_f1", "subset_accuracy", "hamming_loss")


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
    repeat: int = 1,
) -> list[dict[str, Any]]:
    """Run ``learners`` (registry names) on ``dataset``; one result dict per run.

    Like for like, ours and the peers alike: with ``warm`` every learner first makes one
    untimed pass (:func:`warm_up`) over the most instances it is timed on; then every run is
    timed ``repeat`` times, interleaved (each repetition runs every run once, in the same
    order), each time on a fresh learner. ``seconds`` is the **median** of a run's repetitions
    (all of them in ``seconds_runs``) and ``instances_per_second`` follows from it. The metrics
    do not depend on the repetition (the learners are deterministic; checked).

    Each dict is :meth:`PrequentialResult.to_dict` plus ``run`` (``"main"``, or ``"prefix"``
    for the extra runs of our learners on a peer's prefix), ``repeat``, ``statistic``,
    ``seconds_runs`` and, for array-form learners, ``speedup_vs_<peer>`` = the peer's median
    seconds / ours, over the same instances.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    params = params or {}
    n_full = len(dataset) if limit is None else min(limit, len(dataset))
    forms = {name: getattr(learner_class(name), "natural_form", "arrays") for name in learners}

    # the runs: every learner on the whole (limited) stream, peers on their prefix, and ours
    # again on each peer's prefix
    plan: list[tuple[str, int, str]] = []
    for name in learners:
        n = n_full
        if forms[name] == "dicts" and peer_limit is not None:
            n = min(n_full, peer_limit)
        plan.append((name, n, "main"))
    prefixes = sorted({n for name, n, _ in plan if forms[name] == "dicts"} - {n_full})
    plan += [(name, p, "prefix") for p in prefixes for name in learners if forms[name] == "arrays"]

    def run(name: str, n: int) -> dict[str, Any]:
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
        return res.to_dict(curve=curve_points > 0)

    if warm:
        for name in learners:
            most = max(n for learner, n, _ in plan if learner == name)
            warm_up(name, dataset, params.get(name), limit=most, seed=seed)
    reps: list[list[dict[str, Any]]] = [[] for _ in plan]
    for _ in range(repeat):
        for k, (name, n, _) in enumerate(plan):
            reps[k].append(run(name, n))

    results = []
    for (name, _, role), runs in zip(plan, reps):
        d = dict(runs[0])
        for other in runs[1:]:
            if any(other[key] != d[key] for key in METRIC_KEYS):
                raise RuntimeError(f"{name}: repetitions gave different metrics")
        seconds = [r["seconds"] for r in runs]
        d["seconds"] = statistics.median(seconds)
        d["instances_per_second"] = d["instances"] / d["seconds"] if d["seconds"] > 0 else 0.0
        d.update(run=role, repeat=repeat, statistic="median", seconds_runs=seconds)
        results.append(d)

    for r in results:
        if forms[r["learner"]] != "arrays":
            continue
        for q in results:
            if forms[q["learner"]] == "dicts" and q["instances"] == r["instances"]:
                r[f"speedup_vs_{q['learner']}"] = (
                    q["seconds"] / r["seconds"] if r["seconds"] > 0 else None
                )
    return results
