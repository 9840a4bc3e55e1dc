"""The decode accelerator (hls/accel/) at small dimensions: consecutive tokens in one simulation, every token's
output and the whole KV cache in memory bit-exact against golden.llama_fixed.decode_step, every token's cycles
equal to the whole-step model (pyflow/accel/cycles.py), on Verilator and Icarus, with cocotbext-axi's AxiRam
(also under random back-pressure on every AXI channel) and with the Verilog memory model.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from golden.fixed import Fmt
from hls.accel.spec import build
from pyflow.errors import FlowError
from pyflow.project.config import load_project_config, small_config

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("accel")]


def small(data_bits: int = 128):  # noqa: ANN201 (AccelSpec)
    pc = small_config(load_project_config())
    return build(dataclasses.replace(pc, memory={**pc.memory, "data_bits": data_bits}))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return tmp_path_factory.getbasetemp() / "accel"


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_tokens_bit_and_cycle_exact(simulator: str, root) -> None:  # noqa: ANN001
    """Positions 6..9 cross a word of keys (8 elements a word): n = 7 .. 10, part-filled last beats."""
    from pyflow.accel.sim import run_tokens

    r = run_tokens(small(), range(6, 10), simulator, memory="axiram", build_root=root)
    assert r["ok"], r["errors"]
    assert [t["pos"] for t in r["tokens"]] == [6, 7, 8, 9]
    assert all(t["cycles"] == t["predicted"] for t in r["tokens"])
    assert r["tokens"][1]["cycles"] > r["tokens"][0]["cycles"]  # one more key costs cycles


def test_verilog_memory_and_256_bit_port(root) -> None:  # noqa: ANN001
    from pyflow.accel.sim import run_tokens

    for bits in (128, 256):
        r = run_tokens(small(bits), range(0, 3), "verilator", memory="verilog", build_root=root)
        assert r["ok"], (bits, r["errors"])
        assert all(t["cycles"] == t["predicted"] for t in r["tokens"]), bits


def test_back_pressure_keeps_outputs_exact(root) -> None:  # noqa: ANN001
    """Random pauses (30%) on AR, R, AW, W and B: the outputs and the cache stay exact (cycles grow)."""
    from pyflow.accel.sim import run_tokens

    r = run_tokens(small(), range(14, 16), "verilator", memory="axiram", stall=0.3, build_root=root)
    assert r["ok"], r["errors"]
    assert all(t["cycles"] > t["predicted"] for t in r["tokens"])


def test_checks_can_fail_and_pos_beyond_capacity_is_refused(root, tmp_path) -> None:  # noqa: ANN001
    """A wrong expected KV word is reported; pos = capacity sets the status error and writes nothing."""
    from golden.weights import random_weights
    from pyflow.accel.build import build_accel
    from pyflow.accel.sim import golden_tokens, make_job
    from testbench.runner import simulate

    a = small()
    b = build_accel(a, root)
    xs = np.random.default_rng(1).normal(0, 1, (2, a.model.hidden_size))
    layer, cache, tokens = golden_tokens(a, random_weights(a.model, 0), xs, 1)
    job = make_job(a, layer, cache, tokens, tmp_path / "j1")
    word = sorted(job["tokens"][0]["kv"], key=int)[5]
    job["tokens"][0]["kv"][word] ^= 1
    res = simulate("verilator", b.sources, b.top, job, tmp_path / "s1", tests=("tokens",), build_root=root,
                   test_module="testbench.accel_test")["tokens"]
    assert any("kv cache: 1 of" in e for e in res["errors"]), res["errors"]
    # pos = capacity: refused, nothing written (y stays 0, the cache stays as it was)
    bad = dict(tokens[0], pos=a.capacity, y=np.zeros(a.model.hidden_size, np.int64), cache=cache)
    job = make_job(a, layer, cache, [bad], tmp_path / "j2")
    job["expect_error"] = True
    res = simulate("verilator", b.sources, b.top, job, tmp_path / "s2", tests=("tokens",), build_root=root,
                   test_module="testbench.accel_test")["tokens"]
    assert res["ok"], res["errors"]
    assert res["tokens"][0]["status"] & 1 and res["tokens"][0]["cycles"] == 1


def test_unsupported_shapes_are_one_clear_error() -> None:
    pc = small_config(load_project_config())
    with pytest.raises(FlowError, match="head_dim = 16 is not a multiple of the 32 elements"):
        build(dataclasses.replace(pc, memory={**pc.memory, "data_bits": 512}))
    narrow = dataclasses.replace(pc, scheme=dataclasses.replace(pc.scheme, weight=Fmt(8, 7)))
    with pytest.raises(FlowError, match="equally wide"):
        build(narrow)


def test_report_rows_and_roofline() -> None:
    from pyflow.accel.report import token_rows

    a = small()
    b = a.bytes_per_token(5)
    m, wb = a.model, a.word_bytes
    weights = (m.hidden_size + 2 * m.kv_dim * m.hidden_size + 2 * m.q_dim * m.hidden_size) * 2
    assert b["weights"] == weights and b["kv_read"] == 2 * m.num_key_value_heads * 5 * m.head_dim * 2
    assert a.roofline_cycles(5) == -(-b["total"] // wb)
    rows = token_rows(a, {"tokens": [{"pos": 4, "cycles": 2 * a.roofline_cycles(5), "predicted": 7, "errors": []}]})
    assert rows[0]["utilisation"] == 0.5 and rows[0]["cycles_error"] == 2 * a.roofline_cycles(5) - 7
    json.dumps(rows)
