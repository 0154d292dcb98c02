"""A ``float64`` array view of a raw address, for the detectors' single-point entry points.

numba's entry point unboxes an ndarray argument into a fresh reference-counted descriptor on
every call (about 40 ns); passing the address of the state vector as an integer instead and
viewing it with :func:`f64_view` inside the kernel skips that. The caller must keep the array
alive and never reallocate it while the address is in use (the detectors keep a reference in
the bound callable itself).
"""

from __future__ import annotations

import numba
from numba.core import types
from numba.extending import intrinsic

from streamlearn._kernels._config import njit

__all__ = ["f64_view"]


@intrinsic
def _f64_ptr(typingctx, addr):  # pragma: no cover - compiled
    sig = types.CPointer(types.float64)(types.intp)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@njit(inline="always")
def f64_view(addr, n):
    """The ``float64[n]`` array at address ``addr`` (no copy, no ownership)."""
    return numba.carray(_f64_ptr(addr), n)
