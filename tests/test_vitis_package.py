"""Alveo / Zynq packaging without the tools: the Vitis HLS Tcl per board, the v++ link configuration (every m_axi
bundle of the rendered kernels on an existing bank of the board), the commands synth-vitis prints and its error
when the tools are absent, the run with (fake) tools present, the s_axilite register map against the RTL
accelerator's, and the host program's command line."""

from __future__ import annotations

import dataclasses
import json
import re
import stat
import sys
from pathlib import Path

import pytest

from golden.fixed import Fmt
from hls.accel.spec import REGISTERS
from pyflow.backends.vitis import link, rules
from pyflow.backends.vitis.regmap import RegArg, s_axilite_map, spec_args
from pyflow.backends.vitis.render import render_vitis
from pyflow.cli import main
from pyflow.errors import FlowError
from pyflow.project.boards import BOARDS, Bank, Board
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec
from pyflow.specs.base import KernelSpec, Port

VITIS_BOARDS = [b for b in BOARDS.values() if b.flow == "vitis"]
ALVEO = [b for b in VITIS_BOARDS if b.is_alveo]
#: Kernels with m_axi ports.
MEMORY_KERNELS = ("kv_cache", "attention_decode", "decode_step")


def _pc(board: Board, small: bool = True):  # noqa: ANN202
    pc = dataclasses.replace(load_project_config(), board=board)
    return small_config(pc) if small else pc


def _render(tmp_path: Path, board: Board, kernel: str, small: bool = True, cosim: bool = False) -> tuple:
    pc = _pc(board, small)
    spec = get_spec(kernel, pc)
    for dep in spec.params.get("includes", ()):
        render_vitis(get_spec(dep, pc), pc, tmp_path, with_vectors=False)
    render_vitis(spec, pc, tmp_path, with_vectors=False, cosim=cosim)
    return spec, tmp_path / kernel


# --- the Vitis HLS project per board ------------------------------------------------------------------------

@pytest.mark.parametrize("board", VITIS_BOARDS, ids=lambda b: b.name)
def test_tcl_per_board(tmp_path: Path, board: Board) -> None:
    _, d = _render(tmp_path, board, "qk")
    tcl = (d / "run_hls.tcl").read_text()
    alveo = board.name in ("u250", "u280")
    assert f"open_solution -reset sol1 -flow_target {'vitis' if alveo else 'vivado'}\n" in tcl
    assert f"set_part {board.part}\n" in tcl
    export = [ln for ln in tcl.splitlines() if ln.startswith("export_design")]
    assert export == (["export_design -format xo -output qk.xo"] if alveo else ["export_design -format ip_catalog"])
    assert re.search(r"^config_interface .*-m_axi_addr64=true.*-m_axi_offset slave", tcl, re.M)
    assert "csim_design" in tcl and "csynth_design" in tcl
    assert not re.search(r"^cosim_design", tcl, re.M), "cosim is opt-in"


def test_tcl_cosim_opt_in(tmp_path: Path) -> None:
    _, d = _render(tmp_path, BOARDS["u280"], "qk", cosim=True)
    assert re.search(r'^cosim_design -argv "vectors"$', (d / "run_hls.tcl").read_text(), re.M)


# --- v++ link configuration -----------------------------------------------------------------------------------

def _sp_lines(cfg: str, kernel: str) -> dict[str, str]:
    out = {}
    for m in re.finditer(rf"^sp={kernel}_1\.m_axi_(\w+):(\S+)$", cfg, re.M):
        assert m.group(1) not in out, f"bundle {m.group(1)} mapped twice"
        out[m.group(1)] = m.group(2)
    return out


@pytest.mark.parametrize("small", [True, False], ids=["small", "default"])
@pytest.mark.parametrize("kernel", MEMORY_KERNELS)
@pytest.mark.parametrize("board", ALVEO, ids=lambda b: b.name)
def test_link_config_maps_every_bundle(tmp_path: Path, board: Board, kernel: str, small: bool) -> None:
    spec, d = _render(tmp_path, board, kernel, small)
    code = (d / f"{kernel}.cpp").read_text()
    cfg = link.link_config(spec, board, link.m_axi_bundles(code, spec))
    assert "[connectivity]\n" in cfg and f"\nnk={kernel}:1:{kernel}_1\n" in cfg
    # the bundles, read here straight from the wrapper's pragmas
    pragmas = rules.interface_pragmas(rules.wrapper(code, kernel).body)
    bundles = {p["bundle"] for p in pragmas if p.get("mode") == "m_axi"}
    sp = _sp_lines(cfg, kernel)
    assert bundles and set(sp) == bundles
    names = link.bank_names(sp)
    assert len(names) == len(set(names)), "two bundles share a bank"
    for bank in names:
        board.bank(bank)  # FlowError when the board has no such bank


