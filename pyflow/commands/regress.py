"""``flatflow regress``: ``make sim`` for every config of a matrix, on the Dask engine; one summary table."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from pyflow.commands.sim import _positions, add_stage_options
from pyflow.errors import FlowError
from pyflow.paths import BUILD


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``regress`` subcommand."""
    p = sub.add_parser(
        "regress",
        help="config-matrix regression: sim (kernels, chain, FLAT accelerator) for every config; one summary",
        description="Runs the sim job (C-sim, every RTL kernel, the decode-step chain, the FLAT accelerator) for "
        "each CONFIG as a Dask task: on an embedded cluster of one worker per core, or on the cluster at "
        "--scheduler (docs/CLUSTER.md). Each config's full report goes to build/regress/<config>/sim_report.json; "
        "one table (config x pass/fail x cycles) and build/report/regress.json summarise them. Results are cached "
        "per config (an interrupted regression resumes). Exits 1 when a config fails or could not run.",
    )
    p.add_argument("configs", nargs="+", metavar="CONFIG.toml", help="project configs to check")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on this Dask scheduler's workers (default: $DASK_SCHEDULER_ADDRESS, else an embedded "
                   "cluster)")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="worker processes of the embedded cluster (default: one per CPU core)")
    p.add_argument("--sim", choices=("verilator", "icarus"), default=None,
                   help="simulator (default: $SIM or verilator)")
    p.add_argument("--pos", type=_positions, default=None, metavar="P,P,...",
                   help="decode positions (default: each config's own, as sim)")
    add_stage_options(p)
    p.add_argument("--force", action="store_true", help="ignore cached results")
    p.add_argument("--out", type=Path, default=BUILD / "regress",
                   help="one folder per config under it (default build/regress)")
    p.add_argument("--summary", type=Path, default=BUILD / "report" / "regress.json",
                   help="summary JSON (default build/report/regress.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the matrix, print the table; 0 when every config passes."""
    from pyflow.cluster.client import describe, open_client
    from pyflow.regress import matrix
    from testbench.runner import default_simulator

    opts = matrix.SimOptions(simulator=args.sim or default_simulator(),
                             kernels=tuple(args.kernel) if args.kernel else None, chain=not args.no_chain,
                             csim=not args.no_csim, stalls=not args.no_stalls, flat=not args.no_flat,
                             positions=args.pos)
    items = matrix.entries(args.configs, args.out.resolve(), opts)
    summary = args.summary.resolve()
    idle = not args.force and all(e.key is None or matrix.cached_row(e) is not None for e in items)
    with contextlib.nullcontext() if idle else open_client(args.scheduler, args.jobs) as client:
        where = "cached" if idle else f"on {describe(client)}"
        print(f"regress: {len(items)} config{'s' if len(items) != 1 else ''} {where}", flush=True)
        rows = matrix.run_matrix(items, opts, client, summary, force=args.force)
    matrix.print_table(rows)
    print(f"summary: {summary}", flush=True)
    bad = [r for r in rows if not r["ok"]]
    if bad:
        names = ", ".join(r["config"] for r in bad)
        raise FlowError(f"regress: {len(bad)} of {len(rows)} configs did not pass ({names}); see {summary}")
    return 0
