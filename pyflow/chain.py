"""Chain mode: one full decode step run kernel by kernel, each kernel's output feeding the next.

The stages follow the golden chain (rmsnorm -> q/k/v projections -> rope -> KV store/load -> qk ->
softmax max/exp/norm -> av -> o_proj).  Every stage is one *job*: several invocations of one kernel
streamed back to back (q_proj as row blocks of the gemv kernel, one kv_cache invocation per KV head, one
qk/softmax/av invocation per query head).  A stage's inputs are built from the previous stages'
*measured* outputs, never from the golden trace, and every stage's outputs are compared with the
golden fixed-point decode step (:func:`golden.llama_fixed.decode_step`).  The kv_cache kernel stores
the new K row and V column in external memory (K by rows, V transposed) and streams back the layouts
qk and av read.

The executor is injectable: ``run_job(spec, invocations) -> outputs`` runs a list of input dicts through
one kernel.  :func:`pyflow.sim_flow.rtl_executor` simulates the RTL; :func:`golden_executor` uses each spec's own
golden function (used by the tests to check the wiring independently of any simulator).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from golden import llama_fixed as lf
from golden.weights import random_weights
from pyflow.errors import FlowError
from pyflow.specs import get_spec
from pyflow.specs.base import Arrays, KernelSpec
from pyflow.specs.rope import from_stream, to_stream

RunJob = Callable[[KernelSpec, list[Arrays]], list[Arrays]]


def golden_executor(spec: KernelSpec, invocations: list[Arrays]) -> list[Arrays]:
    """Run each invocation through the spec's golden function (no simulator)."""
    return [spec.expected(ins) for ins in invocations]


def golden_decode(pc: Any, seed: int = 0) -> tuple[np.ndarray, lf.FixedLayer, lf.FixedKVCache, dict, int]:
    """Weights, a cache filled with ctx-1 tokens, the new token and its golden fixed-point trace."""
    cfg, s = pc.model, pc.scheme
    ctx = pc.context_length
    layer = lf.FixedLayer.quantize(random_weights(cfg, seed=seed), s)
    xs = s.act.quantize(np.random.default_rng(seed + 1).normal(0, 1, (ctx, cfg.hidden_size)))
    cache = lf.FixedKVCache.empty(cfg, ctx)
    for pos in range(ctx - 1):
        lf.decode_step(cfg, layer, xs[pos], pos, cache, s)
    before = lf.FixedKVCache(cache.k.copy(), cache.v.copy(), cache.length)
    trace: dict[str, np.ndarray] = {}
    lf.decode_step(cfg, layer, xs[-1], ctx - 1, cache, s, trace=trace)
    return xs[-1], layer, before, trace, ctx - 1


def _split_rows(w: np.ndarray, rows: int, what: str) -> list[np.ndarray]:
    if w.shape[0] % rows:
        raise FlowError(f"chain: {what} has {w.shape[0]} rows, not a multiple of the gemv kernel's {rows}")
    return [w[i:i + rows] for i in range(0, w.shape[0], rows)]


