"""Direct entry points of compiled kernels, for hot single-call paths.

Calling a numba dispatcher from Python costs a type resolution of every argument (about 350 ns
for an array and a float here). A drift detector's single-point ``update(x)`` calls one kernel
per value, so that overhead would dominate. :func:`entry_point` compiles (or loads from the disk
cache) the kernel for the exact argument types once and returns numba's compiled entry point,
which skips the type resolution (about 150 ns per call for an array and a float).

The entry point trusts its argument types: callers must always pass exactly the types of the
example arguments (here, the detector's own C-contiguous ``float64`` state vector and a number).
With ``NUMBA_DISABLE_JIT=1`` the kernel is a plain Python function and is returned unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba

__all__ = ["entry_point"]

_CACHE: dict[tuple[int, tuple[Any, ...]], Callable[..., Any]] = {}


def entry_point(kernel: Any, *example_args: Any) -> Callable[..., Any]:
    """The compiled entry point of ``kernel`` for the numba types of ``example_args``."""
    compile_ = getattr(kernel, "compile", None)
    if compile_ is None or not hasattr(kernel, "overloads"):  # NUMBA_DISABLE_JIT
        return kernel
    sig = tuple(numba.typeof(a) for a in example_args)
    key = (id(kernel), sig)
    fn = _CACHE.get(key)
    if fn is None:
        fn = _CACHE[key] = compile_(sig)
    return fn
