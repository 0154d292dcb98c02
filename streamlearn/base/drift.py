"""Drift-detector contract: River's API plus an array path that runs the loop in numba.

Every detector of :mod:`streamlearn.drift` keeps its whole state in ONE C-contiguous
``float64`` vector (counters, statistics, parameters, buffers; layout documented in its
kernel module under :mod:`streamlearn._kernels`), updated in place by a compiled kernel
``<name>_update(state, x)``. Hence:

* a pickled detector is an exact snapshot (the vector pickles; the compiled entry point is
  re-bound on load);
* many detectors stack along a leading axis (``states[i]`` is one detector's state) and other
  numba kernels (trees, label monitors) update them without Python in the loop;
* the single-point ``update(x)`` is one call of the kernel's compiled entry point, bound
  once per detector as a C-level callable (``functools.partial`` of numba's entry point of
  ``<name>_update_at(address, x)`` over the state's address): no Python frame, no numba type
  dispatch, no array unboxing. ``drift_detected`` / ``warning_detected`` read the flags from
  the state. A subclass that overrides ``update`` keeps its own method.
"""

from __future__ import annotations

import abc
import functools
import sys
from typing import Any, ClassVar

import numpy as np
from river import base as river_base

from streamlearn._kernels._entry import entry_point

__all__ = ["DriftAndWarningDetector", "DriftDetector", "as_values"]

_DOCS = {
    "drift_detected": "Whether the last update detected a drift.",
    "warning_detected": "Whether the last update put the detector in its warning zone.",
}


def _flag_byte(slot: int) -> int:
    """Index, in a byte view of the state, of the most significant byte of ``state[slot]``."""
    return 8 * slot + (7 if sys.byteorder == "little" else 0)


def _flag_property(name: str, slot: int) -> property:
    def get(self: Any, _byte: int = _flag_byte(slot)) -> bool:
        return self._flags[_byte]

    get.__name__ = name
    return property(get, doc=_DOCS[name])


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
        raise ValueError(f"{name}[{bad}] = {float(arr[bad])} is not finite")
    return np.ascontiguousarray(arr)


class DriftDetector(river_base.DriftDetector):
    """A drift detector with River's single-point API and a compiled array path.

    ``update(x)`` updates with one value and sets ``drift_detected`` (and
    ``warning_detected`` where the detector has warnings). ``update_many(values)`` feeds a
    whole array through the same logic inside one compiled loop and returns the 0-based
    positions (within ``values``) where a drift was detected. State is plain numpy arrays and
    scalars, so a pickled detector restores exactly.

    Subclasses define ``_new_state()`` (the fresh state vector from the constructor's
    parameters), the kernels ``_kernel_at`` (single update at an address) and
    ``_kernel_many``, and ``_DRIFT_SLOT`` (and ``_WARNING_SLOT`` for detectors with warnings),
    then call ``self._init_state()``.

    Input checks: ``update_many`` rejects values that are not finite numbers. The single-point
    ``update`` is kept minimal for speed: a value that is not a number raises ``TypeError``
    (from the compiled entry point), NaN and infinities go through unchecked, as in River.
    """

    _kernel_at: ClassVar[Any]
    _kernel_many: ClassVar[Any]
    _DRIFT_SLOT: ClassVar[int]
    _WARNING_SLOT: ClassVar[int | None] = None

    _state: np.ndarray

    @abc.abstractmethod
    def _new_state(self) -> np.ndarray:
        """A fresh state vector built from the constructor's parameters."""

    def _init_state(self) -> None:
        self._state = self._new_state()
        self._bind()

    def _bind(self) -> None:
        """(Re)build the views and the fast callable over ``self._state``."""
        state = self._state
        assert state.dtype == np.float64 and state.ndim == 1 and state.flags.c_contiguous
        self._flags = memoryview(state).cast("B").cast("?")  # byte view of the flags
        entry = entry_point(type(self)._kernel_at, state.ctypes.data, 0.0)
        fast = functools.partial(entry, state.ctypes.data)
        fast.state = state  # keeps the array alive as long as the callable
        self._fast_update = fast
        if type(self).update is _UPDATE_METHODS.get(type(self)._update_kind()):
            self.update = fast  # type: ignore[method-assign]

    @classmethod
    def _update_kind(cls) -> str:
        return "drift"

    def _reset(self) -> None:
        """Forget everything (River's ``_reset``), in place: bound callables stay valid."""
        if hasattr(self, "_state"):
            self._state[:] = self._new_state()
        else:
            super()._reset()

    def __getstate__(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        for k in ("update", "_fast_update", "_flags"):
            d.pop(k, None)
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)
        self._bind()

    def update(self, x: float) -> None:  # type: ignore[override]
        """Update the detector with a single value (sets ``drift_detected``).

        Bound per instance to the compiled kernel (see the module doc).
        """
        self._fast_update(x)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # flags are 0.0 / 1.0 doubles: their most significant byte is 0x00 / 0x3F, read as a
        # bool through a byte view (one C-level indexing, no comparison, no class lookup)
        for name, attr in (
            ("drift_detected", "_DRIFT_SLOT"),
            ("warning_detected", "_WARNING_SLOT"),
        ):
            slot = cls.__dict__.get(attr)
            if isinstance(slot, int):
                setattr(cls, name, _flag_property(name, slot))

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a drift."""
        return self._flags[_flag_byte(self._DRIFT_SLOT)]

    def update_many(self, values: Any) -> np.ndarray:
        """Update with every value in order; return the indices where a drift was detected.

        Equivalent to calling :meth:`update` on each value (same state afterwards, same
        ``drift_detected``), in one compiled loop.
        """
        return type(self)._kernel_many(self._state, as_values(values))

    @property
    def state(self) -> np.ndarray:
        """The detector's state vector (read-only view; layout in its kernel module)."""
        v = self._state.view()
        v.flags.writeable = False
        return v


class DriftAndWarningDetector(DriftDetector, river_base.DriftAndWarningDetector):
    """A :class:`DriftDetector` that also raises warnings (kernels return a code:
    bit 0 drift, bit 1 warning)."""

    _WARNING_SLOT: ClassVar[int]

    @classmethod
    def _update_kind(cls) -> str:
        return "warning"

    def update(self, x: float) -> None:  # type: ignore[override]
        """Update the detector with a single value (sets both flags).

        Bound per instance to the compiled kernel (see the module doc).
        """
        self._fast_update(x)

    def update_many(self, values: Any, warnings: bool = False) -> Any:
        """Update with every value in order; indices of the drifts.

        With ``warnings=True`` return ``(drift_indices, warning_indices)``: the positions
        after which ``drift_detected`` / ``warning_detected`` was true.
        """
        drifts, warns = type(self)._kernel_many(self._state, as_values(values))
        return (drifts, warns) if warnings else drifts

    @property
    def warning_detected(self) -> bool:
        """Whether the last update put the detector in its warning zone."""
        return self._flags[_flag_byte(self._WARNING_SLOT)]


_UPDATE_METHODS = {
    "drift": DriftDetector.update,
    "warning": DriftAndWarningDetector.update,
}
