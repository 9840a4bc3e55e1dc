"""Every kernel with a DSLX template, at the small test dimensions, on Verilator and Icarus.

Each run checks (in the generic cocotb stream test) that the outputs equal the golden model's bit for
bit, that with no stalls the first and last output beats land exactly on the cycles golden.cycles
predicts for the pipeline depth XLS chose, and that random input gaps and output back-pressure change
nothing (no beat dropped or duplicated, TLAST framing intact).
"""

from __future__ import annotations

import pytest

from pyflow.project_config import load_project_config
from pyflow.rtl import has_template
from pyflow.rtl_sim import run_kernel
from pyflow.specs import KERNELS, get_spec

PC = load_project_config(None)
DSLX_KERNELS = [k for k in KERNELS if has_template(k) and "dslx" in get_spec(k, PC, small=True).langs]
CASES = [
    pytest.param(k, sim, marks=pytest.mark.xdist_group(f"rtl_{k}"), id=f"{k}-{sim}")
    for k in DSLX_KERNELS
    for sim in ("verilator", "icarus")
]


@pytest.fixture(scope="module")
def rtl_root(tmp_path_factory):
    """One build root per worker, so the Verilator runtime objects are compiled once."""
    return tmp_path_factory.getbasetemp() / "rtl_kernels"


def test_every_stream_kernel_has_a_dslx_template():
    assert set(DSLX_KERNELS) >= {"rmsnorm", "gemv", "rope", "qk", "softmax_max", "softmax_exp",
                                 "softmax_norm", "av"}


@pytest.mark.rtl
@pytest.mark.parametrize(("kernel", "sim"), CASES)
def test_kernel_rtl(kernel, sim, rtl_root):
    spec = get_spec(kernel, PC, small=True)
    r = run_kernel(spec, sim, stalls=True, build_root=rtl_root)
    assert r["errors"] == []
    assert r["outputs_match"] and r["stalls_ok"]
    assert r["cycles_measured"] == r["cycles_predicted"]
    assert r["pipeline_depth"] >= 2  # at least the input skid buffer and the output registers
