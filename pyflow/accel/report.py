"""The accelerator's report (build/report/accel_report.json; fields in docs/REPORTS.md) and its table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hls.accel.spec import AccelSpec
from pyflow.accel.cycles import phases
from pyflow.accel.diagram import write_picture
from pyflow.reports import REPORT_DIR, write_json_atomic

ACCEL_REPORT = REPORT_DIR / "accel_report.json"


def token_rows(a: AccelSpec, result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per token: cycles measured and predicted, roofline cycles, utilisation, match."""
    rows = []
    for tok in result.get("tokens", []):
        n = tok["pos"] + 1
        roof = a.roofline_cycles(n)
        meas = int(tok["cycles"])
        rows.append({"pos": tok["pos"], "cycles_measured": meas, "cycles_predicted": tok.get("predicted"),
                     "cycles_error": None if tok.get("predicted") is None else meas - int(tok["predicted"]),
                     "roofline_cycles": roof, "bytes": a.bytes_per_token(n)["total"],
                     "utilisation": round(roof / meas, 4) if meas else None,
                     "outputs_match": not tok["errors"], "errors": tok["errors"]})
    return rows


def run_report(a: AccelSpec, positions: range, simulator: str, memory: str = "verilog", stall: float = 0.0,
               report_path: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Run ``positions`` through the RTL, write the report and print its table; return the report."""
    from rich.console import Console

    from pyflow.accel.sim import run_tokens

    con = Console()
    say = (lambda line: con.print(f"  {line}", highlight=False)) if progress else None
    t0 = time.perf_counter()
    res = run_tokens(a, positions, simulator, memory, stall, progress=say)
    rows = token_rows(a, res)
    lat = res.get("latencies", {})
    report = {
        "config": a.pc.to_dict(), "data_bits": a.data_bits, "elements_per_word": a.per_word,
        "memory_model": memory, "simulator": simulator, "stall": stall,
        "read_latency": a.read_latency, "write_latency": a.write_latency, "kernel_latencies": lat,
        "tokens": rows, "ok": bool(res.get("ok")) and all(r["outputs_match"] for r in rows)
        and (stall > 0 or all(r["cycles_error"] == 0 for r in rows)),
        "errors": res.get("errors", []),
        "phases_model": [{"phase": p.name, "cycles": p.cycles, "kv_head": p.kv_head, "q_head": p.q_head}
                         for p in phases(a, lat, positions[-1], memory)] if lat else [],
        "build_seconds": res.get("build_seconds"), "sim_seconds": res.get("sim_seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    path = report_path or ACCEL_REPORT
    picture = write_picture(a, Path(path).with_name("accel_block.svg"))
    report["block_diagram"] = picture.name
    write_json_atomic(path, report)
    print_table(report)
    con.print(f"wrote {path} and {picture}")
    return report


def print_table(report: dict[str, Any]) -> None:
    """The per-token table of the accelerator run."""
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"decode accelerator: {report['data_bits']}-bit memory port, {report['simulator']}, "
                f"{report['memory_model']} memory")
    for col in ("pos", "cycles measured", "cycles predicted", "error", "roofline cycles", "utilisation", "match"):
        tab.add_column(col, justify="right")
    for r in report["tokens"]:
        tab.add_row(str(r["pos"]), f"{r['cycles_measured']:,}",
                    "-" if r["cycles_predicted"] is None else f"{r['cycles_predicted']:,}",
                    "-" if r["cycles_error"] is None else str(r["cycles_error"]), f"{r['roofline_cycles']:,}",
                    f"{100 * r['utilisation']:.1f}%" if r["utilisation"] else "-",
                    "yes" if r["outputs_match"] else "NO")
    Console(width=max(Console().width, 120)).print(tab)
