"""Fixed-point vs float64 accuracy of every decode op: ``python -m pyflow golden accuracy``.

Two input sets per op: *random* (seeded draws spanning each op's typical range, quantised to its
input formats) and *realistic* (the tensors each op sees in a decode step of the real block with a
filled KV cache).  Each op's error is measured in isolation: the float64 op runs on exactly the
dequantised inputs the fixed-point op received, so the numbers are that op's own error.  The chain
error (o_proj output after the whole fixed-point step vs the float64 step) and softmax argmax flips
are reported too.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from golden import llama
from golden import llama_fixed as lf
from golden.config import LlamaConfig
from golden.rope import inv_freq
from golden.weights import random_weights
from pyflow.errors import FlowError
from pyflow.project.config import load_project_config
from pyflow.reports import write_json_atomic


def _err(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    diff = np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64))
    scale = float(np.abs(ref).max()) or 1.0
    return {"max_abs": float(diff.max()), "mean_abs": float(diff.mean()), "max_rel": float(diff.max() / scale)}


def op_errors(cfg: LlamaConfig, s: lf.FixedScheme, t: dict[str, np.ndarray], pos: int) -> dict[str, dict]:
    """Each op's own error, given the raw inputs/outputs of a fixed-point trace ``t`` (one decode step)."""
    a, f = s.act.to_float, {}
    nh, d = cfg.num_attention_heads, cfg.head_dim
    kv_of = np.array([cfg.kv_head_of(h) for h in range(nh)])
    ang = pos * inv_freq(cfg)
    cos, sin = np.concatenate([np.cos(ang)] * 2), np.concatenate([np.sin(ang)] * 2)
    g = t["_gamma"]
    f["rmsnorm"] = _err(a(t["rmsnorm"]), llama.rmsnorm(a(t["x"]), s.norm_weight.to_float(g), cfg.rms_norm_eps))
    for op, w in (("q_proj", "_wq"), ("k_proj", "_wk"), ("v_proj", "_wv")):
        f[op] = _err(a(t[op]), s.weight.to_float(t[w]) @ a(t["rmsnorm"]))
    f["rope_q"] = _err(a(t["rope_q"]), llama.rope_q(a(t["q_proj"].reshape(nh, d)), cos, sin))
    f["rope_k"] = _err(a(t["rope_k"]), llama.rope_k(a(t["k_proj"].reshape(-1, d)), cos, sin))
    keys, vals = a(t["mem_load_kv.k"])[kv_of], a(t["mem_load_kv.v"])[kv_of]
    f["qk"] = _err(s.logit.to_float(t["qk"]), np.einsum("hnd,hd->hn", keys, a(t["rope_q"])) / np.sqrt(d))
    lg = s.logit.to_float(t["qk"])
    f["softmax_max"] = _err(s.logit.to_float(t["softmax_max"]), lg.max(-1))
    f["softmax_exp"] = _err(s.exp.to_float(t["softmax_exp"]), np.exp(lg - lg.max(-1, keepdims=True)))
    e = s.exp.to_float(t["softmax_exp"])
    f["softmax_norm"] = _err(s.prob.to_float(t["softmax_norm"]), e / e.sum(-1, keepdims=True))
    f["av"] = _err(a(t["av"]), np.einsum("hn,hnd->hd", s.prob.to_float(t["softmax_norm"]), vals))
    f["o_proj"] = _err(a(t["o_proj"]), s.weight.to_float(t["_wo"]) @ a(t["av"]).reshape(-1))
    return f


def _softmax_flips(s: lf.FixedScheme, t: dict[str, np.ndarray]) -> dict[str, int]:
    lg = s.logit.to_float(t["qk"])
    ref = np.exp(lg - lg.max(-1, keepdims=True))
    return {"rows": int(lg.shape[0]), "flips": int(np.sum(t["softmax_norm"].argmax(-1) != ref.argmax(-1)))}


