"""kv_cache: its golden model, its C-sim, and its Verilog (kv_cache.v.j2: AXI4 masters) against cocotbext-axi AxiRam.

The golden model (hls/kernels/kv_cache/spec.py, numpy) gives the expected k / vt streams and the final memory
contents (K and V by rows, the accelerator's layout); the generic cocotb stream test checks them bit for bit on
Verilator and Icarus, with and without random stream stalls, at every decode position of testbench/checks.py,
and checks that ``error`` stays low.  The no-stall cycles must equal golden.cycles.kv_cache_axi (the RTL's
burst schedule with AxiRam's fixed handshake latencies).  AxiRam asserts that no burst crosses a 4 KB
boundary; the configs below place rows and buffers across them.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from golden.cycles import AXI_BOUNDARY, axi_bursts, kv_cache_axi, row_beats
from hls.kernels.kv_cache.spec import build, burst_beats, reciprocal, word_elems
from pyflow.backends.vitis.csim import compile_kernel, render_for_csim, run_kernel
from pyflow.backends.vitis.render import render_vitis, vector_dirs, vectors_text
from pyflow.backends.xls.build import build_kernel, has_rtl, has_template
from pyflow.project.config import DEFAULT_CONFIG, from_dict, load_project_config, small_config
from pyflow.sim.kernel import make_job
from pyflow.specs import get_spec
from pyflow.specs.base import KernelSpec
from pyflow.tools import gxx
from testbench.checks import SIMULATORS, check_csim, positions
from testbench.runner import simulate

PC = load_project_config(None)
GROUP = pytest.mark.xdist_group("kernel_kv_cache")


def _config(cap: int, lanes: int, head_dim: int = 16, act: dict[str, Any] | None = None,
            data_bits: int = 128) -> Any:  # noqa: ANN401
    """The small config with another capacity, kv_cache lanes, head_dim (kv_cache only), act format or bus."""
    raw = tomllib.loads(DEFAULT_CONFIG.read_text())
    if act:
        raw["formats"] = {"act": act}
    raw["memory"]["data_bits"] = data_bits
    pc = small_config(from_dict(raw))
    return dataclasses.replace(pc, max_length=cap, lanes={**pc.lanes, "kv_cache": lanes},
                               model=dataclasses.replace(pc.model, head_dim=head_dim))


#: name -> (config, kmem base, vmem base): the shapes the RTL and the C-sim are checked at beyond the default.
CONFIGS = {
    # a capacity that is not a power of two, 64-bit bus words (4 elements, one beat a word; bursts of 256 =
    # half a page): the loads of 200 rows of 4 words span two pages, the V^T rows end on a part-filled beat
    "cap200": (lambda: _config(200, 4, data_bits=64), 0, 0),
    # 12-bit activations x 8 lanes: 96 bits of a 128-bit bus word (one beat a word); CAP = 20 leaves 4 padding
    # lanes in the last V^T beat of a row
    "act12x8": (lambda: _config(20, 8, act={"width": 12, "frac": 8}), 0, 0),
    # 3 lanes (pos / 3 in RTL by a multiply), 6 elements (96 bits) in a 128-bit word, two beats a word; 4-word
    # (64-byte) rows in buffers that start just before a 4 KB boundary: row writes and both loads cross one
    "p3_based": (lambda: _config(20, 3, head_dim=24), AXI_BOUNDARY - 48, 3 * AXI_BOUNDARY - 16),
    # 512-bit words: 32 elements, 8 stream beats a word, one word a row (head_dim 32); bursts of 64 = one page
    "wide512": (lambda: _config(16, 4, head_dim=32, data_bits=512), 0, 0),
}


def _spec(name: str) -> KernelSpec:
    make, kbase, vbase = CONFIGS[name]
    return build(make(), kmem_base=kbase, vmem_base=vbase)


def _csim(spec: KernelSpec, out: Path) -> list[tuple[int | None, bool, list[str]]]:
    """C-simulate ``spec`` at every position of testbench.checks.positions: (pos, passed, messages) each."""
    render_for_csim([spec], PC, out, positions(spec))
    exe = compile_kernel(spec, out).exe
    return [(pos, *run_kernel(spec, exe, out, folder=folder)[:2]) for folder, pos in
            vector_dirs(spec, positions(spec)).items()]


def _crosses(start_word: int, words: int, word_bytes: int) -> bool:
    return (start_word * word_bytes) // AXI_BOUNDARY != ((start_word + words) * word_bytes - 1) // AXI_BOUNDARY


# ---------------------------------------------------------------------------------------------- golden, model


@pytest.mark.parametrize("pos", [0, 1, 3, 4, 9, 15])
def test_golden_moves_data(pos: int) -> None:
    spec = get_spec("kv_cache", PC, small=True)
    ins, out = spec.vectors(0, pos + 1)
    cap, d, p = spec.params["CAP"], spec.params["D"], spec.params["P"]
    assert int(ins["pos"][0]) == pos
    for mem, new in (("kmem", "k_new"), ("vmem", "v_new")):
        after, before = out[mem].reshape(cap, d), ins[mem].reshape(cap, d)
        assert np.array_equal(after[pos], ins[new])
        keep = np.ones(cap, bool)
        keep[pos] = False
        assert np.array_equal(after[keep], before[keep])  # other rows (garbage beyond pos) kept
    assert np.array_equal(out["k"], out["kmem"].reshape(cap, d)[: pos + 1].reshape(-1))
    vt = out["vt"].reshape(d, pos + 1)
    assert np.array_equal(vt[:, pos], ins["v_new"])
    assert np.array_equal(vt[:, :pos], ins["vmem"].reshape(cap, d)[:pos].T)
    assert spec.length(ins) == pos + 1
    assert spec.port("vt").at(pos + 1).beats == d * row_beats(pos + 1, p)  # ceil: pos 0 streams one beat a row


def test_spec_layout_and_refusal() -> None:
    """The bus word from [memory] data_bits: the most elements that are a multiple of the lanes and divide d."""
    assert [word_elems(128, 16, 4, 64), word_elems(512, 16, 4, 64), word_elems(128, 12, 8, 16),
            word_elems(128, 16, 3, 24), word_elems(32, 16, 4, 64)] == [8, 32, 8, 6, 4]
    assert [burst_beats(8), burst_beats(16), burst_beats(64)] == [256, 256, 64]
    default = get_spec("kv_cache", PC)
    assert (default.consts["WORD_ELEMS"], default.consts["ROW_WORDS"], default.consts["BUS_BITS"]) == (8, 8, 128)
    spec = _spec("act12x8")
    kmem = spec.port("kmem")
    assert (kmem.word_bits, kmem.mem_word_bits, spec.consts["BUS_BITS"]) == (96, 128, 128)
    assert spec.port("vmem").elements == 20 * 16 and spec.port("vmem").beats == 20 * 2  # CAP rows of 2 words
    ins, _ = spec.vectors(0, 20)
    ins["pos"] = np.array([20])
    with pytest.raises(ValueError, match="outside 1..20"):
        spec.expected(ins)
    with pytest.raises(ValueError, match="refuses"):
        spec.golden(ins)
    for p, limit in ((3, 20), (3, 4096), (5, 1000), (7, 123)):
        m, s = reciprocal(p, limit)
        assert all((q * m) >> s == q // p for q in range(limit))


@pytest.mark.parametrize("data_bits", [128, 256])
def test_layout_is_the_accelerators(data_bits: int) -> None:
    """At the default dimensions the kv_cache buffers hold exactly the words of the decode accelerator's KV
    regions (hls/accel/spec.py kv_image): per KV head, K rows then V rows by position, E elements a word."""
    from golden import llama_fixed as lf
    from hls.accel.spec import build as build_accel

    raw = tomllib.loads(DEFAULT_CONFIG.read_text())
    raw["memory"]["data_bits"] = data_bits
    pc = from_dict(raw)
    accel, spec = build_accel(pc), build(pc)
    assert spec.consts["WORD_ELEMS"] == accel.per_word and spec.consts["ROW_WORDS"] == accel.row_words
    r = np.random.default_rng(3)
    shape = (pc.model.num_key_value_heads, pc.max_length, pc.model.head_dim)
    cache = lf.FixedKVCache(r.integers(-2**15, 2**15, shape), r.integers(-2**15, 2**15, shape), 0)
    img = accel.kv_image(cache)
    for j in (0, shape[0] - 1):
        for name, port, arr in (("k", "kmem", cache.k), ("v", "vmem", cache.v)):
            reg = accel.region(f"{name}{j}")
            mine = spec.port(port).to_words(arr[j].reshape(-1))
            assert mine == [img[reg.word + i] for i in range(len(mine))], (name, j)


def test_cycle_model_counts_bursts() -> None:
    """The model counted independently: the two row writes one burst at a time (each burst adds the write
    latency); K words leave at their beats a cycle while V words enter the bank one a cycle, each burst adding
    the read latency; a cycle after the longer of the two, d V^T rows of ceil(n / P) beats."""
    spec = _spec("p3_based")
    cap, d, p, burst = spec.params["CAP"], spec.params["D"], spec.params["P"], spec.consts["BURST"]
    rg, wg, wb = spec.params["MEM_READ_GAP"], spec.params["MEM_WRITE_GAP"], spec.consts["BUS_BITS"] // 8
    kb, vb = spec.params["KMEM_BASE"], spec.params["VMEM_BASE"]
    rw, per = spec.consts["ROW_WORDS"], spec.consts["BEATS_PER_WORD"]
    for n in (1, 2, 3, 4, 11, cap):
        t = spec.timing(0, n)
        k_bursts = axi_bursts(kb, n * rw, wb, burst)
        v_bursts = axi_bursts(vb, n * rw, wb, burst)
        assert sum(k_bursts) == sum(v_bursts) == n * rw and all(1 <= b <= burst for b in k_bursts + v_bursts)
        k_cycles, v_cycles = n * rw * per + len(k_bursts) * rg, n * rw + len(v_bursts) * rg
        assert k_cycles > v_cycles  # (two beats a word: the K stream is the longer)
        assert t.last - t.first + 1 == k_cycles + 1 + d * row_beats(n, p) - rg
        writes = [len(axi_bursts(base + (n - 1) * rw * wb, rw, wb, burst)) for base in (kb, vb)]
        store = d // p + 1 + 2 * rw + sum(writes) * wg + 1  # + 1: the cycle between the rows
        assert t.first == store + rg
    assert max(len(axi_bursts(kb + pos * rw * wb, rw, wb, burst)) for pos in range(cap)) == 2  # a row crosses 4 KB
    with pytest.raises(ValueError, match="outside 1..20"):
        kv_cache_axi(21, d, p, cap=cap, word_elems=6, burst=burst, read_gap=rg, write_gap=wg, word_bytes=wb)
    # the schedule's entry: per KV head, the capacity when the shape has no n, a kernel of n keys beyond it
    one = spec.op_cycles("mem_load_kv", {"n": 5, "head_dim": d, "kv_heads": 1}, 0)
    assert one.total == spec.timing(0, 5).total - spec.timing(0, 5).first + rg
    assert spec.op_cycles("mem_load_kv", {"n": 40, "head_dim": d, "kv_heads": 2}, 0).total > 2 * one.total


def test_bursts_never_cross_4k() -> None:
    """Every transfer of every position, in the bursts the RTL and the model issue (axi_bursts): at most BURST
    beats, never across a 4 KB boundary, exactly the transfer's words; the configs do place transfers across."""
    for name in ("cap200", "p3_based"):
        spec = _spec(name)
        cap, burst, rw = spec.params["CAP"], spec.consts["BURST"], spec.consts["ROW_WORDS"]
        wb = spec.consts["BUS_BITS"] // 8
        kw, vw = spec.params["KMEM_BASE"] // wb, spec.params["VMEM_BASE"] // wb
        crossing = 0
        for pos in range(cap):
            n = pos + 1
            for start, words in ((kw + pos * rw, rw), (vw + pos * rw, rw), (kw, n * rw), (vw, n * rw)):
                crossing += _crosses(start, words, wb)
                at = start
                for b in axi_bursts(start * wb, words, wb, burst):
                    assert not _crosses(at, b, wb) and 1 <= b <= burst
                    at += b
                assert at == start + words  # never beyond the transfer (nor the buffer)
        assert crossing, name
    assert _crosses(500, 16, 8) and axi_bursts(500 * 8, 50, 8, 16) == [12, 16, 16, 6]


