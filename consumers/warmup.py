"""Compile the service learner's numba kernels ahead of time (``python -m consumers.warmup``).

numba compiles a kernel on its first call and caches the machine code on disk (``cache=True``):
in ``__pycache__`` beside the source when that is writable, else in ``$NUMBA_CACHE_DIR``. A
fresh installation therefore pays for compilation on the service's first batch. Running this
module once — at image build time (docker/Dockerfile), or before tests start services — makes
every later start load the cached kernels instead.

It drives the learner the way the service does (``predict_learn_many``, ``learn_many`` with a
partial-label mask, ``predict_proba_many``) over a small synthetic stream with a planted drift
(dense, and with ``sparse=True`` also in CSR form), long enough for the structural paths (tree
and label-cluster splits, drift detection) to run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["warm_up"]


def warm_up(
    learner: str = "auto",
    params: dict[str, Any] | None = None,
    *,
    sparse: bool = False,
    n: int = 3000,
) -> str:
    """Run the service learner ``learner`` (a name the service accepts) over a small synthetic
    stream so that numba compiles (and caches) its kernels; return the resolved learner name.

    The stream (8 labels in 3 groups, a planted drift half-way) is long enough for the
    structural code paths to run too — tree splits, label-cluster splits and merges, drift
    detection — so that their kernels are compiled here rather than when the service first
    meets them. ``sparse`` runs a sparse (CSR) stream of the same shape as well.
    """
    from streamlearn.service.learners import make_service_learner
    from streamlearn.stream.synth import Drift, make_stream

    name = learner
    for is_sparse in (False, True) if sparse else (False,):
        stream = make_stream(
            n if not is_sparse else n // 2,
            n_features=12,
            n_labels=8,
            n_groups=3,
            drifts=[Drift((n if not is_sparse else n // 2) // 2, kind="labels")],
            sparse=is_sparse,
            seed=0,
        )
        ds = stream.dataset
        name, model = make_service_learner(learner, params)
        model.set_schema(ds.schema)
        rng = np.random.default_rng(0)
        for i, (X, Y) in enumerate(ds.batches(250)):
            if i % 4 == 3:  # a partial answer, as to an active-learning query
                model.learn_many(X, Y, known=rng.random(Y.shape) < 0.7)
                model.predict_proba_many(X)
            else:
                model.predict_learn_many(X, Y)
        model.pop_events()
    return name


def main(argv: Sequence[str] | None = None) -> int:
    from streamlearn.settings import Settings

    p = argparse.ArgumentParser(
        prog="python -m consumers.warmup",
        description="Compile and cache the numba kernels of the service's learner "
        "(STREAMLEARN_LEARNER / STREAMLEARN_LEARNER_PARAMS, or --learner).",
    )
    p.add_argument("--learner", help="learner name (default: the settings', 'auto')")
    p.add_argument("--sparse", action="store_true", help="also compile the sparse (CSR) paths")
    args = p.parse_args(argv)
    settings = Settings()
    t0 = time.perf_counter()
    name = warm_up(args.learner or settings.learner, settings.learner_params, sparse=args.sparse)
    print(f"warmed up {name} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
