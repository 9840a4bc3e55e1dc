"""FPGA primitives bound through XLS FFI (pyflow.prims): operand splitting, register binding, and that the
default kernels really get every multiplier and table read registered inside its primitive."""

import re

import pytest

from pyflow import prims, rtl
from pyflow.project_config import load_project_config
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
    assert prims._pieces(bits, signed) == want


def test_mul_fn_drops_pieces_above_the_kept_bits():
    text = prims.mul_fn("m", "k", 32, False, 30, False, out_bits=32)
    # 32 = 18 + 14, 30 = 18 + 12: the hi x hi piece lands at bit 36 >= 32 and is not computed
    assert len(re.findall(r"#\[extern_verilog", text)) == 3
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


def test_every_primitive_of_the_default_kernels_is_registered(tmp_path):
    """At the default config every multiplier piece and table read ends up with its result register inside
    (DSP output register / block-RAM read): the property the FPGA timing relies on."""
    pc = load_project_config(None)
    seen = set()
    for spec in all_specs(pc, names=("rmsnorm", "gemv", "rope", "softmax_exp", "softmax_norm", "av")):
        b = rtl.build_kernel(spec, rtl.xls_options(500.0), tmp_path, lint=False)
        core = b.sources[0].read_text()
        bound = {k: v.split("/") for k, v in prims.bind_registers(core, spec.name)[1].as_dict().items()}
        mods = re.findall(rf"^\s*({spec.name}_(?:mul|pipe|rom)\w*) ", core, re.M)
        unbound = [m for m in mods if not m.endswith("_reg")]
        assert not unbound, f"{spec.name}: {len(unbound)} primitive(s) left combinational"
        seen |= {m for m in ("mul_reg", "rom_") if f"{spec.name}_{m}" in core}
        assert all(n == "0" for n, _ in bound.values()) or not bound  # nothing left to bind
    assert seen == {"mul_reg", "rom_"}
