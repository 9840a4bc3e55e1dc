"""The AXI4-Lite (s_axilite) register map Vitis HLS gives a kernel's control bundle, computed from its argument
list by the documented allocation rules (UG1399, "S_AXILITE Control Register Map"; the generated
``x<kernel>_hw.h``):

* 0x00 ap_ctrl (ap_start, ap_done, ap_idle, ap_ready, auto_restart ...), 0x04 GIE, 0x08 IER, 0x0C ISR;
* the arguments from 0x10, in argument order: each takes its data registers (32 bits each; a 64-bit m_axi
  address is two, low word first) and one more word: reserved for an input, the ``ap_vld`` control register of
  an output scalar.  So a 32-bit scalar takes 8 bytes of the map, a pointer (64-bit address) 12, a 32-bit output
  scalar 8 (data, then ap_vld).

The host reads registers through it (pyflow/host/run.py) and tests/test_vitis_package.py checks that the C++
top's map equals the RTL accelerator's (hls/accel/spec.py REGISTERS), so both tops share one register map.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflow.specs.base import KernelSpec

#: The block-level registers ahead of the arguments.
CONTROL = {"ctrl": 0x00, "gie": 0x04, "ier": 0x08, "isr": 0x0C}
#: First argument register.
FIRST_ARG = 0x10
#: Address bits of an m_axi pointer (config_interface -m_axi_addr64=true on every board).
ADDR_BITS = 64


@dataclass(frozen=True)
class RegArg:
    """One argument on the control bundle: a ``scalar`` of ``bits`` or a ``pointer`` (an m_axi base address);
    ``direction`` ``"in"`` or ``"out"`` (an output scalar)."""

    name: str
    kind: str
    bits: int
    direction: str = "in"


def spec_args(spec: KernelSpec) -> list[RegArg]:
    """The control-bundle arguments of ``spec``'s wrapper, in argument order: its scalar and m_axi ports (the
    wrapper's signature lists the spec's ports in order; AXI4-Stream ports have no register)."""
    out = []
    for p in spec.ports:
        if p.kind == "m_axi":
            out.append(RegArg(p.name, "pointer", ADDR_BITS))
        elif p.kind == "scalar":
            out.append(RegArg(p.name, "scalar", int(p.fmt.width), "out" if p.direction == "out" else "in"))
    return out


def s_axilite_map(args: list[RegArg]) -> dict[str, int]:
    """Register name -> byte offset: the control registers, then per argument ``<name>`` (one data word) or
    ``<name>_lo`` / ``<name>_hi`` (two), ``<name>_ctrl`` for an output's ap_vld; and ``_end``, the first free
    offset after the arguments."""
    regs = dict(CONTROL)
    off = FIRST_ARG
    for a in args:
        words = -(-(ADDR_BITS if a.kind == "pointer" else a.bits) // 32)
        if words == 1:
            regs[a.name] = off
        else:
            names = ["_lo", "_hi"] if words == 2 else [f"_{i}" for i in range(words)]
            regs.update({a.name + s: off + 4 * i for i, s in enumerate(names)})
        if a.direction == "out":
            regs[f"{a.name}_ctrl"] = off + 4 * words
        off += 4 * words + 4
    regs["_end"] = off
    return regs
