"""The board table: one row per supported FPGA board (Vitis parts and open-flow devices).

Vitis boards carry the part string ``set_part`` needs; open-flow boards (Yosys + nextpnr) carry the
family / device / package strings the open synthesis stage passes to ``nextpnr-<family>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflow.errors import FlowError


@dataclass(frozen=True)
class Board:
    """One board: ``flow`` is ``"vitis"`` (AMD/Xilinx part) or ``"open"`` (Yosys + nextpnr)."""

    name: str
    flow: str
    family: str
    part: str = ""
    device: str = ""
    package: str = ""
    description: str = ""


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board("u250", "vitis", "virtexuplus", part="xcu250-figd2104-2L-e", description="Alveo U250"),
        Board("u280", "vitis", "virtexuplushbm", part="xcu280-fsvh2892-2L-e", description="Alveo U280 (HBM)"),
        Board("zcu104", "vitis", "zynquplus", part="xczu7ev-ffvc1156-2-e", description="ZCU104"),
        Board("kv260", "vitis", "zynquplus", part="xck26-sfvc784-2LV-c", description="Kria KV260"),
        Board("pynq-z2", "vitis", "zynq", part="xc7z020clg400-1", description="PYNQ-Z2 (Zynq-7020)"),
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
