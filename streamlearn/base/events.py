"""Structured events: drifts and restructures, for metrics, logs and the drift topic."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["DriftEvent", "Level"]

Level = Literal["global", "cluster", "label", "node"]


@dataclass(frozen=True)
class DriftEvent:
    """One detection or structural change.

    Parameters
    ----------
    level
        ``global`` (whole model / label partition), ``cluster`` (one label cluster), ``label``
        (one label's error or co-occurrences) or ``node`` (a tree node).
    kind
        What happened: ``drift``, ``warning``, ``split``, ``merge``, ``new_label``,
        ``alternate_started``, ``alternate_swapped``, ``alternate_pruned``, ``restructure``...
    scope
        What it concerns: label names, a cluster id, a node id (as strings).
    index
        Position in the stream (instances seen by the emitter) when it happened.
    detector
        The detector or test that fired (``ADWIN``, ``PageHinkley``, ``ODAC-split``...).
    statistic
        The test statistic or the detector's estimate at detection, when there is one.
    detail
        Anything else worth keeping (JSON-able): thresholds, sizes, reasons.
    """

    level: Level
    kind: str
    scope: tuple[str, ...]
    index: int
    detector: str
    statistic: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scope"] = list(self.scope)
        return d
