"""A Perfetto trace of the accelerator's RTL run (docs/ACCEL.md, "Trace of the RTL run").

The top's trace monitor (``FLATFLOW_TRACE`` in hls/accel/accel.v.j2, rendered from the units of
:func:`pyflow.accel.build.monitor_units`) logs, run-length, every unit's state per cycle (idle, busy,
starved, stalled, back-pressured), the controller's phase (with S_PROJ split into its k, v and q rows), the
memory data beats per window of W cycles and the handshakes per stream of every run.  This module reads that
log, checks it against the run (tokens, the cycles register), and turns it into

* a timeline (:class:`pyflow.traces.Timeline`, written as Chrome JSON and ``.pftrace`` like the scheduler's
  traces): track ``engine 0`` holds the controller's phases as slices named by the op kinds of
  ``golden.llama.CHAIN_OPS`` (the names the scheduler gives its op slices, so ``schedule --engines 1`` reads
  side by side), then one track per kernel instance and per AXI engine with a slice per busy / starved /
  stalled / back-pressured interval, and the counters "memory bytes per cycle" (per window) and "memory
  roofline (port bytes per cycle)";
* a summary (``accel_trace_summary.json``): per token the cycles per phase and per op kind (what
  ``schedule --durations measured --accel-trace`` reads), the bytes moved, per unit its cycles in each state
  and its utilisation, the beats per stream.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from golden.llama import CHAIN_OPS
from hls.accel.spec import AccelSpec
from pyflow import traces
from pyflow.accel.build import PROJ_SUBS, STATES, UNIT_STATES, context
from pyflow.errors import FlowError
from pyflow.paths import BUILD
from pyflow.reports import REPORT_DIR

DEFAULT_WINDOW = 1024
TRACE_JSON, TRACE_PF, SUMMARY = "accel_trace.json", "accel_trace.pftrace", "accel_trace_summary.json"
TRACE_PNG = "accel_trace.png"
#: The track of the controller's phases: the scheduler's name for the first engine (the accelerator runs the
#: ops one after the other, as ``schedule --engines 1`` places them).
PHASE_TRACK = "engine 0"
#: Controller state -> the op kind its cycles count for (S_PROJ: :data:`PROJ_SUBS` by sub-phase).  The
#: head-register loads belong to the op they feed (S_LDK to rope_k, S_LDV to mem_store_kv, S_LDQ to rope_q);
#: x, y and done are the token's input, output and end, no op of the chain.
STATE_OPS = {"S_X": "x", "S_NORM": "rmsnorm", "S_LDK": "rope_k", "S_ROPEK": "rope_k", "S_STK": "mem_store_kv",
             "S_LDV": "mem_store_kv", "S_STV": "mem_store_kv", "S_LDKC": "mem_load_kv", "S_LDVC": "mem_load_kv",
             "S_LDQ": "rope_q", "S_ROPEQ": "rope_q", "S_QK": "qk", "S_SMAX": "softmax_max",
             "S_SEXP": "softmax_exp", "S_SNORM": "softmax_norm", "S_AV": "av", "S_OPROJ": "o_proj", "S_Y": "y",
             "S_DONE": "done"}
IO_PHASES = ("x", "y", "done")
_KV_STATES = ("S_LDK", "S_ROPEK", "S_STK", "S_LDV", "S_STV", "S_LDKC", "S_LDVC")
_Q_STATES = ("S_LDQ", "S_ROPEQ", "S_QK", "S_SMAX", "S_SEXP", "S_SNORM", "S_AV")


@dataclass
class RtlLog:
    """The monitor's log, parsed."""

    window: int
    units: list[str]
    streams: list[str]
    events: list[tuple[int, int, int, str]]     # (cycle, state, sub, unit codes) from cycle on
    windows: list[tuple[int, int, int]]         # (last cycle, read beats, write beats)
    runs: list[tuple[int, int, list[int]]]      # (S_DONE cycle, cycles register, beats per stream)

    @property
    def end(self) -> int:
        """One past the last cycle the log covers."""
        last = [c for c, *_ in self.events] + [c for c, *_ in self.windows] + [c for c, *_ in self.runs]
        return max(last, default=-1) + 1


