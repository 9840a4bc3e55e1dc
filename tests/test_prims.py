"""FPGA primitives bound through XLS FFI (pyflow.backends.xls.ffi, .bind): operand splitting, register binding,
and that the default kernels really get every multiplier and table read registered inside its primitive."""

import json
import re

import pytest

from pyflow.backends.xls import bind as prims
from pyflow.backends.xls import build as rtl
from pyflow.backends.xls import ffi
from pyflow.errors import FlowError
from pyflow.project.config import load_project_config
from pyflow.specs import all_specs

XLS_LIKE = """module k_core(
  input wire clk,
  input wire [15:0] a_in
);
  wire [31:0] instantiation_output_7;
  wire [31:0] instantiation_output_9;
  wire [9:0] instantiation_output_11;
  wire [22:0] bit_slice_12;
  reg [31:0] p0_invoke_3;
  reg [22:0] p0_bit_slice_12;
  reg [9:0] p1_rom;
  wire [9:0] other;
  assign bit_slice_12 = instantiation_output_9[22:0];
  assign other = instantiation_output_11 + 10'h1;
  always @ (posedge clk) begin
    p0_invoke_3 <= or_5 ? instantiation_output_7 : p0_invoke_3;
    p0_bit_slice_12 <= or_5 ? bit_slice_12 : p0_bit_slice_12;
    p1_rom <= or_6 ? instantiation_output_11 : p1_rom;
  end
  k_mul #(.AW(16), .AS(1), .BW(16), .BS(1)) m_inst (.a(a_in), .b(a_in), .p(instantiation_output_7));
  k_mul #(.AW(16), .AS(1), .BW(16), .BS(0)) n_inst (.a(a_in), .b(a_in), .p(instantiation_output_9));
  k_rom_exp2 r_inst (.addr(a_in[9:0]), .data(instantiation_output_11));
endmodule
"""


@pytest.mark.parametrize(("bits", "signed", "want"), [
    (16, True, [(0, 16, True)]),
    (18, False, [(0, 18, False)]),
    (25, True, [(0, 18, False), (18, 7, True)]),
    (40, False, [(0, 18, False), (18, 18, False), (36, 4, False)]),
])
def test_operands_split_into_dsp_pieces(bits, signed, want):
    assert ffi._pieces(bits, signed) == want


def test_mul_fn_drops_pieces_above_the_kept_bits():
    text = ffi.mul_fn("m", "k", 32, False, 30, False, out_bits=32)
    # 32 = 18 + 14, 30 = 18 + 12: the hi x hi piece lands at bit 36 >= 32 and is not computed
    assert len(re.findall(r"#\[extern_verilog\(\"k_mul ", text)) == 3
    assert len(re.findall(r"#\[extern_verilog\(\"k_pipe ", text)) == 2  # one operand register each
    assert "-> uN[32]" in text


def test_bind_moves_registers_into_primitives():
    out, stats = prims.bind_registers(XLS_LIKE, "k")
    assert stats.as_dict() == {"mul": "2/2", "rom": "0/1"}  # the table output also feeds `other`
    assert "k_mul_reg #(.AW(16), .AS(1), .BW(16), .BS(1)) m_inst (.clk(clk), .ce(or_5), .a(a_in), .b(a_in), " \
           ".p(p0_invoke_3));" in out
    assert "wire [31:0] p0_invoke_3;" in out and "p0_invoke_3 <=" not in out
    # through a zero-delay slice: the primitive registers the full product, the old register is its slice
    assert ".p(instantiation_output_9));" in out and "k_mul_reg" in out.split("n_inst")[0].splitlines()[-1]
    assert "assign p0_bit_slice_12 = instantiation_output_9[22:0];" in out
    assert "wire [22:0] p0_bit_slice_12;" in out and "bit_slice_12 =" not in out.replace("p0_bit_slice_12 =", "")
    assert "k_rom_exp2 r_inst" in out and "p1_rom <= or_6 ? instantiation_output_11 : p1_rom;" in out


def test_bind_is_idempotent():
    once, _ = prims.bind_registers(XLS_LIKE, "k")
    twice, stats = prims.bind_registers(once, "k")
    assert twice == once and stats.as_dict() == {"rom": "0/1"}


PRIMS_K = """module k_mul #(parameter AW = 1, AS = 0, BW = 1, BS = 0) (input wire [AW-1:0] a, input wire [BW-1:0] b,
  output wire [AW+BW-1:0] p);
  assign p = a * b;
endmodule
module k_mul_reg #(parameter AW = 1, AS = 0, BW = 1, BS = 0) (input wire clk, input wire ce,
  input wire [AW-1:0] a, input wire [BW-1:0] b, output reg [AW+BW-1:0] p);
  always @(posedge clk) if (ce) p <= a * b;
endmodule
module k_rom_exp2 (input wire [9:0] addr, output wire [9:0] data);
  assign data = addr;
endmodule
"""


