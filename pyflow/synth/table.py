"""The synthesis report document (``build/report/synth_<board>.json``) and its rich table."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pyflow.backends.templates import write_if_changed
from pyflow.synth.devices import SynthTarget

#: Version of the report schema (docs/SYNTH.md).
SCHEMA = 1
#: Resource classes shown in the table, in order.
COLUMNS = ("lut", "ff", "dsp", "bram")


def summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts by status, and whether every placed kernel met the target clock."""
    timed = [r for r in rows if r.get("meets_timing") is not None]
    return {
        "kernels": len(rows),
        "ok": sum(r["status"] == "ok" for r in rows),
        "no_fit": sum(r["status"] == "no_fit" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "all_meet_timing": (all(r["meets_timing"] for r in timed) if timed else None),
        "min_fmax_mhz": min((r["fmax_mhz"] for r in timed), default=None),
    }


def report_document(target: SynthTarget, rows: Sequence[Mapping[str, Any]], freq_mhz: float,
                    tools: Mapping[str, str], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document written to ``synth_<board>.json``."""
    return {
        "schema": SCHEMA,
        "board": target.name,
        "description": target.board.description,
        "flow": "yosys+nextpnr" if target.flow == "pnr" else "yosys synth_xilinx estimate",
        "target": target.key(),
        "target_mhz": freq_mhz,
        "tools": dict(tools),
        "generated_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": dict(config or {}),
        "cycles_note": "cycles = golden.cycles Timing.total of one kernel invocation at the XLS pipeline "
                       "latency; decode_step_us = cycles / fmax_mhz (null when either is unknown)",
        "summary": summary(rows),
        "kernels": list(rows),
    }


def write_report(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write the report atomically; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(path, json.dumps(doc, indent=1) + "\n")
    return path


def _res(entry: Mapping[str, Any] | None) -> str:
    """``used (pct%)``; red and bold beyond 100 %."""
    if not entry:
        return "-"
    used, avail, pct = entry.get("used"), entry.get("available"), entry.get("pct")
    u = (str(int(used)) if float(used).is_integer() else f"{used:g}") if isinstance(used, (int, float)) else "?"
    if pct is None:
        return u
    text = f"{u} ({pct:.1f}%)"
    return f"[bold red]{text}[/]" if avail and used > avail else text


def _available(rows: Sequence[Mapping[str, Any]], cls: str) -> str:
    vals = {r.get("resources", {}).get(cls, {}).get("available") for r in rows} - {None}
    if len(vals) != 1:
        return ""
    v = vals.pop()
    return f" /{int(v)}" if float(v).is_integer() else f" /{v:g}"


def _status(r: Mapping[str, Any]) -> str:
    if r["status"] == "ok":
        return "[green]ok[/]"
    if r["status"] == "no_fit":
        return "[bold red]NO FIT[/] " + ", ".join(r.get("over") or [])
    if r["status"] == "skipped":
        return "[yellow]skipped[/]"
    return "[red]failed[/]"


def _fmax(r: Mapping[str, Any]) -> str:
    f, t = r.get("fmax_mhz"), r.get("target_mhz")
    if f is None:
        return "-"
    colour = "green" if r.get("meets_timing") else "yellow"
    return f"[{colour}]{f:.1f}[/]/{t:g}"


def render_table(doc: Mapping[str, Any], console: Console | None = None) -> None:
    """Print the per-kernel table of a report document."""
    console = console or Console(width=None if Console().is_terminal else 160)
    pnr = doc["target"]["flow"] == "pnr"
    title = f"Synthesis on {doc['board']} ({doc['flow']}, target {doc['target_mhz']:g} MHz)"
    t = Table(title=title, show_lines=False)
    t.add_column("kernel")
    t.add_column("status")
    t.add_column("harness")
    for c in COLUMNS:
        t.add_column(c.upper() + _available(doc["kernels"], c), justify="right")
    if pnr:
        t.add_column("Fmax/target MHz", justify="right")
    t.add_column("XLS MHz/stg", justify="right")
    t.add_column("cycles", justify="right")
    t.add_column("decode µs" if pnr else "µs @target", justify="right")
    for r in doc["kernels"]:
        h = (r.get("harness") or {}).get("mode", "-")
        row = [r["name"], _status(r), h] + [_res(r.get("resources", {}).get(c)) for c in COLUMNS]
        if pnr:
            row.append(_fmax(r))
        ex = r.get("extra") or {}
        row.append(f"{ex['xls_mhz']:g}/{ex['stages']}" if ex.get("xls_mhz") and "stages" in ex else "-")
        row.append("-" if r.get("cycles") is None else str(r["cycles"]))
        us = r.get("decode_step_us") if pnr else r.get("decode_step_us_at_target")
        row.append("-" if us is None else f"{us:.3f}")
        t.add_row(*row)
    console.print(t)
    for r in doc["kernels"]:
        if r.get("error"):
            console.print(f"  [red]{r['name']}[/]: {r['error']}", highlight=False)
        cp = r.get("critical_path")
        if r.get("meets_timing") is False and cp:
            console.print(f"  {r['name']}: misses {r['target_mhz']:g} MHz; critical path {cp['delay_ns']:.2f} ns "
                          f"({cp['routing_ns']:.2f} ns routing, {cp['logic_levels']} logic levels) from "
                          f"{cp['from']} to {cp['to']}", highlight=False)
        if r.get("tokens_per_s"):
            console.print(f"  {r['name']}: {r['cycles']:,} cycles per token (one layer) = "
                          f"{r['decode_step_us']:.0f} µs at {r['fmax_mhz']:.1f} MHz, {r['tokens_per_s']:g} tokens/s "
                          "per layer", highlight=False)
    s = doc["summary"]
    console.print(f"{s['ok']} ok, {s['no_fit']} do not fit, {s['failed']} failed"
                  + (f"; slowest Fmax {s['min_fmax_mhz']:.1f} MHz" if s.get("min_fmax_mhz") else ""),
                  highlight=False)
