"""`csim` subcommand: C-simulate every kernel and the top with g++ against the golden vectors."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``csim``."""
    p = subparsers.add_parser(
        "csim", help="C-simulate every kernel and the DATAFLOW top with g++ (bit-exact vs the golden model)",
        description="Render each kernel, compile kernel + testbench with g++ against hls4ml's ap_types "
        "headers (cached by content hash), run it on the golden model's vectors and compare every output "
        "element bit for bit. Writes build/report/csim_report.json; exits nonzero on any mismatch.",
    )
    p.add_argument("--config", metavar="FILE", help="project config TOML (default: built-in defaults)")
    p.add_argument("--pos", type=_positions, default=None, metavar="P,P,...",
                   help="decode positions to run (each 0 .. context.max_length - 1; default: 0, a position "
                   "that is not a multiple of the lanes, and max_length - 1)")
    p.add_argument("--kernel", metavar="K", action="append", help="only this kernel (repeatable)")
    p.add_argument("--small", action="store_true", help="use the small test dimensions")
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
    from pyflow.backends.vitis.csim import check_report, run_csim
    from pyflow.project.config import load_project_config

    pc = load_project_config(args.config)
    report = run_csim(pc, names=args.kernel, small=args.small, positions=args.pos)
    check_report(report)
    return 0
