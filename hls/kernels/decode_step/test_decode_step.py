"""C simulation of decode_step (the decode accelerator's Vitis C++ twin) at small dimensions.

The generic C-sim testbench runs it on the spec's own random vectors (all four memory areas, pos, the status
register) at several positions and must report a wrong expected word; :class:`DecodeCsim` runs it on the decode
step of :func:`pyflow.sim.chain.golden_decode` (HF-initialised weights, a cache filled by the pos earlier
fixed-point steps) at pos 0, a middle position and the last one.  Consecutive tokens, two port widths and the
refusal are tests/test_decode_csim.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from hls.accel.spec import build as build_accel
from pyflow.backends.vitis.csim import compile_kernel, run_csim
from pyflow.backends.vitis.decode_csim import DecodeCsim
from pyflow.project.config import load_project_config, small_config
from pyflow.sim.chain import golden_decode
from pyflow.specs import get_spec

pytestmark = pytest.mark.xdist_group("csim")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    out = tmp_path_factory.mktemp("csim_decode_step")
    report = run_csim(load_project_config(), names=["decode_step"], small=True, out_root=out, report_path=None,
                      progress=False)
    exe = compile_kernel(get_spec("decode_step", small_config(load_project_config())), out).exe  # cached
    return report, out, exe


def test_decode_step_random_vectors(built: tuple[dict, Path, Path]) -> None:
    entry = built[0]["kernels"]["decode_step"]
    assert entry["status"] == "pass", entry["messages"]
    assert len(entry["positions"]) == len(small_config(load_project_config()).positions)


@pytest.mark.parametrize("port", ["kv_base", "status"])
def test_testbench_reports_a_wrong_word(built: tuple[dict, Path, Path], tmp_path: Path, port: str) -> None:
    """One expected value changed (a KV element, the status register): the testbench names that port."""
    src = built[1] / "decode_step" / "vectors"
    vec = tmp_path / "vectors"
    vec.mkdir()
    for f in src.iterdir():
        (vec / f.name).write_bytes(f.read_bytes())
    exp = np.loadtxt(vec / f"{port}.exp.txt", dtype=np.int64).reshape(-1)
    exp[len(exp) // 2] += 1
    (vec / f"{port}.exp.txt").write_text("\n".join(map(str, exp.tolist())) + "\n")
    res = subprocess.run([str(built[2]), str(vec)], capture_output=True, text=True, check=False, timeout=300)
    assert res.returncode == 1 and f"MISMATCH {port}" in res.stdout, res.stdout[-2000:]


@pytest.mark.parametrize("pos", [0, 6, None])
def test_decode_step_matches_chain_golden(tmp_path_factory: pytest.TempPathFactory, pos: int | None) -> None:
    pc = small_config(load_project_config())
    a = build_accel(pc)
    sim = DecodeCsim(a, tmp_path_factory.getbasetemp() / "decode_step_chain")  # compiled once (cached)
    x, layer, cache, tr, pos = golden_decode(pc, seed=3, pos=pos)
    wb = a.word_bytes

    def area(name: str, img: dict[int, int]) -> bytearray:
        out = bytearray(a.area_words(name) * wb)
        for w, v in img.items():
            out[w * wb:(w + 1) * wb] = int(v).to_bytes(wb, "little")
        return out

    areas = {"w_base": area("w_base", a.weights_image(layer)), "kv_base": area("kv_base", a.kv_image(cache)),
             "x_base": area("x_base", {a.region("x").word + i: w for i, w in enumerate(a.pack(x))}),
             "y_base": area("y_base", {})}
    assert sim.run(pos, areas) == 0
    y_words = [int.from_bytes(areas["y_base"][(a.region("y").word + i) * wb:][:wb], "little")
               for i in range(a.region("y").words)]
    np.testing.assert_array_equal(a.unpack(y_words, a.model.hidden_size), tr["o_proj"])
    nk, d = a.model.num_key_value_heads, a.model.head_dim
    cache.k[:, pos], cache.v[:, pos] = tr["rope_k"].reshape(nk, d), tr["v_proj"].reshape(nk, d)
    assert areas["kv_base"] == area("kv_base", a.kv_image(cache))
