"""Parsers for Yosys ``stat -json`` and nextpnr ``--report`` / log output, and the resource summary.

Resource classes reported for every board: ``lut``, ``ff``, ``dsp``, ``bram`` (plus ``io`` on the open
flow and ``uram`` / ``lutram`` where they exist), each ``{"used", "available", "pct"}``.  On the open flow
used/available come from nextpnr (placed design, the device's real capacity); flip-flops on iCE40 come from
Yosys (nextpnr counts logic cells, each a LUT4 + FF pair).  For AMD parts they come from Yosys
``synth_xilinx`` cell counts and the part capacity table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyflow.synth.devices import PNR_BELS

#: Yosys cell types per resource class and the weight of each (CCU2C = 2 LUT4 + carry, RAMB18 = 0.5 BRAM36).
CELL_CLASSES: dict[str, dict[str, dict[str, float]]] = {
    "ecp5": {
        "lut": {"LUT4": 1, "CCU2C": 2},
        "lutram": {"TRELLIS_DPR16X4": 1},
        "ff": {"TRELLIS_FF": 1},
        "dsp": {"MULT18X18D": 1, "ALU54B": 1},
        "bram": {"DP16KD": 1, "PDPW16KD": 1},
    },
    "ice40": {
        "lut": {"SB_LUT4": 1},
        "ff": {},  # every SB_DFF* variant, matched by prefix in classify_cells
        "dsp": {"SB_MAC16": 1},
        "bram": {"SB_RAM40_4K": 1},
        "spram": {"SB_SPRAM256KA": 1},
    },
    "xilinx": {
        "lut": {f"LUT{i}": 1 for i in range(1, 7)},
        "lutram": {"RAM32M": 4, "RAM32M16": 8, "RAM64M": 4, "RAM64M8": 8, "RAM32X1D": 2, "RAM64X1D": 2,
                   "RAM128X1D": 4, "RAM256X1D": 8, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2,
                   "RAM256X1S": 4, "SRL16E": 1, "SRLC32E": 1},
        "ff": {"FDRE": 1, "FDSE": 1, "FDCE": 1, "FDPE": 1, "LDCE": 1, "LDPE": 1},
        "dsp": {"DSP48E1": 1, "DSP48E2": 1},
        "bram": {"RAMB36E1": 1, "RAMB36E2": 1, "RAMB18E1": 0.5, "RAMB18E2": 0.5},
        "uram": {"URAM288": 1},
    },
}

_UTIL_LINE = re.compile(r"^\s*(?:Info:\s*)?\s*([A-Z0-9_]+):\s+(\d+)/\s*(\d+)\s+(\d+)%\s*$")
_FMAX_LINE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+)\s+MHz\s+\((PASS|FAIL) at ([\d.]+) MHz\)")


def yosys_cells(stat: Mapping[str, Any]) -> dict[str, int]:
    """Cell counts by type of the whole design from a Yosys ``stat -json`` document."""
    design = stat.get("design") or {}
    cells = design.get("num_cells_by_type")
    if cells is None:  # older Yosys: only per-module sections
        cells = {}
        for mod in stat.get("modules", {}).values():
            for k, v in mod.get("num_cells_by_type", {}).items():
                cells[k] = cells.get(k, 0) + int(v)
    return {str(k).lstrip("\\$"): int(v) for k, v in cells.items()}


def classify_cells(family: str, cells: Mapping[str, int]) -> dict[str, float]:
    """Resource-class totals (``lut``, ``ff``, ``dsp``, ``bram``, ...) of Yosys cell counts."""
    classes = CELL_CLASSES["xilinx" if family not in CELL_CLASSES else family]
    out = {cls: 0.0 for cls in classes}
    for cell, n in cells.items():
        for cls, weights in classes.items():
            if cell in weights:
                out[cls] += weights[cell] * n
        if family == "ice40" and cell.startswith("SB_DFF"):
            out["ff"] += n
    return {k: (int(v) if float(v).is_integer() else v) for k, v in out.items()}


def parse_pnr_util_log(log: str) -> dict[str, tuple[int, int]]:
    """``bel type -> (used, available)`` from the last "Device utilisation" block of a nextpnr log."""
    blocks: list[dict[str, tuple[int, int]]] = []
    current: dict[str, tuple[int, int]] | None = None
    for line in log.splitlines():
        if "Device utilisation" in line:
            current = {}
            blocks.append(current)
            continue
        if current is not None:
            m = _UTIL_LINE.match(line)
            if m:
                current[m.group(1)] = (int(m.group(2)), int(m.group(3)))
            elif current:
                current = None
    return blocks[-1] if blocks else {}


def parse_pnr_report(report: Mapping[str, Any]) -> tuple[dict[str, tuple[int, int]], dict[str, dict[str, float]]]:
    """``(utilisation, fmax)`` from a nextpnr ``--report`` JSON document.

    utilisation: ``bel type -> (used, available)``; fmax: ``clock -> {"achieved", "constraint"}`` (MHz).
    """
    util = {k: (int(v["used"]), int(v["available"])) for k, v in report.get("utilization", {}).items()}
    fmax = {k: {"achieved": float(v["achieved"]), "constraint": float(v["constraint"])}
            for k, v in report.get("fmax", {}).items()}
    return util, fmax


def parse_pnr_fmax_log(log: str) -> dict[str, dict[str, float]]:
    """Last reported Fmax per clock from a nextpnr log (fallback when no report JSON was written)."""
    out: dict[str, dict[str, float]] = {}
    for m in _FMAX_LINE.finditer(log):
        out[m.group(1)] = {"achieved": float(m.group(2)), "constraint": float(m.group(4))}
    return out


def _entry(used: float, available: float | None) -> dict[str, Any]:
    pct = round(100.0 * used / available, 2) if available else None
    return {"used": used, "available": available, "pct": pct}


def pnr_resources(family: str, util: Mapping[str, tuple[int, int]], cells: Mapping[str, int]) -> dict[str, Any]:
    """Resource summary of a placed open-flow design (nextpnr used/available; iCE40 FFs from Yosys)."""
    out: dict[str, Any] = {}
    for cls, bels in PNR_BELS[family].items():
        present = [b for b in bels if b in util]
        if not present:
            continue
        out[cls] = _entry(sum(util[b][0] for b in present), sum(util[b][1] for b in present))
    if "ff" not in out:
        lc = util.get("ICESTORM_LC")
        out["ff"] = _entry(classify_cells(family, cells)["ff"], lc[1] if lc else None)
    order = ("lut", "ff", "dsp", "bram", "io")
    return {k: out[k] for k in sorted(out, key=lambda k: (order.index(k) if k in order else len(order), k))}


def estimate_resources(family: str, cells: Mapping[str, int], capacity: Mapping[str, int]) -> dict[str, Any]:
    """Resource summary from Yosys cell counts and a capacity table (AMD estimate; LUTRAM counts as LUT)."""
    cls = classify_cells(family, cells)
    used = {"lut": cls.get("lut", 0) + cls.get("lutram", 0), "ff": cls.get("ff", 0), "dsp": cls.get("dsp", 0),
            "bram": cls.get("bram", 0)}
    if capacity.get("uram"):
        used["uram"] = cls.get("uram", 0)
    return {k: _entry(v, capacity.get(k)) for k, v in used.items()}


def over_capacity(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Resource classes used beyond 100 % of the device."""
    return [k for k, v in resources.items() if v.get("available") is not None and v["used"] > v["available"]]


