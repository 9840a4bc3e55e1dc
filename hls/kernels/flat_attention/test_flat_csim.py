"""C simulation of the flat_attention Vitis kernel: bit-exact against golden/flat_fixed at every config of
shapes.py, at the config's decode positions (n keys, l = n query rows) and at pairs of n and l."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hls.kernels.flat_attention.shapes import SHAPES, vectors_at
from pyflow.backends.vitis.csim import compile_kernel, run_csim
from pyflow.backends.vitis.render import vectors_text
from pyflow.specs import get_spec

#: (n, l) pairs per shape: n not a multiple of P, l not a multiple of R, one key, one row, the capacities.
LENGTHS = {"small": ((1, 16), (16, 1), (5, 7), (7, 13)), "variant": ((3, 8), (8, 5)), "wide": ((13, 6), (20, 20)),
           "odd": ((7, 5), (1, 10)), "modes": ((9, 6),)}

pytestmark = pytest.mark.xdist_group("flat_hw_csim")


@pytest.mark.parametrize("shape", list(SHAPES))
def test_flat_attention_csim_bit_exact(shape: str, tmp_path: Path) -> None:
    pc = SHAPES[shape]()
    rep = run_csim(pc, names=["flat_attention"], out_root=tmp_path, report_path=None, progress=False)
    entry = rep["kernels"]["flat_attention"]
    assert entry["status"] == "pass", entry["messages"]
    spec = get_spec("flat_attention", pc)
    exe = compile_kernel(spec, tmp_path).exe  # cached
    fill = np.random.default_rng(5)  # garbage in the padding lanes of V^T
    for n, l_rows in LENGTHS[shape]:
        ins, exp = vectors_at(spec, n, l_rows)
        ports = {p.name: p for p in spec.ports_at(spec.length(ins))}
        vec = tmp_path / f"vectors_n{n}_l{l_rows}"
        vec.mkdir()
        for p in spec.inputs:
            (vec / f"{p.name}.in.txt").write_text(vectors_text(ports[p.name].padded(ins[p.name], fill)))
        (vec / "out.exp.txt").write_text(vectors_text(ports["out"].padded(exp["out"])))
        res = subprocess.run([str(exe), str(vec)], capture_output=True, text=True, check=False)
        assert res.returncode == 0 and "RESULT flat_attention PASS" in res.stdout, (n, l_rows, res.stdout[-400:])
    if shape == "variant":
        assert spec.params == {"R": 4, "N": 8, "D": 16, "P": 2, "L": 8}
        # the testbench really compares: one LSB off in the expected output is reported
        vec = tmp_path / "bad_vectors"
        shutil.copytree(tmp_path / "flat_attention" / "vectors", vec)
        exp = (vec / "out.exp.txt").read_text().split()
        exp[7] = str(int(exp[7]) + 1)
        (vec / "out.exp.txt").write_text("\n".join(exp) + "\n")
        res = subprocess.run([str(exe), str(vec)], capture_output=True, text=True, check=False)
        assert res.returncode == 1 and "first at index 7" in res.stdout
