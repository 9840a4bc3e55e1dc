"""`golden` subcommands: float64 LLaMA decode attention (llama-decode), structure dump, summary, accuracy."""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflow.errors import FlowError

if TYPE_CHECKING:
    import numpy as np

    from golden.config import LlamaConfig

#: Default number of keys attended by the summary / accuracy decode step (the project's context.length).
DEFAULT_CTX = 128
#: Default element size for the structure dump: 16-bit fixed point.
DEFAULT_ELEM_BYTES = 2.0
_DTYPES = ("float32", "float64")


def register(subparsers: Any) -> None:
    """Add ``golden`` and its sub-subcommands."""
    parser = subparsers.add_parser(
        "golden", help="float64 golden model of the LLaMA decode attention block",
        description="Float64 golden model of one LLaMA-3.2 attention block in decode mode.",
    )
    sub = parser.add_subparsers(dest="golden_command", metavar="SUBCOMMAND")
    sub.required = True

    p = sub.add_parser(
        "llama-decode", help="run T rows as consecutive decode steps (positions 0..T-1) and save the outputs",
        description="Read X (T, hidden) from a .npy file, run T consecutive decode steps from an empty KV "
        "cache at positions 0..T-1, write the attention outputs Y (T, hidden) (after o_proj, before the "
        "residual add).  Without --checkpoint: seeded random weights at the model config.",
    )
    _common(p)
    _checkpoint_args(p)
    p.add_argument("--inputs", required=True, type=Path, help="input .npy of shape (T, hidden)")
    p.add_argument("--out", required=True, type=Path, help="output .npy, written atomically")
    p.add_argument("--dtype", choices=_DTYPES, default="float64",
                   help="element type of the output file (the model always computes in float64)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random weights (ignored with --checkpoint)")
    p.set_defaults(func=cmd_llama_decode)

    p = sub.add_parser("structure", help="print the block's ops with shapes, MACs and bytes moved",
                       description="Model-structure dump of one decode step: per op in chain order the "
                       "input/output shapes, multiplies and bytes moved (weights + activations), and totals.")
    _common(p)
    p.add_argument("--checkpoint", type=Path, help="HF checkpoint directory (only config.json is read)")
    _ctx_arg(p)
    p.add_argument("--elem-bytes", type=float, default=DEFAULT_ELEM_BYTES,
                   help=f"bytes per element for the byte counts (default {DEFAULT_ELEM_BYTES:g})")
    p.set_defaults(func=cmd_structure)

    p = sub.add_parser("summary", help="run one decode step on random data and print per-op statistics",
                       description="Run one float64 decode step on random weights and inputs with a filled "
                       "KV cache and print each op's output shape, min, max and rms.")
    _common(p)
    _ctx_arg(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("accuracy", help="fixed-point vs float64 accuracy of the decode chain (JSON report)",
                       description="Compare the bit-accurate fixed-point chain against the float64 golden "
                       "model and write a JSON report.")
    _common(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs")
    p.add_argument("--ctx", type=int, default=DEFAULT_CTX, help=f"keys attended (default {DEFAULT_CTX})")
    p.add_argument("--json", type=Path, default=Path("build/report/accuracy.json"),
                   help="report path (default build/report/accuracy.json)")
    p.set_defaults(func=cmd_accuracy)

    from pyflow.torch_profile import cli as torch_profile

    p = sub.add_parser("profile", help=torch_profile.HELP, description=torch_profile.DESCRIPTION)
    torch_profile.add_arguments(p)
    p.set_defaults(func=torch_profile.profile_command)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="project config TOML (its [model] section sets the model)")


def _checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="HF checkpoint directory (config.json + *.safetensors)")
    p.add_argument("--layer", type=int, default=0,
                   help="decoder layer to read from the checkpoint (default 0)")


def _ctx_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ctx", type=int, default=None,
                   help=f"keys attended by the decode step: ctx-1 cached tokens plus the new one at position "
                   f"ctx-1 (default: the config's context.max_length with --config, else {DEFAULT_CTX})")