def monitor_names(a: AccelSpec) -> tuple[list[str], list[str]]:
    """The unit and stream names of the monitor at ``a``, as its header writes them."""
    units = context(a)["monitor"]
    return ([u["name"] for u in units],
            [f"{u['name']}.{p[0]}" for u in units for p in u["ins"] + u["outs"]])


def read_log(path: Path, units: list[str], streams: list[str]) -> RtlLog:
    """Parse the monitor's log; FlowError when it is missing, from another design or malformed."""
    if not Path(path).is_file():
        raise FlowError(f"accel trace: the simulation wrote no trace log {path} (was FLATFLOW_TRACE defined?)")
    lines = Path(path).read_text(errors="replace").splitlines()
    if not lines or not lines[0].startswith("# flatflow accel trace v1 "):
        raise FlowError(f"accel trace: {path} is not a trace log of this flow (no header)")
    head = lines[0].split()
    try:
        fields = dict(zip(head[5::2], head[6::2], strict=False))
        window = int(fields["window"])
        got_units = [u.replace("_", " ") if u.startswith("axi_") else u for u in fields["units"].split(",")]
        got_streams = [s.replace("axi_", "axi ", 1) for s in fields["streams"].split(",")]
        got_states = fields["states"].split(",")
    except (KeyError, ValueError):
        raise FlowError(f"accel trace: the header of {path} is malformed: {lines[0][:120]}") from None
    if got_units != units or got_streams != streams or got_states != list(STATES):
        raise FlowError(f"accel trace: {path} was written by another version of the top (units, streams or "
                        "states differ); rerun the trace")
    log = RtlLog(window, units, streams, [], [], [])
    n = len(units)
    for k, ln in enumerate(lines[1:], start=2):
        p = ln.split()
        try:
            if p[0] == "E" and len(p) == 5 and len(p[4]) == n:
                if any(ch not in "01234" for ch in p[4]):
                    raise ValueError
                log.events.append((int(p[1]), int(p[2]), int(p[3]), p[4]))
            elif p[0] == "M" and len(p) == 4:
                log.windows.append((int(p[1]), int(p[2]), int(p[3])))
            elif p[0] == "T" and len(p) == 3:
                log.runs.append((int(p[1]), int(p[2]), []))
            elif p[0] == "B" and len(p) == 2 + len(streams) and log.runs and not log.runs[-1][2]:
                log.runs[-1] = (log.runs[-1][0], log.runs[-1][1], [int(v) for v in p[2:]])
            else:
                raise ValueError
        except (ValueError, IndexError):
            raise FlowError(f"accel trace: line {k} of {path} is malformed: {ln[:120]!r}") from None
    return log


def _runs(events: list[tuple[int, Any]], end: int) -> list[tuple[int, int, Any]]:
    """(start, end, value) of each run of equal values of a (cycle, value) sequence."""
    out: list[tuple[int, int, Any]] = []
    for c, v in events:
        if out and out[-1][2] == v:
            continue
        if out:
            out[-1] = (out[-1][0], c, out[-1][2])
        out.append((c, end, v))
    return out