# ---------------------------------------------------------------------------------------------------- C-sim


@GROUP
def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim("kv_cache", tmp_path_factory.mktemp("csim_kv_cache"))


@GROUP
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_csim_configs(name: str, tmp_path: Path) -> None:
    runs = _csim(_spec(name), tmp_path)
    assert len(runs) == len(positions(_spec(name)))
    assert all(ok for _, ok, _ in runs), [r for r in runs if not r[1]]


def _refused_vectors(spec: KernelSpec, folder: Path, pos: int) -> dict[str, np.ndarray]:
    """Vector files of an invocation at ``pos`` (beyond the capacity): the memories must come back untouched;
    the k / vt files expect one beat of zeros (which a refused invocation does not stream)."""
    ins, _ = spec.vectors(1, spec.max_length)
    ins["pos"] = np.array([pos])
    folder.mkdir(parents=True)
    for p in spec.inputs:
        (folder / f"{p.name}.in.txt").write_text(vectors_text(ins[p.name]))
    for p in spec.outputs:
        exp = ins[p.name] if p.kind == "m_axi" else np.zeros(p.lanes, np.int64)
        (folder / f"{p.name}.exp.txt").write_text(vectors_text(exp))
    return ins


@GROUP
def test_csim_refuses_pos_beyond_capacity(tmp_path: Path) -> None:
    """pos = CAP: C-sim stops at the assert; with asserts compiled out the kernel writes and streams nothing."""
    spec = get_spec("kv_cache", PC, small=True)
    out = tmp_path / "build"
    render_for_csim([spec], PC, out)
    vec = tmp_path / "refused"
    _refused_vectors(spec, vec, spec.max_length)
    exe = compile_kernel(spec, out).exe
    res = subprocess.run([str(exe), str(vec)], capture_output=True, text=True, check=False)
    assert res.returncode != 0 and "pos must be below the capacity" in res.stderr, (res.returncode, res.stderr)
    d = out / spec.name
    ndebug = gxx.compile_exe([d / "kv_cache.cpp", d / "kv_cache_tb.cpp"], [d, out / "_shim"], "kv_cache_tb_ndebug",
                             flags=(*gxx.CXXFLAGS, "-DNDEBUG"))
    res = subprocess.run([str(ndebug.exe), str(vec)], capture_output=True, text=True, check=False)
    lines = res.stdout.splitlines()
    assert "OK kmem: 256 elements match" in lines and "OK vmem: 256 elements match" in lines, res.stdout
    assert any(ln.startswith("MISMATCH k: got 0 elements") for ln in lines), res.stdout
    assert any(ln.startswith("MISMATCH vt: got 0 elements") for ln in lines), res.stdout


