"""``golden profile``: arguments and handler (torch is imported only when the command runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError

DEFAULT_TOKENS = 2
DEFAULT_REPEATS = 10
DEFAULT_WARMUP = 2

HELP = "time the decode chain op by op in PyTorch (torch.profiler): profile.json for the scheduler + trace"
DESCRIPTION = (
    "Run T decode steps of one LLaMA attention block op by op in PyTorch at the config's shapes (random "
    "weights, or --checkpoint), each op inside torch.profiler.record_function(op), after warm-up passes.  "
    "Writes OUT/profile.json (median per-op wall time in us per scheduler graph node, the format of "
    "`schedule --durations profile --profile FILE`) and OUT/torch_trace.json (torch.profiler's Chrome "
    "trace, opens in https://ui.perfetto.dev)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``golden profile``."""
    p.add_argument("--config", type=Path, help="project config TOML (its [model] and context.length)")
    p.add_argument("--checkpoint", type=Path,
                   help="HF checkpoint directory: its config.json and layer weights replace the config's model")
    p.add_argument("--layer", type=int, default=0, help="decoder layer read from --checkpoint (default 0)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default cpu)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                   help="element type of weights and activations (default float32)")
    p.add_argument("--ctx", type=int, default=None,
                   help="keys attended by the first token (ctx-1 cached tokens plus the new one); "
                   "default: the config's context.length")
    p.add_argument("--tokens", type=int, default=DEFAULT_TOKENS,
                   help=f"decode steps per pass; token t attends ctx+t keys (default {DEFAULT_TOKENS})")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                   help=f"timed passes (default {DEFAULT_REPEATS})")
    p.add_argument("--warmup", type=int, default=DEFAULT_WARMUP,
                   help=f"untimed passes before them (default {DEFAULT_WARMUP})")
    p.add_argument("--heads", choices=("all", "1"), default="all",
                   help="granularity of the schedule's --heads: 'all' times one head's op, '1' the whole layer's")
    p.add_argument("--o-proj-blocks", type=int, default=1,
                   help="time o_proj as this many row blocks, as the schedule's --o-proj-blocks (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs")
    p.add_argument("--out", required=True, type=Path, help="output folder")


def _check(args: argparse.Namespace) -> None:
    for name, low in (("tokens", 1), ("repeats", 1), ("warmup", 0), ("o_proj_blocks", 1), ("layer", 0)):
        if getattr(args, name) < low:
            raise FlowError(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(args, name)}")
    if args.ctx is not None and args.ctx < 1:
        raise FlowError(f"--ctx must be >= 1, got {args.ctx}")


def _model(args: argparse.Namespace) -> tuple[Any, Any, int, str]:
    """(model config, layer weights, ctx, description of the weights) from the arguments."""
    from golden.weights import random_weights
    from pyflow.project.config import load_project_config

    pc = load_project_config(args.config)
    ctx = args.ctx if args.ctx is not None else pc.max_length
    if args.checkpoint is not None:
        from pyflow.project.checkpoint import load_checkpoint

        cfg, weights = load_checkpoint(args.checkpoint, args.layer)
        return cfg, weights, ctx, f"checkpoint {args.checkpoint} layer {args.layer}"
    return pc.model, random_weights(pc.model, args.seed), ctx, f"random (seed {args.seed})"


def profile_command(args: argparse.Namespace) -> int:
    """Handler of ``golden profile``."""
    _check(args)
    cfg, weights, ctx, source = _model(args)
    if cfg.hidden_size % args.o_proj_blocks:
        raise FlowError(f"--o-proj-blocks {args.o_proj_blocks} must divide hidden_size {cfg.hidden_size}")
    from pyflow.torch_profile.run import Settings, check_device, run_profile, write_outputs

    check_device(args.device, args.dtype)
    settings = Settings(ctx=ctx, tokens=args.tokens, repeats=args.repeats, warmup=args.warmup, device=args.device,
                        dtype=args.dtype, per_head=args.heads == "all", o_proj_blocks=args.o_proj_blocks,
                        seed=args.seed)
    result, trace = run_profile(cfg, weights, settings)
    result["weights"] = source
    config = f" --config {args.config}" if args.config is not None else ""
    result["schedule_command"] = (
        f"python -m pyflow schedule{config} --durations profile --profile {args.out / 'profile.json'} "
        f"--heads {args.heads} --o-proj-blocks {args.o_proj_blocks} --ctx {ctx} --tokens {args.tokens}")
    prof_path, trace_path = write_outputs(args.out, result, trace)
    _print(result)
    print(f"wrote {prof_path} and {trace_path} (open it in https://ui.perfetto.dev)")
    print(f"schedule with it: {result['schedule_command']}")
    return 0


def _print(result: dict[str, Any]) -> None:
    s = result["settings"]
    print(f"golden profile: {result['device_name']}, torch {result['torch']} ({result['threads']} threads), "
          f"{s['dtype']}, ctx {s['ctx']}, {s['tokens']} tokens x {s['repeats']} repeats "
          f"(+{s['warmup']} warm-up), --heads {result['granularity']['heads']}, weights {result['weights']}")
    print(f"{'op':<13} {'node':<17} {'median us':>10} {'q1..q3 us':>17} {'samples':>8}")
    for op, t in result["ops"].items():
        q1, q3 = result["quartiles_us"][op]
        print(f"{op:<13} {result['granularity']['node'][op]:<17} {t:>10.2f} {f'{q1:.2f}..{q3:.2f}':>17} "
              f"{result['samples'][op]:>8}")
    print(f"decode step wall time (median): {result['step_us']['median']:.1f} us")
