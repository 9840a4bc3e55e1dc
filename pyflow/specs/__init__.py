"""Kernel specs: the registry of hardware kernels.

Each kernel lives in its own folder ``hls/kernels/<name>/`` (spec, Vitis C++ and DSLX/Verilog templates,
focused tests); its ``spec.py`` exposes ``build(pc) -> KernelSpec``.  :func:`all_specs` returns them in
dataflow order; ``small=True`` builds them at the small test dimensions of
:func:`pyflow.project.config.small_config`.  The spec contract is documented in :mod:`pyflow.specs.base`.
"""

from __future__ import annotations

import importlib

from pyflow.errors import FlowError
from pyflow.specs.base import KernelSpec, Lut, Port

#: Kernel names in dataflow order (``hls/kernels/<name>/spec.py`` builds each).
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

__all__ = ["KERNELS", "KernelSpec", "Lut", "Port", "all_specs", "get_spec", "lanes_key", "op_kernels"]


def spec_module(name: str):  # noqa: ANN201 (a module)
    """The spec module of kernel ``name`` (``hls.kernels.<name>.spec``)."""
    if name not in KERNELS:
        raise FlowError(f"unknown kernel {name!r}; choose one of: {', '.join(KERNELS)}")
    return importlib.import_module(f"hls.kernels.{name}.spec")


def get_spec(name: str, pc, small: bool = False) -> KernelSpec:  # noqa: ANN001 (ProjectConfig)
    """Build the spec of kernel ``name`` for project config ``pc``."""
    module = spec_module(name)
    if small:
        from pyflow.project.config import small_config

        pc = small_config(pc)
    return module.build(pc)


def all_specs(pc, small: bool = False, names: tuple[str, ...] | None = None,  # noqa: ANN001
              skipped: dict[str, str] | None = None) -> list[KernelSpec]:
    """Every kernel spec (or those in ``names``) for ``pc``, in dataflow order.

    A kernel whose spec module sets ``OPTIONAL = True`` (decode_step: the accelerator's twin, which serves only
    configs the accelerator serves) is left out of "every kernel" when its spec refuses the config; the reason
    goes into ``skipped`` (kernel -> the FlowError's text).  Named explicitly, it raises as any other."""
    out = []
    for n in names or KERNELS:
        try:
            out.append(get_spec(n, pc, small))
        except FlowError as exc:
            if names or not getattr(spec_module(n), "OPTIONAL", False):
                raise
            if skipped is not None:
                skipped[n] = str(exc)
    return out


def op_kernels() -> dict[str, str]:
    """Chain op (``golden.llama.CHAIN_OPS``) -> the kernel that implements it, from each spec module's ``OPS``."""
    out: dict[str, str] = {}
    for name in KERNELS:
        for op in getattr(spec_module(name), "OPS", ()):
            if op in out:
                raise FlowError(f"chain op {op} is claimed by kernels {out[op]} and {name}")
            out[op] = name
    return out


def lanes_key(name: str) -> str | None:
    """The ``[lanes]`` key of the project config that sets kernel ``name``'s lanes (None for a top)."""
    return getattr(spec_module(name), "LANES_KEY", None)
