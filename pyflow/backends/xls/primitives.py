"""FPGA primitives in the XLS pipelines, Verilog side: the multiplier, pipe and ROM modules the FFI calls of
:mod:`pyflow.backends.xls.ffi` bind to, rendered per kernel from its spec (``<kernel>_prims.v``)."""

from __future__ import annotations

from collections.abc import Sequence

from pyflow.backends.templates import environment
from pyflow.backends.xls.ffi import BRAM_MEM, BRAM_MIN_BITS, DSP_BITS, ECP5_DSP_DEFINE, rom_module
from pyflow.specs.base import Ram


def render_prims(kernel: str, luts: dict[str, object], rams: Sequence[Ram] = ()) -> str:
    """Verilog of ``kernel``'s primitive modules: the multiplier pair, one ROM pair per table in ``luts``
    (each pair: combinational ``m`` and registered ``m_reg``) and, when it has ``rams``, the RAM module the
    AXI4-Stream wrapper instantiates for each (``<kernel>_ram``)."""
    roms = []
    for tname, lut in luts.items():
        fmt = lut.fmt  # type: ignore[attr-defined]
        bits = lut.index_bits  # type: ignore[attr-defined]
        mask = (1 << fmt.width) - 1
        vals = [int(v) & mask for v in lut.values]  # type: ignore[attr-defined]
        vals += [vals[-1]] * ((1 << bits) - len(vals))  # DSLX clamps an out-of-range index to the last entry
        roms.append({"module": rom_module(kernel, tname), "aw": bits, "dw": int(fmt.width),
                     "words": [f"{v:x}" for v in vals], "table": tname,
                     "bram": len(vals) * int(fmt.width) >= BRAM_MIN_BITS})
    return environment("rtl").get_template("prims.v.j2").render(
        kernel=kernel, roms=roms, dsp_bits=DSP_BITS, ecp5_define=ECP5_DSP_DEFINE, bram_mem=BRAM_MEM, ram=bool(rams))
