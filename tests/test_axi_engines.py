"""AXI4 read / write engines (hls/rtl/ff_axi_read.v, ff_axi_write.v), the memory model ff_axi_mem.v and the
cycle model pyflow.accel.axi_timing.

One build per simulator of the harness hls/rtl/tb/ff_axi_engines_tb.v (five engine sets: AxiRam or
ff_axi_mem, DATA_W 64 / 128 / 256, OUTSTANDING 1..6, MAX_BURST 16..256) runs the five cocotb tests of
testbench/axi_engine_test.py; the tests below check what they recorded.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyflow.accel.axi_timing import AxiRam, EngineCfg, FfAxiMem, read_timing, write_timing
from pyflow.errors import FlowError
from pyflow.tools.verilator import tool_env, verilator_bin
from testbench.axi_engine_job import RTL, SETS, SOURCES, TESTS, TOP, SetCfg, make_job, write_init_files
from testbench.runner import simulate

SEED = 11
N_CMDS = 16
MODULE = "testbench.axi_engine_test"


def _cfg(s: SetCfg) -> EngineCfg:
    return EngineCfg(s.data_w, s.max_burst, s.outstanding)


def _mem(s: SetCfg, extra_latency: int = 0) -> FfAxiMem | AxiRam:
    if s.mem == "axiram":
        return AxiRam()
    return FfAxiMem(s.read_latency + extra_latency, s.write_latency + extra_latency)


# ---- lint and the splitting rule (no simulator run)

def _lint(top: str, files: list[Path], params: dict[str, int], tmp: Path, defines: tuple[str, ...] = ()) -> str:
    cmd = [str(verilator_bin()), "--lint-only", "-Wall", "--top-module", top, *[f"-D{d}" for d in defines],
           *[f"-G{k}={v}" for k, v in params.items()], *map(str, files)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=tool_env(tmp))
    return "" if res.returncode == 0 else (res.stderr + res.stdout)


@pytest.mark.rtl
def test_engines_and_memory_lint_clean_without_waivers(tmp_path: Path) -> None:
    split = RTL / "ff_axi_burst_split.v"
    params = [{}, {"DATA_W": 64, "OUTSTANDING": 1, "MAX_BURST": 16}, {"DATA_W": 1024, "OUTSTANDING": 5},
              {"DATA_W": 256, "MAX_BURST": 64, "LEN_W": 8}, {"DATA_W": 8, "OUTSTANDING": 3, "MAX_BURST": 1}]
    for p in params:
        for top in ("ff_axi_read", "ff_axi_write"):
            assert _lint(top, [RTL / f"{top}.v", split, RTL / "ff_fifo_bram.v"], p, tmp_path) == "", (top, p)
    # the ECP5 branch of ff_fifo_bram (its second read register is the DP16KD output register)
    files = [RTL / "ff_axi_read.v", split, RTL / "ff_fifo_bram.v"]
    assert _lint("ff_axi_read", files, {}, tmp_path, ("FLATFLOW_ECP5_DSP",)) == ""
    for p in ({}, {"DATA_W": 64, "WORDS": 1024, "QUEUE": 2}, {"DATA_W": 1024, "WORDS": 4, "ADDR_W": 64}):
        assert _lint("ff_axi_mem", [RTL / "ff_axi_mem.v"], p, tmp_path) == "", p
    # the harness: its only waivers (signals read by cocotb, two modules in a file) are in its .vlt
    assert _lint(TOP, [RTL / "tb" / "lint_waivers.vlt", *SOURCES], {}, tmp_path) == ""


def test_burst_split_rules() -> None:
    rng = random.Random(3)
    for data_w, max_burst in ((64, 256), (128, 256), (256, 64), (1024, 256), (128, 7)):
        cfg = EngineCfg(data_w, max_burst, 2)
        wb = data_w // 8
        for _ in range(300):
            addr, beats = rng.randrange(0, 1 << 20) * wb, rng.randint(1, 3000)
            bursts = cfg.bursts(addr, beats)
            assert sum(n for _, n in bursts) == beats and bursts[0][0] == addr
            for (a, n), (a2, _) in zip(bursts, bursts[1:], strict=False):
                assert a2 == a + n * wb  # contiguous
            for a, n in bursts:
                assert 1 <= n <= min(256, max_burst) and a // 4096 == (a + n * wb - 1) // 4096
            # maximal: every burst but the last ends at a 4 KB boundary or is as long as allowed
            for a, n in bursts[:-1]:
                assert (a + n * wb) % 4096 == 0 or n == cfg.maxb


# ---- simulations

@pytest.fixture(scope="module", params=["verilator", "icarus"])
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, dict]:
    """Build the harness once per simulator and run every cocotb test: (simulator, job, results)."""
    name = request.param
    build = tmp_path_factory.mktemp(f"axi_{name}")
    write_init_files(build, SEED)
    # Icarus runs this harness at ~6k cycles/s, Verilator at ~100k+: size the throughput run to each
    job = make_job(SEED, N_CMDS, throughput_words=262144 if name == "verilator" else 16384)
    res = simulate(name, SOURCES, TOP, job, build, tests=TESTS, build_root=build, test_module=MODULE)
    walls = ", ".join(f"{t} {res[t].get('wall_seconds', 0):.1f} s" for t in TESTS)
    print(f"\n{name}: build {res['build_seconds']:.1f} s, simulation {res['sim_seconds']:.1f} s ({walls})")
    return name, job, res


@pytest.mark.rtl
def test_reads_exact_with_and_without_stalls(sim: tuple[str, dict, dict]) -> None:
    """Data, out_last, 4 KB / burst-length rules (checked in cocotb and by AxiRam / ff_axi_mem themselves)."""
    _, job, res = sim
    for test in ("reads", "reads_stall"):
        assert res[test].get("errors") == [], (test, res[test].get("errors"))
        for s in SETS:
            r = res[test]["sets"][s]
            assert len(r["out"]) == sum(n for _, n in job[test][s])
            assert max(ln for _, _, ln, _, _ in r["ar"]) <= 255


@pytest.mark.rtl
def test_writes_exact_with_and_without_stalls(sim: tuple[str, dict, dict]) -> None:
    _, job, res = sim
    for test in ("writes", "writes_stall"):
        assert res[test].get("errors") == [], (test, res[test].get("errors"))
        for s in SETS:
            assert len(res[test]["sets"][s]["done"]) == len(job[test][s])


def _read_errors(s: SetCfg, cmds: list, rec: dict[str, Any], mem: FfAxiMem | AxiRam) -> list[str]:
    m = read_timing(_cfg(s), mem, cmds)
    base = rec["accept"][0]
    out = np.asarray(rec["out"]) - base
    errs = []
    if [a - base for a in rec["accept"]] != m.accept:
        errs.append(f"{s.name}: command handshakes differ")
    if [e - base for e, *_ in rec["ar"]] != [b.addr_edge for b in m.bursts]:
        errs.append(f"{s.name}: AR handshakes differ")
    if len(out) != len(m.out) or not np.array_equal(out, m.out):
        bad = int(np.nonzero(out[:len(m.out)] != m.out[:len(out)])[0][0]) if len(out) == len(m.out) else -1
        errs.append(f"{s.name}: output word edges differ (first at word {bad})")
    return errs


def _write_errors(s: SetCfg, cmds: list, rec: dict[str, Any], mem: FfAxiMem | AxiRam) -> list[str]:
    m = write_timing(_cfg(s), mem, cmds)
    base = rec["accept"][0]
    got = {"accept": [a - base for a in rec["accept"]], "aw": [e - base for e, *_ in rec["aw"]],
           "w_end": [e - base for e in rec["w_end"]], "b": [e - base for e in rec["b"]],
           "done": [e - base for e in rec["done"]]}
    want = {"accept": m.accept, "aw": [b.addr_edge for b in m.bursts], "w_end": [b.last for b in m.bursts],
            "b": [b.resp for b in m.bursts], "done": m.done}
    return [f"{s.name}: {k} edges differ" for k in got if got[k] != want[k]]


@pytest.mark.rtl
def test_cycle_model_exact(sim: tuple[str, dict, dict]) -> None:
    """No back-pressure: every output word's edge, every AR / AW / last W / B handshake and every done equal
    pyflow.accel.axi_timing, for AxiRam and ff_axi_mem, OUTSTANDING 1 and > 1."""
    _, job, res = sim
    errs: list[str] = []
    for name, s in SETS.items():
        errs += _read_errors(s, job["reads"][name], res["reads"]["sets"][name], _mem(s))
        errs += _write_errors(s, job["writes"][name], res["writes"]["sets"][name], _mem(s))
    assert errs == []
    # the comparison has teeth: one cycle more of ff_axi_mem latency is caught
    for name, s in SETS.items():
        if s.mem == "ff_axi_mem":
            assert _read_errors(s, job["reads"][name], res["reads"]["sets"][name], _mem(s, 1))
            assert _write_errors(s, job["writes"][name], res["writes"]["sets"][name], _mem(s, 1))


@pytest.mark.rtl
def test_throughput_read_latency_20(sim: tuple[str, dict, dict]) -> None:
    """ff_axi_mem READ_LATENCY 20, OUTSTANDING 2, 256-bit words: long commands stream at >= 98 % of a word per
    cycle (measured on the harness's counters), and the cycle model agrees."""
    name, job, res = sim
    tp = res["throughput"]
    assert tp["errors"] == []
    s = SETS[job["throughput"]["set"]]
    assert s.read_latency == 20 and s.outstanding >= 2
    print(f"\n{name}: {tp['words']} words: {tp['streaming']:.4%} of a word per cycle from the first word, "
          f"{tp['overall']:.4%} from the first command; {tp['cycles_per_second']:.0f} cycles/s")
    assert tp["streaming"] >= 0.98 and tp["overall"] >= 0.98
    n = job["throughput"]["commands"]
    m = read_timing(_cfg(s), _mem(s), [(0, job["throughput"]["beats"])] * n)
    assert tp["last_out_edge"] - tp["first_cmd_edge"] == m.cycles
    assert tp["first_out_edge"] - tp["first_cmd_edge"] == int(m.out[0])


@pytest.mark.rtl
def test_broken_4k_split_is_caught(tmp_path: Path) -> None:
    """Mutation: a splitter that ignores the 4 KB boundary (bursts of MAXB beats from any offset) fails the
    read test: on ff_axi_mem, cocotb's burst check and the model's error counter; on AxiRam, its assertion."""
    text = (RTL / "ff_axi_burst_split.v").read_text()
    broken = text.replace("wire [PW - 1:0] page_m1 = ~s_off;", "wire [PW - 1:0] page_m1 = {PW{1'b1}};")
    assert broken != text
    src = tmp_path / "ff_axi_burst_split.v"
    src.write_text(broken)
    work = tmp_path / "sim"
    write_init_files(work, SEED)
    job = make_job(SEED, 3)
    mems = {k: v for k, v in job["reads"].items() if SETS[k].mem == "ff_axi_mem"}
    res = simulate("icarus", [src, *SOURCES[1:]], TOP, dict(job, reads=mems), work, tests=("reads",),
                   build_root=tmp_path, test_module=MODULE)
    errors = " ".join(res["reads"]["errors"])
    assert "crosses a 4 KB boundary" in errors and "ff_axi_mem counted" in errors, errors
    rams = {k: v for k, v in job["reads"].items() if SETS[k].mem == "axiram"}
    with pytest.raises(FlowError, match=r"assert \(4096 - "):  # AxiRam's 4 KB assertion ends the test
        simulate("icarus", [src, *SOURCES[1:]], TOP, dict(job, reads=rams), work, tests=("reads",),
                 build_root=tmp_path, test_module=MODULE, rebuild=False)
