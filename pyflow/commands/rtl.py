"""`rtl` subcommand: compile every kernel's DSLX to pipelined Verilog with XLS, wrap it, lint it."""

from __future__ import annotations

import argparse
from typing import Any

from pyflow.tools.xls import DELAY_MODELS


def register(subparsers: Any) -> None:
    """Add ``rtl``."""
    p = subparsers.add_parser(
        "rtl", help="compile kernels to Verilog with XLS (DSLX -> pipeline -> AXI4-Stream wrapper -> lint)",
        description="Render each kernel's DSLX template, compile it with XLS into a pipelined Verilog core "
        "(clock period from [clock] mhz), wrap it in AXI4-Stream ports and lint it with Verilator. Outputs "
        "go to build/rtl/<kernel>/, the summary to build/report/rtl_report.json.",
    )
    p.add_argument("--config", metavar="FILE", help="project config TOML (default: built-in defaults)")
    p.add_argument("--kernel", metavar="K", action="append",
                   help="only this kernel (repeatable; default: every kernel with a DSLX template)")
    p.add_argument("--small", action="store_true", help="use the small test dimensions")
    p.add_argument("--delay-model", choices=DELAY_MODELS, default="sky130",
                   help="XLS delay model used to pipeline at the clock target (default: sky130)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pyflow.backends.xls.build import has_template, run_stage
    from pyflow.errors import FlowError
    from pyflow.project.config import load_project_config
    from pyflow.specs import KERNELS, all_specs

    pc = load_project_config(args.config)
    names = tuple(args.kernel) if args.kernel else tuple(k for k in KERNELS if has_template(k))
    if not names:
        print("rtl: no kernel has a DSLX or Verilog template (hls/templates/{dslx/<kernel>.x.j2,rtl/<kernel>.v.j2})")
        return 0
    specs = all_specs(pc, small=args.small, names=names)
    missing = [s.name for s in specs if not has_template(s.name)]
    if missing:
        raise FlowError(f"rtl: no DSLX or Verilog template for {', '.join(missing)}")
    report = run_stage(specs, pc.clock_mhz, delay_model=args.delay_model)
    print(f"rtl: {len(report['kernels'])} kernels -> build/rtl/, report build/report/rtl_report.json")
    return 0
