"""``flatflow dse``: sweep lanes x formats per kernel; cycles, resources, Fmax and error per point."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import tomllib
from pathlib import Path

from pyflow.commands.synth import DEFAULT_BOARD
from pyflow.errors import FlowError
from pyflow.paths import BUILD
from pyflow.synth.devices import default_clocks, synth_target
from pyflow.synth.run import HARNESS_MODES

DEFAULT_LANES = (2, 4, 8)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``dse`` subcommand."""
    p = sub.add_parser(
        "dse",
        help="design-space exploration over lanes and number formats (synthesis per point)",
        description="For each kernel x lanes x format point: the golden cycle count (checked by RTL simulation "
        "on a sample), Yosys/nextpnr resources and Fmax, and the fixed-point vs float64 error. Each point is a "
        "Dask task: on an embedded cluster of one worker per core, or on the cluster at --scheduler "
        "(docs/CLUSTER.md). Results are cached per point (an interrupted sweep resumes). Writes "
        "build/dse/dse.csv and dse_pareto.png.",
    )
    p.add_argument("--config", default=None, help="project config TOML (the base of every point)")
    p.add_argument("--grid", type=Path, default=None,
                   help="grid TOML: [dse] kernels = [...], lanes = [...], formats = [\"act=16.10\", ...], "
                   "board, freq, sim_sample (CLI options override it)")
    p.add_argument("--board", default=None, help=f"board to synthesise for (default {DEFAULT_BOARD})")
    p.add_argument("--kernel", action="append", default=None, metavar="K",
                   help="kernel to sweep (repeatable; default: every kernel with RTL); `accelerator` sweeps the "
                   "decode accelerator's top, its lanes being the elements per memory word (port bits = lanes x "
                   "element width: --lanes 4,8,16 at 16 bits = 64-, 128-, 256-bit ports)")
    p.add_argument("--lanes", default=None, help=f"comma-separated lane counts (default {DEFAULT_LANES})")
    p.add_argument("--format", action="append", default=None, metavar="NAME=W.F[,NAME=W.F]",
                   help="a format variant, e.g. act=12.8 (repeatable; 'default' = the config's formats)")
    p.add_argument("--freq", type=float, default=None, metavar="MHZ",
                   help="place & route target (default: clock.fpga_mhz on ECP5/iCE40, else clock.mhz)")
    p.add_argument("--xls-mhz", type=float, default=None, metavar="MHZ",
                   help="XLS clock target (default --freq x clock.fpga_xls_factor on ECP5/iCE40)")
    p.add_argument("--sim-sample", type=int, default=None, metavar="N",
                   help="RTL-simulate N evenly spaced points to check the cycle model (default 2; 0 = none)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--small", action="store_true", help="small test dimensions (fast)")
    p.add_argument("--harness", choices=HARNESS_MODES, default="auto")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the points on this Dask scheduler's workers (default: $DASK_SCHEDULER_ADDRESS, else "
                   "an embedded cluster)")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="worker processes of the embedded cluster (default: one per CPU core)")
    p.add_argument("--hooks", default=None, metavar="MODULE:NAME",
                   help="DseHooks to evaluate the points with (default pyflow.synth.dse:PROJECT_HOOKS; the module "
                   "must import on every worker; --kernel names are then passed through as they are)")
    p.add_argument("--force", action="store_true", help="ignore cached point results")
    p.add_argument("--out", type=Path, default=BUILD / "dse", help="output folder (default build/dse)")
    p.set_defaults(func=run)


