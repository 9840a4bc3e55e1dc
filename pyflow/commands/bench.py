"""`bench` subcommand: benchmarks that write JSON under build/report/."""

from __future__ import annotations

import argparse
from typing import Any

BENCHES = ("softmax-accuracy",)


def register(subparsers: Any) -> None:
    """Add ``bench``."""
    p = subparsers.add_parser(
        "bench", help="benchmarks (softmax-accuracy: FlatFlow vs hls4ml softmax, both C-simulated)",
        description="softmax-accuracy: compile FlatFlow's softmax kernels and hls4ml's nnet::softmax with g++, "
        "feed both the same logits (random and golden decode-step attention scores) and report max / mean "
        "absolute error and argmax flip rate against float64 softmax. Writes "
        "build/report/softmax_accuracy.json and prints a table.",
    )
    p.add_argument("name", choices=BENCHES, help="which benchmark")
    p.add_argument("--config", metavar="FILE", help="project config TOML (default: built-in defaults)")
    p.add_argument("--rows", type=int, default=512, help="random logit rows (default 512)")
    p.add_argument("--decode-steps", type=int, default=4, help="golden decode steps, all heads each (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pyflow.bench import softmax_accuracy
    from pyflow.errors import FlowError
    from pyflow.project.config import load_project_config

    if args.rows < 1 or args.decode_steps < 0:
        raise FlowError("bench: --rows must be >= 1 and --decode-steps >= 0")
    pc = load_project_config(args.config)
    softmax_accuracy.run(pc, random_rows=args.rows, decode_steps=args.decode_steps, seed=args.seed)
    return 0
