"""Multi-label learners, one per module, and the registry of their CLI names.

Names used by ``streamlearn evaluate/bench --learner``, the service settings and snapshots:

=========  ==========================================================================
``ihomer``  iHOMER: online label-space partitioning, one multi-label tree per cluster
``mlhat``   multi-label Hoeffding adaptive tree (MLHAT family), numba hot paths
``br-ht``   binary relevance of River's HoeffdingTreeClassifier (peer baseline)
``cc-lr``   River's ClassifierChain of LogisticRegression (peer baseline)
``br-nb``   binary relevance of River's GaussianNB (peer baseline)
=========  ==========================================================================
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from streamlearn.base.multilabel import MultiLabelClassifier

__all__ = ["LEARNERS", "available_learners", "learner_class", "make_learner"]

#: CLI name -> "module:Class". Modules are imported only when a learner is asked for.
LEARNERS: dict[str, str] = {
    "ihomer": "streamlearn.multilabel.ihomer:IHOMER",
    "mlhat": "streamlearn.multilabel.mlhat:MLHAT",
    "br-ht": "streamlearn.multilabel.peers:BinaryRelevanceHoeffdingTree",
    "cc-lr": "streamlearn.multilabel.peers:ClassifierChainLogisticRegression",
    "br-nb": "streamlearn.multilabel.peers:BinaryRelevanceNaiveBayes",
}


def learner_class(name: str) -> type[MultiLabelClassifier]:
    try:
        target = LEARNERS[name]
    except KeyError:
        raise ValueError(
            f"unknown learner {name!r}; choose one of {', '.join(available_learners())}"
        ) from None
    module, cls = target.split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ModuleNotFoundError, AttributeError):
        raise ValueError(f"learner {name!r} is not available in this build") from None


def available_learners() -> list[str]:
    """Names of the learners this build provides."""
    out = []
    for name in LEARNERS:
        try:
            learner_class(name)
        except ValueError:
            continue
        out.append(name)
    return out


def make_learner(
    name: str, params: Mapping[str, Any] | None = None, seed: int | None = None
) -> MultiLabelClassifier:
    """A new learner by CLI name with constructor ``params``.

    ``seed`` is passed when the learner takes one (and ``params`` does not set it); a parameter
    the learner does not have is a clear ``ValueError``.

    >>> make_learner("br-ht", {"grace_period": 50}, seed=3).grace_period  # no seed: not passed
    50
    """
    cls = learner_class(name)
    kwargs = dict(params or {})
    sig = inspect.signature(cls)
    unknown = [k for k in kwargs if k not in sig.parameters]
    if unknown:
        raise ValueError(
            f"learner {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {', '.join(sig.parameters) or '(none)'}"
        )
    if seed is not None and "seed" in sig.parameters and "seed" not in kwargs:
        kwargs["seed"] = seed
    return cls(**kwargs)
