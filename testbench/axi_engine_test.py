"""cocotb tests of the AXI4 engines (hls/rtl/ff_axi_read.v, ff_axi_write.v) on AxiRam and on ff_axi_mem.

Runs on the harness hls/rtl/tb/ff_axi_engines_tb.v (sets a..e of :data:`testbench.axi_engine_job.SETS`, all
sets at once in every test) through :func:`testbench.runner.simulate` with
``test_module="testbench.axi_engine_test"``.  The job (``FLATFLOW_TB_JOB``)::

    {"clock_ns": 10, "seed": 1, "result_dir": "...",
     "reads":  {"a": [[byte_addr, beats], ...], ...},  "reads_stall":  {...},
     "writes": {"a": [[byte_addr, beats], ...], ...},  "writes_stall": {...},
     "stall": 0.3, "throughput": {"set": "d", "beats": 8192, "commands": 8}}

Edges are counted from the first rising edge after the reset is released (edge 1); a handshake "happens"
at the edge where VALID and READY are both high.  Every test checks data, framing and the AXI rules itself
and writes ``result_<test>.json`` (per set: the edges of every command handshake, output word, AR / AW /
W / B handshake and `done` pulse) for the pytest side to compare with pyflow.accel.axi_timing.  The memory
contents are carried from test to test (writes change them), so the tests may run in any order.
"""

from __future__ import annotations

import json
import os
import random
import time
from itertools import cycle
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotbext.axi import AxiBus, AxiRam

from pyflow.accel.axi_timing import EngineCfg
from testbench.axi_engine_job import REGION, SETS, SetCfg, init_words

JOB: dict[str, Any] = json.loads(Path(os.environ["FLATFLOW_TB_JOB"]).read_text()) \
    if "FLATFLOW_TB_JOB" in os.environ else {}
CLOCK_NS = int(JOB.get("clock_ns", 10))
RESET_CYCLES = 4
#: Edges a test may run (a hang fails instead of running forever).
MAX_EDGES = int(JOB.get("max_edges", 400000))
#: The expected memory contents per set, carried across the tests of one simulation.
MEMORY: dict[str, list[int]] = {}


def _memory(cfg: SetCfg) -> list[int]:
    if cfg.name not in MEMORY:
        MEMORY[cfg.name] = init_words(cfg, int(JOB.get("seed", 1)))
    return MEMORY[cfg.name]


def _int(sig: Any) -> int:
    return int(sig.value)


def _pauses(rng: random.Random, p: float, n: int = 509) -> cycle:
    return cycle([rng.random() < p for _ in range(n)])