def analyse(a: AccelSpec, log: RtlLog, positions: list[int]) -> dict[str, Any]:
    """Tokens, phases, unit intervals and memory windows of a run (see the module docstring)."""
    end = log.end
    m = a.model
    phases = _runs([(c, (s, sub)) for c, s, sub, _ in log.events], end)
    # tokens: from leaving S_IDLE to one past the S_DONE cycle of each T line
    firsts = [s for (s, _, (st, _)), prev in zip(phases, [None, *phases[:-1]], strict=True)
              if st != 0 and (prev is None or prev[2][0] == 0)]
    if len(firsts) != len(log.runs) or len(log.runs) != len(positions):
        raise FlowError(f"accel trace: the log holds {len(firsts)} run(s) and {len(log.runs)} end(s), the test "
                        f"ran {len(positions)} token(s)")
    tok_ranges = [(f, r[0] + 1, r[1]) for f, r in zip(firsts, log.runs, strict=True)]
    tokens: list[dict[str, Any]] = []
    phase_rows: list[dict[str, Any]] = []
    for t, ((ts, te, reg), pos) in enumerate(zip(tok_ranges, positions, strict=True)):
        kvh, qh = -1, -1
        per_state: dict[str, int] = {}
        ops: dict[str, int] = {}
        prev_state = None
        for s, e, (st, sub) in phases:
            if e <= ts or s >= te or st == 0:
                continue
            name = STATES[st]
            if name != prev_state and name == "S_LDK":
                kvh, qh = kvh + 1, -1
            if name != prev_state and name == "S_LDQ":
                qh += 1
            prev_state = name
            cyc = min(e, te) - max(s, ts)
            op = PROJ_SUBS[sub] if name == "S_PROJ" else STATE_OPS[name]
            per_state[name] = per_state.get(name, 0) + cyc
            ops[op] = ops.get(op, 0) + cyc
            row = {"token": t, "pos": pos, "state": name, "op": op, "start": max(s, ts), "cycles": cyc}
            if name in _KV_STATES:
                row["kv_head"] = kvh
            if name in _Q_STATES:
                row["kv_head"], row["head"] = kvh, kvh * m.group_size + qh
            phase_rows.append(row)
        n = pos + 1
        windows = [(c, r, w) for c, r, w in log.windows if ts <= c < te]
        moved = sum(r + w for _, r, w in windows) * a.word_bytes
        beats = dict(zip(log.streams, log.runs[t][2], strict=True)) if log.runs[t][2] else {}
        tokens.append({"pos": pos, "keys": n, "start_cycle": ts, "cycles": te - ts, "cycles_register": reg,
                       "bytes_moved": moved, "bytes_roofline": a.bytes_per_token(n)["total"],
                       "roofline_cycles": a.roofline_cycles(n), "phases": per_state,
                       "ops": {k: ops.get(k, 0) for k in (*CHAIN_OPS, *IO_PHASES)}, "beats": beats})
    # unit intervals and per-token state cycles
    unit_iv: dict[str, list[tuple[int, int, int]]] = {}
    for u, name in enumerate(log.units):
        iv = [(s, e, int(code)) for s, e, code in _runs([(c, codes[u]) for c, _, _, codes in log.events], end)]
        unit_iv[name] = [x for x in iv if x[2] != 0]
    for tok in tokens:
        ts, te = tok["start_cycle"], tok["start_cycle"] + tok["cycles"]
        tok["units"] = {}
        for name, iv in unit_iv.items():
            counts = dict.fromkeys(UNIT_STATES[1:], 0)
            for s, e, code in iv:
                counts[UNIT_STATES[code]] += max(0, min(e, te) - max(s, ts))
            counts["utilisation"] = round(counts["busy"] / tok["cycles"], 4) if tok["cycles"] else 0.0
            tok["units"][name] = counts
    mem, prev = [], -1
    for c, r, w in log.windows:
        mem.append((prev + 1, c + 1, (r + w) * a.word_bytes))
        prev = c
    return {"tokens": tokens, "phases": phase_rows, "units": unit_iv, "memory": mem, "end": end}