def _project(args: argparse.Namespace) -> Any | None:
    """The project config when ``--config`` was given, else None."""
    if getattr(args, "config", None) is None:
        return None
    try:
        from pyflow.project.config import load_project_config
    except ImportError as exc:
        raise FlowError(f"--config needs pyflow.project.config ({exc})") from None
    try:
        return load_project_config(args.config)
    except ImportError as exc:
        raise FlowError(f"--config: the project config loader is incomplete ({exc})") from None


def _model_config(args: argparse.Namespace) -> LlamaConfig:
    """The model config: --checkpoint's config.json, else --config's [model], else LLaMA-3.2-1B."""
    from golden.config import LlamaConfig

    if getattr(args, "checkpoint", None) is not None:
        from pyflow.project.checkpoint import load_config

        return load_config(args.checkpoint)
    project = _project(args)
    return project.model if project is not None else LlamaConfig()


def _ctx(args: argparse.Namespace, cfg: LlamaConfig | None = None, allocates: bool = True) -> int:
    """The --ctx value, checked against the model's positions and, when the command allocates per key, against
    the free memory."""
    if args.ctx is not None:
        ctx = int(args.ctx)
    else:
        project = _project(args)
        ctx = project.max_length if project is not None else DEFAULT_CTX
    if ctx < 1:
        raise FlowError(f"--ctx must be >= 1, got {ctx}")
    if cfg is not None:
        if ctx > cfg.max_position_embeddings:
            raise FlowError(f"--ctx {ctx} exceeds the model's max_position_embeddings = {cfg.max_position_embeddings}")
        if allocates:
            from pyflow.arrays import check_allocation

            per_key = 8 * (cfg.hidden_size + 2 * cfg.kv_dim + 2 * cfg.num_attention_heads)
            check_allocation(ctx * per_key, f"--ctx {ctx} (the KV cache and inputs of {ctx} tokens)",
                             "use a smaller --ctx")
    return ctx


def load_inputs(path: Path, hidden: int) -> np.ndarray:
    """Read and check the decode inputs (T, hidden) from a .npy file; any problem is a FlowError."""
    import numpy as np

    from pyflow.arrays import read_npy

    x = read_npy(path, "input file")
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
        raise FlowError(f"{path}: expected a real numeric array, got dtype {getattr(x, 'dtype', type(x))}")
    if x.ndim != 2 or x.shape[1] != hidden or x.shape[0] < 1:
        raise FlowError(f"{path}: inputs have shape {x.shape}, expected (T, {hidden}) with T >= 1")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise FlowError(f"{path}: inputs contain NaN or Inf")
    return x


