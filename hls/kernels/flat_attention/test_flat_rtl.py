"""flat_attention RTL (DSLX -> XLS -> Verilog, buffers in RAMs) on Verilator and Icarus, and the measured FLAT
comparison.

test_flat_attention.py beside this file runs flat_attention at the small dimensions at the usual decode
positions (n keys, l = n query rows) and at (n, l) pairs that vary independently (n not a multiple of P, l
not a multiple of R, garbage in the padding lanes of V^T, random input gaps and output back-pressure); here
other shapes check the template's parametrisation (P = 2, P = 8 with P not dividing N, P = 3 with d = 12 and
a scale that is not a power of two), other rounding / overflow modes check its requant functions, the RTL
at the default config's dimensions is built, and the flat-hw report's measured cycles are checked against
the models.
"""

from __future__ import annotations

import pytest

from golden import flat_fixed as ff
from golden import llama_fixed as lf
from hls.kernels.flat_attention.shapes import SHAPES, full_range_at, run_lengths
from pyflow.backends.xls.build import build_kernel, xls_options
from pyflow.project.config import load_project_config, small_config
from pyflow.sim.flat_hw import flat_hw_report
from pyflow.specs import get_spec
from testbench.checks import check_rtl

pytestmark = pytest.mark.rtl

@pytest.fixture(scope="module")
def variant_root(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "flat_hw_rtl_variant"


@pytest.mark.xdist_group("rtl_flat_attention_variant")
@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_flat_attention_rtl_variant(sim: str, variant_root) -> None:
    """N = 8, P = 2: K rows of 8 beats, V^T rows of up to 4, at every decode position and two (n, l)."""
    pc = SHAPES["variant"]()
    spec = get_spec("flat_attention", pc)
    assert "dslx" in spec.langs and spec.params["P"] == 2
    check_rtl("flat_attention", sim, variant_root, pc)
    run_lengths(spec, sim, ((3, 8), (8, 5)), variant_root, sim_dir=variant_root / "sim" / spec.name / sim)


@pytest.mark.xdist_group("rtl_flat_attention_shapes")
@pytest.mark.parametrize(("shape", "lengths"), [("wide", ((20, 20), (13, 6), (4, 9))),
                                                ("odd", ((10, 10), (7, 5), (1, 2)))])
def test_flat_attention_rtl_shapes(shape: str, lengths, tmp_path) -> None:
    """P = 8 over N = 20 keys (3 words a row, the last one part-filled) and P = 3, d = 12 (Icarus)."""
    spec = get_spec("flat_attention", SHAPES[shape]())
    run_lengths(spec, "icarus", lengths, tmp_path)


@pytest.mark.xdist_group("rtl_flat_attention_shapes")
def test_flat_attention_rtl_saturating_logits(tmp_path) -> None:
    """Full-range q, K and V^T: logits saturate both ways in the DSLX logit requant (Icarus)."""
    spec = get_spec("flat_attention", SHAPES["small"]())
    s = SHAPES["small"]().scheme
    ins, _ = full_range_at(spec, 16, 16)
    logits = lf.qk(ins["q"].reshape(16, 16), ins["k"][: 16 * 16].reshape(16, 16), 16, s)
    assert logits.max() == s.logit.raw_max and logits.min() == s.logit.raw_min
    run_lengths(spec, "icarus", ((16, 16), (5, 7)), tmp_path, vectors=full_range_at)


@pytest.mark.xdist_group("rtl_flat_attention_modes")
def test_flat_attention_rtl_rounding_modes(tmp_path) -> None:
    """TRN / RND / WRAP formats through the DSLX requant functions (Icarus: no C++ model build)."""
    run_lengths(get_spec("flat_attention", SHAPES["modes"]()), "icarus", ((16, 16), (9, 6)), tmp_path)


@pytest.mark.xdist_group("rtl_flat_attention_default")
def test_flat_attention_rtl_builds_at_the_default_config(tmp_path) -> None:
    """The RTL exists at the default config (N = L = 128, d = 64, R = 4, P = 4): XLS compiles it, the
    primitives bind and Verilator lints it (simulated by `python -m pyflow sim --kernel flat_attention`)."""
    spec = get_spec("flat_attention", load_project_config())
    assert spec.params == {"R": 4, "N": 128, "D": 64, "P": 4, "L": 128} and "dslx" in spec.langs
    rtl = build_kernel(spec, xls_options(200.0), tmp_path)
    text = rtl.sources[-1].read_text()  # the wrapper: one RAM per buffer
    assert all(f"u_ram_{r.name} (" in text for r in spec.rams) and rtl.latency > 0


@pytest.mark.xdist_group("rtl_flat_hw_report")
def test_report_measured_cycles_equal_models(tmp_path) -> None:
    pc = load_project_config()
    rep = flat_hw_report(pc, measure=True, simulator="icarus", report_path=tmp_path / "r.json",
                         build_root=tmp_path, progress=False)
    small, m = rep["small"], rep["small"]["measured"]
    assert m["flat_cycles"] == small["flat"]["cycles"]
    dm = small["dims"]
    lanes = {k: dm["P"] for k in ff.UNFUSED_KERNELS}  # small config: every kernel at 4 lanes
    assert small_config(pc).lanes["qk"] == dm["P"]
    assert m["unfused_cycles"] == ff.unfused_cycles(dm["L"], dm["N"], dm["D"], lanes, m["depths"])["total"]
    assert m["flat_cycles"] < m["unfused_cycles"]
