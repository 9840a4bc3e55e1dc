"""Configs other than the default, end to end: C-sim of every kernel and one decode step kernel by kernel in
RTL, at decode positions that are not multiples of the lanes.

* ``odd_context``: capacity N = 20 (not a power of two), softmax / av lanes 8 (they do not divide N);
* ``gqa8``: GQA group 8 (8 query heads share one KV head);
* ``narrow``: 12-bit activations, 8-bit weights and other lane counts (kv_cache: 8 lanes of 12 bits = a
  96-bit word, padded to a 128-bit AXI bus word).

Each is small enough for the test suite; every stage is compared with the golden fixed-point decode step.
"""

from __future__ import annotations

import tomllib

import pytest

from pyflow.backends.vitis.csim import run_csim
from pyflow.project.config import DEFAULT_CONFIG, ProjectConfig, from_dict, merge_tables
from pyflow.sim.chain import run_chain

SMALL_MODEL = {"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16}
CONFIGS: dict[str, dict] = {
    "odd_context": {
        "model": SMALL_MODEL,
        "context": {"max_length": 20},
        "lanes": {"rmsnorm": 4, "gemv": 4, "rope": 2, "qk": 4, "softmax": 8, "av": 8, "kv_cache": 4},
    },
    "gqa8": {
        "model": {"hidden_size": 128, "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 16},
        "context": {"max_length": 12},
        "lanes": {"rmsnorm": 4, "gemv": 4, "rope": 2, "qk": 4, "softmax": 4, "av": 4, "kv_cache": 4},
    },
    "narrow": {
        "model": SMALL_MODEL,
        "context": {"max_length": 16},
        "lanes": {"rmsnorm": 2, "gemv": 8, "rope": 4, "qk": 2, "softmax": 3, "av": 5, "kv_cache": 8},
        "formats": {"act": {"width": 12, "frac": 6}, "weight": {"width": 8, "frac": 7}},
    },
}
#: Positions per config: the first, one that no lane count divides + 1, the last.
POSITIONS = {"odd_context": (0, 10, 19), "gqa8": (2, 11), "narrow": (6, 15)}


def config(name: str) -> ProjectConfig:
    """The named test config (the default file overlaid with :data:`CONFIGS`)."""
    raw = tomllib.loads(DEFAULT_CONFIG.read_text())
    merge_tables(raw, CONFIGS[name])
    return from_dict(raw, source=f"tests/test_configs_rtl.py:{name}")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_csim_every_kernel(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    pc = config(name)
    rep = run_csim(pc, out_root=tmp_path_factory.mktemp(f"csim_{name}"), report_path=None, progress=False,
                   positions=POSITIONS[name])
    bad = {k: v["messages"][:2] for k, v in rep["kernels"].items() if v["status"] != "pass"}
    assert not bad, bad
    # decode_step (the accelerator's twin) exists where the accelerator does: not for formats of unequal widths
    s = pc.scheme
    twin = len({s.act.width, s.weight.width, s.norm_weight.width}) == 1
    assert ("decode_step" in rep["kernels"]) == twin and ("decode_step" in rep["skipped"]) != twin, rep["skipped"]


@pytest.mark.rtl
@pytest.mark.parametrize("name", list(CONFIGS))
def test_chain_in_rtl(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from pyflow.sim.flow import rtl_executor

    pc = config(name)
    root = tmp_path_factory.getbasetemp() / f"rtl_{name}"
    for pos in POSITIONS[name]:
        rep = run_chain(pc, rtl_executor(pc.clock_mhz, "verilator", build_root=root), seed=5, pos=pos)
        assert rep["outputs_match"], (pos, [s for s in rep["stages"] if not s["outputs_match"]])