def timeline(a: AccelSpec, res: dict[str, Any], title: str, other: dict[str, Any]) -> traces.Timeline:
    """The run as a :class:`pyflow.traces.Timeline` (tracks: phases, then the units; the memory counters)."""
    units = list(res["units"])
    tracks = [PHASE_TRACK, *units]
    slices: list[traces.Slice] = []
    for p in res["phases"]:
        args = {k: p[k] for k in ("state", "token", "pos", "kv_head", "head") if k in p}
        args.update(cycles=p["cycles"], start_cycle=p["start"])
        slices.append(traces.Slice(0, p["op"], p["start"], p["cycles"], args, "phase"))
    starts = [p["start"] for p in res["phases"]]
    for i, name in enumerate(units, start=1):
        for s, e, code in res["units"][name]:
            k = bisect.bisect_right(starts, s) - 1
            args: dict[str, Any] = {"cycles": e - s, "start_cycle": s}
            if k >= 0 and s < res["phases"][k]["start"] + res["phases"][k]["cycles"]:
                args["phase"] = res["phases"][k]["state"]
            slices.append(traces.Slice(i, UNIT_STATES[code], s, e - s, args, "unit"))
    points: list[tuple[int, float]] = [(s, round(b / (e - s), 4)) for s, e, b in res["memory"] if e > s]
    points.append((res["end"], 0.0))
    roof = [(0, float(a.word_bytes)), (res["end"], float(a.word_bytes))]
    counters = [traces.Counter("memory bytes per cycle", "bytes_per_cycle", "bytes/cycle", points),
                traces.Counter("memory roofline (port bytes per cycle)", "bytes_per_cycle", "bytes/cycle", roof)]
    return traces.Timeline(title, float(a.pc.clock_mhz), tracks, slices, counters, [], other)


def run_trace(a: AccelSpec, positions: range, simulator: str, memory: str = "verilog",
              window: int = DEFAULT_WINDOW, out: Path | None = None, build_root: Path | str = BUILD,
              progress: Callable[[str], None] | None = None, count_busy: bool = False) -> dict[str, Any]:
    """Run ``positions`` with the trace monitor, check the outputs (as ``accel run``) and the log, and write
    ``accel_trace.json``, ``accel_trace.pftrace`` and ``accel_trace_summary.json`` into ``out`` (all or
    none); return the summary (with ``count_busy``, ``busy_cycles_test``: the test's own count of each unit's
    busy cycles, see :func:`pyflow.accel.sim.run_tokens`)."""
    from pyflow.accel.report import token_rows
    from pyflow.accel.sim import run_tokens
    from pyflow.reports import _jsonable, check_target, write_all

    if not 1 <= int(window) <= 1 << 30:
        raise FlowError(f"accel trace: --window must be in 1..{1 << 30} cycles, got {window}")
    out = Path(out) if out is not None else REPORT_DIR
    files = [out / TRACE_JSON, out / TRACE_PF, out / SUMMARY, out / TRACE_PNG]
    for f in files:
        check_target(f)
    positions = list(positions)
    t0 = time.perf_counter()
    log_path = (Path(build_root) / "sim" / "accel" / f"{a.data_bits}b_{memory}_{simulator}_trace"
                / "accel_trace.log")
    res = run_tokens(a, positions, simulator, memory, build_root=build_root, progress=progress,
                     rtl_trace=log_path, window=window, count_busy=count_busy)
    rows = token_rows(a, res)
    bad = list(res.get("errors", [])) + [f"pos {r['pos']}: cycles {r['cycles_measured']} != predicted "
                                         f"{r['cycles_predicted']}" for r in rows if r["cycles_error"]]
    if not res.get("ok") or bad or not all(r["outputs_match"] for r in rows):
        raise FlowError(f"accel: {(bad or ['outputs differ from the golden model'])[0]}")
    units, streams = monitor_names(a)
    log = read_log(log_path, units, streams)
    an = analyse(a, log, positions)
    for tok, row in zip(an["tokens"], rows, strict=True):
        if not tok["cycles"] == tok["cycles_register"] == row["cycles_measured"]:
            raise FlowError(f"accel trace: token at pos {tok['pos']} spans {tok['cycles']} cycles in the log, the "
                            f"cycles register says {tok['cycles_register']}, the test {row['cycles_measured']}")
    m = a.model
    summary: dict[str, Any] = {
        "config": a.pc.source, "model": {"hidden_size": m.hidden_size, "num_attention_heads": m.num_attention_heads,
                                         "num_key_value_heads": m.num_key_value_heads, "head_dim": m.head_dim},
        "data_bits": a.data_bits, "word_bytes": a.word_bytes, "clock_mhz": a.pc.clock_mhz,
        "simulator": simulator, "memory_model": memory, "window": window, "kernel_latencies": res["latencies"],
        "definitions": {"busy": "a beat handshakes on one of the unit's streams",
                        "back-pressured": "no handshake; an output offers a beat that is not taken",
                        "starved": "no handshake, in a phase the unit works in; an input has no beat",
                        "stalled": "no handshake, in a phase the unit works in; every input offers, none taken",
                        "utilisation": "busy cycles / token cycles"},
        "tokens": an["tokens"],
        "units": _unit_totals(an["tokens"]),
        "log_lines": len(log.events) + len(log.windows) + 2 * len(log.runs) + 1,
        "sim_seconds": res.get("sim_seconds"), "build_seconds": res.get("build_seconds"),
        "files": [str(f) for f in files],
    }
    if count_busy:
        summary["busy_cycles_test"] = res.get("busy_cycles", {})
    span = f"pos {positions[0]}" + (f"..{positions[-1]}" if len(positions) > 1 else "")
    title = f"FlatFlow accelerator RTL, {a.data_bits}-bit port, {simulator}, {memory} memory, {span}"
    other = {"clock_mhz": a.pc.clock_mhz, "simulator": simulator, "memory_model": memory, "window": window,
             "tokens": [{"pos": t["pos"], "cycles": t["cycles"]} for t in an["tokens"]]}
    tl = timeline(a, an, title, other)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    from pyflow.accel.trace_png import trace_png

    write_all({files[0]: json.dumps(traces.chrome_trace(tl)).encode(), files[1]: traces.perfetto_trace(tl),
               files[2]: (json.dumps(summary, indent=2, default=_jsonable) + "\n").encode(),
               files[3]: trace_png(tl)})
    return summary


