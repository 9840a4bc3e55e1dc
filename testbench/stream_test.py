"""One generic cocotb test for every AXI4-Stream kernel, driven by a job file.

The runner (:mod:`testbench.runner`) writes a JSON job and points ``FLATFLOW_TB_JOB`` at it::

    {"clk": "clk", "rst": "rst_n", "clock_ns": 10, "timeout_cycles": 5000, "seed": 1,
     "stall_in": 0.3, "stall_out": 0.3, "result_dir": "...",
     "inputs":  [{"name": "x", "words": [...], "tlast_every": 4, "has_last": true}, ...],
     "outputs": [{"name": "y", "expected": [...], "tlast_every": 4, "has_last": true}, ...],
     "predicted": [first_output_cycle, last_output_cycle] | null}

Optional keys (kernels with memory / register ports): ``"scalars": {"pos": 15}`` drives plain input ports
before the reset is released; ``"axi_mems": [{"name": "kmem", "word_bytes": 8, "init": [...],
"expected": [...], "base": 0}]`` attaches a cocotbext-axi ``AxiRam`` (the buffer's word i at byte
base + i * word_bytes, little-endian; ``base`` 0 when absent) to the AXI4 master ports ``m_axi_<name>_*``,
preloads ``init`` and checks after the run that it holds ``expected``; ``"status": {"error": 0}`` names
plain output ports and the value each must hold once the expected outputs are in (the test waits for it, up
to half the timeout, and checks it again at the end).  An output may expect no beats at all (a refused
invocation); the cycle counts are then null.

Ports are ``s_axis_<name>_*`` / ``m_axis_<name>_*``; words are unsigned beat words.  Cycle 0 is the
rising edge at which the first input beat is accepted; a beat "happens" at the edge where
TVALID and TREADY are both high.  Each test writes ``result_<test>.json`` into ``result_dir``.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from itertools import cycle as _cycle
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer, with_timeout
from cocotbext.axi import AxiBus, AxiRam, AxiStreamBus, AxiStreamFrame, AxiStreamMonitor, AxiStreamSink, AxiStreamSource

JOB: dict[str, Any] = json.loads(Path(os.environ["FLATFLOW_TB_JOB"]).read_text()) \
    if "FLATFLOW_TB_JOB" in os.environ else {}
_TIMEOUT_NS = int(JOB.get("timeout_cycles", 100000)) * int(JOB.get("clock_ns", 10)) + 10000
RESET_CYCLES = 4


def _bit(sig: Any) -> bool:
    return str(sig.value) == "1"


class Recorder:
    """Records the cycle of every handshake on every stream port (a passive observer)."""

    def __init__(self, dut: Any, clk: Any) -> None:
        self.dut, self.clk, self.cycle = dut, clk, 0
        self.ports = {f"s_axis_{p['name']}": [] for p in JOB["inputs"]}
        self.ports.update({f"m_axis_{p['name']}": [] for p in JOB["outputs"]})
        self.sigs = {k: (getattr(dut, f"{k}_tvalid"), getattr(dut, f"{k}_tready")) for k in self.ports}

    async def run(self) -> None:
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1
            for k, (v, r) in self.sigs.items():
                if _bit(v) and _bit(r):
                    self.ports[k].append(self.cycle)


def _sink_pauses(rng: random.Random, p: float, n: int = 991) -> list[bool]:
    """Sink TREADY pause pattern: random gaps with probability ``p`` plus two long bursts (100 and 80
    cycles) that fill the wrapper's output FIFO, so its input admission is exercised."""
    pat = [rng.random() < p for _ in range(n)]
    for a, b in ((10, 110), (500, 580)):
        pat[a:b] = [True] * (b - a)
    return pat


def _frames(words: list[int], every: int) -> list[list[int]]:
    step = every if every > 0 else max(len(words), 1)
    return [words[i:i + step] for i in range(0, len(words), step)]


@dataclass
class Bench:
    """The cocotbext-axi models around the DUT: stream sources and sinks (with passive monitors), memories."""

    clk: Any
    rst: Any
    sources: dict[str, AxiStreamSource] = field(default_factory=dict)
    sinks: dict[str, AxiStreamSink] = field(default_factory=dict)
    monitors: dict[str, AxiStreamMonitor] = field(default_factory=dict)
    rams: dict[str, AxiRam] = field(default_factory=dict)


