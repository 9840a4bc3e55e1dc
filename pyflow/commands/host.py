"""`host` subcommands: the decode accelerator's Vitis kernel run on a card.

* ``host run``: load an xclbin (``synth-vitis --board u280`` builds it) through XRT's Python bindings, place the
  weights and the KV cache, run T consecutive tokens and compare every output and the KV cache with the golden
  model (pyflow/host/run.py).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError


def register(subparsers: Any) -> None:
    """Add ``host`` and its subcommands."""
    parser = subparsers.add_parser("host", help="run the Vitis decode_step kernel on an Alveo card (XRT)",
                                   description="Host programs for the decode accelerator's Vitis kernel.")
    sub = parser.add_subparsers(dest="host_command", metavar="SUBCOMMAND")
    sub.required = True
    p = sub.add_parser("run", help="run T tokens of decode_step from an xclbin; bit-exact check against golden",
                       description="Load FILE (an xclbin with decode_step, from `synth-vitis --board u280|u250`) "
                       "onto the card through XRT's Python bindings (pyxrt: source /opt/xilinx/xrt/setup.sh), "
                       "write the weights and the KV cache (holding the golden model's positions 0..START-1) in the "
                       "accelerator's memory layout, run T consecutive tokens from START and compare every output "
                       "y and the whole KV cache with the golden fixed-point model; per-token verdicts and times. "
                       "Use the same --config / --small / --data-bits as the build.")
    p.add_argument("--xclbin", type=Path, required=True, metavar="FILE", help="the linked xclbin")
    p.add_argument("--tokens", type=int, default=1, metavar="T", help="tokens to run (default 1)")
    p.add_argument("--start", type=int, default=0, metavar="POS", help="first position (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)")
    p.add_argument("--checkpoint", type=Path, default=None, metavar="DIR",
                   help="HF checkpoint directory: the model's dimensions and a layer's weights (default random)")
    p.add_argument("--layer", type=int, default=0, help="decoder layer of --checkpoint (default 0)")
    p.add_argument("--config", type=Path, help="project config TOML of the build")
    p.add_argument("--small", action="store_true", help="the build used the small test dimensions")
    p.add_argument("--data-bits", type=int, default=None, help="memory port width of the build (memory.data_bits)")
    p.add_argument("--device", type=int, default=0, help="XRT device index (default 0)")
    p.add_argument("--check-refusal", action="store_true",
                   help="also run pos = capacity, which must be refused with nothing written")
    p.set_defaults(func=cmd_run)


def accel_for(args: argparse.Namespace) -> tuple[Any, Any]:  # noqa: ANN401 (AccelSpec, LayerWeights | None)
    """The AccelSpec of the build (config, small dimensions, port width, checkpoint model) and the checkpoint's
    weights (None: random)."""
    from hls.accel.spec import build
    from pyflow.project.config import load_project_config, small_config

    pc = load_project_config(args.config)
    pc = small_config(pc) if args.small else pc
    if args.data_bits is not None:
        pc = dataclasses.replace(pc, memory={**pc.memory, "data_bits": args.data_bits})
    weights = None
    if args.checkpoint is not None:
        from pyflow.project.checkpoint import load_checkpoint

        if args.layer < 0:
            raise FlowError(f"--layer must be >= 0, got {args.layer}")
        cfg, weights = load_checkpoint(args.checkpoint, args.layer)
        pc = dataclasses.replace(pc, model=cfg)
    return build(pc), weights


def cmd_run(args: argparse.Namespace) -> int:
    """Handler of ``host run``."""
    from pyflow.host.run import XrtDevice, run_host

    if args.tokens < 1:
        raise FlowError(f"--tokens must be >= 1, got {args.tokens}")
    if not args.xclbin.is_file():
        raise FlowError(f"--xclbin {args.xclbin}: no such file (build it with `python -m pyflow synth-vitis "
                        "--board u280` on a machine with Vitis)")
    a, weights = accel_for(args)
    if args.start < 0 or args.start + args.tokens > a.capacity:
        raise FlowError(f"--start {args.start} with --tokens {args.tokens}: positions must lie in "
                        f"0..{a.capacity - 1} (context.max_length)")
    device = XrtDevice(a, args.xclbin, index=args.device)
    r = run_host(a, device, args.tokens, args.start, args.seed, weights=weights, check_refusal=args.check_refusal)
    if not r["ok"]:
        raise FlowError(f"host: {len(r['errors'])} failure(s); first: {r['errors'][0]}")
    total = sum(t["seconds"] for t in r["tokens"])
    print(f"host run: {len(r['tokens'])} token(s) bit-exact, KV cache equal; {total * 1e3:.1f} ms in all")
    return 0
