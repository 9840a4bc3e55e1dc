"""`flat-profile`: runtime / peak-memory sweep of unfused attention vs FLAT, with the traffic model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from golden.flat import MODES
from pyflow.errors import FlowError
from pyflow.flat_profile.config import (
    BACKENDS,
    DEFAULT_RANGES,
    DEFAULT_THREADS,
    DTYPES,
    PLATFORMS,
    SWEEP_DIMS,
    SweepConfig,
)

_MIB = 2**20


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _one_line_error(message: str) -> NoReturn:
    """Usage mistakes: one ``error:`` line and exit status 1, like every other FlowError."""
    print(f"error: flat-profile: {message}", file=sys.stderr)
    sys.exit(1)


def register(subparsers: Any) -> None:
    """Add the ``flat-profile`` subcommand."""
    ranges = "; ".join(f"{k}: {a}..{b} step {s}" for k, (a, b, s) in DEFAULT_RANGES.items())
    p = subparsers.add_parser(
        "flat-profile",
        help="FLAT vs unfused attention: runtime, peak memory, traffic model (CSV/JSON/plots)",
        description="Sweep one dimension of (B, L, H, d) attention and measure the unfused baseline against "
        "FLAT (fused logit-attend tiling). Points that are predicted not to fit in memory are recorded as "
        f"skipped. Default ranges per --test: {ranges}.",
    )
    p.add_argument("--mode", default="row", help=f"FLAT granularity: {'|'.join(MODES)} (default row)")
    p.add_argument("--size", type=_int, default=64, help="tile size at that granularity (default 64)")
    p.add_argument("--test", default="length", help=f"swept dimension: {'|'.join(SWEEP_DIMS)} (default length)")
    p.add_argument("--start-size", type=_int, default=None, help="first swept value (default per --test)")
    p.add_argument("--end-size", type=_int, default=None, help="last swept value (default per --test)")
    p.add_argument("--step", type=_int, default=None, help="linear step (default 64 for length, 1 otherwise)")
    p.add_argument("--geometric", action="store_true", help="double the swept value each point instead of --step")
    p.add_argument("--shape", nargs="+", default=["1", "256", "16", "64"], metavar="N",
                   help="B L H d (default 1 256 16 64); the swept dimension is overridden")
    p.add_argument("--platform", default="cpu", help=f"{'|'.join(PLATFORMS)} (default cpu)")
    p.add_argument("--backend", default=None, help=f"{'|'.join(BACKENDS)} (default numpy on cpu, torch on gpu)")
    p.add_argument("--dtype", default="float32", help=f"{'|'.join(DTYPES)} (default float32)")
    p.add_argument("--loops", type=_int, default=3, help="timed repetitions per point, median reported (default 3)")
    p.add_argument("--threads", type=_int, default=DEFAULT_THREADS,
                   help=f"BLAS / torch threads on cpu; 0 = the library's default (default {DEFAULT_THREADS}: "
                   "multi-threaded BLAS makes many small FLAT GEMMs wait on busy cores)")
    p.add_argument("--store-path", type=Path, default=Path("build/flat"), help="output folder (default build/flat)")
    p.add_argument("--qkv-dir", type=Path, default=None,
                   help="read Q, K, V (B, L, H, d) from q.npy/k.npy/v.npy or an .npz/.safetensors with q, k, v")
    p.add_argument("--bias", action="store_true", help="add a per-head, per-key bias (1, H, 1, L)")
    p.add_argument("--causal", action="store_true", help="causal mask")
    p.add_argument("--seed", type=_int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.error = _one_line_error  # type: ignore[method-assign]
    p.set_defaults(func=run)


def _shape(raw: list[str]) -> tuple[int, int, int, int]:
    try:
        vals = [int(x) for x in raw]
    except ValueError:
        raise FlowError(f"--shape needs four positive integers B L H d, got {' '.join(raw)}") from None
    if len(vals) != 4 or min(vals) < 1:
        raise FlowError(f"--shape needs four positive integers B L H d, got {' '.join(raw)}")
    return vals[0], vals[1], vals[2], vals[3]


def _fmt(x: float | None, scale: float = 1.0, spec: str = ".3f") -> str:
    return "-" if x is None else format(x / scale, spec)


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print a per-point table and the target verdicts."""
    from pyflow.flat_profile.sweep import run_sweep

    cfg = SweepConfig(
        mode=args.mode, size=args.size, test=args.test, start=args.start_size, end=args.end_size,
        step=args.step, geometric=args.geometric, shape=_shape(args.shape), platform=args.platform,
        backend=args.backend, dtype=args.dtype, loops=args.loops, threads=args.threads, store_path=args.store_path,
        qkv_dir=args.qkv_dir, bias=args.bias, causal=args.causal, seed=args.seed,
    )
    result = run_sweep(cfg, progress=not args.no_progress)
    summary = result["summary"]
    print(f"{cfg.test:>8} {'base s':>9} {'FLAT s':>9} {'t ratio':>8} {'base MiB':>10} {'FLAT MiB':>9} {'mem x':>8}")
    for p in summary["points"]:
        base_mem = _fmt(p["baseline_peak_bytes"], _MIB, ".1f") + ("*" if p["baseline_peak_is_prediction"] else "")
        print(f"{p['value']:>8} {_fmt(p['baseline_time_s']):>9} {_fmt(p['flat_time_s']):>9} "
              f"{_fmt(p['time_ratio_flat_over_baseline'], 1, '.2f'):>8} {base_mem:>10} "
              f"{_fmt(p['flat_peak_bytes'], _MIB, '.1f'):>9} {_fmt(p['memory_ratio_baseline_over_flat'], 1, '.0f'):>8}")
    if any(p["baseline_peak_is_prediction"] for p in summary["points"]):
        print("(* baseline skipped: predicted peak)")
    for key in ("memory_target", "runtime_target"):
        if key in summary:
            print(f"{key}: {summary[key]}")
    print(f"sweep {result['sweep_wall_s']:.1f} s; results in {cfg.store_path}/results.csv, results.json, "
          "runtime.png, memory.png, traffic.png")
    return 0
