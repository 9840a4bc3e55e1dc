"""Vitis HLS coding rules over every rendered kernel (pyflow/backends/vitis/rules.py), at the small and the
default dimensions: INTERFACE pragmas and AXI4-Stream types only in the top-level wrapper, tops call cores,
unroll factors (explicit, or implied by an enclosing PIPELINE) matched by array partitions, accesses per cycle
within the ports of each memory bank (II=1: tables replicated per lane pair), no ``const long long``, AXI4-Lite
control with ap_ctrl_chain and m_axi offset=slave (a kernel XRT can run).  Each checker is also fed a deliberately
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


# Known II=1 findings: kernel -> patterns of the findings.  A kernel whose only findings match is xfailed with
# them; any other finding fails.  None today.
KNOWN_FINDINGS: dict[str, tuple[str, ...]] = {}


@pytest.mark.parametrize("which", CONFIGS)
@pytest.mark.parametrize("kernel", _names())
def test_rules_hold(rendered: dict, which: str, kernel: str) -> None:
    root, names = rendered[which]
    code, header = _sources(root, kernel)
    bad = (rules.interface_violations(code, kernel) + rules.interface_violations(header, kernel)
           + rules.wrapper_calls(code, kernel, names)
           + rules.axis_type_violations(code, kernel, header)
           + rules.unroll_partition_violations(code, kernel, header)
           + rules.port_violations(code, kernel, header)
           + rules.long_long_violations(code + header + (root / kernel / "ff_common.h").read_text(), kernel))
    known = [b for b in bad if any(re.search(p, b) for p in KNOWN_FINDINGS.get(kernel, ()))]
    other = [b for b in bad if b not in known]
    assert not other, "\n".join(other)
    if known:
        pytest.xfail("known II=1 findings (KNOWN_FINDINGS):\n" + "\n".join(known))


@pytest.mark.parametrize("which", CONFIGS)
@pytest.mark.parametrize(("kernel", "good", "bad"), [
    ("rope", "quarter_sin(SINE_ROM[l], a)", "quarter_sin(SINE_ROM[0], a)"),
    ("softmax_exp", "EXP2_ROM[l / 2])", "EXP2_ROM[0])"),
    ("flat_attention", "EXP2_ROM[x / 2])", "EXP2_ROM[0])"),
])
def test_port_check_fails_on_a_rendered_kernel_with_one_table_copy(rendered: dict, which: str, kernel: str,
                                                                   good: str, bad: str) -> None:
    """Every lane reading the same copy of the replicated table: the II=1 check sees more reads than ports."""
    root, _ = rendered[which]
    code, header = _sources(root, kernel)
    assert good in code and not rules.port_violations(code, kernel, header)
    found = rules.port_violations(code.replace(good, bad), kernel, header)
    assert found and all("_ROM[0]" in b and "with 2 ports" in b for b in found), found


@pytest.mark.parametrize("which", CONFIGS)
@pytest.mark.parametrize(("buffer", "loop"), [
    ("qbuf complete dim=1", "keys"), ("lbuf complete dim=1", "keys"), ("lbuf cyclic factor={P} dim=2", "exps"),
    ("ebuf cyclic factor={P} dim=2", "norm"), ("pbuf complete dim=1", "attend"),
    ("pbuf cyclic factor={P} dim=2", "norm"),
])
def test_checks_fail_on_flat_attention_without_a_buffer_partition(rendered: dict, which: str, buffer: str,
                                                                  loop: str) -> None:
    """Each of flat_attention's buffer partitions is needed for II=1: without it a bank takes more than 2."""
    root, _ = rendered[which]
    code, header = _sources(root, "flat_attention")
    p = next(s for s in all_specs(_config(which)) if s.name == "flat_attention").params["P"]
    pragma = "#pragma HLS ARRAY_PARTITION variable=" + buffer.format(P=p)
    assert pragma in code
    found = rules.port_violations(code.replace(pragma, ""), "flat_attention", header)
    arr = buffer.split()[0]
    assert any(f"PIPELINE loop '{loop}'" in b and f"accesses of {arr} " in b for b in found), found


