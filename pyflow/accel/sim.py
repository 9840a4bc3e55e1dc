"""Simulate the decode accelerator: T consecutive tokens in one RTL simulation, every token's y and the KV
cache in memory compared with the golden fixed-point decode step, cycles per token measured.

The job for testbench/accel_test.py is built here from the AccelSpec's memory images (the same packing the
host code uses) and golden.llama_fixed.decode_step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from golden import llama_fixed as lf
from golden.weights import LayerWeights, random_weights
from hls.accel.spec import PAGE_BYTES, AccelSpec
from pyflow.accel.build import AccelBuild, build_accel
from pyflow.errors import FlowError
from pyflow.paths import BUILD

#: Clock period of the simulation (ns); only cycle counts matter.
CLOCK_NS = 10


@dataclass(frozen=True)
class MemoryMap:
    """Byte bases of the four areas in the simulated memory, and its size in words."""

    bases: dict[str, int]
    words: int


def memory_map(a: AccelSpec) -> MemoryMap:
    """The areas one after the other, each on a 4 KB page: weights, KV cache, x, y."""
    bases: dict[str, int] = {}
    at = 0
    for area in ("w_base", "kv_base", "x_base", "y_base"):
        bases[area] = at
        at += a.area_words(area) * a.word_bytes
        at = -(-at // PAGE_BYTES) * PAGE_BYTES
    return MemoryMap(bases, at // a.word_bytes)


def _shift(img: dict[int, int], base_bytes: int, wb: int) -> dict[str, int]:
    off = base_bytes // wb
    return {str(w + off): v for w, v in img.items()}


def golden_tokens(a: AccelSpec, weights: LayerWeights, xs: np.ndarray, start: int,
                  ) -> tuple[lf.FixedLayer, lf.FixedKVCache, list[dict[str, Any]]]:
    """The quantised layer, the KV cache holding positions 0..start-1 (filled by the golden model from
    ``xs[:start]``), and per token t >= start: pos, raw x, raw y, the cache after it."""
    cfg, s = a.model, a.scheme
    layer = lf.FixedLayer.quantize(weights, s)
    cache = lf.FixedKVCache.empty(cfg, a.capacity)
    xq = s.act.quantize(xs)
    for pos in range(start):
        lf.decode_step(cfg, layer, xq[pos], pos, cache, s)
    before = lf.FixedKVCache(cache.k.copy(), cache.v.copy(), cache.length)
    tokens = []
    for pos in range(start, xs.shape[0]):
        y = lf.decode_step(cfg, layer, xq[pos], pos, cache, s)
        tokens.append({"pos": pos, "x": xq[pos], "y": y,
                       "cache": lf.FixedKVCache(cache.k.copy(), cache.v.copy(), cache.length)})
    return layer, before, tokens


def make_job(a: AccelSpec, layer: lf.FixedLayer, cache: lf.FixedKVCache, tokens: list[dict[str, Any]],
             memory: str = "axiram", stall: float = 0.0, check_kv: bool = True,
             predicted: list[int | None] | None = None) -> dict[str, Any]:
    """The testbench job of a run of ``tokens`` (see testbench/accel_test.py)."""
    mm = memory_map(a)
    wb = a.word_bytes
    init = _shift(a.weights_image(layer), mm.bases["w_base"], wb)
    init.update(_shift(a.kv_image(cache), mm.bases["kv_base"], wb))
    jt = []
    for i, tok in enumerate(tokens):
        x_img = {a.region("x").word + j: w for j, w in enumerate(a.pack(tok["x"]))}
        y_img = {a.region("y").word + j: w for j, w in enumerate(a.pack(tok["y"]))}
        jt.append({"pos": int(tok["pos"]), "x": _shift(x_img, mm.bases["x_base"], wb),
                   "y": _shift(y_img, mm.bases["y_base"], wb),
                   "kv": _shift(a.kv_image(tok["cache"]), mm.bases["kv_base"], wb) if check_kv else None,
                   "predicted": predicted[i] if predicted else None})
    return {"clock_ns": CLOCK_NS, "seed": 1, "memory": memory, "word_bytes": wb, "mem_words": mm.words,
            "stall": float(stall), "bases": mm.bases, "init": init, "tokens": jt}


def run_tokens(a: AccelSpec, positions: range, simulator: str = "verilator", memory: str = "axiram",
               stall: float = 0.0, seed: int = 0, weights: LayerWeights | None = None,
               xs: np.ndarray | None = None, build_root: Path | str = BUILD, check_kv: bool = True,
               trace: bool = False) -> dict[str, Any]:
    """Run tokens at ``positions`` (consecutive; the cache is preloaded with the golden model's positions
    before the first) through the accelerator RTL; return the test's result plus timings."""
    from testbench.runner import simulate

    positions = list(positions)
    if not positions or positions != list(range(positions[0], positions[0] + len(positions))):
        raise FlowError("accel: positions must be consecutive, e.g. 0..T-1")
    if positions[-1] >= a.capacity:
        raise FlowError(f"accel: position {positions[-1]} is outside the capacity 0..{a.capacity - 1}")
    cfg = a.model
    weights = weights if weights is not None else random_weights(cfg, seed)
    if xs is None:
        xs = np.random.default_rng(seed + 1).normal(0, 1, (positions[-1] + 1, cfg.hidden_size))
    layer, cache, tokens = golden_tokens(a, weights, xs, positions[0])
    t0 = time.perf_counter()
    b: AccelBuild = build_accel(a, build_root)
    build_s = time.perf_counter() - t0
    from pyflow.accel.cycles import token_cycles

    predicted = [token_cycles(a, b.latencies, pos, memory) for pos in positions]
    job = make_job(a, layer, cache, tokens, memory, stall, check_kv, predicted)
    job["trace"] = trace
    job["timeout_cycles"] = 4 * max(int(p) for p in predicted) + 100000 if all(predicted) else 50_000_000
    sources = list(b.sources)
    top = b.top
    if memory == "verilog":
        from pyflow.accel.harness import render_sim_top

        sim_top = render_sim_top(a, memory_map(a).words, b.folder)
        sources.append(sim_top)
        top = "flatflow_accel_sim"
    bdir = Path(build_root) / "sim" / "accel" / f"{a.data_bits}b_{memory}_{simulator}"
    res = simulate(simulator, sources, top, job, bdir, tests=("tokens",), build_root=build_root,
                   test_module="testbench.accel_test")
    out = res["tokens"]
    out.update(build_seconds=round(build_s + res["build_seconds"], 1), sim_seconds=round(res["sim_seconds"], 1),
               latencies=b.latencies, simulator=simulator, memory=memory)
    return out