def _run_chain(cfg: LlamaConfig, s: lf.FixedScheme, ctx: int, seed: int, draw: Callable[[np.random.Generator,
               tuple[int, ...]], np.ndarray], progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run ctx decode steps (float64 and fixed point side by side); errors at the last step."""
    w = random_weights(cfg, seed=seed)
    layer = lf.FixedLayer.quantize(w, s)
    rng = np.random.default_rng(seed + 1)
    xs = draw(rng, (ctx, cfg.hidden_size))
    cache, fcache = llama.KVCache.empty(cfg, ctx), lf.FixedKVCache.empty(cfg, ctx)
    flips = rows = 0
    for pos in range(ctx):
        tr: dict[str, np.ndarray] = {}
        ft: dict[str, np.ndarray] = {}
        ref, cache = llama.decode_step(cfg, w, xs[pos], pos, cache, trace=tr)
        got = lf.decode_step(cfg, layer, s.act.quantize(xs[pos]), pos, fcache, s, trace=ft)
        flips += int(np.sum(ft["softmax_norm"].argmax(-1) != tr["softmax_norm"].argmax(-1)))
        rows += ft["softmax_norm"].shape[0]
        if progress:
            progress(pos)
    ft.update(_wq=layer.wq, _wk=layer.wk, _wv=layer.wv, _wo=layer.wo, _gamma=layer.gamma)
    return {
        "ops": op_errors(cfg, s, ft, ctx - 1),
        "softmax_isolated": _softmax_flips(s, ft),
        "chain": {**_err(s.act.to_float(got), ref), "argmax_flips": flips, "softmax_rows": rows},
    }


def accuracy_report(cfg: LlamaConfig, s: lf.FixedScheme, ctx: int, seed: int,
                    progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The full report: realistic inputs (normal rows) and random inputs (heavier-tailed rows)."""
    realistic = _run_chain(cfg, s, ctx, seed, lambda r, sh: r.normal(0.0, 1.0, sh), progress)
    rand = _run_chain(cfg, s, min(ctx, 16), seed + 100,
                      lambda r, sh: np.clip(r.standard_t(3, sh) * 2.0, -30, 30), None)
    return {"config": {"ctx": ctx, "seed": seed, "hidden": cfg.hidden_size, "heads": cfg.num_attention_heads},
            "formats": {k: getattr(s, k).describe() for k in s.tensor_names()},
            "realistic": realistic, "random": rand}


def print_report(rep: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"fixed point vs float64 (ctx {rep['config']['ctx']})")
    for col in ("op", "realistic max abs", "realistic max rel", "random max abs", "random max rel"):
        tab.add_column(col, justify="right" if col != "op" else "left")
    for op, e in rep["realistic"]["ops"].items():
        r = rep["random"]["ops"][op]
        tab.add_row(op, f"{e['max_abs']:.3g}", f"{e['max_rel']:.3g}", f"{r['max_abs']:.3g}", f"{r['max_rel']:.3g}")
    Console().print(tab)
    for name in ("realistic", "random"):
        c = rep[name]["chain"]
        print(f"{name}: chain max rel error {c['max_rel']:.3g}, softmax argmax flips {c['argmax_flips']}"
              f"/{c['softmax_rows']}")


#: Most decode steps ``golden accuracy`` runs (each is a full fixed-point and float64 step).
MAX_ACCURACY_CTX = 8192


def accuracy_command(args: argparse.Namespace) -> int:
    """CLI handler of ``golden accuracy``."""
    from tqdm import tqdm

    from pyflow.commands.golden import _ctx

    pc = load_project_config(getattr(args, "config", None))
    ctx = _ctx(args, pc.model)
    if ctx > MAX_ACCURACY_CTX:
        raise FlowError(f"--ctx {ctx}: golden accuracy runs one decode step per key; use at most {MAX_ACCURACY_CTX}")
    t0 = time.perf_counter()
    with tqdm(total=ctx, desc="decode steps", unit="step", leave=False) as bar:
        rep = accuracy_report(pc.model, pc.scheme, ctx, int(args.seed), lambda _: bar.update())
    rep["seconds"] = round(time.perf_counter() - t0, 2)
    write_json_atomic(Path(args.json), rep)
    print_report(rep)
    print(f"wrote {args.json}")
    return 0