def test_bank_plan_spans_and_refuses() -> None:
    u280, u250, z = BOARDS["u280"], BOARDS["u250"], BOARDS["pynq-z2"]
    big = link.Bundle("gmem", ("w",), 600 << 20)  # 600 MB: three 256 MB HBM pseudo-channels
    assert link.bank_plan(u280, [big, link.Bundle("g2", ("k",), 1)]) == {"gmem": "HBM[0:2]", "g2": "HBM[3]"}
    assert link.bank_plan(u250, [big]) == {"gmem": "DDR[0]"}
    with pytest.raises(FlowError, match="more than"):
        link.bank_plan(u250, [link.Bundle("huge", ("w",), 17 << 30)])
    with pytest.raises(FlowError, match="5 m_axi bundles, more than its 4"):
        link.bank_plan(z, [link.Bundle(f"g{i}", ("w",), 1) for i in range(5)])
    with pytest.raises(FlowError, match="no memory bank 'HBM\\[0\\]'"):
        u250.bank("HBM[0]")
    with pytest.raises(FlowError, match="Vivado IP flow"):
        link.link_config(get_spec("kv_cache", _pc(z)), z, [big])


def test_zynq_ports_name_the_ps_slaves() -> None:
    spec = get_spec("kv_cache", _pc(BOARDS["zcu104"]))
    lines = link.zynq_port_lines(spec, BOARDS["zcu104"], [link.Bundle("gmem_k", ("kmem",), 1)])
    assert lines == ["kv_cache/m_axi_gmem_k (kmem) -> PS S_AXI_HP0_FPD"]


# --- synth-vitis: printed commands, error line, run with tools ------------------------------------------------

@pytest.fixture()
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import pyflow.paths

    monkeypatch.setattr(pyflow.paths, "BUILD", tmp_path / "build")
    return tmp_path / "build"


@pytest.fixture()
def no_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyflow.tools import vitis

    monkeypatch.setattr(vitis, "find_vitis_hls", lambda: None)
    monkeypatch.setattr(vitis, "find_vpp", lambda: None)


