"""The one place that sets numba's compilation flags.

``cache=True`` writes compiled kernels next to their source (``__pycache__``), so only the first
start of a fresh checkout pays for compilation. ``NUMBA_DISABLE_JIT=1`` (numba's own switch)
turns every kernel back into plain Python, for coverage runs and debugging.

``fastmath`` stays off: several kernels must reproduce River's floating-point results exactly.
``error_model="numpy"`` lets divisions by zero give inf/nan instead of raising, which removes a
branch from every division in the hot loops; kernels guard their divisions explicitly.

``NO_REFCOUNT`` is for the per-row kernels that receive a whole tree (a named tuple of ~50
arrays) and allocate nothing: numba would increment and decrement the reference count of every
array of the tuple on each call (about 100 atomic operations per call, 10 % of iHOMER's time on
yeast); compiled without its runtime's reference counting they only borrow their arguments,
which the caller holds. Kernels they call are compiled the same way, and an allocation anywhere
below them is refused at compile time (so the flag cannot silently leak memory).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

NUMBA_FLAGS: dict[str, Any] = {
    "cache": True,
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
}

NO_REFCOUNT: dict[str, Any] = {"_nrt": False}


def njit(func: F | None = None, **overrides: Any) -> Any:
    """``numba.njit`` with the project's flags; usable bare (``@njit``) or with overrides."""
    flags = {**NUMBA_FLAGS, **overrides}
    if func is None:
        return lambda f: numba.njit(**flags)(f)
    return numba.njit(**flags)(func)