def run_chain(pc: Any, run_job: RunJob, seed: int = 0,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run one decode step through the kernels with ``run_job``; compare each stage with the golden trace."""
    cfg = pc.model
    nh, nk, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    x, layer, cache, tr, pos = golden_decode(pc, seed)
    stages: list[dict[str, Any]] = []

    def stage(name: str, spec: KernelSpec, invocations: list[Arrays], port: str | None = None) -> list[Any]:
        """Run one job; return each invocation's ``port`` output (or its whole output dict)."""
        if progress:
            progress(name)
        t0 = time.perf_counter()
        outs = run_job(spec, invocations)
        stages.append({"stage": name, "kernel": spec.name, "invocations": len(invocations),
                       "seconds": round(time.perf_counter() - t0, 2)})
        return [o[port] for o in outs] if port else outs

    def check(name: str, got: np.ndarray, key: str) -> None:
        want = np.asarray(tr[key]).reshape(-1)
        got = np.asarray(got).reshape(-1)
        ok = got.shape == want.shape and bool(np.array_equal(got, want))
        bad = None if ok else int(np.argmax(got != want)) if got.shape == want.shape else -1
        entry = next(s for s in reversed(stages) if s["stage"] == name)
        entry.update(outputs_match=ok, first_mismatch=bad, elements=int(want.size))

    h = stage("rmsnorm", get_spec("rmsnorm", pc), [{"x": np.tile(x, 2), "gamma": layer.gamma}], "y")[0]
    check("rmsnorm", h, "rmsnorm")

    gemv = get_spec("gemv", pc)
    rows = int(gemv.params["N_OUT"])
    if int(gemv.params["N_IN"]) != cfg.hidden_size:
        raise FlowError("chain: the gemv kernel must take hidden_size inputs")
    blocks = _split_rows(layer.wq, rows, "q_proj") + [layer.wk, layer.wv]
    ys = stage("q_proj+k_proj+v_proj", gemv, [{"w": b.reshape(-1), "x": np.tile(h, rows)} for b in blocks], "y")
    q, k, v = np.concatenate(ys[:-2]), ys[-2], ys[-1]
    tr["_qkv"] = np.concatenate([tr["q_proj"], tr["k_proj"], tr["v_proj"]])
    check("q_proj+k_proj+v_proj", np.concatenate([q, k, v]), "_qkv")

    rope = get_spec("rope", pc)
    p_rope = int(rope.params["P"])
    vecs = np.concatenate([q.reshape(nh, d), k.reshape(nk, d)])
    out = stage("rope_q+rope_k", rope, [{"x": to_stream(vecs, p_rope), "pos": np.full(nh + nk, pos)}], "y")[0]
    roped = from_stream(out, nh + nk, d, p_rope)
    qr, kr = roped[:nh], roped[nh:]
    tr["_rope"] = np.concatenate([tr["rope_q"].reshape(-1), tr["rope_k"].reshape(-1)])
    check("rope_q+rope_k", roped, "_rope")

    vr = v.reshape(nk, d)
    kvs = stage("mem_store_kv+mem_load_kv", get_spec("kv_cache", pc),
                [{"k_new": kr[h], "v_new": vr[h], "pos": np.array([pos]), "kmem": cache.k[h].reshape(-1),
                  "vtmem": cache.v[h].T.reshape(-1)} for h in range(nk)])
    n = pos + 1
    keys = np.stack([o["k"].reshape(n, d) for o in kvs])
    values = np.stack([o["vt"].reshape(d, n).T for o in kvs])
    tr["_kv"] = np.concatenate([tr["mem_load_kv.k"].reshape(-1), tr["mem_load_kv.v"].reshape(-1)])
    check("mem_store_kv+mem_load_kv", np.concatenate([keys.reshape(-1), values.reshape(-1)]), "_kv")
    kv_of = [cfg.kv_head_of(hh) for hh in range(nh)]

    logits = stage("qk", get_spec("qk", pc),
                   [{"k": keys[kv_of[hh]].reshape(-1), "q": np.tile(qr[hh], n)} for hh in range(nh)], "logit")
    check("qk", np.stack(logits), "qk")
    mx = stage("softmax_max", get_spec("softmax_max", pc), [{"logit": lg} for lg in logits], "max")
    check("softmax_max", np.concatenate(mx), "softmax_max")
    eo = stage("softmax_exp", get_spec("softmax_exp", pc),
               [{"max": m, "logit": lg} for m, lg in zip(mx, logits, strict=True)])
    exps, sums = [o["exp"] for o in eo], [o["sum"] for o in eo]
    tr["_exp"] = np.concatenate([tr["softmax_exp"].reshape(-1), tr["softmax_exp.sum"].reshape(-1)])
    check("softmax_exp", np.concatenate([np.concatenate(exps), np.concatenate(sums)]), "_exp")
    probs = stage("softmax_norm", get_spec("softmax_norm", pc),
                  [{"sum": sm, "exp": e} for sm, e in zip(sums, exps, strict=True)], "prob")
    check("softmax_norm", np.stack(probs), "softmax_norm")
    heads = stage("av", get_spec("av", pc),
                  [{"vt": values[kv_of[hh]].T.reshape(-1), "p": np.tile(probs[hh], d)} for hh in range(nh)], "out")
    check("av", np.stack(heads), "av")

    attn = np.concatenate(heads)
    if attn.size != cfg.hidden_size:
        raise FlowError("chain: o_proj through the gemv kernel needs q_dim == hidden_size")
    ys = stage("o_proj", gemv, [{"w": b.reshape(-1), "x": np.tile(attn, rows)}
                                for b in _split_rows(layer.wo, rows, "o_proj")], "y")
    final = np.concatenate(ys)
    check("o_proj", final, "o_proj")
    return {"outputs_match": all(s.get("outputs_match") for s in stages), "stages": stages,
            "position": pos, "context": n}
