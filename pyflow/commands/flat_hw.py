"""`flat-hw`: FLAT attention kernel vs the unfused qk -> softmax -> av chain (cycles, buffers, traffic)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``flat-hw``."""
    p = subparsers.add_parser(
        "flat-hw",
        help="FLAT hardware kernel vs the unfused chain: cycles, on-chip buffer bytes, off-chip bytes",
        description="Compare, for one head's prefill attention (L = N query rows over N keys), the fused "
        "flat_attention kernel (R query rows per tile, logits on chip) with the unfused chain qk -> softmax_max "
        "-> softmax_exp -> softmax_norm -> av whose L x N intermediates go through external memory: cycle "
        "models, on-chip buffer bytes, off-chip bytes, a sweep over the row tile R, and the same comparison at "
        "the small test dimensions. With --rtl the small-dimension kernels are simulated and measured cycles "
        "are added. Writes build/report/flat_hw.json.",
    )
    p.add_argument("--config", metavar="FILE", help="project config TOML (default: built-in defaults)")
    p.add_argument("--rtl", action="store_true",
                   help="also simulate flat_attention and the unfused kernels at the small dimensions")
    p.add_argument("--sim", choices=("verilator", "icarus"), default=None,
                   help="simulator for --rtl (default: $SIM, else verilator)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pyflow.project.config import load_project_config
    from pyflow.sim.flat_hw import flat_hw_report

    flat_hw_report(load_project_config(args.config), measure=args.rtl, simulator=args.sim)
    return 0
