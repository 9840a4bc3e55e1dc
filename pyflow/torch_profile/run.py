"""Time the torch op chain op by op under ``torch.profiler`` and write ``profile.json`` + the Chrome trace.

Procedure: fill the KV cache with ``ctx - 1`` random tokens (not timed), run ``warmup`` passes, then
``repeats`` passes with the profiler on.  A pass is ``tokens`` decode steps at positions ctx-1, ctx, ...
(token t attends ctx + t keys, as in the scheduler's graph), each op inside
``torch.profiler.record_function(op)``; its wall time is taken inside that span with ``perf_counter_ns``
(on CUDA between two ``torch.cuda.synchronize()`` calls, so it covers the kernels).  An op's time in
``profile.json`` is the median over every node of that op in every timed pass: one graph node of the
scheduler's granularity (``per_head`` / ``o_proj_blocks``, see :mod:`pyflow.torch_profile.step`).
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from golden.config import LlamaConfig
from golden.llama import CHAIN_OPS
from golden.weights import LayerWeights
from pyflow.errors import FlowError
from pyflow.reports import atomic_write_bytes, write_json_atomic
from pyflow.torch_profile.step import build_chain, decode_step

PROFILE_FILE = "profile.json"
TRACE_FILE = "torch_trace.json"
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}
#: What one graph node of each op covers with ``--heads all`` (pyflow/schedule/graph.py), per token.
PER_HEAD_NODES: dict[str, str] = {
    "rmsnorm": "token", "q_proj": "query head", "k_proj": "KV head", "v_proj": "KV head",
    "rope_q": "query head", "rope_k": "KV head", "mem_store_kv": "KV head", "mem_load_kv": "KV head",
    "qk": "query head", "softmax_max": "query head", "softmax_exp": "query head",
    "softmax_norm": "query head", "av": "query head", "o_proj": "token",
}
assert tuple(PER_HEAD_NODES) == CHAIN_OPS


def node_granularity(per_head: bool, o_proj_blocks: int) -> dict[str, str]:
    """Op -> what one graph node (one time in ``profile.json``) covers, per token."""
    nodes = dict(PER_HEAD_NODES) if per_head else dict.fromkeys(CHAIN_OPS, "token")
    if o_proj_blocks > 1:
        nodes["o_proj"] = f"row block 1/{o_proj_blocks}"
    return nodes


@dataclass(frozen=True)
class Settings:
    """What to run: keys attended by the first token, tokens per pass, passes, where and how."""

    ctx: int
    tokens: int = 2
    repeats: int = 10
    warmup: int = 2
    device: str = "cpu"
    dtype: str = "float32"
    per_head: bool = True
    o_proj_blocks: int = 1
    seed: int = 0


def check_device(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    """The torch device and dtype, or a FlowError when this machine cannot run them."""
    if dtype not in DTYPES:
        raise FlowError(f"--dtype {dtype} is not supported (choose from {', '.join(DTYPES)})")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise FlowError(f"--device cuda: no CUDA device is available (torch {torch.__version__}, built "
                            f"with CUDA {torch.version.cuda or 'none'}); use --device cpu")
        if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
            raise FlowError(f"--dtype bfloat16: {torch.cuda.get_device_name()} does not support bfloat16")
    elif device != "cpu":
        raise FlowError(f"--device {device} is not supported (choose cpu or cuda)")
    elif dtype == "bfloat16":
        try:
            a = torch.ones((4, 4), dtype=torch.bfloat16)
            torch.exp(a @ a).sum().item()
        except RuntimeError as exc:
            raise FlowError(f"--dtype bfloat16: this CPU build of torch cannot run it ({exc})") from None
    return torch.device(device), DTYPES[dtype]


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} logical CPUs)"


class _Timer:
    """The region around every op: a record_function span and, when on, a wall-time sample in us."""

    def __init__(self, device: torch.device) -> None:
        self.samples: dict[str, list[float]] = {op: [] for op in CHAIN_OPS}
        self.on = False
        self._cuda = device.type == "cuda"

    def _sync(self) -> None:
        if self._cuda:
            torch.cuda.synchronize()

    @contextmanager
    def region(self, name: str) -> Iterator[None]:
        with record_function(name):
            self._sync()
            t0 = time.perf_counter_ns()
            yield
            self._sync()
            t1 = time.perf_counter_ns()
        if self.on:
            self.samples[name].append((t1 - t0) / 1e3)


def _quartiles(xs: list[float]) -> list[float]:
    if len(xs) < 2:
        return [xs[0], xs[0]]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return [round(q[0], 3), round(q[2], 3)]


def run_profile(cfg: LlamaConfig, weights: LayerWeights, settings: Settings) -> tuple[dict[str, Any], bytes]:
    """Run the profile; return the ``profile.json`` object and torch.profiler's Chrome trace (bytes)."""
    s = settings
    device, dtype = check_device(s.device, s.dtype)
    rng = np.random.default_rng([s.seed, 1])  # a stream independent of the weights' stream
    prefill = rng.standard_normal((s.ctx - 1, cfg.hidden_size))
    xs = torch.as_tensor(rng.standard_normal((s.tokens, cfg.hidden_size))).to(device=device, dtype=dtype)
    chain = build_chain(cfg, weights, capacity=s.ctx - 1 + s.tokens, device=device, dtype=dtype,
                        per_head=s.per_head, o_proj_blocks=s.o_proj_blocks, prefill=prefill)
    timer = _Timer(device)
    steps: list[float] = []

    def one_pass(label: str) -> None:
        chain.length = s.ctx - 1
        for t in range(s.tokens):
            with record_function(f"decode_step token {t} ({label})"):
                t0 = time.perf_counter_ns()
                decode_step(chain, xs[t], s.ctx - 1 + t, timer.region)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if timer.on:
                    steps.append((time.perf_counter_ns() - t0) / 1e3)

    with torch.inference_mode():
        for w in range(s.warmup):
            one_pass(f"warm-up {w}")
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            timer.on = True
            for r in range(s.repeats):
                one_pass(f"repeat {r}")
            timer.on = False
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / TRACE_FILE
        prof.export_chrome_trace(str(path))
        trace = path.read_bytes()

    samples = timer.samples
    heads = "all" if s.per_head else "1"
    result: dict[str, Any] = {
        "unit": "us",
        "ops": {op: round(statistics.median(samples[op]), 3) for op in CHAIN_OPS},
        "granularity": {
            "heads": heads, "o_proj_blocks": s.o_proj_blocks,
            "node": node_granularity(s.per_head, s.o_proj_blocks),
            "note": f"time of one graph node of `schedule --heads {heads} --o-proj-blocks {s.o_proj_blocks}`",
        },
        "statistic": "median wall time over every node of the op in every timed pass (tokens x repeats)",
        "samples": {op: len(samples[op]) for op in CHAIN_OPS},
        "quartiles_us": {op: _quartiles(samples[op]) for op in CHAIN_OPS},
        "step_us": {"median": round(statistics.median(steps), 3), "samples": len(steps),
                    "note": "wall time of one decode step: every op plus the Python between them"},
        "settings": asdict(s),
        "model": cfg.to_dict(),
        "device_name": _device_name(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "trace": TRACE_FILE,
    }
    return result, trace


def write_outputs(out_dir: Path, result: dict[str, Any], trace: bytes) -> tuple[Path, Path]:
    """Write ``profile.json`` and the Chrome trace under ``out_dir`` atomically; return both paths."""
    prof_path, trace_path = out_dir / PROFILE_FILE, out_dir / TRACE_FILE
    atomic_write_bytes(trace_path, trace)
    write_json_atomic(prof_path, result)
    return prof_path, trace_path
