"""flat_attention at the small test dimensions: C-sim bit-exact, RTL bit- and cycle-exact on Verilator and Icarus
(other shapes, rounding modes and the golden's tiling: the test_flat_*.py files beside this one)."""

from __future__ import annotations

import pytest

from testbench.checks import SIMULATORS, check_csim, check_rtl

KERNEL = "flat_attention"
pytestmark = pytest.mark.xdist_group(f"kernel_{KERNEL}")


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim(KERNEL, tmp_path_factory.mktemp(f"csim_{KERNEL}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    check_rtl(KERNEL, simulator, tmp_path_factory.getbasetemp() / "rtl_kernels")