@pytest.mark.parametrize("which", CONFIGS)
@pytest.mark.parametrize("kernel", ["rope", "softmax_exp", "flat_attention"])
def test_table_copies_follow_the_lanes(rendered: dict, which: str, kernel: str) -> None:
    """The replicated table has ceil(reads per cycle / 2) copies of the spec's table, partitioned one ROM each."""
    root, _ = rendered[which]
    code, header = _sources(root, kernel)
    spec = next(s for s in all_specs(_config(which)) if s.name == kernel)
    table, reads = ("sine", 2 * spec.params["P"]) if kernel == "rope" else ("exp2", spec.params["P"])
    copies = spec.consts[f"{table.upper()}_COPIES"]
    assert copies == -(-reads // 2)
    m = re.search(rf"static const {table}_t {table.upper()}_ROM\[{table.upper()}_COPIES\]\[{table.upper()}_DEPTH\] = "
                  r"\{(.*?)\n    \};", code, re.S)
    assert m, f"{kernel}: no replicated {table.upper()}_ROM"
    rows = re.findall(r"\{([^{}]*)\}", m.group(1))
    want = [int(v) for v in spec.luts[table].values]
    assert len(rows) == copies and all([int(v) for v in r.split(",")] == want for r in rows)
    assert f"#pragma HLS ARRAY_PARTITION variable={table.upper()}_ROM complete dim=1" in code
    assert f"#pragma HLS BIND_STORAGE variable={table.upper()}_ROM type=rom_2p" in code


@pytest.mark.parametrize("which", CONFIGS)
@pytest.mark.parametrize("kernel", _names())
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
    transactions of the RTL's engines, depth = the area's words; the control registers from the wrapper macro."""
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
    assert not rules.control_violations(code, "decode_step")
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


def test_unroll_checker_sees_loops_a_pipeline_unrolls() -> None:
    code = """
void k(int i) {
    int v[16];
#pragma HLS ARRAY_PARTITION variable=v cyclic factor=2
    for (int b = 0; b < 4; b++) {
#pragma HLS PIPELINE II=1
        for (int l = 0; l < 4; l++) v[b * 4 + l] = i;
    }
}
"""
    bad = rules.unroll_partition_violations(code, "k")
    assert len(bad) == 1 and "implicitly unrolled" in bad[0] and "factor 4" in bad[0], bad
    assert not rules.unroll_partition_violations(code.replace("factor=2", "factor=4"), "k")
    assert not rules.unroll_partition_violations(code.replace("#pragma HLS PIPELINE II=1", ""), "k")


PORTS_SNIPPET = """
namespace k_ns {
constexpr int P = 4;
const tab_t TAB[256] = {0};
static int lookup(int x, const tab_t t[256]) {
#pragma HLS INLINE
    return t[x & 255];
}
static int direct(int x) {
#pragma HLS INLINE
    return TAB[x & 255];
}
void k_core(hls::stream<x_flit_t>& x) {
    static const tab_t TAB_ROM[2][256] = {{0}, {0}};
#pragma HLS ARRAY_PARTITION variable=TAB_ROM complete dim=1
#pragma HLS BIND_STORAGE variable=TAB_ROM type=rom_2p impl=bram
    for (int b = 0; b < 16; b++) {
#pragma HLS PIPELINE II=1
        int w = x.read();
        for (int l = 0; l < P; l++) {
#pragma HLS UNROLL
            y[l] = lookup(w + l, TAB_ROM[l / 2]);
        }
    }
}
}
"""


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


def test_port_checker_counts_reads_per_bank() -> None:
    """P = 4 reads a cycle: two copies of the table, lane l reading copy l / 2, fit; one copy, or the reads
    through a helper of the unreplicated table, or a copy index that sends three lanes to one copy, do not."""
    assert not rules.port_violations(PORTS_SNIPPET, "k")
    one = rules.port_violations(PORTS_SNIPPET.replace("TAB_ROM[l / 2]", "TAB_ROM[0]"), "k")
    assert len(one) == 1 and "4 accesses of TAB_ROM" in one[0] and "4 of them in one bank (TAB_ROM[0][-])" in one[0]
    skew = rules.port_violations(PORTS_SNIPPET.replace("TAB_ROM[l / 2]", "TAB_ROM[l / 3]"), "k")
    assert len(skew) == 1 and "3 of them in one bank (TAB_ROM[0][-])" in skew[0], skew
    helper = rules.port_violations(PORTS_SNIPPET.replace("lookup(w + l, TAB_ROM[l / 2])", "direct(w + l)"), "k")
    assert len(helper) == 1 and "4 accesses of TAB per iteration" in helper[0], helper
    one_port = PORTS_SNIPPET.replace("type=rom_2p", "type=rom_1p")
    assert "with 1 ports" in rules.port_violations(one_port, "k")[0]
    assert not rules.port_violations(PORTS_SNIPPET.replace("type=rom_2p", "type=rom_np").replace("[l / 2]", "[0]"),
                                     "k")


def test_port_checker_sees_cyclic_banks_and_run_time_loops() -> None:
    code = """
void k(int n, int i) {
    int buf[4][64];
#pragma HLS ARRAY_PARTITION variable=buf cyclic factor=4 dim=2
    for (int b = 0; b < n; b++) {
#pragma HLS PIPELINE II=1
        for (int x = 0; x < 4; x++) {
            const int j = b * 4 + x;
            buf[i][j] = buf[i][j] + 1;
        }
    }
}
"""
    assert not rules.port_violations(code, "k")  # bank x: one read, one write
    bad = rules.port_violations(code.replace("factor=4", "factor=2"), "k")
    assert len(bad) == 1 and "4 of them in one bank" in bad[0], bad
    loop = rules.port_violations(code.replace("x < 4", "x < n"), "k")
    assert len(loop) == 1 and "inner loop 'x' up to n" in loop[0], loop


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


def test_checks_resolve_template_arguments_from_the_call_site() -> None:
    """A template's int parameters take the value its calls give it: a partition too short for the bound fails,
    a long enough one passes, and calls that disagree leave the bound unresolved (a finding)."""
    code = """
template <int P, int F>
static void k_part(int i) {
    int v[16];
#pragma HLS ARRAY_PARTITION variable=v cyclic factor=F
    for (int b = 0; b < 4; b++) {
#pragma HLS PIPELINE II=1
        for (int l = 0; l < P; l++) v[b * P + l] = i;
    }
}
void k(int i) {
    k_part<4, 2>(i);
}
"""
    bad = rules.unroll_partition_violations(code, "k")
    assert len(bad) == 1 and "factor 4" in bad[0], bad
    assert not rules.unroll_partition_violations(code.replace("k_part<4, 2>", "k_part<4, 4>"), "k")
    assert not rules.port_violations(code.replace("k_part<4, 2>", "k_part<4, 4>"), "k")
    both = code.replace("k_part<4, 2>(i);", "k_part<4, 4>(i);\n    k_part<8, 4>(i);")
    assert any("up to P: not a constant" in b for b in rules.port_violations(both, "k"))
