"""flat_attention RTL (DSLX -> XLS -> Verilog) on Verilator and Icarus, and the measured FLAT comparison.

test_flat_attention.py beside this file runs flat_attention at the small dimensions (as every kernel);
here a second shape (N = 8, P = 2: K rows of 8 beats, V^T rows of 4, two tiles)
checks the template's parametrisation, other rounding / overflow modes check its requant functions, and
the flat-hw report's measured cycles are checked against the models.
"""

from __future__ import annotations

import pytest

from golden import flat_fixed as ff
from hls.kernels.flat_attention.shapes import SHAPES
from pyflow.project.config import load_project_config, small_config
from pyflow.sim.flat_hw import flat_hw_report
from pyflow.sim.kernel import run_kernel
from pyflow.specs import get_spec

pytestmark = pytest.mark.rtl


@pytest.fixture(scope="module")
def variant_root(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "flat_hw_rtl_variant"


@pytest.mark.xdist_group("rtl_flat_attention_variant")
@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_flat_attention_rtl_variant(sim: str, variant_root) -> None:
    spec = get_spec("flat_attention", SHAPES["variant"]())
    assert "dslx" in spec.langs and spec.params["P"] == 2
    r = run_kernel(spec, sim, stalls=True, build_root=variant_root)
    assert r["errors"] == []
    assert r["outputs_match"] and r["stalls_ok"]
    assert r["cycles_measured"] == r["cycles_predicted"]


@pytest.mark.xdist_group("rtl_flat_attention_modes")
def test_flat_attention_rtl_rounding_modes(tmp_path) -> None:
    """TRN / RND / WRAP formats through the DSLX requant functions (Icarus: no C++ model build)."""
    r = run_kernel(get_spec("flat_attention", SHAPES["modes"]()), "icarus", stalls=True, build_root=tmp_path)
    assert r["errors"] == [] and r["outputs_match"] and r["stalls_ok"]
    assert r["cycles_measured"] == r["cycles_predicted"]


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
