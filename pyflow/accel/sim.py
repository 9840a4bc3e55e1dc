"""Simulate the decode accelerator: T consecutive tokens in one RTL simulation, every token's y and the KV
cache in memory compared with the golden fixed-point decode step, cycles per token measured.

The job for testbench/accel_test.py is built here from the AccelSpec's memory images (the same packing the
host code uses) and golden.llama_fixed.decode_step.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
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


def memory_image(a: AccelSpec, mm: MemoryMap, layer: lf.FixedLayer, cache: lf.FixedKVCache) -> bytes:
    """The whole simulated memory before the first token: the weights and the KV cache in place (little
    endian words), everything else zero."""
    wb = a.word_bytes
    img = bytearray(mm.words * wb)
    for area, words in (("w_base", a.weights_image(layer)), ("kv_base", a.kv_image(cache))):
        off = mm.bases[area]
        for w, v in words.items():
            img[off + w * wb: off + (w + 1) * wb] = int(v).to_bytes(wb, "little")
    return bytes(img)


def write_hex(image: bytes, wb: int, path: Path) -> None:
    """The image as a $readmemh file (one word per line, word 0 first)."""
    words = np.frombuffer(image, dtype=np.uint8).reshape(-1, wb)[:, ::-1]  # most significant byte first
    lines = [row.tobytes().hex() for row in words]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


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
             folder: Path, memory: str = "axiram", stall: float = 0.0, check_kv: bool = True,
             predicted: list[int | None] | None = None) -> dict[str, Any]:
    """The testbench job of a run of ``tokens`` (see testbench/accel_test.py); the memory image goes to
    ``folder`` (raw bytes for AxiRam, a $readmemh file for the Verilog memory)."""
    mm = memory_map(a)
    wb = a.word_bytes
    image = memory_image(a, mm, layer, cache)
    folder.mkdir(parents=True, exist_ok=True)
    init = folder / ("memory.hex" if memory == "verilog" else "memory.bin")
    if memory == "verilog":
        write_hex(image, wb, init)
    else:
        init.write_bytes(image)
    jt = []
    for i, tok in enumerate(tokens):
        x_img = {a.region("x").word + j: w for j, w in enumerate(a.pack(tok["x"]))}
        y_img = {a.region("y").word + j: w for j, w in enumerate(a.pack(tok["y"]))}
        jt.append({"pos": int(tok["pos"]), "x": _shift(x_img, mm.bases["x_base"], wb),
                   "y": _shift(y_img, mm.bases["y_base"], wb),
                   "kv": _shift(a.kv_image(tok["cache"]), mm.bases["kv_base"], wb) if check_kv else None,
                   "predicted": predicted[i] if predicted else None})
    return {"clock_ns": CLOCK_NS, "seed": 1, "memory": memory, "word_bytes": wb, "mem_words": mm.words,
            "stall": float(stall), "bases": mm.bases, "init_file": str(init), "tokens": jt}


@contextlib.contextmanager
def _tail(log: Path, say: Callable[[str], None]) -> Iterator[None]:
    """Pass the test's per-token lines (``FLATFLOW token ...``) of a growing simulation log to ``say``."""
    stop = threading.Event()

    def follow() -> None:
        seen = 0
        while not stop.is_set():
            stop.wait(0.5)
            if log.is_file():
                lines = [ln for ln in log.read_text(errors="replace").splitlines() if "FLATFLOW token" in ln]
                for ln in lines[seen:]:
                    say(ln.split("FLATFLOW ", 1)[1])
                seen = len(lines)

    log.unlink(missing_ok=True)
    th = threading.Thread(target=follow, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def run_tokens(a: AccelSpec, positions: range, simulator: str = "verilator", memory: str = "axiram",
               stall: float = 0.0, seed: int = 0, weights: LayerWeights | None = None,
               xs: np.ndarray | None = None, build_root: Path | str = BUILD, check_kv: bool = True,
               trace: bool = False, keep_outputs: bool = False,
               progress: Callable[[str], None] | None = None, rtl_trace: Path | None = None,
               window: int = 1024, count_busy: bool = False, xls_mhz: float | None = None) -> dict[str, Any]:
    """Run tokens at ``positions`` (consecutive; the cache is preloaded with the golden model's positions
    before the first) through the accelerator RTL; return the test's result plus timings (with
    ``keep_outputs``, ``y_raw``: the accelerator's outputs read back from memory, (T * hidden) raw codes).
    ``progress`` receives a line per step (build, each finished token).  With ``rtl_trace`` (a path) the
    top's trace monitor is compiled in (``FLATFLOW_TRACE``, its own build folder) and writes its run-length
    log there, with memory windows of ``window`` cycles (pyflow/accel/trace.py reads it); ``count_busy`` has
    the test count every monitored unit's busy cycles on its own (``busy_cycles``: a cross-check for the
    tests, slow on long runs).  ``xls_mhz``: the clock the kernels are pipelined for (default: the config's)."""
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
    say = progress or (lambda _line: None)
    say(f"golden model: {positions[0]} earlier positions, {len(positions)} token(s)")
    layer, cache, tokens = golden_tokens(a, weights, xs, positions[0])
    say(f"building the accelerator RTL ({len(a.kernels)} kernels through XLS, then the top)")
    t0 = time.perf_counter()
    b: AccelBuild = build_accel(a, build_root, xls_mhz=xls_mhz)
    build_s = time.perf_counter() - t0
    from pyflow.accel.cycles import token_cycles

    predicted = [token_cycles(a, b.latencies, pos, memory) for pos in positions]
    bdir = Path(build_root) / "sim" / "accel" / (f"{a.data_bits}b_{memory}_{simulator}"
                                                  + ("_trace" if rtl_trace is not None else ""))
    job = make_job(a, layer, cache, tokens, bdir, memory, stall, check_kv, predicted)
    job["trace"] = trace
    job["save_outputs"] = keep_outputs
    if count_busy:
        from pyflow.accel.build import context

        job["monitor"] = [{"name": u["name"], "streams": [list(p) for p in u["ins"] + u["outs"]]}
                          for u in context(a)["monitor"]]
    job["timeout_cycles"] = 4 * max(int(p) for p in predicted) + 100000 if all(predicted) else 50_000_000
    sources = list(b.sources)
    top, plusargs = b.top, []
    if memory == "verilog":
        from pyflow.accel.harness import SIM_TOP, render_sim_top

        sources += render_sim_top(a, memory_map(a).words, b.folder)
        top, plusargs = SIM_TOP, [f"+ff_mem_init={job['init_file']}"]
    defines: list[str] = []
    if rtl_trace is not None:
        Path(rtl_trace).unlink(missing_ok=True)
        defines = ["FLATFLOW_TRACE"]
        plusargs = [*plusargs, f"+ff_trace={Path(rtl_trace).resolve()}", f"+ff_trace_window={int(window)}"]
    say(f"simulating on {simulator} ({memory} memory): build, then {len(positions)} token(s)")
    with _tail(bdir / "sim.log", say):
        res = simulate(simulator, sources, top, job, bdir, tests=("tokens",), build_root=build_root,
                       test_module="testbench.accel_test", plusargs=plusargs, defines=defines)
    out = res["tokens"]
    if keep_outputs and "tokens" in out:
        out["y_raw"] = np.concatenate([a.unpack(tok["y_words"], a.model.hidden_size) for tok in out["tokens"]])
    out.update(build_seconds=round(build_s + res["build_seconds"], 1), sim_seconds=round(res["sim_seconds"], 1),
               latencies=b.latencies, simulator=simulator, memory=memory)
    return out
