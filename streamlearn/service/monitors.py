"""The label-space drift monitors of a shard: per-label error drift and co-occurrence drift.

Every instance a shard learns with its complete label set (or the known part of a partial one)
updates them after it was predicted:

- :class:`~streamlearn.drift.label_monitor.LabelErrorMonitor`: one ADWIN per label on that
  label's error stream (``predicted != true``, known labels only) — a label whose predictions
  degrade (its concept drifted) raises a ``level="label"`` drift event;
- :class:`~streamlearn.drift.label_monitor.CooccurrenceMonitor`: the Jaccard co-occurrence of
  every pair of labels over a window against its reference — a change of the label structure
  raises a ``level="global"`` drift event (complete label sets only).

Their events go to the ``drift`` topic and to the drift metrics beside the model's own. Both
are plain numpy state (snapshotted with the shard) and grow with the label space. The
co-occurrence counts are four dense ``L x L`` matrices: beyond ``max_cooccurrence_labels``
labels (an extreme label space) that monitor is dropped and only the per-label one runs.

>>> import numpy as np
>>> m = LabelMonitors(["a", "b"], window_size=100)
>>> rng = np.random.default_rng(0)
>>> a = rng.random(1200) < 0.5
>>> b = np.where(np.arange(1200) < 600, a, ~a)  # b follows a, then the opposite of a
>>> Y = np.column_stack([a, b]).astype(np.uint8)
>>> events = m.update(Y, Y.astype(bool))
>>> [(e.level, e.detector) for e in events][:1]
[('global', 'JaccardCooccurrence')]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from streamlearn.base.events import DriftEvent
from streamlearn.drift.label_monitor import CooccurrenceMonitor, LabelErrorMonitor

__all__ = ["MONITORS", "LabelMonitors", "monitor_of"]

#: The monitors, as named in metrics: per-label error drift, label co-occurrence drift.
MONITORS: tuple[str, ...] = ("error", "cooccurrence")


def monitor_of(event: DriftEvent) -> str:
    """Which of :data:`MONITORS` raised a drift event of :meth:`LabelMonitors.update`."""
    return "cooccurrence" if event.detector == "JaccardCooccurrence" else "error"


class LabelMonitors:
    """Both label-space monitors of one shard, updated together.

    Parameters
    ----------
    labels
        The shard's label names (in column order).
    window_size
        Instances per co-occurrence test window.
    delta
        False-alarm bound of each co-occurrence test.
    max_cooccurrence_labels
        Most labels the co-occurrence monitor follows (its memory is quadratic).
    """

    def __init__(
        self,
        labels: Sequence[Hashable],
        window_size: int = 500,
        delta: float = 0.001,
        max_cooccurrence_labels: int = 1000,
    ) -> None:
        names = [str(lab) for lab in labels]
        self.max_cooccurrence_labels = max_cooccurrence_labels
        self.errors = LabelErrorMonitor(labels=names)
        self.cooccurrence: CooccurrenceMonitor | None = None
        if len(names) <= max_cooccurrence_labels:
            self.cooccurrence = CooccurrenceMonitor(
                labels=names, window_size=window_size, delta=delta
            )

    @property
    def n_labels(self) -> int:
        return self.errors.n_labels

    def grow(self, labels: Sequence[Hashable]) -> None:
        """Follow the label space (``labels`` = all of it, old ones first)."""
        new = [str(lab) for lab in labels[self.n_labels :]]
        if new:
            self.errors.add_labels(new)
            if self.cooccurrence is not None:
                if len(labels) > self.max_cooccurrence_labels:
                    self.cooccurrence = None
                else:
                    self.cooccurrence.add_labels(new)

    def update(
        self, Y: np.ndarray, Yhat: np.ndarray, known: np.ndarray | None = None
    ) -> list[DriftEvent]:
        """Learned label rows ``Y``, what was predicted for them ``Yhat`` (bool), and the
        ``known`` mask of partial rows (``None``: complete). Returns the drift events."""
        Y = np.asarray(Y)
        events = self.errors.update_from_predictions(Y, Yhat[:, : Y.shape[1]], known)
        co = self.cooccurrence
        if co is not None:
            if known is not None:
                Y = Y[known.all(axis=1)]
            if len(Y):
                events += co.update_many(Y)
        return events
