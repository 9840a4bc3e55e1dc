"""``flatflow synth``: open-source synthesis (Yosys + nextpnr) or AMD resource estimates of every kernel."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyflow.errors import FlowError
from pyflow.paths import BUILD
from pyflow.synth.accel import synth_accel
from pyflow.synth.devices import all_boards, default_clocks, synth_target
from pyflow.synth.run import HARNESS_MODES, tool_versions

DEFAULT_BOARD = "ecp5-85k"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``synth`` subcommand."""
    p = sub.add_parser(
        "synth",
        help="synthesise every kernel with Yosys + nextpnr (ECP5 / iCE40) or estimate AMD resources",
        description="XLS-compile every kernel that has RTL, synthesise it with Yosys and (ECP5 / iCE40) place "
        "and route it with nextpnr at the target clock; AMD boards get Yosys synth_xilinx resource estimates. "
        "Writes build/report/synth_<board>.json and prints a table.",
    )
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"one of: {', '.join(all_boards())} "
                   f"(default {DEFAULT_BOARD})")
    p.add_argument("--config", default=None, help="project config TOML (default: pyflow/project/configs/default.toml)")
    p.add_argument("--kernel", action="append", default=None, metavar="K",
                   help="only this kernel (repeatable; default: every kernel with RTL and the decode accelerator's "
                   "top; `--kernel accelerator` selects the top)")
    p.add_argument("--no-accel", action="store_true",
                   help="leave out the decode accelerator's top (it takes the longest to place and route)")
    p.add_argument("--accel-closure", type=int, default=0, metavar="N",
                   help="re-pipeline the kernel on the top's critical path and place the top again, up to N times "
                   "(default 0; each attempt takes as long as the first, about half an hour at the default config)")
    p.add_argument("--freq", type=float, default=None, metavar="MHZ",
                   help="place & route clock target in MHz (default: the config's clock.fpga_mhz on "
                   "ECP5/iCE40, clock.mhz for the AMD estimates)")
    p.add_argument("--xls-mhz", type=float, default=None, metavar="MHZ",
                   help="clock target XLS pipelines for (default: --freq x clock.fpga_xls_factor on ECP5/iCE40, "
                   "else --freq)")
    p.add_argument("--close-timing", type=int, default=4, metavar="N",
                   help="re-pipeline a kernel that misses --freq with a faster XLS target up to N times "
                   "(default 4; 0 = off)")
    p.add_argument("--closure-max-s", type=float, default=None, metavar="S",
                   help="no closure attempt after a synthesis that took longer than S seconds (default 600)")
    p.add_argument("--harness", choices=HARNESS_MODES, default="auto",
                   help="serialising harness: auto (when the ports exceed the package pins), always, never")
    p.add_argument("-j", "--jobs", type=int, default=2, help="kernels synthesised in parallel (default 2)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--force", action="store_true", help="ignore cached results")
    p.add_argument("--out", type=Path, default=None, help="report path (default build/report/synth_<board>.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the synth stage; exit 0 unless a kernel failed outright (a design that does not fit is reported)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pyflow.project.config import load_project_config
    from pyflow.synth import kernels as ks
    from pyflow.synth import table

    target = synth_target(args.board)
    pc = load_project_config(args.config)
    freq, xls_mhz = default_clocks(target, pc, args.freq, args.xls_mhz)
    if not (1.0 <= freq <= 1000.0 and 1.0 <= xls_mhz <= 2000.0):
        raise FlowError(f"synth: clock target {freq} MHz / XLS {xls_mhz} MHz out of range")
    if args.close_timing < 0:
        raise FlowError(f"synth: --close-timing must be >= 0, got {args.close_timing}")
    if args.jobs < 1:
        raise FlowError(f"synth: --jobs must be >= 1, got {args.jobs}")
    from pyflow.synth.accel import ACCEL_NAME

    names = [k for k in args.kernel or [] if k != ACCEL_NAME]
    with_accel = not args.no_accel and (args.kernel is None or ACCEL_NAME in args.kernel)
    if with_accel and args.kernel is not None:  # the top's kernels run too: their closure seeds its XLS clocks
        names += [k for k in _accel_kernels(pc) if k not in names]
    specs = ks.synthesizable(pc, names) if names or args.kernel is None else []
    if not specs and not with_accel:
        raise FlowError("synth: no kernel has RTL yet (no hls/templates/dslx/<kernel>.x.j2); run `make rtl`")
    versions = tool_versions(target)
    console = Console(width=None if Console().is_terminal else 160)
    root = BUILD / "synth" / target.name
    with Progress(TextColumn("synth {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as prog:
        task = prog.add_task(f"{target.name} @ {freq:g} MHz", total=len(specs) + int(with_accel))

        def done(r: dict) -> None:
            prog.console.print(progress_line(r), highlight=False)
            prog.advance(task)
            sys.stdout.flush()  # progress lines reach a log file as they happen

        rows = ks.synth_kernels(specs, target, freq, xls_mhz, root, default_mhz=pc.clock_mhz,
                                closure=args.close_timing, closure_max_s=args.closure_max_s or ks.CLOSURE_MAX_S,
                                harness=args.harness, seed=args.seed, workers=args.jobs, force=args.force,
                                on_done=done) if specs else []
        if with_accel:
            prog.console.print("  accelerator    building the top, then synthesis and place & route (the longest "
                               "design: about half an hour on ECP5-85k)", highlight=False)
            # each kernel starts from the XLS clock its own timing closure kept in this run (its lanes in the top
            # may differ, so the top's closure goes on from there)
            seeds = {r["name"]: float(r["extra"]["xls_mhz"]) for r in rows
                     if r.get("status") == "ok" and (r.get("extra") or {}).get("xls_mhz")}
            row = synth_accel(pc, target, freq, xls_mhz, root, default_mhz=pc.clock_mhz, harness=args.harness,
                              seed=args.seed, force=args.force, kernel_mhz=seeds,
                              closure=max(0, args.accel_closure) if target.flow == "pnr" else 0)
            done(row)
            rows.append(row)
    doc = table.report_document(target, rows, freq, versions, {**pc.to_dict(), "xls_mhz": xls_mhz})
    out = args.out or BUILD / "report" / f"synth_{target.name}.json"
    table.write_report(out, doc)
    table.render_table(doc, console)
    console.print(f"report: {out}", highlight=False)
    return 1 if doc["summary"]["failed"] else 0


def progress_line(r: dict) -> str:
    """One design's line while ``synth`` runs: status, Fmax and, after several closure attempts, each one's
    Fmax (a kernel's attempts by XLS clock; the top's by the kernel its critical path started in)."""
    f = r.get("fmax_mhz")
    history = r.get("closure") or []

    def attempt(h: dict) -> str:
        fmax = f"{h['fmax_mhz']:.0f}" if h.get("fmax_mhz") else "x"
        return f"{h['xls_mhz']:g}:{fmax}" if "xls_mhz" in h else f"{fmax} ({h.get('limited_by') or 'error'})"

    label = "XLS MHz:Fmax" if history and "xls_mhz" in history[0] else "Fmax MHz (limited by)"
    return (f"  {r['name']:<14} {r['status']:<7}" + (f" Fmax {f:.1f} MHz" if f else "")
            + (f"  ({label} {', '.join(attempt(h) for h in history)})" if len(history) > 1 else "")
            + (" (cached)" if r.get("cached") else ""))


def _accel_kernels(pc: object) -> list[str]:
    """The kernels the accelerator's top is built from (none when the config cannot be served: the top's row
    then says why)."""
    from hls.accel.spec import build

    try:
        return list(build(pc).kernels)
    except FlowError:
        return []
