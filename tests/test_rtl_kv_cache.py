"""Hand-written RTL of kv_cache (hls/templates/rtl/kv_cache.v.j2): AXI4 masters against cocotbext-axi AxiRam.

The golden model (pyflow/specs/kv_cache.py, numpy) gives the expected k / vt streams and the final memory
contents; the generic cocotb stream test checks them bit for bit on Verilator and Icarus, with and
without random stream stalls.  The no-stall cycles must equal golden.cycles.kv_cache_axi (the RTL's burst
schedule with AxiRam's fixed handshake latencies); the spec's own model (golden.cycles.kv_transfer, one
stream, no store phase) is only reported by the sim flow.
"""

from __future__ import annotations

import pytest

from golden.cycles import kv_cache_axi
from pyflow.project_config import load_project_config
from pyflow.rtl import build_kernel, has_rtl, has_template
from pyflow.rtl_sim import make_job, run_kernel
from pyflow.specs import get_spec
from testbench.runner import simulate

PC = load_project_config(None)
GROUP = pytest.mark.xdist_group("rtl_kv_cache")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def test_kv_cache_is_an_rtl_kernel():
    from pyflow.sim_flow import rtl_kernels

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