def _check_bursts(cfg: SetCfg, log: list[list[int]], cmds: list[list[int]], what: str) -> list[str]:
    """AR / AW log [edge, addr, len, size, burst] vs the commands: bursts cover every command in order, none
    crosses 4 KB, none is longer than the set's limit, INCR of full width."""
    errors: list[str] = []
    wb = cfg.word_bytes
    maxb = min(cfg.max_burst, 256, 4096 // wb)
    want = [(a + i * wb) for a, n in cmds for i in range(n)]
    got: list[int] = []
    for _, addr, length, size, burst in log:
        beats = length + 1
        if addr % 4096 + beats * wb > 4096:
            errors.append(f"{what} burst at 0x{addr:x} of {beats} beats crosses a 4 KB boundary")
        if beats > maxb:
            errors.append(f"{what} burst at 0x{addr:x} of {beats} beats > {maxb}")
        if size != (wb - 1).bit_length() or burst != 1:
            errors.append(f"{what} burst at 0x{addr:x}: size {size}, burst type {burst}")
        got += [addr + i * wb for i in range(beats)]
    if got != want:
        errors.append(f"{what} bursts cover {len(got)} words, not the {len(want)} of the commands in order")
    return errors[:8]


class CmdDriver:
    """Presents commands on <prefix>_valid/_addr/_beats (random gaps with probability ``gap``)."""

    def __init__(self, h: Any, prefix: str, cmds: list[list[int]], rng: random.Random, gap: float) -> None:
        self.valid, self.ready = getattr(h, f"{prefix}_valid"), getattr(h, f"{prefix}_ready")
        self.addr, self.beats = getattr(h, f"{prefix}_addr"), getattr(h, f"{prefix}_beats")
        self.cmds, self.rng, self.gap = cmds, rng, gap
        self.i, self.on = 0, False
        self.accepted: list[int] = []

    def step(self, edge: int) -> None:
        if self.on:
            if not _int(self.ready):
                return  # VALID stays up until the handshake
            self.accepted.append(edge)
            self.i += 1
        on = self.i < len(self.cmds) and not (self.gap and self.rng.random() < self.gap)
        if on:
            self.addr.value, self.beats.value = self.cmds[self.i]
        if on != self.on:
            self.valid.value = int(on)
        self.on = on


class ReadSide:
    """Drives a set's read engine and records its output words and AR handshakes."""

    def __init__(self, h: Any, cfg: SetCfg, cmds: list[list[int]], rng: random.Random, stall: float) -> None:
        self.h, self.cfg, self.cmds, self.rng, self.stall = h, cfg, cmds, rng, stall
        self.cmd = CmdDriver(h, "rc", cmds, rng, stall)
        mem, wb = _memory(cfg), cfg.word_bytes
        self.expected = [(mem[a // wb + i], int(i == n - 1)) for a, n in cmds for i in range(n)]
        self.got: list[tuple[int, int]] = []
        self.out: list[int] = []
        self.ar: list[list[int]] = []
        self.ready = False
        # with stalls, one long out_ready pause (the FIFO depth + 50 cycles from edge 300) fills the FIFO, so
        # the room reserved per burst is what keeps beats from being lost
        depth = EngineCfg(cfg.data_w, cfg.max_burst, cfg.outstanding).fifo_depth
        self.pause = range(300, 350 + depth) if stall else range(0)

    def step(self, edge: int) -> None:
        h = self.h
        self.cmd.step(edge)
        if self.ready and _int(h.ro_valid):
            self.got.append((_int(h.ro_data), _int(h.ro_last)))
            self.out.append(edge)
        if _int(h.ar_fire):
            self.ar.append([edge, _int(h.axi_araddr), _int(h.axi_arlen), _int(h.axi_arsize), _int(h.axi_arburst)])
        ready = not (self.stall and self.rng.random() < self.stall) and edge not in self.pause
        if ready != self.ready:
            h.ro_ready.value = int(ready)
        self.ready = ready

    def finished(self) -> bool:
        return len(self.got) >= len(self.expected)

    def result(self) -> dict[str, Any]:
        errors = []
        if self.got != self.expected:
            bad = next((i for i, (g, e) in enumerate(zip(self.got, self.expected, strict=False)) if g != e),
                       min(len(self.got), len(self.expected)))
            errors.append(f"{self.cfg.name}: {len(self.got)} words out, {len(self.expected)} expected, first "
                          f"difference at word {bad}")
        errors += _check_bursts(self.cfg, self.ar, self.cmds, f"{self.cfg.name} read")
        return {"accept": self.cmd.accepted, "out": self.out, "ar": self.ar, "errors": errors}


class WriteSide:
    """Drives a set's write engine (commands and their words) and records AW / W / B handshakes and `done`."""

    def __init__(self, h: Any, cfg: SetCfg, cmds: list[list[int]], rng: random.Random, stall: float) -> None:
        self.h, self.cfg, self.cmds, self.rng, self.stall = h, cfg, cmds, rng, stall
        self.cmd = CmdDriver(h, "wc", cmds, rng, stall)
        wrng = random.Random(rng.random())
        self.words = [wrng.getrandbits(cfg.data_w) for _, n in cmds for _ in range(n)]
        self.j, self.on = 0, False
        self.done: list[int] = []
        self.aw: list[list[int]] = []
        self.w: list[list[int]] = []
        self.b: list[int] = []

    def step(self, edge: int) -> None:
        h = self.h
        self.cmd.step(edge)
        taken = self.on and _int(h.wi_ready)
        if taken:
            self.j += 1
        if _int(h.w_done):
            self.done.append(edge)
        if _int(h.aw_fire):
            self.aw.append([edge, _int(h.axi_awaddr), _int(h.axi_awlen), _int(h.axi_awsize), _int(h.axi_awburst)])
        if _int(h.w_fire):
            self.w.append([edge, _int(h.axi_wlast)])
        if _int(h.b_fire):
            self.b.append(edge)
        if self.on and not taken:
            return  # VALID and the word stay until taken
        on = self.j < len(self.words) and not (self.stall and self.rng.random() < self.stall)
        if on:
            h.wi_data.value = self.words[self.j]
        if on != self.on:
            h.wi_valid.value = int(on)
        self.on = on

    def finished(self) -> bool:
        return len(self.done) >= len(self.cmds)

    def apply(self) -> None:
        """The expected memory after the writes."""
        mem, wb, k = _memory(self.cfg), self.cfg.word_bytes, 0
        for a, n in self.cmds:
            mem[a // wb:a // wb + n] = self.words[k:k + n]
            k += n

    def result(self, read_word: Any) -> dict[str, Any]:
        """Check WLAST, the bursts and the memory (``read_word(i)``: word i of the set's memory)."""
        errors = _check_bursts(self.cfg, self.aw, self.cmds, f"{self.cfg.name} write")
        ends = [e for e, last in self.w if last]
        bursts = [ln + 1 for _, _, ln, _, _ in self.aw]
        starts = [0]
        for n in bursts[:-1]:
            starts.append(starts[-1] + n)
        want_last = [i == s + n - 1 for s, n in zip(starts, bursts, strict=True) for i in range(s, s + n)]
        if [bool(last) for _, last in self.w] != want_last:
            errors.append(f"{self.cfg.name}: WLAST not on the bursts' last beats")
        if len(self.done) != len(self.cmds) or len(self.b) != len(self.aw):
            errors.append(f"{self.cfg.name}: {len(self.done)} done pulses / {len(self.cmds)} commands, "
                          f"{len(self.b)} B / {len(self.aw)} AW")
        self.apply()
        mem, wb = _memory(self.cfg), self.cfg.word_bytes
        check = sorted({i for a, n in self.cmds for i in range(a // wb - 1, a // wb + n + 1)
                        if 0 <= i < self.cfg.words})
        bad = [i for i in check if read_word(i) != mem[i]]
        if bad:
            errors.append(f"{self.cfg.name}: {len(bad)} memory words differ, first word {bad[0]}")
        return {"accept": self.cmd.accepted, "done": self.done, "aw": self.aw, "w_end": ends, "b": self.b,
                "errors": errors}


async def _setup(dut: Any, stall: float, rng: random.Random) -> dict[str, AxiRam]:
    """Clock, reset asserted, AxiRam on the AxiRam sets (with pause generators when ``stall``), memory loaded."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.rst_n.value = 0
    await Timer(1, "ns")
    rams: dict[str, AxiRam] = {}
    for cfg in SETS.values():
        h = getattr(dut, cfg.name)
        for sig in ("rc_valid", "wc_valid", "wi_valid", "ro_ready"):
            getattr(h, sig).value = 0
        words = _memory(cfg)
        if cfg.mem == "axiram":
            ram = AxiRam(AxiBus.from_prefix(h, "axi"), dut.clk, dut.rst_n, reset_active_level=False, size=REGION)
            ram.write(0, b"".join(w.to_bytes(cfg.word_bytes, "little") for w in words))
            if stall:
                for ch in (ram.read_if.ar_channel, ram.read_if.r_channel, ram.write_if.aw_channel,
                           ram.write_if.w_channel, ram.write_if.b_channel):
                    ch.set_pause_generator(_pauses(rng, stall))
            rams[cfg.name] = ram
    await ClockCycles(dut.clk, RESET_CYCLES)
    dut.rst_n.value = 1
    return rams


def _mem_reader(dut: Any, cfg: SetCfg, rams: dict[str, AxiRam]) -> Any:
    if cfg.mem == "axiram":
        ram, wb = rams[cfg.name], cfg.word_bytes
        return lambda i: int.from_bytes(ram.read(i * wb, wb), "little")
    mem = getattr(dut, cfg.name).g_mem.u_mem.mem
    return lambda i: int(mem[i].value)


def _write(name: str, result: dict[str, Any]) -> None:
    (Path(JOB["result_dir"]) / f"result_{name}.json").write_text(json.dumps(result) + "\n")


async def _run(dut: Any, name: str, kind: str, stall: float) -> None:
    rng = random.Random(f"{JOB.get('seed', 1)}:{name}")
    rams = await _setup(dut, stall, rng)
    side_cls = ReadSide if kind == "read" else WriteSide
    sides = {s: side_cls(getattr(dut, s), SETS[s], cmds, random.Random(f"{name}:{s}:{rng.random()}"), stall)
             for s, cmds in JOB[name].items()}
    wall0 = time.perf_counter()
    edge = 0
    while not all(s.finished() for s in sides.values()) and edge < MAX_EDGES:
        await RisingEdge(dut.clk)
        edge += 1
        for s in sides.values():
            s.step(edge)
    for _ in range(16):  # an extra word or pulse would show up here
        await RisingEdge(dut.clk)
        edge += 1
        for s in sides.values():
            s.step(edge)
    wall = time.perf_counter() - wall0
    out: dict[str, Any] = {"test": name, "edges": edge, "wall_seconds": wall, "sets": {}}
    errors: list[str] = []
    for s, side in sides.items():
        h = getattr(dut, s)
        if isinstance(side, ReadSide):
            res = side.result()
            idle = _int(h.r_idle)
        else:
            res = side.result(_mem_reader(dut, SETS[s], rams))
            idle = _int(h.w_idle)
        if not idle:
            res["errors"].append(f"{s}: engine not idle at the end")
        if SETS[s].mem == "ff_axi_mem" and _int(h.g_mem.u_mem.errors):
            res["errors"].append(f"{s}: ff_axi_mem counted {_int(h.g_mem.u_mem.errors)} protocol errors")
        if edge >= MAX_EDGES + 16:
            res["errors"].append(f"{s}: not finished after {MAX_EDGES} edges")
        out["sets"][s] = res
        errors += res["errors"]
    out["errors"] = errors
    _write(name, out)
    assert not errors, "; ".join(errors[:5])


@cocotb.test()
async def reads(dut: Any) -> None:
    """Back-to-back read commands, out_ready always high, no AXI delays: data, out_last, bursts; cycles recorded."""
    await _run(dut, "reads", "read", 0.0)


@cocotb.test()
async def reads_stall(dut: Any) -> None:
    """Read commands with random gaps, random out_ready back-pressure, random AR / R pauses (AxiRam)."""
    await _run(dut, "reads_stall", "read", float(JOB.get("stall", 0.3)))


@cocotb.test()
async def writes(dut: Any) -> None:
    """Back-to-back write commands with their words always valid: memory contents, WLAST, bursts, done."""
    await _run(dut, "writes", "write", 0.0)


@cocotb.test()
async def writes_stall(dut: Any) -> None:
    """Write commands and words with random gaps, random AW / W / B pauses (AxiRam)."""
    await _run(dut, "writes_stall", "write", float(JOB.get("stall", 0.3)))


@cocotb.test()
async def throughput(dut: Any) -> None:
    """Long read commands on one ff_axi_mem set, out_ready high: words per cycle from the harness counters."""
    tp = JOB["throughput"]
    cfg = SETS[tp["set"]]
    h = getattr(dut, cfg.name)
    await _setup(dut, 0.0, random.Random(0))
    h.ro_ready.value = 1
    beats, n = int(tp["beats"]), int(tp["commands"])
    h.rc_addr.value, h.rc_beats.value = 0, beats
    h.rc_valid.value = 1
    wall0 = time.perf_counter()
    for _ in range(n):  # no Python per cycle while the engine is busy: wait for cmd_ready to rise
        await RisingEdge(dut.clk)
        while not _int(h.rc_ready):
            await RisingEdge(h.rc_ready)
            await RisingEdge(dut.clk)
    h.rc_valid.value = 0
    while _int(h.ro_n) < beats * n and _int(h.cyc) < MAX_EDGES * 4:
        await ClockCycles(dut.clk, 256)
    await ClockCycles(dut.clk, 4)
    wall = time.perf_counter() - wall0
    words, t_cmd, t0, t1 = _int(h.ro_n), _int(h.rc_t0), _int(h.ro_t0), _int(h.ro_t1)
    res = {"test": "throughput", "set": cfg.name, "words": words, "first_cmd_edge": t_cmd, "first_out_edge": t0,
           "last_out_edge": t1, "streaming": words / (t1 - t0 + 1), "overall": words / (t1 - t_cmd),
           "cycles": t1 - t_cmd, "wall_seconds": wall, "cycles_per_second": (t1 - t_cmd) / max(wall, 1e-9),
           "mem_errors": _int(h.g_mem.u_mem.errors), "errors": []}
    if words != beats * n or res["mem_errors"]:
        res["errors"].append(f"{words} words of {beats * n}, {res['mem_errors']} memory errors")
    _write("throughput", res)
    assert not res["errors"], res["errors"]
