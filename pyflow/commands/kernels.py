"""`kernels` subcommand: render every kernel (Vitis C++, header, testbench, Tcl, vectors, DSLX)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``kernels``."""
    p = subparsers.add_parser(
        "kernels", help="render every kernel into build/kernels/<name>/ (C++, DSLX, Tcl, vectors)",
        description="Render each kernel spec through the Jinja2 templates under hls/templates/: Vitis HLS C++ "
        "kernel + header, C testbench, Vitis Tcl, golden input/expected vectors, and the DSLX source where "
        "a DSLX template exists. Unchanged files are not rewritten.",
    )
    p.add_argument("--config", metavar="FILE", help="project config TOML (default: built-in defaults)")
    p.add_argument("--kernel", metavar="K", action="append", help="only this kernel (repeatable)")
    p.add_argument("--small", action="store_true", help="use the small test dimensions (into build/kernels_small)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pyflow.backends.templates import RenderResult, write_if_changed
    from pyflow.backends.vitis.csim import SMALL_KERNELS_DIR
    from pyflow.backends.vitis.render import render_vitis
    from pyflow.paths import KERNELS_DIR
    from pyflow.project.config import load_project_config, small_config
    from pyflow.specs import all_specs

    pc = load_project_config(args.config)
    pcx = small_config(pc) if args.small else pc
    out_root = SMALL_KERNELS_DIR if args.small else KERNELS_DIR
    skipped: dict[str, str] = {}
    specs = all_specs(pcx, names=tuple(args.kernel) if args.kernel else None, skipped=skipped)
    for k, why in skipped.items():
        print(f"  {k}: skipped, the config has none ({why})")
    from pyflow.backends.xls.dslx import has_dslx, render_dslx
    total = RenderResult()
    for spec in specs:
        r = render_vitis(spec, pcx, out_root)
        if "dslx" in spec.langs and has_dslx(spec.name):
            write_if_changed(out_root / spec.name / f"{spec.name}.x", render_dslx(spec), r)
        total.merge(r)
        print(f"  {spec.name:<18} {len(r.written):>3} written, {len(r.unchanged):>3} unchanged", flush=True)
    print(f"kernels: {len(specs)} rendered into {out_root} ({len(total.written)} files written, "
          f"{len(total.unchanged)} unchanged)")
    return 0
