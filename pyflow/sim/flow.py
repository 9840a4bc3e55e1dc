"""``make sim``: C simulation, RTL of every kernel, the chain, one summary table and ``sim_report.json``.

Report schema (``build/report/sim_report.json``)::

    {"config": {...}, "simulator": "verilator", "clock_mhz": 200.0,
     "kernels": [{"kernel", "simulator", "outputs_match", "cycles_predicted": [first, last],
                  "cycles_measured": [first, last], "pipeline_depth", "utilisation", "build_seconds",
                  "sim_seconds", "cycles_per_second", "params": {...}, "errors": [...]}, ...],
     "chain": [{"position", "context", "outputs_match", "stages": [{"stage", "kernel", "invocations",
                "outputs_match", ...}]}, ...],
     "csim": {"passed", "failed"}, "ok": bool, "seconds": float}

The scheduler reads ``kernels`` (measured cycles) from it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pyflow.backends.xls.build import build_kernel, has_rtl, xls_options
from pyflow.errors import FlowError
from pyflow.reports import REPORT_DIR, write_json_atomic
from pyflow.sim.chain import RunJob, run_chain
from pyflow.sim.kernel import make_job, run_positions
from pyflow.specs import all_specs
from pyflow.specs.base import Arrays, KernelSpec
from testbench.runner import simulate

SIM_REPORT = REPORT_DIR / "sim_report.json"


def rtl_executor(clock_mhz: float, simulator: str, build_root: Path | str = "build") -> RunJob:
    """A chain executor that streams the invocations of one stage through the kernel's RTL: all in one run
    when they share their scalar inputs (the run-time length), one run each for a kernel with memories."""

    def simulate_job(spec: KernelSpec, rtl: Any, job: dict[str, Any], tag: str, rebuild: bool) -> dict[str, list[int]]:
        job["predicted"] = None
        job["save_outputs"] = True
        bdir = Path(build_root) / "sim" / spec.name / f"{simulator}_chain"
        res = simulate(simulator, rtl.sources, rtl.top, job, bdir, tests=("nostall",), build_root=build_root,
                       rebuild=rebuild)
        got = res["nostall"].get("received")
        errors = res["nostall"].get("errors", [])
        if got is None or errors:
            raise FlowError(f"chain: {spec.name}{tag} on {simulator}: {'; '.join(errors) or 'no result'}")
        return got

    def run_group(spec: KernelSpec, rtl: Any, group: list[Arrays], tag: str, rebuild: bool) -> list[Arrays]:
        """One simulation of invocations that share their scalar inputs, streamed back to back."""
        ports = {p.name: p for p in spec.ports_at(spec.length(group[0]))}
        expected = [spec.expected(ins) for ins in group]
        job = make_job(spec, rtl.latency, vectors=(group[0], expected[0]))
        fill = np.random.default_rng(0xF111)
        for entry in job["inputs"]:
            port = ports[entry["name"]]
            entry["words"] = [w for ins in group for w in port.to_words(np.asarray(ins[port.name]), fill)]
        for entry in job["outputs"]:
            port = ports[entry["name"]]
            entry["expected"] = [w for exp in expected for w in port.to_words(exp[port.name])]
        job["timeout_cycles"] = int(job["timeout_cycles"]) * len(group)
        got = simulate_job(spec, rtl, job, tag, rebuild)
        outs: list[Arrays] = [{} for _ in group]
        for port in (ports[q.name] for q in spec.outputs if q.kind == "axis"):
            words = got[port.name]
            for i in range(len(group)):
                outs[i][port.name] = port.unpadded(port.from_words(words[i * port.beats:(i + 1) * port.beats]))
        return outs

    def run_job(spec: KernelSpec, invocations: list[Arrays]) -> list[Arrays]:
        rtl = build_kernel(spec, xls_options(clock_mhz), build_root)
        scalars = [p.name for p in spec.inputs if p.kind == "scalar"]
        groups: list[list[Arrays]] = []
        for ins in invocations:
            memories = any(p.kind == "m_axi" for p in spec.ports)
            same = groups and all(np.array_equal(ins[s], groups[-1][0][s]) for s in scalars)
            if same and not memories:
                groups[-1].append(ins)
            else:
                groups.append([ins])
        outs: list[Arrays] = []
        for i, group in enumerate(groups):
            tag = f" invocation {len(outs)}" if len(groups) > 1 else ""
            outs += run_group(spec, rtl, group, tag, rebuild=i == 0)
        return outs

    return run_job


def rtl_kernels(pc: Any) -> list[KernelSpec]:
    """The kernels that have an RTL implementation (DSLX, or hand-written Verilog with lang ``rtl``)."""
    return [s for s in all_specs(pc) if has_rtl(s)]


def run_sim(pc: Any, simulator: str = "verilator", kernels: list[str] | None = None, chain: bool = True,
            csim: bool = True, stalls: bool = True, flat: bool = True, positions: Sequence[int] | None = None,
            report_path: Path = SIM_REPORT, accel: bool = True) -> dict[str, Any]:
    """The whole ``make sim`` job at decode ``positions`` (default: the config's
    :attr:`~pyflow.project.config.ProjectConfig.positions`); returns the report (also written to
    ``report_path``)."""
    from rich.console import Console

    from pyflow.backends.vitis.csim import check_positions

    con = Console()
    t0 = time.perf_counter()
    positions = tuple(pc.positions if positions is None else positions)
    check_positions(positions, pc.max_length)
    report: dict[str, Any] = {"config": pc.to_dict(), "simulator": simulator, "clock_mhz": pc.clock_mhz,
                              "positions": list(positions)}
    if csim:
        from pyflow.backends.vitis.csim import run_csim

        con.rule(f"C simulation (g++, bit-exact vs golden) at positions {', '.join(map(str, positions))}")
        cs = run_csim(pc, names=kernels, positions=positions)
        report["csim"] = {"passed": cs["passed"], "failed": cs["failed"]}
    specs = [s for s in rtl_kernels(pc) if not kernels or s.name in kernels]
    con.rule(f"RTL: XLS -> Verilog -> cocotb on {simulator} ({len(specs)} kernels)")
    rows: list[dict[str, Any]] = []
    for i, spec in enumerate(specs, 1):
        where = f" at positions {', '.join(map(str, positions))}" if spec.runtime else ""
        con.print(f"[{i}/{len(specs)}] {spec.name}: build + simulate{where} ...", highlight=False)
        try:
            got = run_positions(spec, positions, simulator, stalls=stalls, clock_mhz=pc.clock_mhz)
        except FlowError as exc:
            got = [{"kernel": spec.name, "simulator": simulator, "pos": None, "outputs_match": False,
                    "errors": [str(exc)]}]
        for row in got:
            row["params"] = {k: v for k, v in spec.params.items() if isinstance(v, int | float | str)}
            con.print(f"    {_pos(row)}{'match' if row['outputs_match'] else 'MISMATCH'}  measured "
                      f"{row.get('cycles_measured')}  predicted {row.get('cycles_predicted')}", highlight=False)
            for err in row.get("errors", [])[:3]:
                con.print(f"    [red]{err}[/red]")
        rows += got
    report["kernels"] = rows
    if chain:
        report["chain"] = []
        for pos in positions:
            con.rule(f"Chain: one decode step at position {pos}, kernel by kernel in RTL")
            try:
                ch = run_chain(pc, rtl_executor(pc.clock_mhz, simulator), pos=pos,
                               progress=lambda name: con.print(f"  stage {name} ...", highlight=False))
            except FlowError as exc:
                con.print(f"[red]{exc}[/red]")
                ch = {"position": pos, "outputs_match": False, "stages": [], "errors": [str(exc)]}
            report["chain"].append(ch)
    if flat:
        from pyflow.sim.flat_hw import flat_hw_report

        con.rule("FLAT attention in hardware vs the unfused chain")
        try:
            flat_hw_report(pc, measure=True, simulator=simulator)
            report["flat_hw"] = {"outputs_match": True, "report": "build/report/flat_hw.json"}
        except FlowError as exc:
            con.print(f"[red]{exc}[/red]")
            report["flat_hw"] = {"outputs_match": False, "errors": [str(exc)]}
    if accel:
        report["accel"] = _accel(pc, simulator, con)
    report["ok"] = (all(r["outputs_match"] and r.get("cycles_measured") == r.get("cycles_predicted") for r in rows)
                    and report.get("csim", {}).get("failed", 0) == 0
                    and all(c["outputs_match"] for c in report.get("chain", []))
                    and report.get("flat_hw", {}).get("outputs_match", True)
                    and report.get("accel", {}).get("ok", True))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(report_path, report)
    print_summary(report)
    con.print(f"wrote {report_path}")
    return report


def _accel(pc: Any, simulator: str, con: Any) -> dict[str, Any]:
    """The decode accelerator at the config for two consecutive tokens (the cache preloaded with the earlier
    positions): build/report/accel_report.json; its summary for the sim report."""
    from hls.accel.spec import build
    from pyflow.accel.report import ACCEL_REPORT, run_report

    con.rule("Decode accelerator: two consecutive tokens in RTL (AXI4-Lite control, AXI4 memory)")
    try:
        a = build(pc)
    except FlowError as exc:  # a config the accelerator cannot serve: the kernels still ran, say why
        con.print(f"[yellow]accelerator not built at this config: {exc}[/yellow]")
        return {"ok": True, "skipped": str(exc)}
    try:
        cap = a.capacity
        rep = run_report(a, range(max(0, cap - 2), cap), simulator, "verilog")
    except FlowError as exc:
        con.print(f"[red]{exc}[/red]")
        return {"ok": False, "errors": [str(exc)]}
    return {"ok": rep["ok"], "report": str(ACCEL_REPORT), "data_bits": rep["data_bits"],
            "tokens": [{k: r[k] for k in ("pos", "cycles_measured", "cycles_predicted", "roofline_cycles",
                                          "utilisation", "outputs_match")} for r in rep["tokens"]],
            "errors": rep["errors"][:3]}


def _pos(row: dict[str, Any]) -> str:
    return "" if row.get("pos") is None else f"pos {row['pos']:>4}: "


def print_summary(report: dict[str, Any]) -> None:
    """The summary table of ``make sim``: one row per kernel and position, one per chain position."""
    from rich.console import Console
    from rich.table import Table

    tab = Table(title="make sim summary")
    for col in ("kernel", "pos", "simulator", "outputs match", "predicted cycles", "measured cycles", "utilisation",
                "build s", "sim cycles/s"):
        tab.add_column(col, justify="left" if col in ("kernel", "simulator") else "right")
    for r in report["kernels"]:
        pred, meas = r.get("cycles_predicted"), r.get("cycles_measured")
        tab.add_row(r["kernel"], "-" if r.get("pos") is None else str(r["pos"]), r["simulator"],
                    "yes" if r["outputs_match"] else "NO", _cyc(pred), _cyc(meas),
                    f"{100 * r['utilisation']:.1f}%" if "utilisation" in r else "-",
                    f"{r['build_seconds']:.1f}" if "build_seconds" in r else "-",
                    f"{r['cycles_per_second']:,.0f}" if "cycles_per_second" in r else "-")
    for ch in report.get("chain", []):
        n = sum(s["invocations"] for s in ch["stages"])
        tab.add_row("chain (decode step)", str(ch["position"]), report["simulator"],
                    "yes" if ch["outputs_match"] else "NO", "-", "-", "-", "-", f"{n} invocations")
    for tok in report.get("accel", {}).get("tokens", []):
        tab.add_row(f"accelerator ({report['accel']['data_bits']}-bit)", str(tok["pos"]), report["simulator"],
                    "yes" if tok["outputs_match"] else "NO", f"{tok['cycles_predicted']:,}",
                    f"{tok['cycles_measured']:,}", f"{100 * tok['utilisation']:.1f}% port", "-", "-")
    if report.get("accel", {}).get("skipped"):
        tab.add_row("accelerator", "-", report["simulator"], "skipped", "-", "-", "-", "-", "-")
    Console(width=max(Console().width, 140)).print(tab)
    if report.get("accel", {}).get("skipped"):
        Console().print(f"accelerator skipped: {report['accel']['skipped']}", highlight=False)


def _cyc(pair: Any) -> str:
    if not pair:
        return "-"
    return f"{pair[0]:,} .. {pair[1]:,}"