def _memory_accesses(code: str) -> list[str]:
    """Lines of C++ ``code`` that index an m_axi buffer (kmem / vmem / vtmem)."""
    return [ln.strip() for ln in code.splitlines() if re.search(r"\b(kmem|vmem|vtmem)\s*\[", ln)]


def _burst_violations(code: str) -> list[str]:
    """Memory accesses that would not burst: a run-time / or % in the address, a conditional (?:) access, or an
    access nested under an if."""
    bad = []
    lines = code.splitlines()
    for i, ln in enumerate(lines):
        for m in re.finditer(r"\b(kmem|vmem|vtmem)\s*\[([^\]]*)\]", ln):
            if re.search(r"[/%]", m.group(2)) or "?" in ln:
                bad.append(ln.strip())
        if re.search(r"\b(kmem|vmem|vtmem)\s*\[", ln) and re.match(r"\s*if\b", lines[i - 1]):
            bad.append(ln.strip())
    return bad


def test_memory_accesses_burst(tmp_path: Path) -> None:
    """The rendered kernel reads and writes memory only in loops whose addresses are affine (no / or %) and
    unconditional; the old kernel (V^T read-modify-writes at row / P, conditional K reads) fails this check."""
    render_vitis(get_spec("kv_cache", PC), PC, tmp_path, with_vectors=False)
    code = (tmp_path / "kv_cache" / "kv_cache.cpp").read_text()
    assert len(_memory_accesses(code)) == 4 and _burst_violations(code) == []
    assert "max_read_burst_length=256" in code and "offset=slave" in code
    old = ("const int at = i * CAP_WORDS + word;\n        vtmem_word_t w = vtmem[row / 4];\n"
           "const lanes_t kw = (w >= new_row) ? kbuf[w - new_row] : (lanes_t)kmem[w].range(WORD_W - 1, 0);")
    assert len(_burst_violations(old)) == 2


