"""RTL simulation of one kernel: build (XLS + wrapper, or its Verilog), run the generic cocotb stream test
at one or more decode positions, report.

:func:`run_kernel` is what ``make sim`` calls per kernel; it returns one flat dict per position (schema in
its docstring) that the sim report stores.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pyflow.backends.xls.build import CLK, RST, build_kernel, xls_options
from pyflow.errors import FlowError
from pyflow.paths import BUILD
from pyflow.specs.base import Arrays, KernelSpec
from pyflow.tools.xls import XlsOptions
from testbench.runner import default_simulator, simulate, waves_requested

#: Simulated clock period (ns); only the cycle counts matter.
CLOCK_NS = 10
#: Probability of an idle input beat / a not-ready output cycle in the stall test.
STALL_IN, STALL_OUT = 0.3, 0.3


def predicted(spec: KernelSpec, depth: int, n: int | None = None) -> tuple[int, int, int] | None:
    """(first, last, busy) output cycles from the spec's cycle model (a golden.cycles.Timing or tuple) at
    run-time length ``n``."""
    t = spec.timing(depth, n)
    if t is None:
        return None
    if hasattr(t, "first"):
        return int(t.first), int(t.last), int(t.busy)
    busy = max(p.beats for p in spec.ports)
    return int(t[0]), int(t[1]), busy


def make_job(spec: KernelSpec, depth: int, seed: int = 0, vectors: tuple[Arrays, Arrays] | None = None,
             pos: int | None = None) -> dict[str, Any]:
    """The testbench job of ``spec``: stream words, scalars and memories from ``vectors`` (inputs, golden
    outputs), by default the spec's own vectors for ``seed`` at decode position ``pos`` (run-time length
    pos + 1; the capacity when None).  The padding lanes of input beats hold garbage (the kernel must mask
    them), those of output beats are 0."""
    ins, exp = vectors if vectors is not None else spec.vectors(seed, None if pos is None else pos + 1)
    n = spec.length(ins) if spec.runtime else None
    ports = spec.ports_at(n) if n else spec.ports
    fill = np.random.default_rng([seed, 0xF111])
    beats = sum(p.beats for p in ports)
    pred = predicted(spec, depth, n)
    mems = [p for p in ports if p.kind == "m_axi"]
    # Memory ports: every word may cost a read-modify-write round trip of a few cycles each.
    timeout = 20 * (beats + depth + 16) * (4 if mems else 1) + (4 * int(pred[1]) if pred else 0)
    job: dict[str, Any] = {
        "clk": CLK, "rst": RST, "clock_ns": CLOCK_NS, "timeout_cycles": timeout, "seed": seed + 1,
        "stall_in": STALL_IN, "stall_out": STALL_OUT,
        "inputs": [{"name": p.name, "words": p.to_words(ins[p.name], fill), "tlast_every": p.tlast_every,
                    "has_last": p.has_last} for p in ports if p.direction == "in" and p.kind == "axis"],
        "outputs": [{"name": p.name, "expected": p.to_words(exp[p.name]), "tlast_every": p.tlast_every,
                     "has_last": p.has_last} for p in ports if p.direction == "out" and p.kind == "axis"],
        "predicted": [int(pred[0]), int(pred[1])] if pred else None,
    }
    scalars = {p.name: p.to_words(ins[p.name])[0] for p in ports if p.kind == "scalar" and p.direction == "in"}
    if scalars:
        job["scalars"] = scalars
    if mems:
        job["axi_mems"] = [{"name": p.name, "word_bytes": p.mem_word_bits // 8, "init": p.to_words(ins[p.name]),
                            "expected": p.to_words(exp[p.name])} for p in mems]
    return job


def run_kernel(spec: KernelSpec, simulator: str | None = None, stalls: bool = False, waves: bool = False,
               clock_mhz: float = 200.0, build_root: Path | str = BUILD, seed: int = 0,
               options: XlsOptions | None = None, pos: int | None = None) -> dict[str, Any]:
    """Compile and simulate ``spec`` on ``simulator`` ("verilator" | "icarus"; None: ``$SIM``) at decode
    position ``pos`` (None: the last the capacity allows, or a kernel without a run-time length).

    ``waves`` (or env ``WAVES=1``) dumps ``build/sim/<kernel>/<sim>/dump.fst`` (Verilator) or ``dump.vcd``
    (Icarus).  ``clock_mhz`` should be the config's clock target (it sets the XLS clock period).

    Returns ``kernel, simulator, pos, outputs_match, cycles_predicted [first, last] | None,
    cycles_measured [first, last], pipeline_depth, build_seconds (XLS + lint + simulator build),
    sim_seconds, cycles_per_second (clock cycles per wall second inside the no-stall test, cocotb
    included, start-up excluded),
    utilisation (the cycle model's busy beats / measured cycles from first input to last output),
    stalls_ok (None unless stalls), errors``.
    """
    return run_positions(spec, [pos], simulator, stalls, waves, clock_mhz, build_root, seed, options)[0]


def run_positions(spec: KernelSpec, positions: Sequence[int | None], simulator: str | None = None,
                  stalls: bool = False, waves: bool = False, clock_mhz: float = 200.0,
                  build_root: Path | str = BUILD, seed: int = 0, options: XlsOptions | None = None
                  ) -> list[dict[str, Any]]:
    """:func:`run_kernel` at each decode position of ``positions``: one RTL build and one simulator build,
    one simulation per position (a kernel without a run-time length runs once, ``pos`` None)."""
    simulator = simulator or default_simulator()
    waves = waves or waves_requested()
    t0 = time.perf_counter()
    rtl = build_kernel(spec, options or xls_options(clock_mhz), build_root)
    xls_s = time.perf_counter() - t0
    if not spec.runtime:
        positions = [None]
    tests = ("nostall", "stalls") if stalls else ("nostall",)
    bdir = Path(build_root) / "sim" / spec.name / simulator
    rows = []
    for i, pos in enumerate(positions):
        if pos is not None and not 0 <= pos < int(spec.max_length):
            raise FlowError(f"sim: {spec.name}: decode position {pos} is outside 0..{int(spec.max_length) - 1}")
        job = make_job(spec, rtl.latency, seed, pos=pos)
        res = simulate(simulator, rtl.sources, rtl.top, job, bdir, tests=tests, waves=waves, build_root=build_root,
                       rebuild=i == 0)
        rows.append(_row(spec, simulator, pos, job, rtl, res, stalls, xls_s if i == 0 else 0.0))
    return rows


def _row(spec: KernelSpec, simulator: str, pos: int | None, job: dict[str, Any], rtl: Any, res: dict[str, Any],
         stalls: bool, xls_s: float) -> dict[str, Any]:
    ns = res["nostall"]
    errors = list(ns.get("errors", []))
    if stalls:
        errors += [f"stalls: {e}" for e in res["stalls"].get("errors", [])]
    where = "" if pos is None else f" at pos {pos}"
    if "first_output_cycle" not in ns:
        raise FlowError(f"sim: {spec.name} on {simulator}{where}: {'; '.join(errors) or 'no result'}")
    pred = predicted(spec, rtl.latency, None if pos is None else pos + 1)
    busy = pred[2] if pred else max(p.beats for p in spec.ports)
    return {
        "kernel": spec.name,
        "simulator": simulator,
        "pos": pos,
        "outputs_match": bool(ns["outputs_match"]) and (not stalls or bool(res["stalls"]["outputs_match"])),
        "cycles_predicted": job["predicted"],
        "cycles_measured": [ns["first_output_cycle"], ns["last_output_cycle"]],
        "pipeline_depth": rtl.latency,
        "pipeline_stages": rtl.stages,
        "build_seconds": round(xls_s + res["build_seconds"], 3),
        "sim_seconds": round(res["sim_seconds"], 3),
        "cycles_per_second": round(ns["cycles_per_second"], 1),
        "utilisation": round(busy / max(ns["total_cycles"], 1), 4),
        "stalls_ok": (bool(res["stalls"]["outputs_match"]) and not res["stalls"]["errors"]) if stalls else None,
        "errors": errors,
    }
