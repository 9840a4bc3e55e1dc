"""The board table: one row per supported FPGA board (Vitis parts and open-flow devices).

Vitis boards carry the part string ``set_part`` needs and how a kernel is packaged for them: the Alveo cards
(``kind = "alveo"``) take a Vitis kernel (``open_solution -flow_target vitis``, ``export_design -format xo``,
``v++`` link against the default ``platform``, XRT host), each m_axi bundle mapped to one of the card's
``banks`` (U280: HBM[0..31] and DDR[0..1]; U250: DDR[0..3]); the Zynq boards (``kind = "zynq"``) take a Vivado
IP (``-flow_target vivado``, ``export_design -format ip_catalog``) whose m_axi ports reach the PS DDR through
the high-performance AXI slave ports of the processing system (``banks``: HP0..HP3).  Open-flow boards
(Yosys + nextpnr) carry the family / device / package strings the open synthesis stage passes to
``nextpnr-<family>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflow.errors import FlowError


@dataclass(frozen=True)
class Bank:
    """One memory a kernel's m_axi bundle can be connected to: a v++ ``sp=`` target (Alveo: ``HBM[3]``,
    ``DDR[1]``) or a PS slave port toward the PS DDR (Zynq: ``HP0``); ``size_mb``: what it holds."""

    name: str
    size_mb: int


def _banks(prefix: str, count: int, size_mb: int, suffix: str = "") -> tuple[Bank, ...]:
    """``HBM[0]``, ``HBM[1]``, ... (v++ names) or ``HP0<suffix>``, ... (PS slave ports ``S_AXI_HP0<suffix>``)."""
    return tuple(Bank(f"{prefix}[{i}]" if prefix in ("HBM", "DDR") else f"{prefix}{i}{suffix}", size_mb)
                 for i in range(count))


@dataclass(frozen=True)
class Board:
    """One board: ``flow`` is ``"vitis"`` (AMD/Xilinx part) or ``"open"`` (Yosys + nextpnr).  Vitis boards:
    ``kind`` ``"alveo"`` (XRT kernel, v++ link onto ``platform``) or ``"zynq"`` (Vivado IP); ``banks`` the
    memories an m_axi bundle may be mapped to, in the order they are handed out."""

    name: str
    flow: str
    family: str
    part: str = ""
    device: str = ""
    package: str = ""
    description: str = ""
    kind: str = ""
    platform: str = ""
    banks: tuple[Bank, ...] = ()

    @property
    def is_alveo(self) -> bool:
        """An Alveo card: Vitis kernel flow, .xo, v++ link, XRT."""
        return self.kind == "alveo"

    @property
    def flow_target(self) -> str:
        """``open_solution -flow_target`` of the Vitis HLS project."""
        return "vitis" if self.is_alveo else "vivado"

    @property
    def export_format(self) -> str:
        """``export_design -format`` of the Vitis HLS project."""
        return "xo" if self.is_alveo else "ip_catalog"

    def bank(self, name: str) -> Bank:
        """The bank called ``name``; FlowError listing the board's banks when it has none of that name."""
        for b in self.banks:
            if b.name == name:
                return b
        raise FlowError(f"board {self.name} has no memory bank {name!r}; it has: "
                        f"{', '.join(b.name for b in self.banks) or 'none'}")


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board("u250", "vitis", "virtexuplus", part="xcu250-figd2104-2L-e", description="Alveo U250",
              kind="alveo", platform="xilinx_u250_gen3x16_xdma_4_1_202210_1", banks=_banks("DDR", 4, 16384)),
        Board("u280", "vitis", "virtexuplushbm", part="xcu280-fsvh2892-2L-e", description="Alveo U280 (HBM)",
              kind="alveo", platform="xilinx_u280_gen3x16_xdma_1_202211_1",
              banks=_banks("HBM", 32, 256) + _banks("DDR", 2, 16384)),
        Board("zcu104", "vitis", "zynquplus", part="xczu7ev-ffvc1156-2-e", description="ZCU104", kind="zynq",
              banks=_banks("HP", 4, 2048, "_FPD")),  # S_AXI_HP0..3_FPD -> 2 GB PS DDR4
        Board("kv260", "vitis", "zynquplus", part="xck26-sfvc784-2LV-c", description="Kria KV260", kind="zynq",
              banks=_banks("HP", 4, 4096, "_FPD")),  # S_AXI_HP0..3_FPD -> 4 GB PS DDR4
        Board("pynq-z2", "vitis", "zynq", part="xc7z020clg400-1", description="PYNQ-Z2 (Zynq-7020)", kind="zynq",
              banks=_banks("HP", 4, 512)),  # S_AXI_HP0..3 -> 512 MB PS DDR3
        Board("ecp5-25k", "open", "ecp5", device="25k", package="CABGA381", description="Lattice ECP5-25F"),
        Board("ecp5-45k", "open", "ecp5", device="45k", package="CABGA381", description="Lattice ECP5-45F"),
        Board("ecp5-85k", "open", "ecp5", device="85k", package="CABGA381", description="Lattice ECP5-85F"),
        Board("ice40-up5k", "open", "ice40", device="up5k", package="sg48", description="Lattice iCE40 UP5K"),
        Board("ice40-hx8k", "open", "ice40", device="hx8k", package="ct256", description="iCE40 HX8K"),
    )
}


def get_board(name: str, flow: str | None = None) -> Board:
    """Look up ``name`` (case-insensitive); FlowError listing the choices when unknown or of another flow."""
    key = name.strip().lower()
    if key not in BOARDS:
        raise FlowError(f"unknown board {name!r}; choose one of: {', '.join(BOARDS)}")
    board = BOARDS[key]
    if flow is not None and board.flow != flow:
        same = [b.name for b in BOARDS.values() if b.flow == flow]
        raise FlowError(f"board {board.name} is not a {flow} board; choose one of: {', '.join(same)}")
    return board
