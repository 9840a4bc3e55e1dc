"""flat_attention at the small test dimensions: C-sim bit-exact, RTL bit- and cycle-exact on Verilator and Icarus,
at the decode positions (n keys, l = n query rows) and at pairs of n and l that vary independently (other
shapes, rounding modes and the golden's tiling: the test_flat_*.py files beside this one)."""

from __future__ import annotations

import pytest

from hls.kernels.flat_attention.shapes import SMALL_LENGTHS, run_lengths
from testbench.checks import SIMULATORS, check_csim, check_rtl, small_spec

KERNEL = "flat_attention"
pytestmark = pytest.mark.xdist_group(f"kernel_{KERNEL}")


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim(KERNEL, tmp_path_factory.mktemp(f"csim_{KERNEL}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.getbasetemp() / "rtl_kernels"
    check_rtl(KERNEL, simulator, root)
    # the same RTL and simulator build at (n, l) pairs, the padding lanes of V^T full of garbage
    run_lengths(small_spec(KERNEL), simulator, SMALL_LENGTHS, root, sim_dir=root / "sim" / KERNEL / simulator)
