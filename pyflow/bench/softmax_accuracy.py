"""Softmax accuracy bench: FlatFlow's three softmax kernels vs hls4ml's ``nnet::softmax``, both C-simulated.

Both are compiled with g++ into one executable (hls/templates/vitis/bench_softmax.cpp.j2) and fed the
same logit rows (raw values of the config's logit format):

* ``random``: N(0, 2.5) logits with a few strong keys (:func:`hls.kernels.softmax_max.spec.random_logits`);
* ``decode``: the attention scores (q.k / sqrt(d), every head) of float64 golden decode steps
  (``golden.llama.decode_step``) with seeded random weights and hidden states, quantised to the logit format.

hls4ml runs in two configurations: its defaults (``stable`` implementation, 1024-entry tables of
``ap_fixed<18,8,AP_RND,AP_SAT>``, input/output ``ap_fixed<16,6>``) and ``matched``: the same widths as
FlatFlow (24-bit input, 18-bit tables, 1024 entries, FlatFlow's 18-bit probability output) with integer
bits chosen for the data ranges.  Errors are measured against float64 softmax of the same (quantised)
logit values: max and mean absolute error, and the argmax flip rate (rows where the true top key is not
a top output).  Results: build/report/softmax_accuracy.json.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from golden import llama as gl
from golden.weights import random_weights
from hls.kernels.softmax_max.spec import random_logits
from pyflow.backends.templates import environment, write_if_changed
from pyflow.backends.vitis.render import render_vitis
from pyflow.errors import FlowError
from pyflow.paths import BUILD
from pyflow.specs import get_spec
from pyflow.specs.common import clog2
from pyflow.tools import gxx

OUT_DIR = BUILD / "bench" / "softmax"
REPORT = BUILD / "report" / "softmax_accuracy.json"
KERNELS = ("softmax_max", "softmax_exp", "softmax_norm")


def hls4ml_configs(pc: Any) -> list[dict[str, Any]]:
    """The two hls4ml configurations (C++ type strings) for context length N = pc.max_length."""
    n = pc.max_length
    s = pc.scheme
    sc = clog2(n)
    default = {
        "name": "hls4ml_default",
        "doc": "hls4ml 1.x defaults: stable, 1024-entry ap_fixed<18,8,AP_RND,AP_SAT> tables, ap_fixed<16,6> I/O",
        "data_t": "ap_fixed<16,6>",
        "res_t": "ap_fixed<16,6>",
        "exp_table_t": "ap_fixed<18,8,AP_RND,AP_SAT>",
        "inv_table_t": "ap_fixed<18,8,AP_RND,AP_SAT>",
        "accum_t": f"ap_fixed<{18 + sc},{8 + sc}>",
        "inv_inp_t": "ap_fixed<18,8,AP_RND,AP_SAT>",
        "inp_norm_t": "ap_ufixed<15,5>",
        "exp_table_size": 1024,
        "inv_table_size": 1024,
    }
    w_in, w_tab = s.logit.width, s.exp.width
    matched = {
        "name": "hls4ml_matched",
        "doc": f"FlatFlow's widths: {w_in}-bit input (range +-64), {w_tab}-bit tables sized to their ranges, "
               f"1024 entries, output {s.prob.cpp_type()}",
        "data_t": f"ap_fixed<{w_in},7,AP_RND_CONV,AP_SAT>",
        "res_t": s.prob.cpp_type(),
        "exp_table_t": f"ap_ufixed<{w_tab},1,AP_RND,AP_SAT>",
        "inv_table_t": f"ap_ufixed<{w_tab},1,AP_RND,AP_SAT>",
        "accum_t": f"ap_ufixed<{w_tab + sc},{1 + sc},AP_RND,AP_SAT>",
        "inv_inp_t": f"ap_ufixed<{w_tab + sc},{1 + sc},AP_RND,AP_SAT>",
        "inp_norm_t": f"ap_ufixed<{w_in - 1},6,AP_RND,AP_SAT>",
        "exp_table_size": 1024,
        "inv_table_size": 1024,
    }
    return [default, matched]


def decode_logits(pc: Any, steps: int, seed: int) -> np.ndarray:
    """Raw logits (heads x steps, N) from float64 golden decode steps at position N - 1."""
    cfg, n = pc.model, pc.max_length
    rows = []
    for k in range(steps):
        r = np.random.default_rng([seed, 7, k])
        w = random_weights(cfg, seed=seed * 1000 + k)
        x = r.standard_normal((n, cfg.hidden_size))
        cache = gl.fill_cache(cfg, w, x[:-1])
        trace: dict[str, np.ndarray] = {}
        gl.decode_step(cfg, w, x[-1], n - 1, cache, trace=trace)
        rows.append(trace["qk"])
    return pc.scheme.logit.quantize(np.concatenate(rows)).astype(np.int64)


def metrics(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Max / mean absolute error and argmax flip rate of ``got`` vs float64 ``ref`` (rows x N)."""
    err = np.abs(got - ref)
    top = np.argmax(ref, axis=1)
    flips = got[np.arange(len(ref)), top] < got.max(axis=1)
    return {"max_abs_err": float(err.max()), "mean_abs_err": float(err.mean()),
            "argmax_flip_rate": float(flips.mean()), "rows": int(len(ref))}


