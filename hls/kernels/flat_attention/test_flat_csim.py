"""C simulation of the flat_attention Vitis kernel: bit-exact against golden/flat_fixed at three configs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hls.kernels.flat_attention.shapes import SHAPES
from pyflow.backends.vitis.csim import compile_kernel, run_csim
from pyflow.specs import get_spec

pytestmark = pytest.mark.xdist_group("flat_hw_csim")


@pytest.mark.parametrize("shape", list(SHAPES))
def test_flat_attention_csim_bit_exact(shape: str, tmp_path: Path) -> None:
    pc = SHAPES[shape]()
    rep = run_csim(pc, names=["flat_attention"], out_root=tmp_path, report_path=None, progress=False)
    entry = rep["kernels"]["flat_attention"]
    assert entry["status"] == "pass", entry["messages"]
    if shape == "variant":
        spec = get_spec("flat_attention", pc)
        assert spec.params == {"R": 4, "N": 8, "D": 16, "P": 2, "L": 8}
        # the testbench really compares: one LSB off in the expected output is reported
        exe = compile_kernel(spec, tmp_path).exe  # cached
        vec = tmp_path / "bad_vectors"
        shutil.copytree(tmp_path / "flat_attention" / "vectors", vec)
        exp = (vec / "out.exp.txt").read_text().split()
        exp[7] = str(int(exp[7]) + 1)
        (vec / "out.exp.txt").write_text("\n".join(exp) + "\n")
        res = subprocess.run([str(exe), str(vec)], capture_output=True, text=True, check=False)
        assert res.returncode == 1 and "first at index 7" in res.stdout