async def _start(dut: Any, stalls: bool, rng: random.Random) -> Bench:
    """Clock, reset asserted, scalars driven, bus models attached (stall patterns when ``stalls``)."""
    bench = Bench(getattr(dut, JOB["clk"]), getattr(dut, JOB["rst"]))
    clk, rst = bench.clk, bench.rst
    cocotb.start_soon(Clock(clk, int(JOB["clock_ns"]), unit="ns").start())
    rst.value = 0
    for sname, val in JOB.get("scalars", {}).items():
        getattr(dut, sname).value = int(val)
    await Timer(1, "ns")  # let the reset value settle before the AXI models sample it
    for m in JOB.get("axi_mems", []):
        wb, base = int(m["word_bytes"]), int(m.get("base", 0))
        ram = AxiRam(AxiBus.from_prefix(dut, f"m_axi_{m['name']}"), clk, rst, reset_active_level=False,
                     size=max(4096, base + len(m["init"]) * wb))
        ram.write(base, b"".join(int(w).to_bytes(wb, "little") for w in m["init"]))
        bench.rams[m["name"]] = ram
    for p in JOB["inputs"]:
        src = AxiStreamSource(AxiStreamBus.from_prefix(dut, f"s_axis_{p['name']}"), clk, rst,
                              reset_active_level=False, byte_lanes=1)
        if stalls:
            src.set_pause_generator(_cycle([rng.random() < float(JOB["stall_in"]) for _ in range(997)]))
        bench.sources[p["name"]] = src
    for p in JOB["outputs"]:
        bus = AxiStreamBus.from_prefix(dut, f"m_axis_{p['name']}")
        snk = AxiStreamSink(bus, clk, rst, reset_active_level=False, byte_lanes=1)
        if stalls:
            snk.set_pause_generator(_cycle(_sink_pauses(rng, float(JOB["stall_out"]))))
        bench.sinks[p["name"]] = snk
        bench.monitors[p["name"]] = AxiStreamMonitor(bus, clk, rst, reset_active_level=False, byte_lanes=1)
    return bench


def _send_inputs(bench: Bench) -> None:
    """Queue every input frame (after the reset: cocotbext-axi flushes its queues in reset)."""
    for p in JOB["inputs"]:
        for fr in _frames(p["words"], int(p["tlast_every"])):
            bench.sources[p["name"]].send_nowait(AxiStreamFrame(tdata=fr))