def _grid_file(path: Path | None) -> dict:
    if path is None:
        return {}
    if not path.is_file():
        raise FlowError(f"dse: grid file {path} not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FlowError(f"dse: {path} is not valid TOML ({exc})") from None
    d = raw.get("dse", {})
    known = {"kernels", "lanes", "formats", "board", "freq", "xls_mhz", "sim_sample"}
    bad = [k for k in d if k not in known] + [k for k in raw if k != "dse"]
    if bad:
        raise FlowError(f"dse: unknown key {bad[0]!r} in {path} (known: [dse] {', '.join(sorted(known))})")
    return d


def _lanes(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise FlowError(f"dse: --lanes must be comma-separated integers, got {text!r}") from None


def _hooks(spec: str | None):  # noqa: ANN202
    from pyflow.synth import dse

    if spec is None:
        return dse.PROJECT_HOOKS
    module, _, attr = spec.partition(":")
    try:
        hooks = getattr(importlib.import_module(module), attr or "HOOKS")
    except (ImportError, AttributeError) as exc:
        raise FlowError(f"dse: --hooks {spec}: cannot load it ({exc})") from None
    if not isinstance(hooks, dse.DseHooks):
        raise FlowError(f"dse: --hooks {spec} is a {type(hooks).__name__}, not a pyflow.synth.dse.DseHooks")
    return hooks


def _line(r: dict) -> str:
    f = r.get("fmax_mhz")
    where = " (cached)" if r.get("cached") else f" on {r['worker']}, {r['seconds']} s" if r.get("worker") else ""
    err = f"  {r['error']}" if r.get("status") == "error" else ""
    return (f"  {r['kernel']:<13} P={r['lanes']:<3} {r['formats']:<14} {r['status']:<7}"
            + (f" Fmax {f:.1f}" if f else "") + where + err)


def run(args: argparse.Namespace) -> int:
    """Run the sweep, write dse.csv and dse_pareto.png, print a short table."""
    from rich.console import Console
    from rich.table import Table

    from pyflow.backends.templates import write_if_changed
    from pyflow.cluster.client import describe, open_client
    from pyflow.project.config import load_project_config
    from pyflow.synth import dse
    from pyflow.synth.kernels import synthesizable

    g = _grid_file(args.grid)
    hooks = _hooks(args.hooks)
    pc = load_project_config(args.config)
    board = args.board or g.get("board") or DEFAULT_BOARD
    freq, xls_mhz = default_clocks(synth_target(board), pc, args.freq or g.get("freq"),
                                  args.xls_mhz or g.get("xls_mhz"))
    kernels = args.kernel or g.get("kernels") or None
    if args.hooks is None:
        from pyflow.synth.accel import ACCEL_NAME

        wanted = [k for k in kernels or [] if k != ACCEL_NAME]
        names = [s.name for s in synthesizable(pc, wanted)] if wanted or not kernels else []
        if kernels and ACCEL_NAME in kernels:
            names.append(ACCEL_NAME)
    elif not kernels:
        raise FlowError("dse: --hooks needs --kernel (or [dse] kernels): the names its hooks know")
    else:
        names = list(kernels)
    if not names:
        raise FlowError("dse: no kernel has RTL yet (no hls/templates/dslx/<kernel>.x.j2)")
    lanes = _lanes(args.lanes) if args.lanes else [int(x) for x in g.get("lanes", DEFAULT_LANES)]
    fmts = [dse.parse_format(f) for f in (args.format or g.get("formats") or ["default"])]
    sim_n = args.sim_sample if args.sim_sample is not None else int(g.get("sim_sample", 2))
    points = dse.grid(names, lanes, fmts, sim_n)
    ctx = dse.DseContext(board=board, freq_mhz=freq, xls_mhz=xls_mhz, root=args.out.resolve(),
                         config=str(Path(args.config).resolve()) if args.config else None,
                         config_text=Path(args.config).read_text() if args.config else "", small=args.small,
                         harness=args.harness, simulator=args.simulator)
    console = Console(width=None if Console().is_terminal else 160)
    out_csv = ctx.root / "dse.csv"

    def partial(rows: list[dict]) -> None:  # complete rows only, rewritten whole after each point
        write_if_changed(out_csv, dse.csv_text(rows))

    cached = not args.force and all(dse.cached_row(p, ctx, hooks) is not None for p in points)
    with contextlib.nullcontext() if cached else open_client(args.scheduler, args.jobs) as client:
        where = "cached" if cached else f"on {describe(client)}"
        console.print(f"dse: {len(points)} point{'s' if len(points) != 1 else ''} {where}", highlight=False)
        rows = dse.run_sweep(points, ctx, hooks, client, force=args.force, on_done=_line, on_rows=partial,
                             title=f"dse {board} @ {freq:g} MHz")
    write_if_changed(out_csv, dse.csv_text(rows))
    png = dse.pareto_png(rows, ctx.root / "dse_pareto.png", f"DSE on {board} @ {freq:g} MHz")
    t = Table(title=f"DSE on {board} (target {freq:g} MHz)")
    for c in ("kernel", "P", "formats", "status", "cycles", "sim", "Fmax", "µs", "LUT", "DSP", "max rel err",
              "worker", "s"):
        t.add_column(c, justify="left" if c in ("kernel", "formats", "status", "worker") else "right")
    for r in rows:
        def fmt(v: object, spec: str = "") -> str:
            return "-" if v is None else format(v, spec)
        t.add_row(r["kernel"], str(r["lanes"]), r["formats"], r["status"], fmt(r.get("cycles")),
                  fmt(r.get("sim_cycles")), fmt(r.get("fmax_mhz"), ".1f"), fmt(r.get("decode_us"), ".3f"),
                  fmt(r.get("lut"), "g"), fmt(r.get("dsp"), "g"), fmt(r.get("max_rel_err"), ".3g"),
                  fmt(r.get("worker")), fmt(r.get("seconds"), "g"))
    console.print(t)
    for r in rows:
        if r.get("tokens_per_s"):
            console.print(f"accelerator, {r['data_bits']}-bit port ({r['formats']}): {r['cycles']:,} cycles per "
                          f"token, {r['utilisation']:.1%} of the port, {r['tokens_per_s']:g} tokens/s per layer at "
                          f"{r['fmax_mhz']:.1f} MHz", highlight=False)
    bad = [r for r in rows if r.get("cycles_match") is False]
    for r in bad:
        console.print(f"[red]cycle model mismatch[/]: {r['kernel']} P={r['lanes']}: model {r['cycles']}, "
                      f"RTL {r['sim_cycles']}")
    console.print(f"csv: {out_csv}" + (f"\nplot: {png}" if png else "\nplot: none (no point placed)"),
                  highlight=False)
    lost = [r for r in rows if r["status"] == "error"]
    if lost:
        raise FlowError(f"dse: {len(lost)} of {len(rows)} points could not run (first: {lost[0]['kernel']} "
                        f"P={lost[0]['lanes']}: {lost[0]['error']}); run again to retry them")
    return 1 if bad or all(r["status"] == "failed" for r in rows) else 0
