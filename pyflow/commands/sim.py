"""`sim` subcommand: the main job behind ``make sim``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``sim``."""
    p = subparsers.add_parser(
        "sim", help="C-simulate, compile RTL, run every kernel and the decode chain; summary + sim_report.json",
        description="The main job: render kernels, C-simulate them with g++, compile each kernel's DSLX with XLS, "
        "run the generic cocotb stream test (no stalls: bit-exact and cycle-exact; random stalls: bit-exact), "
        "then one decode step kernel by kernel. Prints a summary table and writes "
        "build/report/sim_report.json. Exits nonzero on any mismatch.",
    )
    p.add_argument("--config", metavar="FILE", help="project config TOML (default: built-in defaults)")
    p.add_argument("--sim", choices=("verilator", "icarus"), default=None,
                   help="simulator (default: $SIM or verilator)")
    p.add_argument("--pos", type=_positions, default=None, metavar="P,P,...",
                   help="decode positions to run (each 0 .. context.max_length - 1; default: 0, a position "
                   "that is not a multiple of the lanes, and max_length - 1)")
    add_stage_options(p)
    p.add_argument("--no-accel", action="store_true", help="skip the decode accelerator (two tokens in RTL)")
    p.set_defaults(func=_run)


def _positions(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--pos takes comma-separated integers, got {text!r}") from None
    if not out:
        raise argparse.ArgumentTypeError("--pos needs at least one position")
    return out


def _run(args: argparse.Namespace) -> int:
    from pyflow.project.config import load_project_config
    from pyflow.sim.flow import run_sim
    from testbench.runner import default_simulator

    pc = load_project_config(args.config)
    rep = run_sim(pc, simulator=args.sim or default_simulator(), kernels=args.kernel, chain=not args.no_chain,
                  csim=not args.no_csim, stalls=not args.no_stalls, flat=not args.no_flat, positions=args.pos,
                  accel=not args.no_accel)
    if not rep["ok"]:
        print("error: sim: outputs or cycle counts differ from the golden model (see build/report/sim_report.json)",
              file=sys.stderr)
        return 1
    return 0


def add_stage_options(p: argparse.ArgumentParser) -> None:
    """The options that choose what a simulation run covers (``sim`` and ``regress`` share them)."""
    p.add_argument("--kernel", action="append", metavar="K", help="only this kernel (repeatable)")
    p.add_argument("--no-chain", action="store_true", help="skip the decode-step chain")
    p.add_argument("--no-csim", action="store_true", help="skip C simulation")
    p.add_argument("--no-stalls", action="store_true", help="skip the random back-pressure runs")
    p.add_argument("--no-flat", action="store_true", help="skip the FLAT hardware comparison")
