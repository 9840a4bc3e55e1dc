"""Synthesis targets: what the open flow (Yosys + nextpnr) and the Yosys AMD estimate need per board.

Board names, families, parts, devices and packages come from :mod:`pyflow.project.boards` (one source of truth).
This module adds only what synthesis needs beyond that table:

* the Yosys ``synth_*`` command of each family, and the nextpnr device arguments;
* the package's user I/O count (datasheet), which decides whether a kernel fits the pins or needs the
  serialising harness (nextpnr-ecp5 reports the die's I/O sites, not the package's bonded pins);
* the capacity of the AMD parts (product tables), because no place & route runs for them; the open
  devices' capacities come from nextpnr's own report at run time;
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyflow.backends.xls.ffi import ECP5_DSP_DEFINE, ECP5_POST_SYNTH
from pyflow.errors import FlowError
from pyflow.project.boards import BOARDS, Board

#: User I/O pins of each open board's package (Lattice ECP5 / iCE40 family data sheets).
PACKAGE_IO: dict[tuple[str, str, str], int] = {
    ("ecp5", "25k", "CABGA381"): 197,
    ("ecp5", "45k", "CABGA381"): 203,
    ("ecp5", "85k", "CABGA381"): 205,
    ("ice40", "up5k", "sg48"): 39,
    ("ice40", "hx8k", "ct256"): 206,
}

#: AMD part capacities (product tables): logic LUTs, flip-flops, DSP slices, 36 Kb block RAMs, UltraRAMs.
AMD_CAPACITY: dict[str, dict[str, int]] = {
    "xcu250-figd2104-2L-e": {"lut": 1_728_000, "ff": 3_456_000, "dsp": 12_288, "bram": 2_688, "uram": 1_280},
    "xcu280-fsvh2892-2L-e": {"lut": 1_303_680, "ff": 2_607_360, "dsp": 9_024, "bram": 2_016, "uram": 960},
    "xczu7ev-ffvc1156-2-e": {"lut": 230_400, "ff": 460_800, "dsp": 1_728, "bram": 312, "uram": 96},
    "xck26-sfvc784-2LV-c": {"lut": 117_120, "ff": 234_240, "dsp": 1_248, "bram": 144, "uram": 64},
    "xc7z020clg400-1": {"lut": 53_200, "ff": 106_400, "dsp": 220, "bram": 140, "uram": 0},
}

#: ``synth_xilinx -family`` of each Vitis board family.
_XILINX_FAMILY = {"virtexuplus": "xcup", "virtexuplushbm": "xcup", "zynquplus": "xcup", "zynq": "xc7"}

#: nextpnr bel types counted as each resource class (used/available both come from nextpnr).
PNR_BELS: dict[str, dict[str, tuple[str, ...]]] = {
    "ecp5": {"lut": ("TRELLIS_COMB",), "ff": ("TRELLIS_FF",), "dsp": ("MULT18X18D",), "bram": ("DP16KD",),
             "io": ("TRELLIS_IO",)},
    "ice40": {"lut": ("ICESTORM_LC",), "dsp": ("ICESTORM_DSP",), "bram": ("ICESTORM_RAM",), "io": ("SB_IO",),
              "spram": ("ICESTORM_SPRAM",)},
}


@dataclass(frozen=True)
class SynthTarget:
    """How to synthesise for one board.

    ``flow`` is ``"pnr"`` (Yosys + nextpnr: real utilisation and Fmax) or ``"estimate"`` (Yosys
    ``synth_xilinx`` cell counts only; the Vitis HLS project is the real implementation path).
    """

    board: Board
    flow: str
    yosys_synth: str
    nextpnr_family: str = ""
    nextpnr_args: tuple[str, ...] = ()
    io_pins: int | None = None
    capacity: dict[str, int] = field(default_factory=dict)
    #: Verilog defines for Yosys (``FLATFLOW_ECP5_DSP``: the multipliers of pyflow.backends.xls.ffi as MULT18X18D).
    defines: tuple[str, ...] = ()
    #: Yosys cell libraries read as blackboxes before elaboration (the primitives the defines instantiate).
    libs: tuple[str, ...] = ()
    #: Yosys commands run after synthesis, before the netlist is written (ECP5: block-RAM output registers).
    post_synth: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.board.name

    @property
    def family(self) -> str:
        return self.board.family

    def key(self) -> dict[str, object]:
        """JSON-able description (for cache keys and reports)."""
        return {
            "board": self.board.name,
            "flow": self.flow,
            "family": self.board.family,
            "part": self.board.part or f"{self.board.device}/{self.board.package}",
            "yosys_synth": self.yosys_synth,
            "nextpnr_args": list(self.nextpnr_args),
            "io_pins": self.io_pins,
            "capacity": dict(self.capacity),
            "defines": list(self.defines),
            "libs": list(self.libs),
            "post_synth": list(self.post_synth),
        }


def all_boards() -> dict[str, Board]:
    """Every board synthesis knows: the shared board table."""
    return dict(BOARDS)


def synth_target(name: str) -> SynthTarget:
    """The :class:`SynthTarget` of board ``name``; FlowError listing the choices when unknown."""
    boards = all_boards()
    key = name.strip().lower()
    if key not in boards:
        raise FlowError(f"unknown board {name!r}; choose one of: {', '.join(boards)}")
    b = boards[key]
    if b.flow == "open":
        if b.family == "ecp5":
            synth = "synth_ecp5 -abc9"
        elif b.family == "ice40":
            # Only the UltraPlus parts have SB_MAC16 DSPs; -dsp on an HX part would emit unplaceable cells.
            synth = "synth_ice40 -abc9" + (" -dsp" if b.device.startswith("up") else "")
        else:
            raise FlowError(f"board {b.name}: no open flow for family {b.family!r}")
        pins = PACKAGE_IO.get((b.family, b.device, b.package))
        return SynthTarget(b, "pnr", synth, nextpnr_family=b.family,
                           nextpnr_args=(f"--{b.device}", "--package", b.package), io_pins=pins,
                           defines=(ECP5_DSP_DEFINE,) if b.family == "ecp5" else (),
                           libs=("+/ecp5/cells_bb.v",) if b.family == "ecp5" else (),
                           post_synth=ECP5_POST_SYNTH if b.family == "ecp5" else ())
    fam = _XILINX_FAMILY.get(b.family)
    if fam is None:
        raise FlowError(f"board {b.name}: no synth_xilinx family for {b.family!r}")
    cap = AMD_CAPACITY.get(b.part)
    if cap is None:
        raise FlowError(f"board {b.name}: part {b.part} has no capacity row in pyflow/synth/devices.py")
    return SynthTarget(b, "estimate", f"synth_xilinx -family {fam} -flatten -abc9", capacity=dict(cap))


def default_clocks(target: SynthTarget, pc: object, freq: float | None = None,
                   xls_mhz: float | None = None) -> tuple[float, float]:
    """(place & route target, XLS target) in MHz for ``target``: the config's ``clock.fpga_mhz`` on the open
    flow (XLS over-driven by ``clock.fpga_xls_factor``), ``clock.mhz`` for the AMD estimates; explicit
    values win."""
    if target.flow == "pnr":
        f = float(freq or pc.fpga_mhz)  # type: ignore[attr-defined]
        return f, float(xls_mhz or round(f * pc.fpga_xls_factor))  # type: ignore[attr-defined]
    f = float(freq or pc.clock_mhz)  # type: ignore[attr-defined]
    return f, float(xls_mhz or f)
