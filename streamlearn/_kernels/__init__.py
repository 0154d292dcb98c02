"""numba kernels: pure functions over numpy arrays.

Every kernel here takes and returns arrays and scalars only (no objects, no I/O, no global
state), so it can be compared with a slow pure-Python twin in ``tests/twins`` and run with
``NUMBA_DISABLE_JIT=1`` for coverage. The numba flags live in :mod:`._config`.
"""