def _unit_totals(tokens: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    total = sum(t["cycles"] for t in tokens)
    out: dict[str, dict[str, Any]] = {}
    for tok in tokens:
        for name, c in tok["units"].items():
            acc = out.setdefault(name, dict.fromkeys(UNIT_STATES[1:], 0))
            for k in UNIT_STATES[1:]:
                acc[k] += c[k]
    for acc in out.values():
        acc["utilisation"] = round(acc["busy"] / total, 4) if total else 0.0
    return out


def print_summary(summary: dict[str, Any]) -> None:
    """Per-unit and per-op tables of a trace summary."""
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(Console().width, 110))
    toks = summary["tokens"]
    total = sum(t["cycles"] for t in toks)
    tab = Table(title=f"accelerator units over {len(toks)} token(s), {total:,} cycles ({summary['simulator']}, "
                f"{summary['memory_model']} memory, {summary['data_bits']}-bit port)")
    for col in ("unit", *UNIT_STATES[1:], "utilisation"):
        tab.add_column(col, justify="left" if col == "unit" else "right")
    for name, c in summary["units"].items():
        tab.add_row(name, *(f"{c[k]:,}" for k in UNIT_STATES[1:]), f"{100 * c['utilisation']:.1f}%")
    con.print(tab)
    tab = Table(title="measured cycles per op kind and token (controller phases)")
    tab.add_column("op")
    for t in toks:
        tab.add_column(f"pos {t['pos']}", justify="right")
    for op in (*CHAIN_OPS, *IO_PHASES):
        tab.add_row(op, *(f"{t['ops'][op]:,}" for t in toks))
    tab.add_row("total", *(f"{t['cycles']:,}" for t in toks))
    tab.add_row("bytes moved / roofline", *(f"{t['bytes_moved']:,} / {t['bytes_roofline']:,}" for t in toks))
    con.print(tab)
