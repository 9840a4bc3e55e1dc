"""softmax_norm at the small test dimensions: golden probabilities vs float64 softmax, C-sim bit-exact,
RTL bit- and cycle-exact on Verilator and Icarus."""

from __future__ import annotations

import numpy as np
import pytest

from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec
from testbench.checks import SIMULATORS, check_csim, check_rtl

KERNEL = "softmax_norm"
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
    s = PC.scheme
    ins, out = get_spec("softmax_exp", PC).vectors(2)
    x = s.logit.to_float(ins["logit"])
    ref = np.exp(x - x.max())
    probs = get_spec(KERNEL, PC).expected({"sum": out["sum"], "exp": out["exp"]})["prob"]
    assert np.max(np.abs(s.prob.to_float(probs) - ref / ref.sum())) < 2e-3
