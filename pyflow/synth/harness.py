"""Kernel port discovery (via Yosys) and the out-of-context serialising harness.

A kernel whose ports need more pins than the package has cannot be placed as a top level.  The harness
(``hls/templates/synth/harness.v.j2``) wraps it so that only a few pins remain (clk, rst, sen, sout and one
``sin`` per input chain) while every kernel input bit comes from its own flip-flop of a serial-in chain
(clock-enabled by ``sen``, so it cannot merge with the kernel's input registers) and every output bit reaches
a pin through a pipelined XOR fold: nothing of the kernel can be optimised away, and the fold adds one LUT level
per clock, so utilisation and Fmax are those of the kernel plus a small, reported overhead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pyflow.backends.templates import environment, write_if_changed
from pyflow.errors import FlowError
from pyflow.tools import yosys

#: Port names treated as the clock / the reset (connected to pins, not to the input chain).
CLOCK_RE = re.compile(r"^(ap_)?(clk|clock|aclk)$|_clk$", re.IGNORECASE)
RESET_RE = re.compile(r"^(ap_)?(rst|reset|aresetn|areset)(_n|_ni)?$|_(rst|reset)(_n)?$", re.IGNORECASE)
#: XOR fold radix: 4 inputs per LUT4 (ECP5, iCE40).
FOLD = 4
#: Name of the harness top module.
HARNESS_TOP = "flatflow_harness"
#: Longest input shift chain: Yosys' recursive passes overflow the WebAssembly stack on chains of ~3000
#: flip-flops, so wider inputs are split over several chains, each with its own ``sin`` pin.
MAX_CHAIN = 512
#: Pins the harness needs besides its ``sin`` pins (clk, rst, sen, sout).
FIXED_PINS = 4


@dataclass(frozen=True)
class PortInfo:
    """One top-level port: name, ``input``/``output``/``inout``, width in bits."""

    name: str
    direction: str
    width: int

    @property
    def role(self) -> str:
        """``clock``, ``reset`` or ``data`` (single-bit inputs only can be clock / reset)."""
        if self.direction == "input" and self.width == 1:
            if CLOCK_RE.search(self.name):
                return "clock"
            if RESET_RE.search(self.name):
                return "reset"
        return "data"


def ports_from_json(netlist: dict, top: str) -> list[PortInfo]:
    """Ports of module ``top`` from a Yosys ``write_json`` netlist (declaration order)."""
    mods = netlist.get("modules", {})
    mod = mods.get(top) or mods.get("\\" + top)
    if mod is None:
        raise FlowError(f"synth: module {top} not found in the Verilog (modules: {', '.join(mods) or 'none'})")
    return [PortInfo(name, p["direction"], len(p["bits"])) for name, p in mod.get("ports", {}).items()]


def discover_ports(verilog: list[str], top: str, work: Path) -> list[PortInfo]:
    """Read ``verilog`` (paths relative to ``work``) with Yosys and return the ports of ``top``."""
    work.mkdir(parents=True, exist_ok=True)
    script = environment("synth").get_template("ports.ys.j2").render(verilog=verilog, top=top, out="ports.json")
    write_if_changed(work / "ports.ys", script)
    yosys.run_script(Path("ports.ys"), cwd=work, log=work / "ports.log")
    return ports_from_json(json.loads((work / "ports.json").read_text()), top)


def io_bits(ports: list[PortInfo]) -> int:
    """Pins a kernel needs as a top level (every port bit)."""
    return sum(p.width for p in ports)


def fold_stages(out_bits: int) -> list[dict[str, int]]:
    """Levels of the pipelined XOR fold: width of each level and zero padding of its input."""
    stages, width, level = [], out_bits, 1
    while width > 1:
        nxt = -(-width // FOLD)
        stages.append({"level": level, "width": nxt, "pad": nxt * FOLD - width})
        width, level = nxt, level + 1
    return stages


@dataclass(frozen=True)
class Harness:
    """A rendered harness: Verilog text, its top, and the overhead it adds."""

    text: str
    top: str
    in_bits: int
    out_bits: int
    harness_ff: int
    fold_luts: int
    pins: int


def make_harness(kernel: str, top: str, ports: list[PortInfo], pins: int | None) -> Harness:
    """Render the serialising harness around module ``top`` with ``ports``."""
    conns: list[dict[str, str]] = []
    outputs: list[dict[str, object]] = []
    offset = 0
    for p in ports:
        if p.direction == "inout":
            raise FlowError(f"synth: {kernel}: inout port {p.name} cannot be driven by the harness")
        if p.direction == "output":
            outputs.append({"name": p.name, "width": p.width})
            conns.append({"port": p.name, "expr": f"o_{p.name}"})
        elif p.role == "clock":
            conns.append({"port": p.name, "expr": "clk"})
        elif p.role == "reset":
            conns.append({"port": p.name, "expr": "rst"})
        else:
            conns.append({"port": p.name, "expr": f"chain[{offset + p.width - 1}:{offset}]"})
            offset += p.width
    if not outputs:
        raise FlowError(f"synth: {kernel}: module {top} has no outputs; nothing to synthesise")
    if not any(p.role == "clock" for p in ports):
        raise FlowError(f"synth: {kernel}: module {top} has no clock port (expected clk / ap_clk)")
    n_chains = -(-offset // MAX_CHAIN)
    chains = [{"i": i, "len": offset // n_chains + (1 if i < offset % n_chains else 0)} for i in range(n_chains)]
    out_bits = sum(int(o["width"]) for o in outputs)
    stages = fold_stages(out_bits)
    fold_ff = sum(s["width"] for s in stages)
    fold_luts = fold_ff  # one LUT4 per fold output bit
    harness_ff = offset + out_bits + fold_ff
    text = environment("synth").get_template("harness.v.j2").render(
        kernel=kernel, top=top, harness_top=HARNESS_TOP, in_bits=offset, out_bits=out_bits, pins=pins,
        outputs=outputs, connections=conns, stages=stages, harness_ff=harness_ff, fold_ff=fold_ff,
        fold_luts=fold_luts, chains=chains, max_chain=MAX_CHAIN)
    need = FIXED_PINS + max(1, n_chains)
    if pins is not None and need > pins:
        raise FlowError(f"synth: {kernel}: {offset} input bits need {n_chains} chains of <= {MAX_CHAIN} and "
                        f"{need} pins, the package has {pins}")
    return Harness(text, HARNESS_TOP, offset, out_bits, harness_ff, fold_luts, need)