async def _receive_outputs(bench: Bench) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Every expected output word per port, and the frame (TLAST) lengths it came in."""
    received: dict[str, list[int]] = {}
    frame_lens: dict[str, list[int]] = {}
    timeout_ns = int(JOB["timeout_cycles"]) * int(JOB["clock_ns"])
    for p in JOB["outputs"]:
        words: list[int] = []
        lens: list[int] = []
        while len(words) < len(p["expected"]):
            fr = await with_timeout(bench.sinks[p["name"]].recv(compact=False), timeout_ns, "ns")
            words += [int(w) for w in fr.tdata]
            lens.append(len(fr.tdata))
        received[p["name"]], frame_lens[p["name"]] = words, lens
    return received, frame_lens


def _stream_errors(bench: Bench, rec: Recorder, received: dict[str, list[int]], frame_lens: dict[str, list[int]]
                   ) -> list[str]:
    """Output words vs the golden words, beat counts, monitor agreement and TLAST framing."""
    errors: list[str] = []
    for p in JOB["outputs"]:
        n, got, exp = p["name"], received[p["name"]], [int(w) for w in p["expected"]]
        extra = bench.sinks[n].count() if hasattr(bench.sinks[n], "count") else 0
        mon: list[int] = []
        while not bench.monitors[n].empty():
            mon += [int(w) for w in bench.monitors[n].recv_nowait(compact=False).tdata]
        if got != exp:
            bad = next(i for i in range(min(len(got), len(exp)) + 1) if i >= len(got) or got[i] != exp[i])
            differ = sum(a != b for a, b in zip(got, exp, strict=False))
            errors.append(f"{n}: {differ} words differ, first at beat {bad}")
        if extra or len(rec.ports[f"m_axis_{n}"]) != len(exp):
            errors.append(f"{n}: {len(rec.ports[f'm_axis_{n}'])} beats seen, expected {len(exp)}")
        if mon != got:
            errors.append(f"{n}: monitor saw {len(mon)} beats that differ from the sink's")
        if p["has_last"]:
            want = [int(p["tlast_every"])] * (len(exp) // max(int(p["tlast_every"]), 1))
            if frame_lens[n] != want:
                errors.append(f"{n}: TLAST framing {frame_lens[n][:6]} != every {p['tlast_every']} beats")
    return errors


def _memory_errors(bench: Bench) -> list[str]:
    """Final memory contents vs the golden memories."""
    errors: list[str] = []
    for m in JOB.get("axi_mems", []):
        wb, exp = int(m["word_bytes"]), [int(w) for w in m["expected"]]
        raw = bench.rams[m["name"]].read(int(m.get("base", 0)), len(exp) * wb)
        got = [int.from_bytes(raw[i * wb:(i + 1) * wb], "little") for i in range(len(exp))]
        if got != exp:
            bad = next(i for i in range(len(exp)) if got[i] != exp[i])
            errors.append(f"{m['name']}: {sum(a != b for a, b in zip(got, exp, strict=True))} memory words "
                          f"differ, first at word {bad}")
    return errors


async def _status_errors(dut: Any, clk: Any, final: bool = False) -> list[str]:
    """The status outputs of the job vs their expected values: waited for (up to half the timeout), or, with
    ``final``, checked as they are."""
    errors: list[str] = []
    for name, want in JOB.get("status", {}).items():
        sig = getattr(dut, name)
        waited = 0
        while not final and sig.value.is_resolvable and int(sig.value) != int(want) \
                and waited < int(JOB["timeout_cycles"]) // 2:
            await RisingEdge(clk)
            waited += 1
        if not sig.value.is_resolvable or int(sig.value) != int(want):
            errors.append(f"status {name} = {sig.value}, expected {int(want)}{' at the end' if final else ''}")
    return errors


def _cycle_counts(rec: Recorder) -> dict[str, int | None]:
    """First/last output cycles counted from the first input handshake (None when no output beat came),
    and beat counts."""
    first_in = min(c[0] for k, c in rec.ports.items() if k.startswith("s_axis_") and c)
    outs = [c for k, c in rec.ports.items() if k.startswith("m_axis_") and c]
    first_out = min(c[0] for c in outs) - first_in if outs else None
    last_out = max(c[-1] for c in outs) - first_in if outs else None
    return {"first_output_cycle": first_out, "last_output_cycle": last_out,
            "total_cycles": last_out + 1 if outs else None,
            "beats_in": sum(len(c) for k, c in rec.ports.items() if k.startswith("s_axis_")),
            "beats_out": sum(len(c) for c in outs), "sim_cycles": rec.cycle}


async def _run(dut: Any, stalls: bool, name: str) -> None:
    rng = random.Random(int(JOB["seed"]))
    bench = await _start(dut, stalls, rng)
    await ClockCycles(bench.clk, RESET_CYCLES)
    wall0 = time.perf_counter()
    rec = Recorder(dut, bench.clk)
    rec_task = cocotb.start_soon(rec.run())
    bench.rst.value = 1
    _send_inputs(bench)
    received, frame_lens = await _receive_outputs(bench)
    status = await _status_errors(dut, bench.clk)
    await ClockCycles(bench.clk, 8)  # a duplicated or extra beat would show up here
    status = status or await _status_errors(dut, bench.clk, final=True)
    rec_task.cancel()
    wall = time.perf_counter() - wall0

    errors = _stream_errors(bench, rec, received, frame_lens) + _memory_errors(bench) + status
    result: dict[str, Any] = {"test": name, "outputs_match": not errors, "errors": errors, **_cycle_counts(rec),
                              "wall_seconds": wall, "cycles_per_second": rec.cycle / max(wall, 1e-9)}
    if JOB.get("save_outputs"):
        result["received"] = received
    pred = JOB.get("predicted")
    if pred is not None and not stalls:
        result["cycles_predicted"] = list(pred)
        measured = [result["first_output_cycle"], result["last_output_cycle"]]
        if measured != list(pred):
            errors.append(f"cycles (first, last output) measured ({measured[0]}, {measured[1]}) != predicted "
                          f"({pred[0]}, {pred[1]})")
    (Path(JOB["result_dir"]) / f"result_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    assert not errors, "; ".join(errors)


@cocotb.test(timeout_time=_TIMEOUT_NS, timeout_unit="ns")
async def nostall(dut: Any) -> None:
    """Continuous input, always-ready output: bit-exact outputs and exact predicted cycles."""
    await _run(dut, stalls=False, name="nostall")


@cocotb.test(timeout_time=_TIMEOUT_NS, timeout_unit="ns")
async def stalls(dut: Any) -> None:
    """Random input gaps and output back-pressure (seeded): bit-exact, nothing dropped or duplicated."""
    await _run(dut, stalls=True, name="stalls")
