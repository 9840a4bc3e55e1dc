"""`accel` subcommands: the decode accelerator in RTL (docs/ACCEL.md).

* ``accel run``: consecutive tokens at given positions (the KV cache preloaded by the golden model with the
  earlier ones), every token's output and KV cache compared with the golden fixed-point decode step, cycles
  measured vs the cycle model, memory-port utilisation; writes build/report/accel_report.json.
* ``accel decode``: the CLI contract for tools outside the project -- X (T, hidden) from a .npy file run as T
  consecutive decode steps (positions 0..T-1, empty cache) through the accelerator RTL, Y (T, hidden)
  written as float32, dequantized.
* ``accel trace``: tokens run with the top's trace monitor: a Perfetto trace of the RTL run (controller phases,
  every kernel's and AXI engine's busy / starved / stalled / back-pressured intervals, memory bytes per cycle)
  and the measured cycles per op kind (build/report/accel_trace*.{json,pftrace}).
* ``accel diagram``: the block diagram drawn from the spec, as text and as a picture
  (build/report/accel_block.svg by default).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError


def register(subparsers: Any) -> None:
    """Add ``accel`` and its subcommands."""
    parser = subparsers.add_parser("accel", help="the decode accelerator in RTL: run tokens, decode a sequence",
                                   description="The decode accelerator (one layer's attention block per start, "
                                   "weights and KV cache in external memory), simulated in RTL.")
    sub = parser.add_subparsers(dest="accel_command", metavar="SUBCOMMAND")
    sub.required = True

    p = sub.add_parser("run", help="run consecutive tokens in RTL; bit-exact check, cycles vs model, utilisation",
                       description="Run tokens at consecutive positions through the accelerator RTL (the KV cache "
                       "preloaded with the golden model's earlier positions); compare every token's output and "
                       "KV cache with the golden fixed-point decode step; cycles measured vs predicted; "
                       "memory-port utilisation. Writes build/report/accel_report.json.")
    _common(p)
    p.add_argument("--pos", default=None, metavar="FIRST[:COUNT]",
                   help="first position and token count (default: the last two positions the capacity allows)")
    p.add_argument("--memory", choices=("verilog", "axiram"), default="verilog",
                   help="memory model: the Verilog ff_axi_mem (fast, default) or cocotbext-axi's AxiRam")
    p.add_argument("--stall", type=float, default=0.0,
                   help="random back-pressure probability on every AXI channel (AxiRam only; cycles not compared)")
    p.add_argument("--report", type=Path, default=None, help="report path (default build/report/accel_report.json)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("decode", help="run T rows of X as T decode steps through the accelerator RTL",
                       description="Read X (T, hidden) from a .npy file, run the rows as T consecutive decode "
                       "steps (positions 0..T-1, empty KV cache) through the accelerator RTL, write Y (T, hidden) "
                       "as float32, dequantized (the attention output after o_proj, before the residual add).")
    _common(p)
    p.add_argument("--checkpoint", type=Path, required=True, help="HF checkpoint directory (config.json + "
                   "safetensors): the model's dimensions and the layer's weights")
    p.add_argument("--layer", type=int, default=0, help="decoder layer (default 0)")
    p.add_argument("--inputs", type=Path, required=True, help="input .npy of shape (T, hidden)")
    p.add_argument("--out", type=Path, required=True, help="output .npy (T, hidden) float32, written atomically")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("trace", help="a Perfetto trace of the RTL run: phases, kernel states, memory bytes",
                       description="Run T tokens through the accelerator RTL with its trace monitor compiled in "
                       "(FLATFLOW_TRACE), check them as `accel run` does, and write DIR/accel_trace.json (Chrome "
                       "trace events) and DIR/accel_trace.pftrace (open either in https://ui.perfetto.dev): the "
                       "controller's phases on track 'engine 0' named by op kind, per kernel instance and AXI "
                       "engine its busy / starved / stalled / back-pressured intervals, the memory bytes per cycle "
                       "per window against the port's roofline; and DIR/accel_trace_summary.json (per token the "
                       "measured cycles per op kind, read by `schedule --durations measured --accel-trace`), with "
                       "DIR/accel_trace.png (the same as a picture). Definitions in docs/ACCEL.md, 'Trace of the "
                       "RTL run'.")
    _common(p)
    p.add_argument("--tokens", type=int, default=1, help="tokens T (consecutive positions; default 1)")
    p.add_argument("--pos", type=int, default=None,
                   help="first position (default: the last T positions the capacity allows, as `accel run`)")
    p.add_argument("--window", type=int, default=1024,
                   help="cycles per memory window of the bytes-per-cycle counter (default 1024)")
    p.add_argument("--memory", choices=("verilog", "axiram"), default="verilog",
                   help="memory model: the Verilog ff_axi_mem (fast, default) or cocotbext-axi's AxiRam")
    p.add_argument("--out", type=Path, default=None, help="output folder (default build/report)")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("diagram", help="the accelerator's block diagram (text, and a picture)",
                       description="Print the accelerator's block diagram drawn from its spec (buffers, kernels "
                       "and lanes at this config) and draw it into a picture (SVG or PNG by the suffix).")
    _common(p)
    p.add_argument("--out", type=Path, default=None,
                   help="picture path (default build/report/accel_block.svg)")
    p.set_defaults(func=cmd_diagram)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="project config TOML ([memory] sets the port, [formats] the types)")
    p.add_argument("--sim", choices=("verilator", "icarus"), default=None,
                   help="simulator (default: $SIM or verilator)")
    p.add_argument("--data-bits", type=int, default=None,
                   help="memory port width in bits (overrides memory.data_bits)")


def _accel(args: argparse.Namespace, model: Any = None, capacity: int | None = None) -> Any:  # noqa: ANN401
    from hls.accel.spec import build
    from pyflow.project.config import load_project_config

    pc = load_project_config(args.config)
    if args.data_bits is not None:
        if args.data_bits not in (32, 64, 128, 256, 512, 1024):
            raise FlowError(f"--data-bits {args.data_bits} must be a power of two from 32 to 1024")
        pc = dataclasses.replace(pc, memory={**pc.memory, "data_bits": args.data_bits})
    if model is not None:
        pc = dataclasses.replace(pc, model=model, max_length=max(pc.max_length, capacity or 0))
    return build(pc)


def _positions(text: str | None, capacity: int) -> range:
    if text is None:
        return range(max(0, capacity - 2), capacity)
    try:
        first, _, count = text.partition(":")
        start, num = int(first), int(count or 1)
    except ValueError:
        raise FlowError(f"--pos {text!r}: give FIRST or FIRST:COUNT, e.g. 126:2") from None
    if num < 1 or start < 0 or start + num > capacity:
        raise FlowError(f"--pos {text}: positions {start}..{start + num - 1} must lie in 0..{capacity - 1} "
                        "(context.max_length)")
    return range(start, start + num)


def cmd_run(args: argparse.Namespace) -> int:
    """Handler of ``accel run``."""
    from pyflow.accel.report import run_report
    from testbench.runner import default_simulator

    a = _accel(args)
    if args.stall and args.memory != "axiram":
        raise FlowError("--stall needs --memory axiram (the Verilog memory has no back-pressure)")
    rep = run_report(a, _positions(args.pos, a.capacity), args.sim or default_simulator(), args.memory,
                     args.stall, args.report)
    if not rep["ok"]:
        raise FlowError(f"accel: {rep['errors'][0]}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    """Handler of ``accel trace``."""
    from rich.console import Console

    from pyflow.accel.trace import print_summary, run_trace
    from testbench.runner import default_simulator

    a = _accel(args)
    t = args.tokens
    if not 1 <= t <= a.capacity:
        raise FlowError(f"--tokens must be in 1..{a.capacity} (context.max_length), got {t}")
    first = a.capacity - t if args.pos is None else args.pos
    if first < 0 or first + t > a.capacity:
        raise FlowError(f"--pos {first} with --tokens {t}: positions {first}..{first + t - 1} must lie in "
                        f"0..{a.capacity - 1} (context.max_length)")
    con = Console()
    summary = run_trace(a, range(first, first + t), args.sim or default_simulator(), args.memory, args.window,
                        args.out, progress=lambda line: con.print(f"  {line}", highlight=False))
    print_summary(summary)
    con.print(f"wrote {', '.join(summary['files'])} (open the trace in https://ui.perfetto.dev)", highlight=False)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    """Handler of ``accel decode``."""
    import numpy as np

    from pyflow.accel.sim import run_tokens
    from pyflow.commands.golden import load_inputs, save_npy_atomic
    from pyflow.project.checkpoint import load_checkpoint
    from testbench.runner import default_simulator

    if args.layer < 0:
        raise FlowError(f"--layer must be >= 0, got {args.layer}")
    cfg, weights = load_checkpoint(args.checkpoint, args.layer)
    x = load_inputs(args.inputs, cfg.hidden_size)
    a = _accel(args, cfg, capacity=x.shape[0])
    r = run_tokens(a, range(0, x.shape[0]), args.sim or default_simulator(), memory="verilog", weights=weights,
                   xs=x, check_kv=False, keep_outputs=True)
    if not r["ok"]:
        raise FlowError(f"accel: {r['errors'][0]}")
    y = a.scheme.act.to_float(np.asarray(r["y_raw"], dtype=np.int64).reshape(x.shape[0], cfg.hidden_size))
    save_npy_atomic(args.out, y.astype(np.float32))
    print(f"wrote {args.out}: {x.shape[0]} decode steps x hidden {cfg.hidden_size} (float32) through the "
          f"accelerator RTL ({a.data_bits}-bit memory, {r['simulator']})")
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    """Handler of ``accel diagram``."""
    from pyflow.accel.diagram import text_diagram, write_picture
    from pyflow.reports import REPORT_DIR, check_target

    a = _accel(args)
    out = args.out or REPORT_DIR / "accel_block.svg"
    if out.suffix not in (".svg", ".png"):
        raise FlowError(f"--out {out}: the picture must be .svg or .png")
    check_target(out)
    print(text_diagram(a))
    print(f"wrote {write_picture(a, out)}")
    return 0
