"""The generated C testbench catches what it must: a one-LSB mismatch and a wrong vector length.

(Each kernel's own C-sim runs in its folder's tests, hls/kernels/<name>/test_<name>.py.)
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pyflow.backends.vitis.csim import compile_kernel, run_csim
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec

pytestmark = pytest.mark.xdist_group("csim")


@pytest.fixture(scope="session")
def csim_small(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("csim_small")
    report = run_csim(load_project_config(), names=["softmax_norm", "qk"], small=True, out_root=out,
                      report_path=None, progress=False)
    return report, out


def test_testbench_reports_first_mismatch(csim_small: tuple[dict, Path], tmp_path: Path) -> None:
    _, out = csim_small
    pc = small_config(load_project_config())
    spec = get_spec("softmax_norm", pc)
    exe = compile_kernel(spec, out).exe  # cached
    vec = tmp_path / "vectors"
    shutil.copytree(out / "softmax_norm" / "vectors", vec)
    exp = (vec / "prob.exp.txt").read_text().split()
    exp[5] = str(int(exp[5]) + 1)  # one LSB off
    (vec / "prob.exp.txt").write_text("\n".join(exp) + "\n")
    res = subprocess.run([str(exe), str(vec)], capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert f"first at index 5: expected {exp[5]}, got {int(exp[5]) - 1}" in res.stdout
    assert "RESULT softmax_norm FAIL" in res.stdout


def test_testbench_rejects_wrong_vector_length(csim_small: tuple[dict, Path], tmp_path: Path) -> None:
    _, out = csim_small
    spec = get_spec("qk", small_config(load_project_config()))
    exe = compile_kernel(spec, out).exe
    vec = tmp_path / "vectors"
    shutil.copytree(out / "qk" / "vectors", vec)
    (vec / "q.in.txt").write_text("1\n2\n")
    res = subprocess.run([str(exe), str(vec)], capture_output=True, text=True, check=False)
    assert res.returncode == 2 and "holds 2 values" in res.stdout
