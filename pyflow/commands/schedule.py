"""`schedule`: place the LLaMA decode chain of one block on K engines; write Perfetto traces and Gantt charts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError

DEFAULT_OUT = Path("build/schedule")
DEFAULT_TOKENS = 2
DEFAULT_ENGINES = 4
#: The summary `accel trace` writes by default (measured cycles per op kind).
ACCEL_TRACE = Path("build/report") / "accel_trace_summary.json"  # pyflow.accel.trace: REPORT_DIR / SUMMARY


def register(subparsers: Any) -> None:
    """Add the ``schedule`` subcommand."""
    from pyflow.schedule.algorithms import ALGOS, DEFAULT_TIME_LIMIT, DEFAULT_WORKERS
    from pyflow.schedule.durations import DEFAULT_DEPTH, SOURCES
    from pyflow.schedule.graph import MODES

    p = subparsers.add_parser(
        "schedule", help="schedule the decode chain on K engines; write Perfetto traces and a Gantt chart",
        description="Build the op DAG of T decode tokens through one LLaMA block (per head or whole-layer), "
        "give every op a duration (golden cycle model, measured RTL cycles or a user profile), schedule it on "
        "K engines (list scheduling in ready order, HLFET critical-path priority, CP-SAT exact within a time "
        "limit), print makespans against the lower bounds, and write per algorithm a Chrome trace-event JSON "
        "(ui.perfetto.dev), a native .pftrace and a Gantt PNG, plus summary.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--config", type=Path, help="project config TOML (default: pyflow/project/configs/default.toml)")
    p.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="decode tokens T")
    p.add_argument("--heads", choices=("1", "all"), default="all",
                   help="'all': per-head ops (GQA sharing of KV heads); '1': whole-layer ops")
    p.add_argument("--engines", type=int, default=DEFAULT_ENGINES, help="compute engines K")
    p.add_argument("--mem-engines", type=int, default=0,
                   help="separate memory/DMA engines M for mem_store_kv/mem_load_kv (0: they share the K)")
    p.add_argument("--algo", choices=(*ALGOS, "all"), default="all", help="scheduling algorithm")
    p.add_argument("--durations", choices=SOURCES, default="golden", help="source of op durations")
    p.add_argument("--profile", type=Path, help="op-time JSON for --durations profile")
    p.add_argument("--sim-report", type=Path,
                   help="RTL simulation report for --durations measured (default build/report/sim_report.json)")
    p.add_argument("--accel-trace", type=Path, nargs="?", const=ACCEL_TRACE, default=None, metavar="FILE",
                   help="with --durations measured: per-op cycles measured on the accelerator RTL, from the "
                   f"summary of `accel trace` (FILE, default {ACCEL_TRACE}), instead of the kernel ratios "
                   "of --sim-report")
    p.add_argument("--mode", choices=MODES, default="autoregressive", help="token dependencies")
    p.add_argument("--ctx", type=int, help="keys attended by the first token (default: config context.length)")
    p.add_argument("--depth", type=int, default=DEFAULT_DEPTH, help="pipeline depth of the golden cycle model")
    p.add_argument("--o-proj-blocks", type=int, default=1,
                   help="split each token's o_proj into this many row blocks (must divide hidden_size)")
    p.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT, help="CP-SAT limit in seconds")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="CP-SAT search workers")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    p.set_defaults(func=cmd_schedule)


#: Largest values of the numeric options (beyond them the graph or the solver model would not fit).
MAX_TOKENS, MAX_ENGINES, MAX_DEPTH = 256, 4096, 1 << 20
#: Largest sum of op durations (cycles) the schedulers take (CP-SAT works on 64-bit integers).
MAX_TOTAL_CYCLES = 1 << 48


def _check(args: argparse.Namespace) -> None:
    ranges = (("--tokens", args.tokens, 1, MAX_TOKENS), ("--engines", args.engines, 1, MAX_ENGINES),
              ("--mem-engines", args.mem_engines, 0, MAX_ENGINES), ("--depth", args.depth, 0, MAX_DEPTH),
              ("--workers", args.workers, 1, 256), ("--o-proj-blocks", args.o_proj_blocks, 1, 1 << 16))
    for flag, value, low, high in ranges:
        if not low <= value <= high:
            raise FlowError(f"schedule: {flag} must be in {low}..{high}, got {value}")
    if args.ctx is not None and not 1 <= args.ctx <= 1 << 31:
        raise FlowError(f"schedule: --ctx must be in 1..{1 << 31}, got {args.ctx}")
    if not 0 < args.time_limit <= 24 * 3600:
        raise FlowError(f"schedule: --time-limit must be in (0, 86400] seconds, got {args.time_limit}")
    if args.profile is not None and args.durations != "profile":
        raise FlowError("schedule: --profile needs --durations profile")
    if args.accel_trace is not None and args.durations != "measured":
        raise FlowError("schedule: --accel-trace needs --durations measured")
    if args.accel_trace is not None and args.sim_report is not None:
        raise FlowError("schedule: give --accel-trace or --sim-report, not both")


def cmd_schedule(args: argparse.Namespace) -> int:
    """Run the scheduler and write the outputs."""
    from pyflow.project.config import load_project_config
    from pyflow.reports import _jsonable, write_all
    from pyflow.schedule.algorithms import ALGOS, make_instance, run_algo
    from pyflow.schedule.bounds import critical_path, lower_bounds
    from pyflow.schedule.durations import Hw, get_durations
    from pyflow.schedule.graph import build_graph

    _check(args)
    pc = load_project_config(args.config)
    ctx = args.ctx if args.ctx is not None else pc.max_length
    try:
        graph = build_graph(pc.model, args.tokens, ctx, args.heads == "all", args.mode, args.o_proj_blocks)
    except ValueError as exc:
        raise FlowError(f"schedule: {exc}") from None
    if args.engines > len(graph.ops):
        raise FlowError(f"schedule: --engines {args.engines} exceeds the {len(graph.ops)} ops of the graph (more "
                        "engines can never be busy)")
    hw = Hw.from_config(pc, depth=args.depth)
    dur = get_durations(graph, hw, args.durations, args.profile, args.sim_report, args.accel_trace, pc.model)
    if sum(dur.cycles) > MAX_TOTAL_CYCLES:
        raise FlowError(f"schedule: the ops add up to {sum(dur.cycles):.3g} cycles, more than the solvers handle "
                        f"({MAX_TOTAL_CYCLES:.3g}); check the durations (--profile, --depth, --ctx)")
    inst = make_instance(dur.cycles, graph.preds, [op.is_mem for op in graph.ops], args.engines, args.mem_engines)
    bounds = lower_bounds(inst.durations, inst.preds, inst.op_class, inst.engine_class)
    _, cp_ops = critical_path(inst.durations, inst.preds)
    algos = list(ALGOS) if args.algo == "all" else [args.algo]
    results = {}
    for algo in algos:
        hint = None
        if algo == "cpsat" and {"list", "hlfet"} <= results.keys():
            hint = min((results["list"], results["hlfet"]), key=lambda s: s.makespan)
        results[algo] = run_algo(inst, algo, args.time_limit, hint=hint, workers=args.workers)

    files = _render_outputs(args, pc.clock_mhz, graph, dur, inst, results)
    summary = _summary(args, pc, ctx, graph, dur, inst, bounds, cp_ops, results, files)
    _print(summary, graph, dur, inst, cp_ops)
    files[args.out / "summary.json"] = (json.dumps(summary, indent=2, default=_jsonable) + "\n").encode()
    write_all(files)
    print(f"wrote {len(files)} files under {args.out}/ (open *.trace.json or *.pftrace in "
          "https://ui.perfetto.dev)")
    return 0


def _title(args: argparse.Namespace, algo: str) -> str:
    eng = f"K={args.engines}" + (f"+{args.mem_engines} dma" if args.mem_engines else "")
    heads = "all heads" if args.heads == "all" else "whole layer"
    return f"FlatFlow schedule {algo} {eng} T={args.tokens} {heads} {args.mode}"


def _render_outputs(args: argparse.Namespace, clock_mhz: float, graph: Any, dur: Any, inst: Any,
                    results: dict[str, Any]) -> dict[Path, bytes]:
    from pyflow.schedule.gantt import gantt_png
    from pyflow.schedule.trace_json import chrome_trace
    from pyflow.schedule.trace_perfetto import perfetto_trace
    from pyflow.schedule.view import make_view

    files: dict[Path, bytes] = {}
    for algo, sched in results.items():
        view = make_view(graph, dur, inst, sched, clock_mhz, _title(args, algo))
        files[args.out / f"{algo}.trace.json"] = json.dumps(chrome_trace(view)).encode()
        files[args.out / f"{algo}.pftrace"] = perfetto_trace(view)
        files[args.out / f"{algo}_gantt.png"] = gantt_png(view)
    return files


def _summary(args: argparse.Namespace, pc: Any, ctx: int, graph: Any, dur: Any, inst: Any, bounds: Any,
             cp_ops: list[int], results: dict[str, Any], files: dict[Path, bytes]) -> dict[str, Any]:
    n_eng = len(inst.engine_class)
    # the best lower bound: the analytic ones, or CP-SAT's proven bound when it is tighter
    solver = int(results["cpsat"].info["solver_bound"]) if "cpsat" in results else 0
    best = max(bounds.lower, solver)
    out: dict[str, Any] = {
        "config": pc.source, "clock_mhz": pc.clock_mhz, "tokens": args.tokens, "ctx": ctx,
        "heads": args.heads, "mode": args.mode, "engines": args.engines, "mem_engines": args.mem_engines,
        "o_proj_blocks": args.o_proj_blocks, "ops": len(graph.ops), "edges": len(graph.edges),
        "durations": {"method": dur.method, "source_by_op": dur.source_summary(graph), "notes": dur.notes},
        "bounds": {"critical_path": bounds.critical_path, "work": bounds.work,
                   "ancestor_work": bounds.ancestor_work,
                   "work_by_class": bounds.work_by_class, "analytic": bounds.lower,
                   "cpsat": solver or None, "lower": best},
        "critical_path": [graph.ops[i].label for i in cp_ops],
        "algorithms": {},
        "files": sorted(str(p) for p in files),
    }
    for algo, s in results.items():
        busy = s.busy(n_eng)
        out["algorithms"][algo] = {
            "makespan_cycles": s.makespan, "makespan_us": s.makespan / pc.clock_mhz, "status": s.status,
            "gap_to_lower_bound": s.makespan / best - 1 if best else 0.0,
            "seconds": round(s.seconds, 3), **{k: v for k, v in s.info.items()},
            "utilisation": {inst.engine_names[e]: busy[e] / s.makespan if s.makespan else 0.0
                            for e in range(n_eng)},
        }
    return out


def _print(summary: dict[str, Any], graph: Any, dur: Any, inst: Any, cp_ops: list[int]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console(width=max(110, Console().width))
    clock = summary["clock_mhz"]
    con.print(f"[bold]{summary['ops']} ops, {summary['edges']} dependencies[/bold]: T={summary['tokens']} "
              f"ctx={summary['ctx']} heads={summary['heads']} mode={summary['mode']}, "
              f"K={summary['engines']} mem engines={summary['mem_engines']}, clock {clock:g} MHz")
    t = Table(title=f"op durations ({dur.method})")
    for col in ("op", "count", "cycles each", "total cycles", "source"):
        t.add_column(col, justify="right" if col in ("count", "cycles each", "total cycles") else "left")
    kinds: dict[str, list[int]] = {}
    for op in graph.ops:
        kinds.setdefault(op.kind, []).append(dur.cycles[op.id])
    src = dur.source_summary(graph)
    for k, cs in kinds.items():
        each = f"{min(cs)}" if min(cs) == max(cs) else f"{min(cs)}..{max(cs)}"
        t.add_row(k, str(len(cs)), each, str(sum(cs)), src[k])
    con.print(t)
    for note in dur.notes:
        con.print(f"note: {note}")
    b = summary["bounds"]
    t = Table(title=f"makespan; lower bound {b['lower']} cycles = max(critical path {b['critical_path']}, "
              f"work/engines {b['work']}, ancestor work {b['ancestor_work']}"
              + (f", CP-SAT bound {b['cpsat']})" if b["cpsat"] else ")"))
    for col in ("algorithm", "makespan (cycles)", "makespan (us)", "vs lower bound", "status", "solve (s)"):
        t.add_column(col, justify="left" if col in ("algorithm", "status") else "right")
    for algo, r in summary["algorithms"].items():
        status = r["status"]
        if algo == "cpsat":
            status += f" (limit {r['time_limit_s']:g} s, {r['workers']} workers, bound {r['solver_bound']})"
        t.add_row(algo, str(r["makespan_cycles"]), f"{r['makespan_us']:.2f}",
                  f"+{100 * r['gap_to_lower_bound']:.2f}%", status, f"{r['seconds']:.2f}")
    con.print(t)
    t = Table(title="engine utilisation (busy / makespan)")
    t.add_column("engine")
    for algo in summary["algorithms"]:
        t.add_column(algo, justify="right")
    for name in inst.engine_names:
        t.add_row(name, *(f"{100 * r['utilisation'][name]:.1f}%" for r in summary["algorithms"].values()))
    con.print(t)
    t = Table(title=f"critical path ({b['critical_path']} cycles = {b['critical_path'] / clock:.2f} us)")
    for col in ("op", "cycles", "finish (cycles)"):
        t.add_column(col, justify="left" if col == "op" else "right")
    acc = 0
    for i in cp_ops:
        acc += inst.durations[i]
        t.add_row(escape(graph.ops[i].label), str(inst.durations[i]), str(acc))
    con.print(t)
