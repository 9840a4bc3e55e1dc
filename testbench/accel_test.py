"""cocotb test of the decode accelerator (hls/accel/): T consecutive tokens in one simulation.

Control through cocotbext-axi's ``AxiLiteMaster`` (the Vitis ap_ctrl protocol: write the arguments, set
ap_start, wait for ap_done); memory either cocotbext-axi's ``AxiRam`` on the ``m_axi_gmem`` port (protocol
checks, optional random back-pressure on every channel), or -- for long runs -- ``ff_axi_mem`` inside the
simulation top (``"memory": "verilog"``), whose array the test reads and writes through the hierarchy.
The job (``FLATFLOW_TB_JOB``)::

    {"clock_ns": 10, "seed": 1, "result_dir": "...", "memory": "axiram" | "verilog",
     "word_bytes": 16, "mem_words": ..., "stall": 0.0,
     "bases": {"w_base": byte, "kv_base": ..., "x_base": ..., "y_base": ...},
     "init_file": path         (the memory before the first token: raw little-endian words for AxiRam; for the
                                Verilog memory a $readmemh file, loaded by the simulator through +ff_mem_init)
     "tokens": [{"pos": p, "x": {"<word>": v}, "y": {"<word>": v}, "kv": {"<word>": v} | null,
                 "predicted": cycles | null}, ...],
     "expect_error": false,
     "monitor": [{"name": unit, "streams": [[name, valid, ready], ...]}, ...] (optional: count each unit's
                busy cycles independently of the top's trace monitor; small runs only)}

Each token: write x, write pos, start, wait for ap_done, read the cycles register, compare y and (when
given) every word of the KV area with the golden words.  ``result_tokens.json`` records per token the
cycles measured by the test (edges from the ap_start write to ap_done seen), the cycles register, and the
mismatches.
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

JOB: dict[str, Any] = json.loads(Path(os.environ["FLATFLOW_TB_JOB"]).read_text()) \
    if "FLATFLOW_TB_JOB" in os.environ else {}
RESET_CYCLES = 4
REGS = {"ctrl": 0x00, "pos": 0x10, "w_base": 0x18, "kv_base": 0x24, "x_base": 0x30, "y_base": 0x3C, "status": 0x48,
        "cycles": 0x50}


def _words(d: dict[str, int]) -> dict[int, int]:
    return {int(k): int(v) for k, v in d.items()}


class Memory:
    """The test's view of the accelerator's memory: AxiRam, or the Verilog model's array."""

    def __init__(self, dut: Any, clk: Any, rst: Any, rng: random.Random) -> None:
        self.wb = int(JOB["word_bytes"])
        self.kind = JOB.get("memory", "axiram")
        if self.kind == "axiram":
            from cocotbext.axi import AxiBus, AxiRam

            self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_gmem"), clk, rst, reset_active_level=False,
                              size=int(JOB["mem_words"]) * self.wb)
            self.ram.write(0, Path(JOB["init_file"]).read_bytes())
            p = float(JOB.get("stall", 0.0))
            if p > 0:
                for ch in ("ar", "r", "aw", "w", "b"):
                    port = getattr(self.ram, "read_if" if ch in ("ar", "r") else "write_if")
                    channel = getattr(port, f"{ch}_channel")
                    channel.set_pause_generator(cycle([rng.random() < p for _ in range(991)]))
        else:
            self.arr = dut.u_mem.mem

    def write(self, words: dict[int, int]) -> None:
        if self.kind == "axiram":
            for w, v in words.items():
                self.ram.write(w * self.wb, int(v).to_bytes(self.wb, "little"))
        else:
            for w, v in words.items():
                self.arr[w].value = int(v)

    def read(self, words: list[int]) -> list[int]:
        if self.kind == "axiram":
            return [int.from_bytes(self.ram.read(w * self.wb, self.wb), "little") for w in words]
        return [int(self.arr[w].value) for w in words]


def _diff(name: str, mem: Memory, want: dict[int, int]) -> list[str]:
    addrs = sorted(want)
    got = mem.read(addrs)
    bad = [(a, g, want[a]) for a, g in zip(addrs, got, strict=True) if g != want[a]]
    if not bad:
        return []
    a, g, w = bad[0]
    return [f"{name}: {len(bad)} of {len(addrs)} words differ, first at word {a}: got {g:#x}, want {w:#x}"]


async def _trace_states(dut: Any, clk: Any, log: list[list[int]]) -> None:
    """(edge, state) at every change of the controller's state (a debugging aid: slow on long runs)."""
    edge, last = 0, -1
    while True:
        await RisingEdge(clk)
        edge += 1
        s = int(dut.state.value)
        if s != last:
            log.append([edge, s])
            last = s


