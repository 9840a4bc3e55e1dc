"""C simulation of the decode_step DATAFLOW top at small dimensions.

Besides its own random vectors (checked by the testbench against the spec's golden at several positions),
the top runs on the decode step of :func:`pyflow.sim.chain.golden_decode` at pos 0, a middle position and
the last one: HF-initialised weights and a KV cache filled by the pos earlier fixed-point decode steps; its
output and updated cache must equal that golden trace bit for bit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from hls.kernels.kv_cache.spec import vt_memory
from pyflow.backends.vitis.csim import compile_kernel, run_csim
from pyflow.backends.vitis.render import vectors_text
from pyflow.project.config import load_project_config, small_config
from pyflow.sim.chain import golden_decode
from pyflow.specs import get_spec

pytestmark = pytest.mark.xdist_group("csim")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    out = tmp_path_factory.mktemp("csim_decode_step")
    report = run_csim(load_project_config(), names=["decode_step"], small=True, out_root=out, report_path=None,
                      progress=False)
    pc = small_config(load_project_config())
    exe = compile_kernel(get_spec("decode_step", pc), out).exe  # cached
    return report, out, exe


def _vt_image(v: np.ndarray, lanes: int) -> np.ndarray:
    """The vtmem image of values v (n_kv, capacity, d): each KV head's V^T rows in kv_cache's padded layout."""
    return np.concatenate([vt_memory(head.T, lanes) for head in v])


def _chain_vectors(folder: Path, pos: int | None = None) -> dict[str, np.ndarray]:
    """Write the chain's decode step at ``pos`` (default: the last) as decode_step vectors; return the inputs."""
    pc = small_config(load_project_config())
    x, layer, cache, tr, pos = golden_decode(pc, seed=3, pos=pos)
    nk, d, lanes = pc.model.num_key_value_heads, pc.model.head_dim, pc.lanes["kv_cache"]
    k_after, v_after = cache.k.copy(), cache.v.copy()
    k_after[:, pos] = tr["rope_k"].reshape(nk, d)
    v_after[:, pos] = tr["v_proj"].reshape(nk, d)
    ins = {"x": x, "gamma": layer.gamma, "wq": layer.wq, "wk": layer.wk, "wv": layer.wv, "wo": layer.wo,
           "pos": np.array([pos]), "kmem": cache.k, "vtmem": _vt_image(cache.v, lanes)}
    exp = {"out": tr["o_proj"], "kmem": k_after, "vtmem": _vt_image(v_after, lanes)}
    folder.mkdir(parents=True)
    for name, arr in ins.items():
        (folder / f"{name}.in.txt").write_text(vectors_text(arr))
    for name, arr in exp.items():
        (folder / f"{name}.exp.txt").write_text(vectors_text(arr))
    return ins


def test_decode_step_random_vectors(built: tuple[dict, Path, Path]) -> None:
    entry = built[0]["kernels"]["decode_step"]
    assert entry["status"] == "pass", entry["messages"]


@pytest.mark.parametrize("pos", [0, 6, None])
def test_decode_step_matches_chain_golden(built: tuple[dict, Path, Path], tmp_path: Path, pos: int | None) -> None:
    vec = tmp_path / "vectors"
    _chain_vectors(vec, pos)
    res = subprocess.run([str(built[2]), str(vec)], capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 0 and "RESULT decode_step PASS" in res.stdout, res.stdout[-2000:]


def test_decode_step_reads_the_earlier_tokens(built: tuple[dict, Path, Path], tmp_path: Path) -> None:
    """A changed key of an earlier token in KV head 1 must change the output (no stale or skipped cache)."""
    vec = tmp_path / "vectors"
    ins = _chain_vectors(vec)
    pc = small_config(load_project_config())
    k = ins["kmem"].copy()
    k[1, 2] = -k[1, 2] + 1000
    (vec / "kmem.in.txt").write_text(vectors_text(k))
    res = subprocess.run([str(built[2]), str(vec)], capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 1 and "MISMATCH out" in res.stdout, res.stdout[-2000:]
    assert pc.model.num_key_value_heads > 1
