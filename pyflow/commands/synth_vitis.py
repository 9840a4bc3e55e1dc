"""`synth-vitis` subcommand: Vitis HLS (csim, csynth, optional cosim, export) for a Vitis board, then on an
Alveo card the v++ link of every host-runnable kernel and the XRT host program; prints the exact commands
where the tools are absent."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError


def register(subparsers: Any) -> None:
    """Add ``synth-vitis``."""
    p = subparsers.add_parser(
        "synth-vitis", help="Vitis HLS + packaging (Alveo: .xo, v++ link, xclbin; Zynq: IP) for a board; prints "
        "the commands when the tools are absent",
        description="Render each kernel with the board's part into build/vitis/<board>/<kernel>/ and run "
        "`vitis_hls -f run_hls.tcl` there (csim_design, csynth_design, export_design; cosim_design with --cosim). "
        "Alveo boards (u250, u280): -flow_target vitis, export as <kernel>.xo, a v++ link configuration "
        "<kernel>.cfg mapping each m_axi bundle to the card's HBM/DDR banks, and for every kernel a host runs on "
        "its own (memory-mapped ports only: decode_step) `v++ -l` into <kernel>.xclbin, then "
        "`python -m pyflow host run --xclbin ...` on the card. Zynq boards (zcu104, kv260, pynq-z2): "
        "-flow_target vivado, export to the IP catalog, m_axi bundles to the PS HP ports. When vitis_hls (or, "
        "for the link, v++) is not installed, print exactly what to run on a machine that has it and exit "
        "nonzero. Results: build/report/synth_vitis_<board>.json.",
    )
    p.add_argument("--board", default=None, help="Vitis board: u250 u280 zcu104 kv260 pynq-z2 (default: [board])")
    p.add_argument("--platform", default=None, metavar="NAME",
                   help="Alveo platform for v++ (default: the board's, e.g. xilinx_u280_gen3x16_xdma_1_202211_1)")
    p.add_argument("--cosim", action="store_true",
                   help="also run cosim_design (RTL co-simulation in xsim; off by default: decode_step at full "
                   "size takes hours)")
    p.add_argument("--config", metavar="FILE", help="project config TOML (default: built-in defaults)")
    p.add_argument("--kernel", metavar="K", action="append", help="only this kernel (repeatable)")
    p.add_argument("--small", action="store_true", help="use the small test dimensions")
    p.set_defaults(func=_run)


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    """Render every project and link configuration; return what to run, tool by tool."""
    from pyflow.backends.templates import write_if_changed
    from pyflow.backends.vitis import link
    from pyflow.backends.vitis.render import render_vitis
    from pyflow.paths import BUILD
    from pyflow.project.boards import get_board
    from pyflow.project.config import load_project_config, small_config
    from pyflow.specs import all_specs, get_spec

    pc = load_project_config(args.config)
    board = get_board(args.board or pc.board.name, flow="vitis")
    if args.platform and not board.is_alveo:
        raise FlowError(f"--platform {args.platform}: board {board.name} is a Zynq board (Vivado IP, no v++ link); "
                        "drop --platform or choose u250 / u280")
    platform = args.platform or board.platform
    pc = dataclasses.replace(pc, board=board)
    pcx = small_config(pc) if args.small else pc
    out_root = BUILD / "vitis" / board.name
    skipped: dict[str, str] = {}
    specs = all_specs(pcx, names=tuple(args.kernel) if args.kernel else None, skipped=skipped)
    for k, why in skipped.items():
        print(f"  {k}: skipped, the config has none ({why})")
    names = {s.name for s in specs}
    for s in specs:
        for dep in s.params.get("includes", ()):
            if dep not in names:
                render_vitis(get_spec(dep, pcx), pcx, out_root, with_vectors=False, cosim=args.cosim)
        render_vitis(s, pcx, out_root, cosim=args.cosim)
    kernels: dict[str, dict[str, Any]] = {}
    links = []
    for s in specs:
        d = out_root / s.name
        entry: dict[str, Any] = {"folder": str(d), "hls": "vitis_hls -f run_hls.tcl",
                                 "export": str(d / f"{s.name}.xo") if board.is_alveo
                                 else str(d / f"{s.name}_prj" / "sol1" / "impl" / "ip")}
        bundles = link.m_axi_bundles((d / f"{s.name}.cpp").read_text(), s)
        if bundles:
            entry["banks"] = link.bank_plan(board, bundles)
            if board.is_alveo:
                write_if_changed(d / f"{s.name}.cfg", link.link_config(s, board, bundles))
                entry["link_config"] = str(d / f"{s.name}.cfg")
            else:
                entry["ps_ports"] = link.zynq_port_lines(s, board, bundles)
        if board.is_alveo and link.host_runnable(s):
            entry["link"] = link.shell(link.vpp_link_command(s, board, platform, pcx.clock_mhz))
            entry["xclbin"] = str(d / f"{s.name}.xclbin")
            links.append(s.name)
        kernels[s.name] = entry
    host = []
    for k in links:
        argv = ["python", "-m", "pyflow", "host", "run", "--xclbin", kernels[k]["xclbin"], "--tokens", "4"]
        argv += (["--config", str(args.config)] if args.config else []) + (["--small"] if args.small else [])
        host.append(link.shell(argv))
    return {"board": board, "platform": platform, "clock_mhz": pcx.clock_mhz, "out_root": out_root,
            "kernels": kernels, "links": links, "host": host, "specs": specs}


def _print_commands(plan: dict[str, Any]) -> None:
    board = plan["board"]
    print("  source <Vitis install>/settings64.sh")
    for e in plan["kernels"].values():
        print(f"  (cd {shlex.quote(e['folder'])} && vitis_hls -f run_hls.tcl)")
    for k in plan["links"]:
        e = plan["kernels"][k]
        print(f"  (cd {shlex.quote(e['folder'])} && {e['link']})")
    if board.is_alveo:
        if plan["host"]:
            print("  # then on the machine with the card (XRT installed: source /opt/xilinx/xrt/setup.sh):")
            for line in plan["host"]:
                print(f"  {line}")
        else:
            print("  # no kernel here is host-runnable on its own (each has AXI4-Stream ports): link the .xo files "
                  "with your own kernels (sc= stream connections) or build decode_step")
    else:
        for e in plan["kernels"].values():
            for line in e.get("ps_ports", []):
                print(f"  # Vivado block design: {line}")


def _run(args: argparse.Namespace) -> int:
    from pyflow.backends.templates import write_if_changed
    from pyflow.paths import BUILD
    from pyflow.tools import vitis

    plan = _plan(args)
    board, out_root = plan["board"], plan["out_root"]
    hls = vitis.find_vitis_hls()
    vpp = vitis.find_vpp() if plan["links"] else "not needed"
    if hls is None or vpp is None:
        missing = "vitis_hls" if hls is None else "v++"
        print(f"{missing} is not on PATH. The projects for {board.name} ({board.part}, {plan['clock_mhz']:g} MHz"
              + (f", platform {plan['platform']}" if board.is_alveo else "") + f") are rendered under {out_root}/. "
              "Copy that folder to a machine with Vitis (2022.1 or later) and run:")
        _print_commands(plan)
        raise FlowError(f"{missing} not found; run the commands above where Vitis is installed")
    results: dict[str, Any] = {}
    specs = plan["specs"]
    for i, s in enumerate(specs, 1):
        print(f"  [{i}/{len(specs)}] {s.name}: vitis_hls -f run_hls.tcl ...", flush=True)
        d = Path(plan["kernels"][s.name]["folder"])
        vitis.run_tcl(d)
        results[s.name] = {**plan["kernels"][s.name], "csynth": vitis.read_csynth(d, s.name)}
    for k in plan["links"]:
        e = plan["kernels"][k]
        print(f"  {k}: {e['link']} ...", flush=True)
        vitis.run_vpp(Path(e["folder"]), shlex.split(e["link"]))
        if not Path(e["xclbin"]).is_file():
            raise FlowError(f"v++ reported success but wrote no {e['xclbin']}")
    report = {"board": dataclasses.asdict(board), "platform": plan["platform"] if board.is_alveo else None,
              "clock_mhz": plan["clock_mhz"], "flow_target": board.flow_target, "export_format": board.export_format,
              "cosim": bool(args.cosim), "kernels": results, "host_commands": plan["host"]}
    path = BUILD / "report" / f"synth_vitis_{board.name}.json"
    write_if_changed(path, json.dumps(report, indent=2) + "\n")
    print(f"synth-vitis: {len(results)} kernel(s), {len(plan['links'])} xclbin(s); report {path}")
    for line in plan["host"]:
        print(f"  on the card: {line}")
    return 0
