"""`synth-vitis` subcommand: Vitis HLS csim / csynth / cosim / export for a Vitis board."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
from typing import Any


def register(subparsers: Any) -> None:
    """Add ``synth-vitis``."""
    p = subparsers.add_parser(
        "synth-vitis", help="run Vitis HLS on every kernel for a board (prints the commands when absent)",
        description="Render each kernel with the board's part into build/vitis/<board>/<kernel>/ and run "
        "`vitis_hls -f run_hls.tcl` there (csim_design, csynth_design, cosim_design, export_design). "
        "When vitis_hls is not installed, print exactly what to run on a machine that has it and exit "
        "nonzero. Results: build/report/synth_vitis_<board>.json.",
    )
    p.add_argument("--board", default=None, help="Vitis board: u250 u280 zcu104 kv260 pynq-z2 (default: [board])")
    p.add_argument("--config", metavar="FILE", help="project config TOML (default: built-in defaults)")
    p.add_argument("--kernel", metavar="K", action="append", help="only this kernel (repeatable)")
    p.add_argument("--small", action="store_true", help="use the small test dimensions")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pyflow.backends.templates import write_if_changed
    from pyflow.backends.vitis.render import render_vitis
    from pyflow.errors import FlowError
    from pyflow.paths import BUILD
    from pyflow.project.boards import get_board
    from pyflow.project.config import load_project_config, small_config
    from pyflow.specs import all_specs, get_spec
    from pyflow.tools import vitis

    pc = load_project_config(args.config)
    board = get_board(args.board or pc.board.name, flow="vitis")
    pc = dataclasses.replace(pc, board=board)
    pcx = small_config(pc) if args.small else pc
    out_root = BUILD / "vitis" / board.name
    specs = all_specs(pcx, names=tuple(args.kernel) if args.kernel else None)
    names = {s.name for s in specs}
    for s in specs:
        for dep in s.params.get("includes", ()):
            if dep not in names:
                render_vitis(get_spec(dep, pcx), pcx, out_root, with_vectors=False)
        render_vitis(s, pcx, out_root)
    exe = vitis.find_vitis_hls()
    if exe is None:
        print(f"vitis_hls is not on PATH. The projects for {board.name} ({board.part}, "
              f"{pcx.clock_mhz:g} MHz) are rendered under {out_root}/. Copy that folder to a machine with "
              "Vitis HLS (2022.1 or later) and run:")
        print("  source <Vitis install>/settings64.sh")
        for s in specs:
            print(f"  (cd {shlex.quote(str(out_root / s.name))} && vitis_hls -f run_hls.tcl)")
        raise FlowError("vitis_hls not found; run the commands above where Vitis HLS is installed")
    results: dict[str, Any] = {}
    for i, s in enumerate(specs, 1):
        print(f"  [{i}/{len(specs)}] {s.name}: vitis_hls -f run_hls.tcl ...", flush=True)
        d = out_root / s.name
        vitis.run_tcl(d)
        results[s.name] = vitis.read_csynth(d, s.name)
    report = {"board": dataclasses.asdict(board), "clock_mhz": pcx.clock_mhz, "kernels": results}
    path = BUILD / "report" / f"synth_vitis_{board.name}.json"
    write_if_changed(path, json.dumps(report, indent=2) + "\n")
    print(f"synth-vitis: {len(results)} kernel(s) done; report {path}")
    return 0
