"""Chain mode wiring: stream layouts of consecutive kernels compose to the golden fixed-point decode step."""

from __future__ import annotations

import numpy as np
import pytest

from golden.llama import CHAIN_OPS
from pyflow.project.config import load_project_config, small_config
from pyflow.sim.chain import STAGES, golden_executor, run_chain
from pyflow.specs import op_kernels


def test_stages_follow_the_golden_chain_and_its_kernels() -> None:
    assert tuple(op for st in STAGES for op in st.ops) == CHAIN_OPS
    kernels = op_kernels()
    assert set(kernels) == set(CHAIN_OPS)
    assert all(len({kernels[op] for op in st.ops}) == 1 for st in STAGES)


def test_chain_of_spec_goldens_equals_decode_step() -> None:
    pc = small_config(load_project_config(None))
    rep = run_chain(pc, golden_executor, seed=2)
    assert rep["outputs_match"], rep["stages"]
    assert [s["stage"] for s in rep["stages"]][0] == "rmsnorm" and rep["stages"][-1]["stage"] == "o_proj"


def test_chain_detects_a_wrong_stage() -> None:
    pc = small_config(load_project_config(None))

    def off_by_one_av(spec, invocations):  # noqa: ANN001, ANN202
        outs = golden_executor(spec, invocations)
        if spec.name == "av":
            outs[0] = {"out": np.asarray(outs[0]["out"]) + 1}
        return outs

    rep = run_chain(pc, off_by_one_av, seed=2)
    assert not rep["outputs_match"]
    bad = [s["stage"] for s in rep["stages"] if not s["outputs_match"]]
    assert bad[0] == "av"


@pytest.mark.rtl
@pytest.mark.xdist_group("rtl_chain")
@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_chain_in_rtl_is_bit_exact(simulator: str, tmp_path_factory) -> None:  # noqa: ANN001
    """One decode step kernel by kernel in RTL, each kernel fed by the previous one's simulated output."""
    from pyflow.sim.flow import rtl_executor

    pc = small_config(load_project_config(None))
    root = tmp_path_factory.getbasetemp() / "rtl_kernels"  # shared per worker: runtime objects built once
    rep = run_chain(pc, rtl_executor(pc.clock_mhz, simulator, build_root=root), seed=3)
    assert rep["outputs_match"], [s for s in rep["stages"] if not s["outputs_match"]]
