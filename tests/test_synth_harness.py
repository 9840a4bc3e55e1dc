"""The serialising harness: rendered Verilog simulated with Icarus against an independent Python model,
and its flip-flop overhead checked in a real Yosys synthesis."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from pyflow.errors import FlowError
from pyflow.synth.harness import MAX_CHAIN, PortInfo, discover_ports, make_harness, ports_from_json

#: A small kernel: y = a + 1 (registered), yv = v (registered); reset and clock are pins.
KERNEL = """
module tiny(input clk, input rst_n, input [5:0] a, input v, output reg [6:0] y, output reg yv);
  always @(posedge clk) begin y <= a + 7'd1; yv <= v; end
endmodule
"""
PORTS = [PortInfo("clk", "input", 1), PortInfo("rst_n", "input", 1), PortInfo("a", "input", 6),
         PortInfo("v", "input", 1), PortInfo("y", "output", 7), PortInfo("yv", "output", 1)]

TB = """
module tb;
  reg clk = 0, rst = 0, sin = 0, sen = 1;
  wire sout;
  reg [0:0] bits [0:{n}];
  integer t;
  flatflow_harness dut(.clk(clk), .rst(rst), .sin(sin), .sen(sen), .sout(sout));
  initial begin
    $readmemb("bits.txt", bits);
    for (t = 0; t < {n}; t = t + 1) begin
      sin = bits[t][0];
      sen = (t % 5) != 3;   // pause the chain now and then
      #1 clk = 1; #1 clk = 0;
      $display("%0d %b", t, sout);
    end
    $finish;
  end
endmodule
"""


def model(bits: list[int], sens: list[bool]) -> list[int | None]:
    """sout after each clock edge: parity of the kernel outputs three edges earlier (capture + 2 fold
    levels for 8 output bits), the kernel computing from the chain as it stood one edge earlier."""
    chain, y, yv, hist, out = 0, None, None, [], []
    for b, en in zip(bits, sens, strict=True):
        outs = None if y is None else bin(y).count("1") + yv
        a, v = chain & 0x3F, (chain >> 6) & 1
        hist.append(outs)
        if en:
            chain = ((chain << 1) | b) & 0x7F
        y, yv = (a + 1) & 0x7F, v
        out.append(None if len(hist) < 3 or hist[-3] is None else hist[-3] % 2)
    return out


def test_harness_structure_and_errors():
    h = make_harness("tiny", "tiny", PORTS, 39)
    assert (h.in_bits, h.out_bits) == (7, 8)
    assert h.harness_ff == 7 + 8 + 2 + 1  # chain + capture + fold levels of 2 and 1
    assert "tiny dut" in h.text and ".clk(clk)" in h.text and ".rst_n(rst)" in h.text
    assert ".a(chain[5:0])" in h.text and ".v(chain[6:6])" in h.text
    assert h.pins == 5 and "input  wire [0:0] sin" in h.text
    wide = make_harness("w", "w", [PORTS[0], PortInfo("d", "input", 2 * MAX_CHAIN + 1), PORTS[4]], 39)
    assert wide.pins == 4 + 3  # 3 chains of 342/342/341 bits
    assert "reg [341:0] chain0;" in wide.text and "reg [340:0] chain2;" in wide.text
    assert "wire [1024:0] chain = {chain2, chain1, chain0};" in wide.text
    with pytest.raises(FlowError, match="pins"):
        make_harness("w", "w", [PORTS[0], PortInfo("d", "input", 40 * MAX_CHAIN), PORTS[4]], 39)
    with pytest.raises(FlowError, match="no outputs"):
        make_harness("k", "k", PORTS[:4], 39)
    with pytest.raises(FlowError, match="no clock"):
        make_harness("k", "k", PORTS[1:], 39)
    with pytest.raises(FlowError, match="inout"):
        make_harness("k", "k", PORTS + [PortInfo("io", "inout", 1)], 39)


def test_ports_from_yosys_json():
    doc = {"modules": {"tiny": {"ports": {"clk": {"direction": "input", "bits": [2]},
                                          "y": {"direction": "output", "bits": [3, 4, 5]}}}}}
    assert ports_from_json(doc, "tiny") == [PortInfo("clk", "input", 1), PortInfo("y", "output", 3)]
    with pytest.raises(FlowError, match="not found"):
        ports_from_json(doc, "other")


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_harness_simulates_like_the_model(tmp_path: Path):
    h = make_harness("tiny", "tiny", PORTS, 39)
    (tmp_path / "h.v").write_text(h.text)
    (tmp_path / "k.v").write_text(KERNEL)
    rnd = random.Random(7)
    n = 200
    bits = [rnd.randint(0, 1) for _ in range(n)]
    (tmp_path / "bits.txt").write_text("\n".join(map(str, bits)) + "\n")
    (tmp_path / "tb.v").write_text(TB.replace("{n}", str(n)))
    subprocess.run(["iverilog", "-o", "sim", "tb.v", "h.v", "k.v"], cwd=tmp_path, check=True)
    out = subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout
    got = {int(t): v for t, v in (ln.split() for ln in out.splitlines() if ln and ln[0].isdigit())}
    want = model(bits, [(t % 5) != 3 for t in range(n)])
    checked = 0
    for t in range(20, n):
        assert got[t] == str(want[t]), f"cycle {t}"
        checked += 1
    assert checked == n - 20


def test_harness_keeps_every_kernel_flip_flop(tmp_path: Path):
    """Yosys: FFs(harness + kernel) == FFs(kernel alone) + the harness's own count; nothing merged away,
    even for a kernel whose input registers copy its inputs (XLS input flops)."""
    from pyflow.synth import reports
    from pyflow.tools import yosys

    kernel = ("module regin(input clk, input rst_n, input [7:0] d, output reg [7:0] q);\n"
              "  reg [7:0] r; always @(posedge clk) begin r <= d; q <= r ^ {r[6:0], r[7]}; end\nendmodule\n")
    (tmp_path / "k.v").write_text(kernel)
    ports = discover_ports(["k.v"], "regin", tmp_path)
    assert [p.name for p in ports] == ["clk", "rst_n", "d", "q"]
    h = make_harness("regin", "regin", ports, None)
    (tmp_path / "h.v").write_text(h.text)
    counts = {}
    for name, files, top in (("alone", ["k.v"], "regin"), ("wrapped", ["k.v", "h.v"], h.top)):
        reads = "".join(f"read_verilog {f}\n" for f in files)
        (tmp_path / f"{name}.ys").write_text(f"{reads}synth_ecp5 -top {top}\ntee -q -o {name}.json stat -json\n")
        yosys.run_script(Path(f"{name}.ys"), cwd=tmp_path, log=tmp_path / f"{name}.log")
        cells = reports.yosys_cells(json.loads((tmp_path / f"{name}.json").read_text()))
        counts[name] = cells.get("TRELLIS_FF", 0)
    assert counts["alone"] == 16
    assert counts["wrapped"] == 16 + 8 + 8 + (2 + 1)  # kernel + chain + capture + fold
