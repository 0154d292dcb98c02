"""Drift-detector contract: River's API plus an array path that runs the loop in numba.

Every detector of :mod:`streamlearn.drift` keeps its whole state in ONE C-contiguous
``float64`` vector (counters, statistics, parameters, buffers; layout documented in its
kernel module under :mod:`streamlearn._kernels`), updated in place by a compiled kernel
``<name>_update(state, x)``. Hence:

* a pickled detector is an exact snapshot (the vector pickles; the compiled entry point is
  re-bound on load);
* many detectors stack along a leading axis (``states[i]`` is one detector's state) and other
  numba kernels (trees, label monitors) update them without Python in the loop;
* the single-point ``update(x)`` is one call of the kernel's compiled entry point (no numba
  type dispatch), which keeps it as fast as River's own per-point update or faster.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np
from river import base as river_base

from streamlearn._kernels._entry import entry_point

__all__ = ["DriftAndWarningDetector", "DriftDetector", "as_values"]


def as_values(values: Any, name: str = "values") -> np.ndarray:
    """A 1-d finite ``float64`` array (a copy only when needed), or a clear error."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name}[{bad}] = {arr[bad]!r} is not finite")
    return np.ascontiguousarray(arr)


class DriftDetector(river_base.DriftDetector):
    """A drift detector with River's single-point API and a compiled array path.

    ``update(x)`` updates with one value and sets ``drift_detected`` (and
    ``warning_detected`` where the detector has warnings). ``update_many(values)`` feeds a
    whole array through the same logic inside one compiled loop and returns the 0-based
    positions (within ``values``) where a drift was detected. State is plain numpy arrays and
    scalars, so a pickled detector restores exactly.

    Subclasses define ``_new_state()`` (the fresh state vector from the constructor's
    parameters), the kernels ``_kernel_update`` / ``_kernel_many`` and ``_DRIFT_SLOT`` (and
    ``_WARNING_SLOT`` for detectors with warnings), then call ``self._init_state()``.
    """

    _kernel_update: ClassVar[Any]
    _kernel_many: ClassVar[Any]
    _DRIFT_SLOT: ClassVar[int]
    _WARNING_SLOT: ClassVar[int | None] = None

    _state: np.ndarray

    @abc.abstractmethod
    def _new_state(self) -> np.ndarray:
        """A fresh state vector built from the constructor's parameters."""

    def _init_state(self) -> None:
        self._state = self._new_state()
        self._sync_flags()
        self._bind()

    def _bind(self) -> None:
        self._upd = entry_point(type(self)._kernel_update, self._state, 0.0)

    def _sync_flags(self) -> None:
        self._drift_detected = bool(self._state[self._DRIFT_SLOT] != 0.0)
        if self._WARNING_SLOT is not None:
            self._warning_detected = bool(self._state[self._WARNING_SLOT] != 0.0)

    def _reset(self) -> None:
        """Forget everything (River's ``_reset``): a fresh state from the parameters."""
        if hasattr(self, "_state"):
            self._init_state()
        else:
            super()._reset()

    def __getstate__(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d.pop("_upd", None)
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)
        self._bind()

    def _bad_value(self, x: Any) -> Exception:
        return TypeError(f"{type(self).__name__}.update expects a number, got {x!r}")

    def update(self, x: float) -> None:  # type: ignore[override]
        """Update the detector with a single value (sets ``drift_detected``)."""
        try:
            self._drift_detected = self._upd(self._state, x)
        except TypeError:
            raise self._bad_value(x) from None

    def update_many(self, values: Any) -> np.ndarray:
        """Update with every value in order; return the indices where a drift was detected.

        Equivalent to calling :meth:`update` on each value (same state afterwards, same
        ``drift_detected``), in one compiled loop.
        """
        out = type(self)._kernel_many(self._state, as_values(values))
        self._sync_flags()
        return out

    @property
    def state(self) -> np.ndarray:
        """The detector's state vector (read-only view; layout in its kernel module)."""
        v = self._state.view()
        v.flags.writeable = False
        return v


class DriftAndWarningDetector(DriftDetector, river_base.DriftAndWarningDetector):
    """A :class:`DriftDetector` that also raises warnings (kernels return a code:
    bit 0 drift, bit 1 warning)."""

    _WARNING_SLOT: ClassVar[int | None]

    def update(self, x: float) -> None:  # type: ignore[override]
        """Update the detector with a single value (sets both flags)."""
        try:
            c = self._upd(self._state, x)
        except TypeError:
            raise self._bad_value(x) from None
        self._drift_detected = c == 1 or c == 3
        self._warning_detected = c >= 2

    def update_many(self, values: Any, warnings: bool = False) -> Any:
        """Update with every value in order; indices of the drifts.

        With ``warnings=True`` return ``(drift_indices, warning_indices)``: the positions
        after which ``drift_detected`` / ``warning_detected`` was true.
        """
        drifts, warns = type(self)._kernel_many(self._state, as_values(values))
        self._sync_flags()
        return (drifts, warns) if warnings else drifts

    @property
    def warning_detected(self) -> bool:
        """Whether the last update put the detector in its warning zone."""
        return self._warning_detected