# ---------------------------------------------------------------------------------------------------- RTL


def test_kv_cache_is_an_rtl_kernel() -> None:
    from pyflow.sim.flow import rtl_kernels

    spec = get_spec("kv_cache", PC, small=True)
    assert has_template("kv_cache") and has_rtl(spec)
    assert "kv_cache" in [s.name for s in rtl_kernels(PC)]
    assert not has_rtl(get_spec("attention_decode", PC, small=True))


def _job(spec: KernelSpec, pos: int, depth: int) -> dict[str, Any]:
    """The stream-test job at ``pos``: the memories at the spec's base addresses, ``error`` expected low."""
    job = make_job(spec, depth, pos=pos)
    for m in job["axi_mems"]:
        m["base"] = int(spec.params[f"{m['name'].upper()}_BASE"])
    job["status"] = {"error": 0}
    return job


def _check_rtl(spec: KernelSpec, simulator: str, root: Path) -> None:
    """Every position of testbench.checks.positions, with and without stalls: bit-exact streams, final
    memories, error low, and the no-stall cycles exactly as the model predicts."""
    rtl = build_kernel(spec, build_root=root)
    for i, pos in enumerate(positions(spec)):
        job = _job(spec, pos, rtl.latency)
        res = simulate(simulator, rtl.sources, rtl.top, job, root / "sim" / spec.name / simulator,
                       tests=("nostall", "stalls"), build_root=root, rebuild=i == 0)
        where = f"{spec.name} ({spec.params['CAP']}, P {spec.params['P']}) on {simulator} at pos {pos}"
        for test in ("nostall", "stalls"):
            assert res[test]["errors"] == [] and res[test]["outputs_match"], (where, test, res[test]["errors"])
        measured = [res["nostall"]["first_output_cycle"], res["nostall"]["last_output_cycle"]]
        t = spec.timing(rtl.latency, pos + 1)
        assert measured == job["predicted"] == [t.first, t.last], where