def design_fmax(fmax: Mapping[str, Mapping[str, float]]) -> tuple[float | None, str | None]:
    """``(MHz, clock)`` of the slowest constrained clock, or ``(None, None)`` when nextpnr gave none."""
    if not fmax:
        return None, None
    clock = min(fmax, key=lambda k: fmax[k]["achieved"])
    return round(float(fmax[clock]["achieved"]), 2), clock


def critical_path(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """The longest register-to-register path of a nextpnr ``--report`` document, summarised: start and end
    cells, total delay (ns), how much of it is routing, and the logic cells on the way (the module path of a
    cell name, e.g. ``u_accel.u_gemv``, says which part of the design limits Fmax)."""
    paths = [p for p in report.get("critical_paths", []) if p.get("path")]
    # the clock's own register-to-register paths decide Fmax; I/O paths (pins to registers) only without them
    same = [p for p in paths if str(p.get("from", "")).startswith("posedge") and p.get("from") == p.get("to")]
    paths = same or paths
    if not paths:
        return None

    def delay(p: Mapping[str, Any]) -> float:
        return sum(float(s.get("delay", 0.0)) for s in p["path"])

    worst = max(paths, key=delay)
    segs = worst["path"]
    routing = sum(float(s.get("delay", 0.0)) for s in segs if s.get("type") == "routing")
    cells = [s["to"]["cell"] for s in segs if s.get("type") == "logic"]
    return {"from": segs[0]["from"]["cell"], "to": segs[-1]["to"]["cell"], "delay_ns": round(delay(worst), 3),
            "routing_ns": round(routing, 3), "logic_levels": len(cells), "logic_cells": cells[:12]}
