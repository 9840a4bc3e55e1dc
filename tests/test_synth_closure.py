"""Timing closure: a kernel that misses the clock is re-pipelined with faster XLS targets (tools faked)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from pyflow.errors import FlowError
from pyflow.synth import kernels as ks
from pyflow.synth.devices import synth_target
from pyflow.synth.run import SynthJob

#: A DSLX (XLS) kernel.
K = SimpleNamespace(name="k", langs=("dslx",))


def _fake(monkeypatch, xls_limit: float, fmax_per_xls_mhz: float) -> list[float]:
    """XLS schedules up to ``xls_limit`` MHz; the placed Fmax is ``fmax_per_xls_mhz`` * XLS target."""
    synthesised: list[float] = []

    def kernel_job(spec, mhz, root):
        if mhz > xls_limit:
            raise FlowError("xls: cannot achieve the specified clock period")
        return SynthJob(spec.name, (), "top", 100, extra={"stages": int(mhz // 100), "latency": 0})

    def synth_one(job, target, freq, root, harness, seed, force):
        mhz = float(Path(root).name[3:])
        synthesised.append(mhz)
        f = round(fmax_per_xls_mhz * mhz, 2)
        return {"name": job.name, "status": "ok", "fmax_mhz": f, "meets_timing": f >= freq}

    monkeypatch.setattr(ks, "kernel_job", kernel_job)
    monkeypatch.setattr(ks, "synth_one", synth_one)
    monkeypatch.setattr(ks, "tool_versions", lambda target: {})
    return synthesised


def test_closure_raises_the_xls_target_until_timing_is_met(monkeypatch, tmp_path):
    runs = _fake(monkeypatch, xls_limit=10_000, fmax_per_xls_mhz=0.3)
    [r] = ks.synth_kernels([K], synth_target("ecp5-85k"), 150.0, 200.0, tmp_path,
                           closure=2, workers=1)
    # 200 MHz -> 60 MHz placed; next XLS target 200 * 1.15 * 150 / 60 = 575 -> 172.5 MHz: met
    assert runs == [200.0, 575.0]
    assert r["fmax_mhz"] == 172.5 and r["meets_timing"]
    assert [h["xls_mhz"] for h in r["closure"]] == [200.0, 575.0]


def test_closure_bisects_below_what_xls_can_schedule(monkeypatch, tmp_path):
    runs = _fake(monkeypatch, xls_limit=400, fmax_per_xls_mhz=0.3)
    [r] = ks.synth_kernels([K], synth_target("ecp5-85k"), 150.0, 200.0, tmp_path,
                           closure=2, workers=1)
    # 200 ok (60) -> 575 refused -> 388 ok (116.4) -> 482, 435, 412 refused -> 400 is < 5 % above 388: stop
    assert [h["xls_mhz"] for h in r["closure"]] == [200.0, 575.0, 388.0, 482.0, 435.0, 412.0]
    assert runs == [200.0, 388.0]
    assert r["fmax_mhz"] == 116.4 and not r["meets_timing"]
    assert "error" in r["closure"][1] and "stages" in r["closure"][2]


def test_no_closure_on_estimate_boards_or_when_off(monkeypatch, tmp_path):
    runs = _fake(monkeypatch, xls_limit=10_000, fmax_per_xls_mhz=0.3)
    ks.synth_kernels([K], synth_target("ecp5-85k"), 150.0, 200.0, tmp_path, closure=0,
                     workers=1)
    assert runs == [200.0]


def test_rtl_failure_is_a_failed_row(monkeypatch, tmp_path):
    _fake(monkeypatch, xls_limit=100, fmax_per_xls_mhz=0.3)
    [r] = ks.synth_kernels([K], synth_target("ecp5-85k"), 150.0, 200.0, tmp_path,
                           closure=2, workers=1)
    assert r["status"] == "failed" and r["error"].startswith("rtl: xls: cannot achieve")


def test_no_closure_for_hand_written_verilog(monkeypatch, tmp_path):
    runs = _fake(monkeypatch, xls_limit=10_000, fmax_per_xls_mhz=0.3)
    [r] = ks.synth_kernels([SimpleNamespace(name="k", langs=("rtl",))], synth_target("ecp5-85k"), 150.0, 200.0,
                           tmp_path, closure=2, workers=1)
    assert runs == [200.0] and not r["meets_timing"]
