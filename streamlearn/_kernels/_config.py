"""The one place that sets numba's compilation flags.

``cache=True`` writes compiled kernels next to their source (``__pycache__``), so only the first
start of a fresh checkout pays for compilation. ``NUMBA_DISABLE_JIT=1`` (numba's own switch)
turns every kernel back into plain Python, for coverage runs and debugging.

``fastmath`` stays off: several kernels must reproduce River's floating-point results exactly.
``error_model="numpy"`` lets divisions by zero give inf/nan instead of raising, which removes a
branch from every division in the hot loops; kernels guard their divisions explicitly.
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


def njit(func: F | None = None, **overrides: Any) -> Any:
    """``numba.njit`` with the project's flags; usable bare (``@njit``) or with overrides."""
    flags = {**NUMBA_FLAGS, **overrides}
    if func is None:
        return lambda f: numba.njit(**flags)(f)
    return numba.njit(**flags)(func)
