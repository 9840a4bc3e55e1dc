"""Vitis HLS coding rules over every rendered kernel (pyflow/backends/vitis/rules.py), at the small and the
default dimensions: INTERFACE pragmas and AXI4-Stream types only in the top-level wrapper, tops call cores,
unroll factors matched by array partitions, no ``const long long``.  Each checker is also fed a deliberately
wrong snippet so that it is shown to fail.  Optionally clang++ -fsyntax-only over every rendered kernel."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pyflow.backends.vitis import rules
from pyflow.backends.vitis.render import render_vitis
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import all_specs, get_spec

CONFIGS = ("small", "default")


def _config(which: str):  # noqa: ANN202
    pc = load_project_config()
    return small_config(pc) if which == "small" else pc


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[str]]]:
    """config -> (folder of the rendered kernels, kernel names); C++ only, no vectors."""
    out = {}
    for which in CONFIGS:
        pc = _config(which)
        root = tmp_path_factory.mktemp(f"vitis_{which}")
        specs = all_specs(pc)
        for s in specs:
            render_vitis(s, pc, root, with_vectors=False)
        out[which] = (root, [s.name for s in specs])
    return out


def _names() -> list[str]:
    return [s.name for s in all_specs(_config("small"))]


def _sources(root: Path, k: str) -> tuple[str, str]:
    return (root / k / f"{k}.cpp").read_text(), (root / k / f"{k}.h").read_text()


@pytest.mark.parametrize("which", CONFIGS)
@pytest.mark.parametrize("kernel", _names())
def test_rules_hold(rendered: dict, which: str, kernel: str) -> None:
    root, names = rendered[which]
    code, header = _sources(root, kernel)
    bad = (rules.interface_violations(code, kernel) + rules.interface_violations(header, kernel)
           + rules.wrapper_calls(code, kernel, names)
           + rules.axis_type_violations(code, kernel, header)
           + rules.unroll_partition_violations(code, kernel, header)
           + rules.long_long_violations(code + header + (root / kernel / "ff_common.h").read_text(), kernel))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("kernel", _names())
def test_core_and_wrapper_structure(rendered: dict, kernel: str) -> None:
    root, _ = rendered["small"]
    code, _ = _sources(root, kernel)
    funcs, _ = rules.scan(code)
    wrapper = [f for f in funcs if f.is_global and f.name == kernel]
    core = [f for f in funcs if f.namespaces == (f"{kernel}_ns",) and f.name == f"{kernel}_core"]
    assert len(wrapper) == 1 and len(core) == 1
    assert "#pragma HLS INTERFACE ap_ctrl_hs port=return" in wrapper[0].body
    assert f"{kernel}_core(" in wrapper[0].body
    spec = get_spec(kernel, _config("small"))
    if any(p.kind == "axis" for p in spec.ports):
        assert "hls::stream<" in core[0].header and "_flit_t>" in core[0].header
    else:  # a memory-mapped top (decode_step): bus words and scalars, no stream in its signature
        assert "hls::stream<" not in core[0].header
        assert all(f"{p.name}_word_t* {p.name}" in core[0].header for p in spec.ports if p.kind == "m_axi")


def test_tops_join_cores(rendered: dict) -> None:
    root, names = rendered["small"]
    code, _ = _sources(root, "attention_decode")
    funcs, _ = rules.scan(code)
    core = next(f for f in funcs if f.name == "attention_decode_core")
    assert "#pragma HLS DATAFLOW" in core.body
    assert "_flit_t>" in core.body and "_beat_t" not in core.body
    body = "\n".join(f.body for f in funcs)
    assert "qk_ns::qk_core(" in body and "av_ns::av_core(" in body


@pytest.mark.parametrize("which", CONFIGS)
def test_decode_step_phases_join_cores(rendered: dict, which: str) -> None:
    """decode_step runs phase by phase (as the RTL controller): each phase a DATAFLOW region joining a kernel's
    core to its feeders and collectors on stream words; every accelerator kernel's core is called, no wrapper."""
    root, _ = rendered[which]
    code, _ = _sources(root, "decode_step")
    funcs, _ = rules.scan(code)
    phases = [f for f in funcs if f.namespaces == ("decode_step_ns",) and "#pragma HLS DATAFLOW" in f.body]
    assert {f.name for f in phases} == {"norm_phase", "proj_phase", "rope_phase", "qk_pass", "max_pass", "exp_pass",
                                        "norm_pass", "av_pass", "oproj_phase"}
    for f in funcs:  # every function that declares a channel is a DATAFLOW region
        if "hls::stream<" in f.body and f.namespaces == ("decode_step_ns",):
            assert f in phases and "_flit_t>" in f.body and "_beat_t" not in f.body, f.name
    body = "\n".join(f.body for f in funcs)
    for k in ("rmsnorm", "gemv", "rope", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av"):
        assert f"{k}_ns::{k}_core(" in body, k
    assert (root / "decode_step" / "deps" / "gemv" / "gemv.cpp").is_file()


#: decode_step's memory pointers: the four areas and the row pointers derived from them.
MEM_POINTERS = ("w_base", "kv_base", "x_base", "y_base", "k_rows", "v_rows", "k_row", "v_row")


@pytest.mark.parametrize("which", CONFIGS)
def test_decode_step_memory_loops_burst(rendered: dict, which: str) -> None:
    """Every loop of decode_step that touches memory is pipelined, unconditional and affine (pointer[base + i])."""
    root, _ = rendered[which]
    code, _ = _sources(root, "decode_step")
    assert not rules.burst_violations(code, "decode_step", MEM_POINTERS)
    touched = set(re.findall(r"\b(" + "|".join(MEM_POINTERS) + r")\[", code))
    assert touched == set(MEM_POINTERS) - {"kv_base"}  # kv_base through its row pointers


def test_burst_checker_fails() -> None:
    code = """
namespace k_ns {
static void load(const word_t* mem, word_t buf[16], int n) {
    for (int i = 0; i < 16; i++) {
#pragma HLS PIPELINE II=1
        if (i < n) buf[i] = mem[4 + i];
    }
    for (int t = 0; t < n; t++) {
        buf[t] = mem[t / 2];
        if (t == 3) break;
    }
}
}
"""
    bad = rules.burst_violations(code, "k", ("mem",))
    assert len(bad) == 4, bad
    assert any("mem[4 + i] is conditional" in b for b in bad) and any("mem[t / 2] is not" in b for b in bad)
    assert any("without PIPELINE" in b for b in bad) and any("exit early" in b for b in bad)
    fixed = code.replace("        if (i < n) buf[i] = mem[4 + i];", "        buf[i] = mem[4 + i];")
    assert len(rules.burst_violations(fixed, "k", ("mem",))) == 3


@pytest.mark.parametrize("which", CONFIGS)
def test_decode_step_m_axi_from_the_accel_spec(rendered: dict, which: str) -> None:
    """One m_axi bundle (the RTL's single port) for the four areas, offset=slave, bursts and outstanding
    transactions of the RTL's engines, depth = the area's words; no s_axilite / ap_ctrl in the kernel's own block."""
    from hls.accel.spec import MAX_BURST, OUTSTANDING
    from hls.accel.spec import build as build_accel

    root, _ = rendered[which]
    code, _ = _sources(root, "decode_step")
    a = build_accel(_config(which))
    got = re.findall(r"#pragma HLS INTERFACE m_axi (.*)", code)
    assert len(got) == 4
    for area, line in zip(("w_base", "kv_base", "x_base", "y_base"), got, strict=True):
        opts = dict(o.split("=") for o in line.split())
        assert opts == {"port": area, "offset": "slave", "bundle": "gmem", "depth": str(a.area_words(area)),
                        "max_read_burst_length": str(MAX_BURST), "max_write_burst_length": str(MAX_BURST),
                        "num_read_outstanding": str(OUTSTANDING), "num_write_outstanding": str(OUTSTANDING)}
    assert "s_axilite" not in code
    assert f"ap_uint<{a.data_bits}> w_base_word_t" in (root / "decode_step" / "decode_step.h").read_text()


# --- every checker fails on a deliberately wrong snippet -------------------------------------------------

HEADER = """
namespace k_ns {
typedef ap_uint<33> x_flit_t;
typedef ap_axiu<32, 0, 0, 0> x_beat_t;
}
void k(hls::stream<k_ns::x_beat_t>& x);
"""


def test_interface_checker_fails_on_a_core_with_interface() -> None:
    code = """
namespace k_ns {
void k_core(hls::stream<x_flit_t>& x) {
#pragma HLS INTERFACE axis port=x
    x.read();
}
}  // namespace k_ns
void k(hls::stream<k_ns::x_beat_t>& x) {
#pragma HLS INTERFACE axis port=x
}
"""
    bad = rules.interface_violations(code, "k")
    assert len(bad) == 1 and "k_ns::k_core" in bad[0]
    assert not rules.interface_violations(code.replace("#pragma HLS INTERFACE axis port=x\n    x.read", "x.read"), "k")


def test_interface_checker_fails_on_a_top_calling_a_wrapper() -> None:
    code = "namespace t_ns {\nvoid t_core(int n) {\n#pragma HLS DATAFLOW\n    qk(n, a, b, c);\n}\n}\n"
    assert rules.wrapper_calls(code, "t", ["qk", "t"])
    assert not rules.wrapper_calls(code.replace("qk(", "qk_ns::qk_core("), "t", ["qk", "t"])


def test_axis_checker_fails_on_a_core_signature() -> None:
    code = """
namespace k_ns {
void k_core(hls::stream<x_beat_t>& x) { x.read(); }
}
void k(hls::stream<k_ns::x_beat_t>& x) {
    k_ns::x_beat_t beat = x.read();
}
"""
    bad = rules.axis_type_violations(code, "k", HEADER)
    assert len(bad) == 1 and "signature of k_ns::k_core" in bad[0]
    assert not rules.axis_type_violations(code.replace("stream<x_beat_t>", "stream<x_flit_t>"), "k", HEADER)


def test_axis_checker_fails_on_a_dataflow_channel_of_beats() -> None:
    code = """
namespace k_ns {
void k_core(hls::stream<x_flit_t>& x) {
#pragma HLS DATAFLOW
    hls::stream<ap_axiu<32, 0, 0, 0>> mid("mid");
}
}
void k(hls::stream<k_ns::x_beat_t>& x) {
    hls::stream<k_ns::x_beat_t> copy("copy");
}
"""
    bad = rules.axis_type_violations(code, "k", HEADER)
    assert any("k_ns::k_core" in b and "hls::stream" in b for b in bad)
    assert any(b.startswith("k: hls::stream of AXI4-Stream beats inside k()") for b in bad)


def test_unroll_checker_fails_on_a_short_partition() -> None:
    code = """
namespace k_ns {
constexpr int P = 4;
void k_core(hls::stream<x_flit_t>& x) {
    int buf[64];
#pragma HLS ARRAY_PARTITION variable=buf cyclic factor=2 dim=1
    int two[4][16];
    for (int b = 0; b < 16; b++) {
#pragma HLS PIPELINE II=1
        for (int l = 0; l < P; l++) {
#pragma HLS UNROLL factor=4
            buf[b * P + l] = l;
            two[l][b] = l;
        }
    }
}
}
"""
    bad = rules.unroll_partition_violations(code, "k")
    assert len(bad) == 2, bad
    assert any("buf[...] dimension 1" in b and "cyclic factor=2" in b for b in bad)
    assert any("two[...] dimension 1" in b and "no ARRAY_PARTITION" in b for b in bad)
    fixed = code.replace("factor=2 dim=1", "factor=P dim=1").replace(
        "    int two[4][16];", "    int two[4][16];\n#pragma HLS ARRAY_PARTITION variable=two complete dim=1")
    assert not rules.unroll_partition_violations(fixed, "k")


def test_unroll_checker_resolves_a_complete_unroll() -> None:
    code = """
void k(int i) {
    int v[8];
#pragma HLS ARRAY_PARTITION variable=v cyclic factor=4
    for (int l = 0; l < 8; l++) {
#pragma HLS UNROLL
        v[l] = i;
    }
}
"""
    bad = rules.unroll_partition_violations(code, "k")
    assert len(bad) == 1 and "factor 8" in bad[0]
    assert not rules.unroll_partition_violations(code.replace("factor=4", "factor=8"), "k")


def test_long_long_checker_fails() -> None:
    assert rules.long_long_violations("const long long N = 4LL;\n", "k")
    assert not rules.long_long_violations("constexpr int N = 4;  // not const long long\n", "k")


# --- clang++ -fsyntax-only (Debian's clang), where installed ----------------------------------------------

@pytest.mark.skipif(shutil.which("clang++") is None,
                    reason="clang++ is not installed (Debian package clang): syntax check with clang skipped; "
                           "g++ compiles every kernel in the C-sim tests")
@pytest.mark.parametrize("which", CONFIGS)
def test_clang_syntax(rendered: dict, which: str) -> None:
    from pyflow.tools import gxx

    root, names = rendered[which]
    shim = root / "_shim"
    for k in names:
        incs = [root / k, shim, gxx.ap_types_dir(), *[root / d for d in names]]
        cmd = ["clang++", "-fsyntax-only", "-std=c++14", "-Wno-unknown-pragmas", *[f"-I{p}" for p in incs],
               str(root / k / f"{k}.cpp")]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert res.returncode == 0, f"{k}: {res.stderr[-2000:]}"
