"""RTL path infrastructure on a toy kernel: XLS compile + cache, wrapper, lint, cocotb on both simulators."""

from __future__ import annotations

import numpy as np
import pytest

from golden.fixed import Fmt
from pyflow.backends.xls.build import build_kernel, xls_options
from pyflow.errors import FlowError
from pyflow.sim.kernel import make_job, run_kernel
from pyflow.specs.base import KernelSpec, Port
from pyflow.tools.xls import XlsOptions, compile_dslx, parse_pipeline
from testbench.runner import simulate

LANES, BEATS, EVERY = 2, 12, 4
SCALE, OFFSET = 3, -5
FMT = Fmt(16, 8)


def _golden(ins: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    y = ins["x"].astype(np.int64) * SCALE + OFFSET  # independent of the DSLX: plain wrap to 16 bits
    return {"y": ((y + (1 << 15)) % (1 << 16)) - (1 << 15)}


def toy_spec() -> KernelSpec:
    """y = wrap16(3 x - 5) per lane, 2 lanes, 12 beats, TLAST every 4 beats."""
    return KernelSpec(
        name="toy_scale", params={"P": LANES},
        ports=(Port("x", "in", FMT, lanes=LANES, beats=BEATS, tlast_every=EVERY),
               Port("y", "out", FMT, lanes=LANES, beats=BEATS, tlast_every=EVERY)),
        golden=_golden,
        make_vectors=lambda seed: {"x": np.random.default_rng(seed).integers(-(1 << 15), 1 << 15, LANES * BEATS)},
        cycles=lambda depth: (depth, depth + BEATS - 1),
        consts={"scale": SCALE, "offset": OFFSET},
    )


DEEP = XlsOptions(delay_model="unit", clock_period_ps=2, reset="rst_n", reset_active_low=True)


def test_xls_compile_depth_and_cache(tmp_path):
    spec = toy_spec()
    shallow = build_kernel(spec, xls_options(200.0), tmp_path)
    deep = build_kernel(spec, DEEP, tmp_path / "deep")
    assert shallow.latency == shallow.stages - 1 + 3  # the wrapper: input buffer, two output registers
    assert deep.stages > shallow.stages
    again = build_kernel(spec, DEEP, tmp_path / "deep")
    assert again.cached and again.latency == deep.latency
    text = deep.sources[0].read_text()
    assert parse_pipeline(text) == (deep.stages, 0)  # no XLS I/O flops: the wrapper buffers both sides


def test_xls_error_is_one_line(tmp_path):
    with pytest.raises(FlowError, match=r"xls: broken: .*ParseError"):
        compile_dslx("broken", "proc p { garbage }", "broken", "broken", "broken_core", XlsOptions(), tmp_path)
    with pytest.raises(FlowError, match="clock period"):
        build_kernel(toy_spec(), XlsOptions(delay_model="asap7", clock_period_ps=5), tmp_path)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_toy_kernel_both_simulators(sim, tmp_path):
    r = run_kernel(toy_spec(), sim, stalls=True, build_root=tmp_path, options=DEEP)
    assert r["errors"] == []
    assert r["outputs_match"] and r["stalls_ok"]
    assert r["pipeline_depth"] > 2
    assert r["cycles_measured"] == [r["pipeline_depth"], r["pipeline_depth"] + BEATS - 1]


@pytest.mark.rtl
def test_testbench_catches_wrong_word_and_wrong_cycles(tmp_path):
    spec = toy_spec()
    b = build_kernel(spec, xls_options(200.0), tmp_path)
    job = make_job(spec, b.latency)
    job["outputs"][0]["expected"][5] ^= 1
    job["predicted"] = [b.latency + 1, b.latency + BEATS]
    res = simulate("icarus", b.sources, b.top, job, tmp_path / "sim", tests=("nostall",), build_root=tmp_path)
    errs = " ".join(res["nostall"]["errors"])
    assert not res["nostall"]["outputs_match"]
    assert "first at beat 5" in errs and "predicted" in errs


@pytest.mark.rtl
def test_waves_icarus(tmp_path):
    r = run_kernel(toy_spec(), "icarus", waves=True, build_root=tmp_path)
    assert r["outputs_match"]
    assert (tmp_path / "sim" / "toy_scale" / "icarus" / "dump.vcd").stat().st_size > 0


def test_rtl_stage_report(tmp_path):
    from pyflow.backends.xls.build import run_stage
    from pyflow.project.config import load_project_config
    from pyflow.specs import get_spec

    spec = get_spec("softmax_max", load_project_config(None), small=True)
    report = run_stage([spec], 200.0, tmp_path, progress=False)
    (row,) = report["kernels"]
    assert row["kernel"] == "softmax_max" and row["latency"] == row["stages"] - 1 + 3
    assert (tmp_path / "report" / "rtl_report.json").is_file()
    assert (tmp_path / "rtl" / "softmax_max" / "softmax_max.v").read_text().count("m_axis_max_tlast") >= 2


def test_cli_rtl_rejects_kernel_without_template(capsys):
    from pyflow.cli import main

    assert main(["rtl", "--small", "--kernel", "attention_decode"]) == 1
    assert "no DSLX or Verilog template for attention_decode" in capsys.readouterr().err


@pytest.mark.rtl
def test_output_fifo_overflow_is_caught(tmp_path, monkeypatch):
    """A wrapper whose admission margin ignores the pipeline must overflow under the sink's long stalls,
    and the simulation-only check must say so: the margin of OutputFifo.for_core is what prevents it."""
    import pyflow.backends.xls.wrapper as rtl_mod

    monkeypatch.setattr(rtl_mod.OutputFifo, "for_core", classmethod(lambda cls, stages, n: cls(depth=4, margin=0)))
    r = run_kernel(toy_spec(), "icarus", stalls=True, build_root=tmp_path, options=DEEP)
    assert not r["stalls_ok"]
    assert any("output FIFO of m_axis_y overflowed" in e for e in r["errors"]), r["errors"]