def test_synth_vitis_alveo_prints_hls_link_and_host(build_dir: Path, no_tools: None, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # kv_cache has stream ports, so nothing is host-runnable yet: pretend it is, to see the full sequence
    monkeypatch.setattr(link, "host_runnable", lambda s: s.name == "kv_cache")
    rc = main(["synth-vitis", "--board", "u280", "--kernel", "kv_cache", "--kernel", "qk", "--small"])
    out, err = capsys.readouterr()
    assert rc == 1 and err.strip().splitlines() == [
        "error: vitis_hls not found; run the commands above where Vitis is installed"]
    d = build_dir / "vitis" / "u280" / "kv_cache"
    lines = out.splitlines()
    hls = [i for i, ln in enumerate(lines) if "vitis_hls -f run_hls.tcl" in ln]
    vpp = [i for i, ln in enumerate(lines) if "v++ -l" in ln]
    host = [i for i, ln in enumerate(lines) if "pyflow host run" in ln]
    assert len(hls) == 2 and len(vpp) == 1 and len(host) == 1 and max(hls) < vpp[0] < host[0]
    assert lines[vpp[0]].strip() == (f"(cd {d} && v++ -l -t hw --platform xilinx_u280_gen3x16_xdma_1_202211_1 "
                                     "--kernel_frequency 200 --config kv_cache.cfg -o kv_cache.xclbin kv_cache.xo)")
    assert f"--xclbin {d / 'kv_cache.xclbin'}" in lines[host[0]] and "--small" in lines[host[0]]
    assert (d / "kv_cache.cfg").is_file() and not (build_dir / "vitis" / "u280" / "qk" / "qk.cfg").exists()


def test_synth_vitis_platform_override(build_dir: Path, no_tools: None, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(link, "host_runnable", lambda s: s.name == "kv_cache")
    assert main(["synth-vitis", "--board", "u250", "--platform", "my_u250_platform", "--kernel", "kv_cache",
                 "--small"]) == 1
    out = capsys.readouterr().out
    assert "--platform my_u250_platform" in out
    cfg = (build_dir / "vitis" / "u250" / "kv_cache" / "kv_cache.cfg").read_text()
    assert _sp_lines(cfg, "kv_cache") == {"gmem_k": "DDR[0]", "gmem_v": "DDR[1]"}


def test_synth_vitis_zynq_prints_hls_and_ps_ports(build_dir: Path, no_tools: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth-vitis", "--board", "pynq-z2", "--kernel", "kv_cache", "--small"]) == 1
    out, err = capsys.readouterr()
    assert "vitis_hls -f run_hls.tcl" in out and "v++" not in out and "host run" not in out
    assert "kv_cache/m_axi_gmem_k (kmem) -> PS S_AXI_HP0" in out
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: vitis_hls not found")
    assert main(["synth-vitis", "--board", "pynq-z2", "--platform", "x", "--kernel", "qk"]) == 1
    assert capsys.readouterr().err.count("error:") == 1


def test_synth_vitis_without_vpp(build_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from pyflow.tools import vitis

    monkeypatch.setattr(vitis, "find_vitis_hls", lambda: "/opt/vitis_hls")
    monkeypatch.setattr(vitis, "find_vpp", lambda: None)
    monkeypatch.setattr(link, "host_runnable", lambda s: s.name == "kv_cache")
    assert main(["synth-vitis", "--board", "u280", "--kernel", "kv_cache", "--small"]) == 1
    out, err = capsys.readouterr()
    assert "v++ is not on PATH" in out and "v++ -l" in out
    assert err.strip().splitlines() == ["error: v++ not found; run the commands above where Vitis is installed"]


FAKE_HLS = """#!/bin/sh
top=$(sed -n 's/^set_top //p' run_hls.tcl)
mkdir -p "${top}_prj/sol1/syn/report"
cat > "${top}_prj/sol1/syn/report/${top}_csynth.xml" <<EOF
<profile><UserAssignments><TargetClockPeriod>5.00</TargetClockPeriod></UserAssignments>
<PerformanceEstimates><SummaryOfTimingAnalysis><EstimatedClockPeriod>3.50</EstimatedClockPeriod>
</SummaryOfTimingAnalysis><SummaryOfOverallLatency><Best-caseLatency>10</Best-caseLatency>
<Worst-caseLatency>99</Worst-caseLatency><Interval-max>100</Interval-max></SummaryOfOverallLatency>
</PerformanceEstimates><AreaEstimates><Resources><LUT>1234</LUT></Resources></AreaEstimates></profile>
EOF
if grep -q '^export_design -format xo' run_hls.tcl; then touch "${top}.xo"; fi
echo "$@" >> ../calls.txt
"""
FAKE_VPP = """#!/bin/sh
echo "v++ $@" >> ../calls.txt
while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then touch "$2"; fi; shift; done
"""


def test_synth_vitis_runs_the_tools(build_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("vitis_hls", FAKE_HLS), ("v++", FAKE_VPP)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755 | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setattr(link, "host_runnable", lambda s: s.name == "kv_cache")
    assert main(["synth-vitis", "--board", "u280", "--kernel", "kv_cache", "--kernel", "qk", "--small"]) == 0
    out = capsys.readouterr().out
    root = build_dir / "vitis" / "u280"
    calls = (root / "calls.txt").read_text().splitlines()
    assert calls == ["-f run_hls.tcl", "-f run_hls.tcl",
                     "v++ -l -t hw --platform xilinx_u280_gen3x16_xdma_1_202211_1 --kernel_frequency 200 "
                     "--config kv_cache.cfg -o kv_cache.xclbin kv_cache.xo"]
    rep = json.loads((build_dir / "report" / "synth_vitis_u280.json").read_text())
    assert rep["flow_target"] == "vitis" and rep["export_format"] == "xo" and rep["cosim"] is False
    assert rep["kernels"]["qk"]["csynth"]["LUT"] == "1234" and "link" not in rep["kernels"]["qk"]
    assert rep["kernels"]["kv_cache"]["banks"] == {"gmem_k": "HBM[0]", "gmem_v": "HBM[1]"}
    assert Path(rep["kernels"]["kv_cache"]["xclbin"]).is_file()
    assert "on the card: python -m pyflow host run --xclbin" in out


def test_decode_step_is_the_linked_kernel() -> None:
    assert link.host_runnable(get_spec("decode_step", _pc(BOARDS["u280"])))


# --- the s_axilite register map of the C++ top equals the RTL accelerator's -------------------------------------

U32 = Fmt(32, 0, signed=False, rnd="TRN", ovf="WRAP")
#: decode_step's argument list as its wrapper declares it: decode_step(pos, w_base, kv_base, x_base, y_base, status).
DECODE_STEP_ARGS = [RegArg("pos", "scalar", 32), *[RegArg(n, "pointer", 64) for n in
                                                   ("w_base", "kv_base", "x_base", "y_base")],
                    RegArg("status", "scalar", 32, "out")]


def _accel_regs(names: list[str]) -> dict[str, int]:
    return {r.name: r.offset for r in REGISTERS if r.name in names}


def test_vitis_register_map_equals_the_rtl_one() -> None:
    regs = s_axilite_map(DECODE_STEP_ARGS)
    shared = [k for k in regs if not k.startswith("_") and not k.endswith("_ctrl")]
    assert shared == ["ctrl", "gie", "ier", "isr", "pos", "w_base_lo", "w_base_hi", "kv_base_lo", "kv_base_hi",
                      "x_base_lo", "x_base_hi", "y_base_lo", "y_base_hi", "status"]
    assert {k: regs[k] for k in shared} == _accel_regs(shared)
    assert regs["status_ctrl"] == 0x4C  # ap_vld of the output scalar
    # the RTL's own registers (cycles) sit after the Vitis arguments
    extra = [r for r in REGISTERS if r.name not in regs]
    assert extra and all(r.offset >= regs["_end"] for r in extra)


def test_register_map_rules_can_fail() -> None:
    wide = [RegArg("pos", "scalar", 64), *DECODE_STEP_ARGS[1:]]
    regs = s_axilite_map(wide)
    assert regs["pos_lo"] == 0x10 and regs["w_base_lo"] == 0x1C != _accel_regs(["w_base_lo"])["w_base_lo"]
    no_status = s_axilite_map(DECODE_STEP_ARGS[:-1])
    assert "status" not in no_status and no_status["_end"] == 0x48


def test_spec_args_follow_the_wrapper(tmp_path: Path) -> None:
    """The register arguments derived from the spec are the wrapper's, in order (kv_cache: pos, kmem, vmem)."""
    spec, d = _render(tmp_path, BOARDS["u280"], "kv_cache")
    code = (d / "kv_cache.cpp").read_text()
    wrapper = [(a.name, a.kind) for a in rules.wrapper_args(code, "kv_cache") if a.kind != "axis"]
    assert [(a.name, a.kind) for a in spec_args(spec)] == wrapper == [
        ("pos", "scalar"), ("kmem", "pointer"), ("vmem", "pointer")]


def test_output_scalar_is_a_reference_in_the_wrapper(tmp_path: Path) -> None:
    """An output scalar port (decode_step's status) renders as a reference with an s_axilite register."""
    spec = get_spec("qk", _pc(BOARDS["u280"]))
    extra = Port("status", "out", U32, kind="scalar", doc="test")
    spec = dataclasses.replace(spec, ports=(*spec.ports, extra))
    from pyflow.backends.templates import environment, render

    code = render(spec, "vitis", "qk.cpp.j2", {}, environment("vitis", "qk"))
    assert "qk_ns::status_t& status)" in code
    assert "#pragma HLS INTERFACE s_axilite port=status bundle=control" in code
    assert spec_args(spec)[-1] == RegArg("status", "scalar", 32, "out")


def test_decode_step_register_map_equals_the_rtl_one() -> None:
    from hls.accel.spec import build

    a = build(load_project_config())
    spec: KernelSpec = get_spec("decode_step", a.pc)
    regs = s_axilite_map(spec_args(spec))
    names = [k for k in regs if not k.startswith("_") and not k.endswith("_ctrl")]
    assert "w_base_lo" in names and {k: regs[k] for k in names} == _accel_regs(names)


# --- host program: command line and missing XRT ---------------------------------------------------------------

def test_host_run_needs_an_xclbin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["host", "run", "--xclbin", str(tmp_path / "none.xclbin")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --xclbin") and "no such file" in err[0]


def test_host_run_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = tmp_path / "k.xclbin"
    x.write_bytes(b"xclbin2")
    with pytest.raises(SystemExit) as e:
        main(["host", "run", "--xclbin", str(x), "--tokens", "two"])
    assert e.value.code == 2
    capsys.readouterr()
    assert main(["host", "run", "--xclbin", str(x), "--small", "--tokens", "0"]) == 1
    assert main(["host", "run", "--xclbin", str(x), "--small", "--start", "15", "--tokens", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: --tokens must be >= 1")
    assert err[1].startswith("error: --start 15 with --tokens 2") and "0..15" in err[1]


def test_host_run_without_pyxrt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    x = tmp_path / "k.xclbin"
    x.write_bytes(b"xclbin2")
    monkeypatch.setitem(sys.modules, "pyxrt", None)  # import pyxrt raises ImportError
    assert main(["host", "run", "--xclbin", str(x), "--small", "--tokens", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: pyxrt (XRT's Python bindings) is not importable")
    assert "source /opt/xilinx/xrt/setup.sh" in err[0]


def test_board_banks_are_named_as_vpp_and_the_ps_name_them() -> None:
    assert [b.name for b in BOARDS["u280"].banks] == [f"HBM[{i}]" for i in range(32)] + ["DDR[0]", "DDR[1]"]
    assert [b.name for b in BOARDS["u250"].banks] == [f"DDR[{i}]" for i in range(4)]
    assert BOARDS["kv260"].banks[0] == Bank("HP0_FPD", 4096) and BOARDS["pynq-z2"].banks[3].name == "HP3"
    assert all(b.platform for b in ALVEO) and not any(b.platform for b in VITIS_BOARDS if not b.is_alveo)