@pytest.mark.rtl
@GROUP
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    _check_rtl(get_spec("kv_cache", PC, small=True), simulator, tmp_path_factory.getbasetemp() / "rtl_kv_cache")


@pytest.mark.rtl
@GROUP
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_rtl_configs(name: str, simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A capacity whose old bursts crossed 4 KB (AxiRam asserts on a crossing), 96-bit lanes in a 128-bit word,
    3 lanes with buffers based just below a 4 KB boundary."""
    _check_rtl(_spec(name), simulator, tmp_path_factory.getbasetemp() / f"rtl_kv_cache_{name}")


@pytest.mark.rtl
@GROUP
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl_refuses_pos_beyond_capacity(simulator: str, tmp_path: Path) -> None:
    """pos = CAP: the inputs are consumed, nothing is streamed or written, error goes high (and stays high)."""
    spec = get_spec("kv_cache", PC, small=True)
    rtl = build_kernel(spec, build_root=tmp_path)
    job = _job(spec, spec.max_length - 1, rtl.latency)
    job["scalars"]["pos"] = spec.max_length
    for o in job["outputs"]:
        o["expected"] = []
    for m in job["axi_mems"]:
        m["expected"] = m["init"]
    job["status"] = {"error": 1}
    job["predicted"] = None
    res = simulate(simulator, rtl.sources, rtl.top, job, tmp_path / "sim", tests=("nostall", "stalls"),
                   build_root=tmp_path)
    for test in ("nostall", "stalls"):
        r = res[test]
        assert r["errors"] == [] and r["outputs_match"], (test, r["errors"])
        assert r["beats_in"] == 2 * spec.params["D"] // spec.params["P"] and r["beats_out"] == 0
        assert r["first_output_cycle"] is None
    # the check is live: the same job at a valid position fails on every count
    job["scalars"]["pos"] = 3
    res = simulate(simulator, rtl.sources, rtl.top, job, tmp_path / "sim", tests=("nostall",), build_root=tmp_path,
                   rebuild=False)
    errs = res["nostall"]["errors"]
    assert any(e.startswith("status error = 0") for e in errs) and any("memory words differ" in e for e in errs)


@pytest.mark.rtl
@GROUP
def test_kv_cache_memory_check_can_fail(tmp_path: Path) -> None:
    """A wrong expected memory word must be reported (the final-memory check is live)."""
    spec = get_spec("kv_cache", PC, small=True)
    rtl = build_kernel(spec, build_root=tmp_path)
    job = make_job(spec, rtl.latency, pos=4)
    vmem = next(m for m in job["axi_mems"] if m["name"] == "vmem")
    vmem["expected"][5] ^= 1
    res = simulate("icarus", rtl.sources, rtl.top, job, tmp_path / "sim", build_root=tmp_path)
    errs = res["nostall"]["errors"]
    assert any(e.startswith("vmem: 1 memory words differ, first at word 5") for e in errs), errs
