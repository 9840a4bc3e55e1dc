"""``make sim``: C simulation, RTL of every kernel, the chain, one summary table and ``sim_report.json``.

Report schema (``build/report/sim_report.json``)::

    {"config": {...}, "simulator": "verilator", "clock_mhz": 200.0,
     "kernels": [{"kernel", "simulator", "outputs_match", "cycles_predicted": [first, last],
                  "cycles_measured": [first, last], "pipeline_depth", "utilisation", "build_seconds",
                  "sim_seconds", "cycles_per_second", "params": {...}, "errors": [...]}, ...],
     "chain": {"outputs_match", "stages": [{"stage", "kernel", "invocations", "outputs_match", ...}]},
     "csim": {"passed", "failed"}, "ok": bool, "seconds": float}

The scheduler reads ``kernels`` (measured cycles) from it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from pyflow.backends.xls.build import build_kernel, has_rtl, xls_options
from pyflow.errors import FlowError
from pyflow.reports import REPORT_DIR, write_json_atomic
from pyflow.sim.chain import RunJob, run_chain
from pyflow.sim.kernel import make_job, run_kernel
from pyflow.specs import all_specs
from pyflow.specs.base import Arrays, KernelSpec
from testbench.runner import simulate

SIM_REPORT = REPORT_DIR / "sim_report.json"


def rtl_executor(clock_mhz: float, simulator: str, build_root: Path | str = "build") -> RunJob:
    """A chain executor that streams all invocations of one stage through the kernel's RTL in one run."""

    def simulate_job(spec: KernelSpec, rtl: Any, job: dict[str, Any], tag: str) -> dict[str, list[int]]:
        job["predicted"] = None
        job["save_outputs"] = True
        bdir = Path(build_root) / "sim" / spec.name / f"{simulator}_chain"
        res = simulate(simulator, rtl.sources, rtl.top, job, bdir, tests=("nostall",), build_root=build_root)
        got = res["nostall"].get("received")
        errors = res["nostall"].get("errors", [])
        if got is None or errors:
            raise FlowError(f"chain: {spec.name}{tag} on {simulator}: {'; '.join(errors) or 'no result'}")
        return got

    def run_job(spec: KernelSpec, invocations: list[Arrays]) -> list[Arrays]:
        rtl = build_kernel(spec, xls_options(clock_mhz), build_root)
        if any(p.kind != "axis" for p in spec.ports):  # memories / scalars: one simulation per invocation
            outs = []
            for i, ins in enumerate(invocations):
                got = simulate_job(spec, rtl, make_job(spec, rtl.latency, vectors=(ins, spec.expected(ins))),
                                   f" invocation {i}")
                outs.append({p.name: p.from_words(got[p.name]) for p in spec.outputs if p.kind == "axis"})
            return outs
        job = make_job(spec, rtl.latency)
        expected = [spec.expected(ins) for ins in invocations]
        for entry in job["inputs"]:
            port = spec.port(entry["name"])
            entry["words"] = [w for ins in invocations for w in port.to_words(np.asarray(ins[port.name]))]
        for entry in job["outputs"]:
            port = spec.port(entry["name"])
            entry["expected"] = [w for exp in expected for w in port.to_words(exp[port.name])]
        job["timeout_cycles"] = int(job["timeout_cycles"]) * len(invocations)
        got = simulate_job(spec, rtl, job, "")
        outs: list[Arrays] = [{} for _ in invocations]
        for port in spec.outputs:
            words = got[port.name]
            for i in range(len(invocations)):
                outs[i][port.name] = port.from_words(words[i * port.beats:(i + 1) * port.beats])
        return outs

    return run_job


def rtl_kernels(pc: Any) -> list[KernelSpec]:
    """The kernels that have an RTL implementation (DSLX, or hand-written Verilog with lang ``rtl``)."""
    return [s for s in all_specs(pc) if has_rtl(s)]