def test_bind_core_checks_its_rewrite_with_a_parser():
    """bind_core binds like bind_registers, and the parser agrees with what the binder reports."""
    out, stats = prims.bind_core(XLS_LIKE, "k", "clk", PRIMS_K)
    assert stats.as_dict() == {"mul": "2/2", "rom": "0/1"}
    assert "k_mul_reg" in out


def test_bind_core_rejects_an_instance_it_does_not_understand():
    """A primitive instance written in a form the binder's patterns miss (here split over two lines, as a
    future XLS might print it) is an error, not a silently unbound register."""
    odd = XLS_LIKE.replace("m_inst (.a(a_in), .b(a_in), .p(instantiation_output_7));",
                           "m_inst (\n    .a(a_in), .b(a_in), .p(instantiation_output_7));")
    with pytest.raises(FlowError, match="does not recognise.*m_inst"):
        prims.bind_core(odd, "k", "clk", PRIMS_K)


def test_bind_core_rejects_a_rewrite_that_breaks_the_netlist(monkeypatch):
    """If a rewrite leaves a dangling name (here: a register declaration dropped), elaboration says so."""
    real = prims.bind_registers

    def lossy(text, kernel, clk="clk"):  # noqa: ANN001, ANN202
        out, stats = real(text, kernel, clk)
        return out.replace("  wire [9:0] other;\n", ""), stats

    monkeypatch.setattr(prims, "bind_registers", lossy)
    with pytest.raises(FlowError, match="broke the netlist.*other"):
        prims.bind_core(XLS_LIKE, "k", "clk", PRIMS_K)


def test_every_primitive_of_the_default_kernels_is_registered(tmp_path):
    """At the default config every multiplier piece and table read ends up with its result register inside
    (DSP output register / block-RAM read): the property the FPGA timing relies on."""
    pc = load_project_config(None)
    seen = set()
    for spec in all_specs(pc, names=("rmsnorm", "gemv", "rope", "softmax_exp", "softmax_norm", "av")):
        b = rtl.build_kernel(spec, rtl.xls_options(500.0), tmp_path, lint=False)
        core = b.sources[0].read_text()
        bound = {k: v.split("/") for k, v in prims.bind_registers(core, spec.name)[1].as_dict().items()}
        mods = re.findall(rf"^\s*({spec.name}_(?:mul|rom)\w*) ", core, re.M)
        unbound = [m for m in mods if not m.endswith(("_reg", "_rr"))]
        assert not unbound, f"{spec.name}: {len(unbound)} primitive(s) left combinational"
        # A pipe may stay an identity when only zero-delay logic (a concatenation) sits before its register.
        seen |= {m for m in ("mul_rr", "rom_") if f"{spec.name}_{m}" in core}
        counts = json.loads((tmp_path / "rtl" / spec.name / "prims_bound.json").read_text())
        if "mul" in counts:  # both operands of every multiplier in DSP input registers
            assert counts["mul_in"] == f"{2 * int(counts['mul'].split('/')[1])}/" \
                f"{2 * int(counts['mul'].split('/')[1])}", (spec.name, counts)
        assert all(n == "0" for n, _ in bound.values()) or not bound  # nothing left to bind
    assert seen == {"mul_rr", "rom_"}


OPERANDS = """module k_core(
  input wire clk
);
  wire [31:0] instantiation_output_7;
  wire [31:0] instantiation_output_8;
  wire [15:0] x_next;
  wire [15:0] y_next;
  reg [15:0] p0_x;
  reg [15:0] p0_y;
  reg [31:0] p1_m;
  reg [31:0] p1_n;
  reg [15:0] p1_keep;
  assign x_next = 16'h1;
  assign y_next = 16'h2;
  always @ (posedge clk) begin
    p0_x <= or_4 ? x_next : p0_x;
    p0_y <= or_4 ? y_next : p0_y;
    p1_m <= or_5 ? instantiation_output_7 : p1_m;
    p1_n <= or_5 ? instantiation_output_8 : p1_n;
    p1_keep <= or_5 ? p0_y : p1_keep;
  end
  k_mul #(.AW(16), .AS(1), .BW(16), .BS(1)) m_inst (.a(p0_x), .b(p0_y), .p(instantiation_output_7));
  k_mul #(.AW(16), .AS(1), .BW(16), .BS(1)) n_inst (.a(p0_x), .b(p0_x), .p(instantiation_output_8));
endmodule
"""