def save_npy_atomic(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    import numpy as np

    from pyflow.reports import atomic_write_bytes

    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


def cmd_llama_decode(args: argparse.Namespace) -> int:
    """Handler of ``golden llama-decode``."""
    import numpy as np

    from golden.llama import decode_sequence
    from golden.weights import random_weights

    cfg = _model_config(args)
    x = load_inputs(args.inputs, cfg.hidden_size)
    if args.checkpoint is not None:
        from pyflow.project.checkpoint import load_layer

        weights = load_layer(args.checkpoint, cfg, args.layer)
    else:
        weights = random_weights(cfg, args.seed)
    y = decode_sequence(cfg, weights, x, start_pos=0)
    if not np.all(np.isfinite(y)):
        raise FlowError("decode produced NaN or Inf (check the weights and inputs)")
    save_npy_atomic(args.out, y.astype(args.dtype))
    print(f"wrote {args.out}: {y.shape[0]} decode steps x hidden {cfg.hidden_size} ({args.dtype})")
    return 0


def _shape(shapes: tuple[tuple[int, ...], ...]) -> str:
    return " ".join("(" + ",".join(str(n) for n in s) + ")" for s in shapes)


def _human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def cmd_structure(args: argparse.Namespace) -> int:
    """Handler of ``golden structure``."""
    from golden.llama import chain_costs

    cfg = _model_config(args)
    ctx = _ctx(args, cfg, allocates=False)
    if not args.elem_bytes > 0:
        raise FlowError(f"--elem-bytes must be positive, got {args.elem_bytes}")
    costs = chain_costs(cfg, ctx)
    eb = float(args.elem_bytes)
    print(f"LLaMA attention block, decode step: hidden {cfg.hidden_size}, heads {cfg.num_attention_heads}, "
          f"kv heads {cfg.num_key_value_heads}, head_dim {cfg.head_dim}, keys attended {ctx} "
          f"(position {ctx - 1}); bytes at {eb:g} B/element")
    head = f"{'#':>2} {'op':<13} {'inputs':<28} {'outputs':<24} {'MACs':>9} {'other':>8} " \
           f"{'weight B':>10} {'act B':>10} {'total B':>10}"
    print(head)
    print("-" * len(head))
    tot_mac = tot_other = tot_w = tot_a = 0.0
    for i, c in enumerate(costs):
        wb, ab = c.weight_elems * eb, c.act_elems * eb
        tot_mac, tot_other, tot_w, tot_a = tot_mac + c.macs, tot_other + c.other, tot_w + wb, tot_a + ab
        print(f"{i:>2} {c.op:<13} {_shape(c.in_shapes):<28} {_shape(c.out_shapes):<24} {_human(c.macs):>9} "
              f"{_human(c.other):>8} {_human(wb):>10} {_human(ab):>10} {_human(wb + ab):>10}")
    print("-" * len(head))
    print(f"{'':>2} {'total':<13} {'':<28} {'':<24} {_human(tot_mac):>9} {_human(tot_other):>8} "
          f"{_human(tot_w):>10} {_human(tot_a):>10} {_human(tot_w + tot_a):>10}")
    print(f"MACs: {int(tot_mac)}  bytes moved: {int(tot_w + tot_a)}  "
          f"arithmetic intensity: {tot_mac / (tot_w + tot_a):.3f} MAC/B")
    print("MACs count multiplies; 'other' counts compares, exps, reduction adds, reciprocals; "
          "act B = activations read + written, KV cache read once per KV head.")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Handler of ``golden summary``."""
    import numpy as np

    from golden.llama import TRACE_KEYS, decode_step, fill_cache
    from golden.weights import random_weights

    cfg = _model_config(args)
    ctx = _ctx(args, cfg)
    rng = np.random.default_rng([args.seed, 1])  # a stream independent of the weights' stream
    weights = random_weights(cfg, args.seed)
    t0 = time.perf_counter()
    cache = fill_cache(cfg, weights, rng.standard_normal((ctx - 1, cfg.hidden_size))) if ctx > 1 else None
    t1 = time.perf_counter()
    trace: dict[str, np.ndarray] = {}
    decode_step(cfg, weights, rng.standard_normal(cfg.hidden_size), ctx - 1, cache, trace=trace)
    t2 = time.perf_counter()
    print(f"golden float64 decode step: hidden {cfg.hidden_size}, heads {cfg.num_attention_heads}/"
          f"{cfg.num_key_value_heads} kv, head_dim {cfg.head_dim}, keys {ctx} (position {ctx - 1}), "
          f"seed {args.seed}")
    print(f"{'tensor':<16} {'shape':<16} {'min':>11} {'max':>11} {'rms':>11}")
    for key in TRACE_KEYS:
        a = np.asarray(trace[key])
        shape = "(" + ",".join(str(n) for n in a.shape) + ")"
        print(f"{key:<16} {shape:<16} {a.min():>11.4g} {a.max():>11.4g} {np.sqrt(np.mean(a * a)):>11.4g}")
    print(f"time: prefill of {ctx - 1} tokens {1e3 * (t1 - t0):.1f} ms, decode step {1e3 * (t2 - t1):.1f} ms")
    return 0


def cmd_accuracy(args: argparse.Namespace) -> int:
    """Handler of ``golden accuracy`` (implemented in :mod:`pyflow.bench.accuracy`)."""
    try:
        from pyflow.bench.accuracy import accuracy_command
    except ImportError as exc:
        raise FlowError(f"golden accuracy is not available yet ({exc})") from None
    return accuracy_command(args)