def run_sim(pc: Any, simulator: str = "verilator", kernels: list[str] | None = None, chain: bool = True,
            csim: bool = True, stalls: bool = True, flat: bool = True,
            report_path: Path = SIM_REPORT) -> dict[str, Any]:
    """The whole ``make sim`` job; returns the report (also written to ``report_path``)."""
    from rich.console import Console

    con = Console()
    t0 = time.perf_counter()
    report: dict[str, Any] = {"config": pc.to_dict(), "simulator": simulator, "clock_mhz": pc.clock_mhz}
    if csim:
        from pyflow.backends.vitis.csim import run_csim

        con.rule("C simulation (g++, bit-exact vs golden)")
        cs = run_csim(pc, names=kernels)
        report["csim"] = {"passed": cs["passed"], "failed": cs["failed"]}
    specs = [s for s in rtl_kernels(pc) if not kernels or s.name in kernels]
    con.rule(f"RTL: XLS -> Verilog -> cocotb on {simulator} ({len(specs)} kernels)")
    rows = []
    for i, spec in enumerate(specs, 1):
        con.print(f"[{i}/{len(specs)}] {spec.name}: build + simulate ...", highlight=False)
        try:
            row = run_kernel(spec, simulator, stalls=stalls, clock_mhz=pc.clock_mhz)
        except FlowError as exc:
            row = {"kernel": spec.name, "simulator": simulator, "outputs_match": False, "errors": [str(exc)]}
        row["params"] = {k: v for k, v in spec.params.items() if isinstance(v, int | float | str)}
        rows.append(row)
        con.print(f"    {'match' if row['outputs_match'] else 'MISMATCH'}  measured {row.get('cycles_measured')}"
                  f"  predicted {row.get('cycles_predicted')}", highlight=False)
        for err in row.get("errors", [])[:3]:
            con.print(f"    [red]{err}[/red]")
    report["kernels"] = rows
    if chain:
        con.rule("Chain: one decode step, kernel by kernel in RTL")
        ch = run_chain(pc, rtl_executor(pc.clock_mhz, simulator),
                       progress=lambda name: con.print(f"  stage {name} ...", highlight=False))
        report["chain"] = ch
    if flat:
        from pyflow.sim.flat_hw import flat_hw_report

        con.rule("FLAT attention in hardware vs the unfused chain")
        try:
            flat_hw_report(pc, measure=True, simulator=simulator)
            report["flat_hw"] = {"outputs_match": True, "report": "build/report/flat_hw.json"}
        except FlowError as exc:
            con.print(f"[red]{exc}[/red]")
            report["flat_hw"] = {"outputs_match": False, "errors": [str(exc)]}
    report["ok"] = (all(r["outputs_match"] and r.get("cycles_measured") == r.get("cycles_predicted") for r in rows)
                    and report.get("csim", {}).get("failed", 0) == 0
                    and report.get("chain", {}).get("outputs_match", True)
                    and report.get("flat_hw", {}).get("outputs_match", True))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(report_path, report)
    print_summary(report)
    con.print(f"wrote {report_path}")
    return report


def print_summary(report: dict[str, Any]) -> None:
    """The summary table of ``make sim``."""
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="make sim summary")
    for col in ("kernel", "simulator", "outputs match", "predicted cycles", "measured cycles", "utilisation",
                "build s", "sim cycles/s"):
        tab.add_column(col, justify="left" if col in ("kernel", "simulator") else "right")
    for r in report["kernels"]:
        pred, meas = r.get("cycles_predicted"), r.get("cycles_measured")
        tab.add_row(r["kernel"], r["simulator"], "yes" if r["outputs_match"] else "NO",
                    _cyc(pred), _cyc(meas),
                    f"{100 * r['utilisation']:.1f}%" if "utilisation" in r else "-",
                    f"{r['build_seconds']:.1f}" if "build_seconds" in r else "-",
                    f"{r['cycles_per_second']:,.0f}" if "cycles_per_second" in r else "-")
    ch = report.get("chain")
    if ch:
        n = sum(s["invocations"] for s in ch["stages"])
        tab.add_row("chain (decode step)", report["simulator"], "yes" if ch["outputs_match"] else "NO",
                    "-", "-", "-", "-", f"{n} invocations")
    Console(width=max(Console().width, 132)).print(tab)


def _cyc(pair: Any) -> str:
    if not pair:
        return "-"
    return f"{pair[0]:,} .. {pair[1]:,}"