def test_operand_registers_move_into_every_multiplier_they_feed():
    """p0_x feeds only multiplier operands (three ports of two instances): each gets its own input register
    loading x_next with p0_x's enable.  p0_y also feeds p1_keep, so it stays a pipeline register."""
    out, stats = prims.bind_registers(OPERANDS, "k")
    assert stats.as_dict() == {"mul": "2/2", "mul_in": "3/3"}
    assert "p0_x" not in out
    assert ("k_mul_rr #(.AW(16), .AS(1), .BW(16), .BS(1), .RA(1), .RB(0)) m_inst (.clk(clk), .ce(or_5), "
            ".cea(or_4), .ceb(1'b0), .a((x_next)), .b(p0_y), .p(p1_m));") in out
    assert ("k_mul_rr #(.AW(16), .AS(1), .BW(16), .BS(1), .RA(1), .RB(1)) n_inst (.clk(clk), .ce(or_5), "
            ".cea(or_4), .ceb(or_4), .a((x_next)), .b((x_next)), .p(p1_n));") in out
    assert "p0_y <= or_4 ? y_next : p0_y;" in out


def test_free_running_drops_data_enables_only():
    text = """module k_core(input wire clk, input wire rst_n);
  always @ (posedge clk) begin
    p0_x <= or_4 ? x_next : p0_x;
    p1_y <= p0_x;
  end
  always @ (posedge clk) begin
    if (!rst_n) begin
      ____state_0 <= 5'h00;
      p1_inputs_valid <= 1'h0;
    end else begin
      ____state_0 <= stage_outputs_valid_1 ? add_315 : ____state_0;
      p1_inputs_valid <= or_323 ? p0_stage_done__1 : p1_inputs_valid;
    end
  end
  k_mul_rr #(.AW(16), .AS(1), .BW(16), .BS(1), .RA(1), .RB(0)) m_inst (.clk(clk), .ce(or_5), .cea(or_4),
    .ceb(1'b0), .a((x_next)), .b(p0_y), .p(p1_m));
endmodule
"""
    out = prims.free_running(text)
    assert "p0_x <= x_next;" in out and "p1_y <= p0_x;" in out
    assert "____state_0 <= stage_outputs_valid_1 ? add_315 : ____state_0;" in out
    assert "p1_inputs_valid <= or_323 ? p0_stage_done__1 : p1_inputs_valid;" in out
    assert ".ce(1'b1), .cea(1'b1)," in out and ".ceb(1'b0)" in out


def test_a_pipe_feeding_only_multipliers_becomes_their_input_register():
    text = OPERANDS.replace("  reg [15:0] p0_x;\n", "  wire [15:0] p0_x;\n").replace(
        "    p0_x <= or_4 ? x_next : p0_x;\n", "").replace(
        "  k_mul #(.AW(16), .AS(1), .BW(16), .BS(1)) m_inst",
        "  k_pipe_reg #(.W(16)) q_inst (.clk(clk), .ce(or_4), .x(x_next), .y(p0_x));\n"
        "  k_mul #(.AW(16), .AS(1), .BW(16), .BS(1)) m_inst")
    out, stats = prims.bind_registers(text, "k")
    assert stats.as_dict()["mul_in"] == "3/3" and "q_inst" not in out and "p0_x" not in out
    assert ".cea(or_4), .ceb(or_4), .a((x_next)), .b((x_next))" in out


def test_operand_binding_follows_zero_delay_slices():
    """A pipe output that reaches the multipliers only through bit slices (a wide operand split into DSP
    pieces) becomes their input registers, each loading its slice of the pipe's input."""
    wires = "  wire [31:0] p0_x;\n  wire [15:0] lo;\n  wire [15:0] hi;\n"
    text = OPERANDS.replace("  reg [15:0] p0_x;\n", wires).replace(
        "    p0_x <= or_4 ? x_next : p0_x;\n", "").replace(
        "  k_mul #(.AW(16), .AS(1), .BW(16), .BS(1)) m_inst",
        "  assign lo = p0_x[15:0];\n  assign hi = p0_x[31:16];\n"
        "  k_pipe_reg #(.W(32)) q_inst (.clk(clk), .ce(or_4), .x(w_next), .y(p0_x));\n"
        "  k_mul #(.AW(16), .AS(1), .BW(16), .BS(1)) m_inst").replace(
        ".a(p0_x), .b(p0_y)", ".a(lo), .b(p0_y)").replace(".a(p0_x), .b(p0_x)", ".a(lo), .b(hi)")
    out, stats = prims.bind_registers(text, "k")
    assert stats.as_dict()["mul_in"] == "3/3" and "q_inst" not in out and "p0_x" not in out
    assert ".a((w_next[15:0])), .b((w_next[31:16]))" in out
