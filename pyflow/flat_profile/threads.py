"""Set the BLAS thread count at run time (NumPy's bundled OpenBLAS, and torch's intra-op pool).

NumPy reads ``OPENBLAS_NUM_THREADS`` only when it is first imported, which the CLI has done long before
a subcommand runs, so the count is set through OpenBLAS's own ``*set_num_threads*`` entry point, found
in the shared library this process has loaded (as threadpoolctl does).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyflow.errors import FlowError

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = tuple(name.replace("set_", "get_") for name in _SETTERS)


def _loaded_openblas() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    libs = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and "/" in line}
    return sorted(libs)


def _numpy_blas_call(names: tuple[str, ...], *args: int) -> int | None:
    """Call the first of ``names`` found in the loaded OpenBLAS; None when there is none."""
    import numpy as np

    np.ones((2, 2)) @ np.ones((2, 2))  # make sure BLAS is loaded
    for path in _loaded_openblas():
        lib = ctypes.CDLL(path)
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int] * len(args)
                fn.restype = ctypes.c_int
                return int(fn(*args))
    return None


def get_blas_threads() -> int | None:
    """NumPy's current OpenBLAS thread count, or None when it cannot be found."""
    return _numpy_blas_call(_GETTERS)


def set_blas_threads(n: int, backend: str) -> None:
    """Use ``n`` BLAS threads from now on; FlowError when the library cannot be found."""
    if n < 1:
        raise FlowError(f"--threads must be a positive integer, got {n}")
    if backend == "torch":
        import torch

        torch.set_num_threads(n)
        return
    if _numpy_blas_call(_SETTERS, n) is None:
        raise FlowError("--threads: could not find NumPy's OpenBLAS in this process; "
                        "set OPENBLAS_NUM_THREADS instead")


@contextmanager
def blas_threads(n: int, backend: str) -> Iterator[None]:
    """Run the block with ``n`` BLAS threads (``0``: leave the library default), then restore."""
    if n == 0:
        yield
        return
    if backend == "torch":
        import torch

        before: int | None = torch.get_num_threads()
    else:
        before = get_blas_threads()
    set_blas_threads(n, backend)
    try:
        yield
    finally:
        if before:
            set_blas_threads(before, backend)
