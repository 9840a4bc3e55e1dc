"""kv_cache: its golden model, its C-sim, and its Verilog (kv_cache.v.j2: AXI4 masters) against cocotbext-axi AxiRam.

The golden model (hls/kernels/kv_cache/spec.py, numpy) gives the expected k / vt streams and the final memory
contents; the generic cocotb stream test checks them bit for bit on Verilator and Icarus, with and
without random stream stalls.  The no-stall cycles must equal golden.cycles.kv_cache_axi (the RTL's burst
schedule with AxiRam's fixed handshake latencies).
"""

from __future__ import annotations

import numpy as np
import pytest

from golden.cycles import kv_cache_axi
from pyflow.backends.xls.build import build_kernel, has_rtl, has_template
from pyflow.project.config import load_project_config
from pyflow.sim.kernel import make_job, run_kernel
from pyflow.specs import get_spec
from testbench.checks import check_csim
from testbench.runner import simulate

PC = load_project_config(None)
GROUP = pytest.mark.xdist_group("kernel_kv_cache")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def test_golden_moves_data() -> None:
    spec = get_spec("kv_cache", PC, small=True)
    ins, out = spec.vectors(0)
    n, d = spec.params["N"], spec.params["D"]
    kmem = out["kmem"].reshape(n, d)
    assert np.array_equal(kmem[n - 1], ins["k_new"])
    assert np.array_equal(kmem[: n - 1], ins["kmem"].reshape(n, d)[: n - 1])
    assert np.array_equal(out["vt"].reshape(d, n)[:, n - 1], ins["v_new"])


@GROUP
def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim("kv_cache", tmp_path_factory.mktemp("csim_kv_cache"))


def test_kv_cache_is_an_rtl_kernel():
    from pyflow.sim.flow import rtl_kernels

    spec = get_spec("kv_cache", PC, small=True)
    assert has_template("kv_cache") and has_rtl(spec)
    assert "kv_cache" in [s.name for s in rtl_kernels(PC)]
    assert not has_rtl(get_spec("attention_decode", PC, small=True))


@pytest.mark.rtl
@GROUP
@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_kv_cache_rtl(sim, tmp_path_factory):
    spec = get_spec("kv_cache", PC, small=True)
    r = run_kernel(spec, sim, stalls=True, build_root=tmp_path_factory.getbasetemp() / "rtl_kv_cache")
    assert r["errors"] == []
    assert r["outputs_match"] and r["stalls_ok"]
    n, d, p, burst = spec.params["N"], spec.params["D"], spec.params["P"], spec.consts["BURST"]
    gap = spec.params["MEM_READ_GAP"]
    model = kv_cache_axi(n, d, p, burst, gap, spec.params["MEM_WRITE_GAP"])
    assert r["cycles_measured"] == r["cycles_predicted"] == [model.first, model.last]
    # Sanity of the model itself (counted independently): both streams leave one after the other, one beat
    # per cycle, and every burst after the first adds exactly the read latency.
    k_beats, vt_beats = n * d // p, d * n // p
    bursts = _ceil(k_beats, burst) + d * _ceil(n // p, burst)
    assert model.last - model.first + 1 == k_beats + vt_beats + (bursts - 1) * gap


@pytest.mark.rtl
@GROUP
def test_kv_cache_memory_check_can_fail(tmp_path):
    """A wrong expected memory word must be reported (the final-memory check is live)."""
    spec = get_spec("kv_cache", PC, small=True)
    rtl = build_kernel(spec, build_root=tmp_path)
    job = make_job(spec, rtl.latency)
    vt = next(m for m in job["axi_mems"] if m["name"] == "vtmem")
    vt["expected"][5] ^= 1
    res = simulate("icarus", rtl.sources, rtl.top, job, tmp_path / "sim", build_root=tmp_path)
    errs = res["nostall"]["errors"]
    assert any(e.startswith("vtmem: 1 memory words differ, first at word 5") for e in errs), errs
