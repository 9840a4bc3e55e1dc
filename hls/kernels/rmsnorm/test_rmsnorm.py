"""rmsnorm at the small test dimensions: golden vs float64 RMSNorm, C-sim bit-exact, RTL bit- and
cycle-exact on Verilator and Icarus."""

from __future__ import annotations

import numpy as np
import pytest

from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec
from testbench.checks import SIMULATORS, check_csim, check_rtl

KERNEL = "rmsnorm"
pytestmark = pytest.mark.xdist_group(f"kernel_{KERNEL}")
PC = small_config(load_project_config())


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim(KERNEL, tmp_path_factory.mktemp(f"csim_{KERNEL}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    r = check_rtl(KERNEL, simulator, tmp_path_factory.getbasetemp() / "rtl_kernels")
    assert r["pipeline_depth"] >= 2  # at least the input buffer and the output registers


def test_golden_tracks_float64() -> None:
    s, m = PC.scheme, PC.model
    ins, out = get_spec(KERNEL, PC).vectors(5)
    x = s.act.to_float(ins["x"][:m.hidden_size])
    g = s.norm_weight.to_float(ins["gamma"])
    ref = x / np.sqrt(np.mean(x * x) + m.rms_norm_eps) * g
    assert np.max(np.abs(s.act.to_float(out["y"]) - ref)) < 5e-3
