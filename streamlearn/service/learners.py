"""Which learner the service runs: a registry name, ``auto``, or ``module:Class``.

>>> resolve_learner_name("mlhat")
'mlhat'
>>> name, model = make_service_learner("br-nb")
>>> name, type(model).__name__
('br-nb', 'BinaryRelevanceNaiveBayes')
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from streamlearn.base.multilabel import MultiLabelClassifier

__all__ = ["AUTO_LEARNERS", "make_service_learner", "resolve_learner_name"]

#: Learners tried, in order, by ``learner="auto"``.
AUTO_LEARNERS: tuple[str, ...] = ("ihomer", "mlhat", "br-nb")


def resolve_learner_name(name: str) -> str:
    """``auto`` -> the first available of :data:`AUTO_LEARNERS`; other names unchanged."""
    if name != "auto":
        return name
    from streamlearn.multilabel import available_learners

    avail = available_learners()
    for cand in AUTO_LEARNERS:
        if cand in avail:
            return cand
    raise ValueError(
        f"learner 'auto': none of {', '.join(AUTO_LEARNERS)} is available in this build "
        f"(available: {', '.join(avail) or 'none'}); set STREAMLEARN_LEARNER"
    )


def make_service_learner(
    name: str, params: dict[str, Any] | None = None, seed: int = 0
) -> tuple[str, MultiLabelClassifier]:
    """Build the service's learner: a registry name, ``auto`` or ``module:Class``."""
    name = resolve_learner_name(name)
    params = dict(params or {})
    if ":" in name:
        module, _, cls_name = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"learner {name!r} cannot be imported: {exc}") from None
    else:
        from streamlearn.multilabel import learner_class

        cls = learner_class(name)
    if "seed" not in params:
        try:
            if "seed" in inspect.signature(cls).parameters:
                params["seed"] = seed
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            pass
    model = cls(**params)
    if not isinstance(model, MultiLabelClassifier):
        raise ValueError(f"learner {name!r} is not a streamlearn MultiLabelClassifier")
    return name, model
