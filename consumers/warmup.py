"""Compile the service learner's numba kernels ahead of time (``python -m consumers.warmup``).

numba compiles a kernel on its first call and caches the machine code on disk (``cache=True``):
in ``__pycache__`` beside the source when that is writable, else in ``$NUMBA_CACHE_DIR``. A
fresh installation therefore pays for compilation on the service's first batch. Running this
module once — at image build time (docker/Dockerfile), or before tests start services — makes
every later start load the cached kernels instead.

It drives the learner the way the service does (``predict_learn_many``, ``learn_many`` with and
without a partial-label mask, ``predict_proba_many``) on a small random dense stream, and, with
``sparse=True``, on the same stream in CSR form.
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
    n: int = 64,
) -> str:
    """Run the service learner ``learner`` (a name the service accepts) once over a small stream
    so that numba compiles (and caches) its kernels; return the resolved learner name."""
    from consumers.processor import make_service_learner
    from streamlearn.base.arrays import CSR
    from streamlearn.schema import Schema

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6))
    Y = (rng.random((n, 3)) < 0.5).astype(np.uint8)
    known = rng.random((n, 3)) < 0.7
    forms: list[Any] = [X]
    if sparse:
        Xs = np.where(np.abs(X) < 0.5, 0.0, X)
        forms.append(CSR.from_dense(Xs))
    name = learner
    for form in forms:
        name, model = make_service_learner(learner, params)
        is_sparse = form is not X
        model.set_schema(
            Schema(features=[f"x{i}" for i in range(6)], labels=["a", "b", "c"], sparse=is_sparse)
        )
        model.predict_learn_many(form, Y)
        model.learn_many(form, Y)
        model.learn_many(form, Y, known=known)
        model.predict_proba_many(form)
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
