"""Vitis HLS coding rules over every rendered kernel (pyflow/backends/vitis/rules.py), at the small and the
default dimensions: INTERFACE pragmas and AXI4-Stream types only in the top-level wrapper, tops call cores,
unroll factors matched by array partitions, no ``const long long``, AXI4-Lite control with ap_ctrl_chain and
m_axi offset=slave (a kernel XRT can run).  Each checker is also fed a deliberately
wrong snippet so that it is shown to fail.  Optionally clang++ -fsyntax-only over every rendered kernel."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pyflow.backends.vitis import rules
from pyflow.backends.vitis.render import render_vitis
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import all_specs

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


#: Kernels whose own pragmas block (hls/kernels/<k>/<k>.cpp.j2) still has ``offset=direct`` and ``ap_none
#: port=pos``: kv_cache and decode_step are being rewritten with offset=slave on other branches (remove the
#: xfail when they are merged); attention_decode's template needs the same change.
CONTROL_PENDING = {"kv_cache", "decode_step", "attention_decode"}


def _control_params() -> list:  # noqa: ANN202
    return [pytest.param(k, marks=pytest.mark.xfail(reason=f"{k}.cpp.j2: m_axi offset=direct / ap_none port=pos "
                                                    "(pending its rewrite)", strict=False))
            if k in CONTROL_PENDING else k for k in _names()]


@pytest.mark.parametrize("which", CONFIGS)
@pytest.mark.parametrize("kernel", _control_params())
def test_control_interfaces(rendered: dict, which: str, kernel: str) -> None:
    """Every wrapper: s_axilite control bundle with ap_ctrl_chain, every scalar and pointer a register,
    every m_axi offset=slave with a bundle."""
    root, _ = rendered[which]
    code, _ = _sources(root, kernel)
    bad = rules.control_violations(code, kernel)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("kernel", _names())
def test_core_and_wrapper_structure(rendered: dict, kernel: str) -> None:
    root, _ = rendered["small"]
    code, _ = _sources(root, kernel)
    funcs, _ = rules.scan(code)
    wrapper = [f for f in funcs if f.is_global and f.name == kernel]
    core = [f for f in funcs if f.namespaces == (f"{kernel}_ns",) and f.name == f"{kernel}_core"]
    assert len(wrapper) == 1 and len(core) == 1
    assert "#pragma HLS INTERFACE ap_ctrl_chain port=return" in wrapper[0].body
    assert f"{kernel}_core(" in wrapper[0].body
    assert "hls::stream<" in core[0].header and "_flit_t>" in core[0].header


def test_tops_join_cores(rendered: dict) -> None:
    root, names = rendered["small"]
    for top in ("attention_decode", "decode_step"):
        code, _ = _sources(root, top)
        funcs, _ = rules.scan(code)
        core = next(f for f in funcs if f.name == f"{top}_core")
        assert "#pragma HLS DATAFLOW" in core.body
        assert "_flit_t>" in core.body and "_beat_t" not in core.body
        body = "\n".join(f.body for f in funcs)
        assert "qk_ns::qk_core(" in body and "av_ns::av_core(" in body


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


GOOD_TOP = """
void k(k_ns::pos_t pos, k_ns::w_word_t* w, hls::stream<k_ns::x_beat_t>& x, k_ns::status_t* status) {
#pragma HLS INTERFACE axis port=x
#pragma HLS INTERFACE m_axi port=w offset=slave bundle=gmem depth=16
#pragma HLS INTERFACE s_axilite port=pos bundle=control
#pragma HLS INTERFACE s_axilite port=w bundle=control
#pragma HLS INTERFACE s_axilite port=status bundle=control
#pragma HLS INTERFACE s_axilite port=return bundle=control
#pragma HLS INTERFACE ap_ctrl_chain port=return
    k_ns::k_core(pos, w, x, status);
}
"""


def test_control_checker_accepts_a_vitis_kernel() -> None:
    assert not rules.control_violations(GOOD_TOP, "k")
    assert [(a.name, a.kind) for a in rules.wrapper_args(GOOD_TOP, "k")] == [
        ("pos", "scalar"), ("w", "pointer"), ("x", "axis"), ("status", "pointer")]


@pytest.mark.parametrize(("old", "new", "expect"), [
    ("offset=slave", "offset=direct", "offset=direct, not offset=slave"),
    ("m_axi port=w offset=slave bundle=gmem", "m_axi port=w offset=slave", "names no bundle"),
    ("#pragma HLS INTERFACE s_axilite port=w bundle=control\n", "", "m_axi base address argument w has no"),
    ("#pragma HLS INTERFACE s_axilite port=pos bundle=control\n", "#pragma HLS INTERFACE ap_none port=pos\n",
     "scalar argument pos has no"),
    ("#pragma HLS INTERFACE s_axilite port=status bundle=control\n", "", "pointer argument status has no"),
    ("s_axilite port=return bundle=control", "s_axilite port=return bundle=ctrl", "port=return bundle=control"),
    ("ap_ctrl_chain", "ap_ctrl_hs", "ap_ctrl_hs, not ap_ctrl_chain"),
    ("m_axi port=w", "m_axi port=x", "m_axi pragma on 'x', which is not a pointer"),
])
def test_control_checker_fails(old: str, new: str, expect: str) -> None:
    bad = rules.control_violations(GOOD_TOP.replace(old, new), "k")
    assert any(expect in b for b in bad), bad


def test_control_checker_fails_on_a_scalar_with_ap_none() -> None:
    code = GOOD_TOP.replace("#pragma HLS INTERFACE axis port=x\n", "#pragma HLS INTERFACE axis port=x\n"
                            "#pragma HLS INTERFACE ap_none port=pos\n")
    assert rules.control_violations(code, "k") == ["k: argument pos also has INTERFACE ap_none (registers only)"]


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
