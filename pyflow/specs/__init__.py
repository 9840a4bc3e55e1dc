"""Kernel specs: one module per kernel, each exposing ``build(pc) -> KernelSpec``.

:func:`all_specs` returns them in dataflow order; ``small=True`` builds them at the small test dimensions
of :func:`pyflow.project_config.small_config`.  The spec contract is documented in :mod:`pyflow.specs.base`.
"""

from __future__ import annotations

import importlib

from pyflow.errors import FlowError
from pyflow.specs.base import KernelSpec, Lut, Port

#: Kernel names in dataflow order (module pyflow.specs.<name> builds each).
KERNELS: tuple[str, ...] = (
    "rmsnorm",
    "gemv",
    "rope",
    "kv_cache",
    "qk",
    "softmax_max",
    "softmax_exp",
    "softmax_norm",
    "av",
    "attention_decode",
    "flat_attention",
    "decode_step",
)

__all__ = ["KERNELS", "KernelSpec", "Lut", "Port", "all_specs", "get_spec"]


def get_spec(name: str, pc, small: bool = False) -> KernelSpec:  # noqa: ANN001 (ProjectConfig)
    """Build the spec of kernel ``name`` for project config ``pc``."""
    if name not in KERNELS:
        raise FlowError(f"unknown kernel {name!r}; choose one of: {', '.join(KERNELS)}")
    if small:
        from pyflow.project_config import small_config

        pc = small_config(pc)
    return importlib.import_module(f"pyflow.specs.{name}").build(pc)


def all_specs(pc, small: bool = False, names: tuple[str, ...] | None = None) -> list[KernelSpec]:  # noqa: ANN001
    """Every kernel spec (or those in ``names``) for ``pc``, in dataflow order."""
    return [get_spec(n, pc, small) for n in (names or KERNELS)]
