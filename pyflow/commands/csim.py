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
    p.add_argument("--kernel", metavar="K", action="append", help="only this kernel (repeatable)")
    p.add_argument("--small", action="store_true", help="use the small test dimensions")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pyflow.backends.vitis.csim import check_report, run_csim
    from pyflow.project.config import load_project_config

    pc = load_project_config(args.config)
    report = run_csim(pc, names=args.kernel, small=args.small)
    check_report(report)
    return 0
