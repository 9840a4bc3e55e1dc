"""av at the small test dimensions: golden V^T p vs float64, C-sim bit-exact, RTL bit- and cycle-exact
on Verilator and Icarus."""

from __future__ import annotations

import numpy as np
import pytest

from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec
from testbench.checks import SIMULATORS, check_csim, check_rtl

KERNEL = "av"
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
    s, d, n = PC.scheme, PC.model.head_dim, PC.max_length
    ins, out = get_spec(KERNEL, PC).vectors(4)
    pv = s.prob.to_float(ins["p"][:n])
    vt = s.act.to_float(ins["vt"]).reshape(d, n)
    assert np.max(np.abs(s.act.to_float(out["out"]) - vt @ pv)) < 4 * s.act.lsb