async def _count_busy(dut: Any, clk: Any, units: list[dict[str, Any]], counts: dict[str, int]) -> None:
    """Cycles in which each unit of the trace monitor handshakes a beat on one of its streams, sampled at the
    falling edge (an independent count of the monitor's "busy", for the tests; a Python call per signal and
    cycle, so small runs only)."""
    from cocotb.triggers import FallingEdge

    probes = [(u["name"], [(getattr(dut, v), None if r == "1'b1" else getattr(dut, r)) for _, v, r in u["streams"]])
              for u in units]
    while True:
        await FallingEdge(clk)
        for name, streams in probes:
            if any(str(v.value) == "1" and (r is None or str(r.value) == "1") for v, r in streams):
                counts[name] = counts.get(name, 0) + 1


@cocotb.test()
async def tokens(dut: Any) -> None:
    """T tokens back to back: bit-exact y and KV cache after each, cycles per token."""
    from cocotbext.axi import AxiLiteBus, AxiLiteMaster

    clk, rst = dut.clk, dut.rst_n
    core = dut.u_accel if JOB.get("memory") == "verilog" else dut  # the accelerator inside the simulation top
    rng = random.Random(int(JOB.get("seed", 1)))
    cocotb.start_soon(Clock(clk, int(JOB.get("clock_ns", 10)), unit="ns").start())
    rst.value = 0
    await Timer(1, "ns")
    mem = Memory(dut, clk, rst, rng)
    ctrl = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_ctrl"), clk, rst, reset_active_level=False)
    await ClockCycles(clk, RESET_CYCLES)
    rst.value = 1
    await ClockCycles(clk, 2)
    for name, base in JOB["bases"].items():
        await ctrl.write_dword(REGS[name], int(base))
    results = []
    errors: list[str] = []
    trace: list[list[int]] = []
    if JOB.get("trace"):
        cocotb.start_soon(_trace_states(core, clk, trace))
    busy: dict[str, int] = {}
    if JOB.get("monitor"):
        cocotb.start_soon(_count_busy(core, clk, JOB["monitor"], busy))
    wall0 = time.perf_counter()
    for t, tok in enumerate(JOB["tokens"]):
        mem.write(_words(tok["x"]))
        await ctrl.write_dword(REGS["pos"], int(tok["pos"]))
        await ctrl.write_dword(REGS["ctrl"], 1)
        edges = 0
        while int(core.ap_done.value) == 0:
            await RisingEdge(clk)
            edges += 1
            if edges > int(JOB.get("timeout_cycles", 10_000_000)):
                errors.append(f"token {t}: no ap_done after {edges} cycles")
                break
        status = int(await ctrl.read_dword(REGS["status"]))
        cycles_reg = int(await ctrl.read_dword(REGS["cycles"]))
        await ctrl.read_dword(REGS["ctrl"])  # clears ap_done
        tok_err: list[str] = []
        if bool(JOB.get("expect_error")) != bool(status & 1):
            tok_err.append(f"status {status:#x}: error bit {'not ' if JOB.get('expect_error') else ''}expected")
        tok_err += _diff("y", mem, _words(tok["y"]))
        if tok.get("kv") is not None:
            tok_err += _diff("kv cache", mem, _words(tok["kv"]))
        pred = tok.get("predicted")
        if pred is not None and float(JOB.get("stall", 0.0)) == 0.0 and cycles_reg != int(pred):
            tok_err.append(f"cycles {cycles_reg} != predicted {pred}")
        errors += [f"token {t} (pos {tok['pos']}): {e}" for e in tok_err]
        row = {"pos": int(tok["pos"]), "cycles": cycles_reg, "predicted": pred, "status": status, "errors": tok_err}
        if JOB.get("save_outputs"):
            row["y_words"] = mem.read(sorted(int(w) for w in tok["y"]))
        results.append(row)
        dut._log.info("FLATFLOW token %d of %d: pos %d, %d cycles%s", t + 1, len(JOB["tokens"]), int(tok["pos"]),
                      cycles_reg, "" if not tok_err else " MISMATCH")
    wall = time.perf_counter() - wall0
    out = {"test": "tokens", "ok": not errors, "errors": errors, "tokens": results, "wall_seconds": wall,
           "trace": trace, "busy_cycles": busy}
    (Path(JOB["result_dir"]) / "result_tokens.json").write_text(json.dumps(out, indent=2) + "\n")
    assert not errors, "; ".join(errors[:4])