def softmax64(x: np.ndarray) -> np.ndarray:
    """Float64 reference softmax over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def build_bench(pc: Any) -> Path:
    """Render our softmax kernels and the bench harness; compile (cached); return the executable."""
    for name in KERNELS:
        render_vitis(get_spec(name, pc), pc, OUT_DIR, with_vectors=False)
    env = environment("vitis")
    src = env.get_template("bench_softmax.cpp.j2").render(
        includes=KERNELS, n=pc.max_length, lanes=pc.lanes["softmax"], logit_fmt=pc.scheme.logit,
        prob_fmt=pc.scheme.prob, hls4ml_configs=hls4ml_configs(pc),
    )
    main = OUT_DIR / "bench_softmax.cpp"
    write_if_changed(main, src)
    includes = [OUT_DIR, OUT_DIR / "_shim", *[OUT_DIR / k for k in KERNELS], gxx.nnet_utils_dir().parent]
    return gxx.compile_exe([main], includes, "bench_softmax").exe


def run(pc: Any, random_rows: int = 512, decode_steps: int = 4, seed: int = 0, progress: bool = True
        ) -> dict[str, Any]:
    """Run the bench; write and return the report."""
    say = print if progress else (lambda *a, **k: None)
    t0 = time.perf_counter()
    say("softmax-accuracy: compiling FlatFlow + hls4ml softmax with g++ ...", flush=True)
    exe = build_bench(pc)
    n, s = pc.max_length, pc.scheme
    r = np.random.default_rng([seed, 11])
    say(f"softmax-accuracy: golden decode steps for realistic scores ({decode_steps} x "
        f"{pc.model.num_attention_heads} heads, N = {n}) ...", flush=True)
    sets = {
        "random": np.stack([random_logits(r, n, s) for _ in range(random_rows)]),
        "decode": decode_logits(pc, decode_steps, seed),
    }
    cfgs = [c["name"] for c in hls4ml_configs(pc)]
    results: dict[str, Any] = {}
    for set_name, raw in sets.items():
        fin, fout = OUT_DIR / f"{set_name}.in.txt", OUT_DIR / f"{set_name}.out.txt"
        body = "\n".join(" ".join(map(str, row)) for row in raw.tolist())
        write_if_changed(fin, f"{raw.shape[0]} {n}\n{body}\n")
        res = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise FlowError(f"softmax bench failed: {res.stdout.strip()[-200:]}")
        lines = fout.read_text().splitlines()
        k = 1 + len(cfgs)
        ours_raw = np.array([lines[i * k].split() for i in range(len(raw))], dtype=np.int64)
        ref = softmax64(s.logit.to_float(raw))
        from golden import llama_fixed as lf

        e, total = lf.softmax_exp(raw, lf.softmax_max(raw), s)
        golden_raw = lf.softmax_norm(e, total, s)
        if not np.array_equal(golden_raw, ours_raw):
            raise FlowError("softmax bench: the C++ kernels differ from the golden model (run make csim)")
        entry = {"flatflow": metrics(ref, s.prob.to_float(ours_raw))}
        for j, c in enumerate(cfgs, 1):
            vals = np.array([lines[i * k + j].split() for i in range(len(raw))], dtype=np.float64)
            entry[c] = metrics(ref, vals)
        results[set_name] = entry
    report = {
        "max_length": n,
        "formats": {"logit": s.logit.describe(), "exp": s.exp.describe(), "prob": s.prob.describe()},
        "hls4ml_configs": hls4ml_configs(pc),
        "hls4ml_version": gxx.hls4ml_version(),
        "results": results,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_if_changed(REPORT, json.dumps(report, indent=2) + "\n")
    say(table(report))
    say(f"softmax-accuracy: report {REPORT}")
    return report


def table(report: dict[str, Any]) -> str:
    """Markdown table of the report."""
    lines = ["| logits | implementation | max abs err | mean abs err | argmax flips |",
             "|---|---|---|---|---|"]
    for set_name, entry in report["results"].items():
        for impl, m in entry.items():
            lines.append(f"| {set_name} ({m['rows']} rows) | {impl} | {m['max_abs_err']:.3e} | "
                         f"{m['mean_abs_err']:.3e} | {100 * m['argmax_flip_rate']:.1f}% |")
    return "\n".join(lines)
