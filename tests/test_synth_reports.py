"""Parsing of Yosys / nextpnr reports and the resource summary (no tools run)."""

from __future__ import annotations

import pytest

from pyflow.synth import reports
from pyflow.synth.devices import synth_target
from pyflow.synth.harness import fold_stages

ECP5_LOG = """\
Info: Packing IOs..
Info: Device utilisation:
Info: \t          TRELLIS_IO:       4/    365     1%
Info: \t              DP16KD:       3/    208     1%
Info: \t          MULT18X18D:     200/    156   128%
Info: \t          TRELLIS_FF:     397/  83640     0%
Info: \t        TRELLIS_COMB:     645/  83640     0%

Info: Placed 0 cells based on constraints.
ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'MULT18X18D'
"""


def test_util_log_block_is_parsed_with_over_100_percent():
    util = reports.parse_pnr_util_log(ECP5_LOG)
    assert util == {"TRELLIS_IO": (4, 365), "DP16KD": (3, 208), "MULT18X18D": (200, 156),
                    "TRELLIS_FF": (397, 83640), "TRELLIS_COMB": (645, 83640)}
    res = reports.pnr_resources("ecp5", util, {})
    assert res["dsp"] == {"used": 200, "available": 156, "pct": round(100 * 200 / 156, 2)}
    assert res["lut"]["used"] == 645 and res["bram"]["used"] == 3
    assert reports.over_capacity(res) == ["dsp"]


def test_last_util_block_wins():
    log = ECP5_LOG + "Info: Device utilisation:\nInfo: \t        TRELLIS_COMB:     7/  83640     0%\n\n"
    assert reports.parse_pnr_util_log(log) == {"TRELLIS_COMB": (7, 83640)}


def test_report_json_and_fmax():
    doc = {"utilization": {"ICESTORM_LC": {"used": 454, "available": 5280},
                           "ICESTORM_DSP": {"used": 3, "available": 8}},
           "fmax": {"clk_a": {"achieved": 35.01, "constraint": 50.0},
                    "clk_b": {"achieved": 80.5, "constraint": 50.0}}}
    util, fmax = reports.parse_pnr_report(doc)
    assert util == {"ICESTORM_LC": (454, 5280), "ICESTORM_DSP": (3, 8)}
    assert reports.design_fmax(fmax) == (35.01, "clk_a")
    assert reports.design_fmax({}) == (None, None)
    # iCE40 flip-flops come from the Yosys cells (every SB_DFF* variant), against the LC count
    res = reports.pnr_resources("ice40", util, {"SB_DFF": 2, "SB_DFFESR": 40, "SB_LUT4": 83})
    assert res["ff"] == {"used": 42, "available": 5280, "pct": round(100 * 42 / 5280, 2)}
    assert res["lut"]["used"] == 454 and res["dsp"]["available"] == 8


def test_fmax_from_log_takes_the_last_report():
    log = ("Info: Max frequency for clock '$glbnet$clk': 90.10 MHz (FAIL at 150.00 MHz)\n"
           "Warning: Max frequency for clock '$glbnet$clk': 107.48 MHz (FAIL at 150.00 MHz)\n")
    assert reports.parse_pnr_fmax_log(log) == {"$glbnet$clk": {"achieved": 107.48, "constraint": 150.0}}


def test_yosys_stat_and_cell_classes():
    stat = {"modules": {"\\top": {"num_cells_by_type": {"LUT4": 1}}},
            "design": {"num_cells_by_type": {"CCU2C": 37, "LUT4": 200, "MULT18X18D": 4, "TRELLIS_FF": 211,
                                             "DP16KD": 2, "$scopeinfo": 1}}}
    cells = reports.yosys_cells(stat)
    assert cells["scopeinfo"] == 1 and cells["LUT4"] == 200
    cls = reports.classify_cells("ecp5", cells)
    assert cls["lut"] == 200 + 2 * 37 and cls["ff"] == 211 and cls["dsp"] == 4 and cls["bram"] == 2
    # older Yosys: per-module sections only
    assert reports.yosys_cells({"modules": {"a": {"num_cells_by_type": {"LUT4": 3}},
                                            "b": {"num_cells_by_type": {"LUT4": 4}}}}) == {"LUT4": 7}


def test_xilinx_estimate_counts_ramb18_as_half_and_lutram_as_lut():
    cells = {"LUT6": 10, "LUT2": 5, "RAM64M": 1, "SRLC32E": 2, "FDRE": 30, "FDSE": 1, "DSP48E2": 3,
             "RAMB36E2": 1, "RAMB18E2": 3, "CARRY8": 4}
    cap = synth_target("zcu104").capacity
    res = reports.estimate_resources("xilinx", cells, cap)
    assert res["lut"]["used"] == 10 + 5 + 4 + 2
    assert res["ff"]["used"] == 31 and res["dsp"]["used"] == 3
    assert res["bram"]["used"] == pytest.approx(2.5)
    assert res["dsp"]["pct"] == round(100 * 3 / cap["dsp"], 2)
    big = reports.estimate_resources("xilinx", {"DSP48E1": 300}, synth_target("pynq-z2").capacity)
    assert reports.over_capacity(big) == ["dsp"] and big["dsp"]["pct"] > 100


@pytest.mark.parametrize("bits", [1, 2, 4, 5, 16, 17, 42, 1000])
def test_fold_stages_reduce_to_one_bit(bits):
    stages = fold_stages(bits)
    width = bits
    for st in stages:  # each level: ceil(width / 4) outputs, inputs padded to a multiple of 4
        assert st["width"] == (width + 3) // 4
        assert st["pad"] == 4 * st["width"] - width
        width = st["width"]
    assert width == 1
    assert len(stages) == (0 if bits == 1 else max(1, (bits - 1).bit_length() + 1) // 2)


def test_targets():
    ecp5 = synth_target("ECP5-85k")
    assert ecp5.flow == "pnr" and ecp5.nextpnr_args == ("--85k", "--package", "CABGA381")
    assert "synth_ecp5" in ecp5.yosys_synth and ecp5.io_pins == 205
    assert "-dsp" in synth_target("ice40-up5k").yosys_synth
    assert "-dsp" not in synth_target("ice40-hx8k").yosys_synth
    assert synth_target("ecp5-25k").nextpnr_args[0] == "--25k"
    assert "-family xc7" in synth_target("pynq-z2").yosys_synth
    assert "-family xcup" in synth_target("u280").yosys_synth
    from pyflow.errors import FlowError

    with pytest.raises(FlowError, match="unknown board"):
        synth_target("nope")
