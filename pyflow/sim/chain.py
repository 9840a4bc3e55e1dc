"""Chain mode: one full decode step run kernel by kernel, each kernel's output feeding the next.

The stages are :data:`STAGES`, one per group of golden chain ops (``golden.llama.CHAIN_OPS``, whose order
they follow: a test checks it); each stage's kernel is the one whose spec claims its ops
(:func:`pyflow.specs.op_kernels`).  Every stage is one *job*: several invocations of one kernel streamed
back to back (q_proj as row blocks of the gemv kernel, one kv_cache invocation per KV head, one
qk/softmax/av invocation per query head).  A stage's inputs are built from the previous stages' *measured*
outputs, never from the golden trace, and every stage's outputs are compared with the golden fixed-point
decode step (:func:`golden.llama_fixed.decode_step`).  The kv_cache kernel stores the new K row and V
row in external memory (both by rows) and streams back K rows and V^T rows, the layouts qk and av read.

The executor is injectable: ``run_job(spec, invocations) -> outputs`` runs a list of input dicts through
one kernel.  :func:`pyflow.sim.flow.rtl_executor` simulates the RTL; :func:`golden_executor` uses each spec's
own golden function (used by the tests to check the wiring independently of any simulator).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from golden import llama_fixed as lf
from golden.weights import random_weights
from hls.kernels.rope.spec import from_stream, to_stream
from pyflow.errors import FlowError
from pyflow.specs import get_spec, op_kernels
from pyflow.specs.base import Arrays, KernelSpec

RunJob = Callable[[KernelSpec, list[Arrays]], list[Arrays]]


def golden_executor(spec: KernelSpec, invocations: list[Arrays]) -> list[Arrays]:
    """Run each invocation through the spec's golden function (no simulator)."""
    return [spec.expected(ins) for ins in invocations]


def golden_decode(pc: Any, seed: int = 0, pos: int | None = None
                  ) -> tuple[np.ndarray, lf.FixedLayer, lf.FixedKVCache, dict, int]:
    """Weights, a cache (of the config's capacity) filled with the ``pos`` earlier tokens, the new token at
    position ``pos`` (default: the last the capacity allows) and its golden fixed-point trace."""
    cfg, s = pc.model, pc.scheme
    cap = pc.max_length
    pos = cap - 1 if pos is None else int(pos)
    if not 0 <= pos < cap:
        raise FlowError(f"chain: decode position {pos} is outside 0..{cap - 1} (context.max_length = {cap})")
    layer = lf.FixedLayer.quantize(random_weights(cfg, seed=seed), s)
    xs = s.act.quantize(np.random.default_rng(seed + 1).normal(0, 1, (pos + 1, cfg.hidden_size)))
    cache = lf.FixedKVCache.empty(cfg, cap)
    for earlier in range(pos):
        lf.decode_step(cfg, layer, xs[earlier], earlier, cache, s)
    before = lf.FixedKVCache(cache.k.copy(), cache.v.copy(), cache.length)
    trace: dict[str, np.ndarray] = {}
    lf.decode_step(cfg, layer, xs[pos], pos, cache, s, trace=trace)
    return xs[pos], layer, before, trace, pos


def _split_rows(w: np.ndarray, rows: int, what: str) -> list[np.ndarray]:
    if w.shape[0] % rows:
        raise FlowError(f"chain: {what} has {w.shape[0]} rows, not a multiple of the gemv kernel's {rows}")
    return [w[i:i + rows] for i in range(0, w.shape[0], rows)]


@dataclass
class Step:
    """What one decode step carries between stages: the model, the inputs, and every stage's results."""

    cfg: Any
    spec: Callable[[str], KernelSpec]
    x: np.ndarray
    layer: lf.FixedLayer
    cache: lf.FixedKVCache
    pos: int
    values: dict[str, Any]

    @property
    def n(self) -> int:
        """Keys attended (the cache after the store)."""
        return self.pos + 1

    def kv_of(self, head: int) -> int:
        """KV head of query head ``head`` (GQA)."""
        return self.cfg.kv_head_of(head)


@dataclass(frozen=True)
class Stage:
    """One job of the chain: the golden ops it covers, its invocations, and how its outputs are read.

    ``invocations(step)`` builds the kernel's inputs from earlier stages' results; ``collect(step, outs)``
    stores this stage's results in ``step.values`` and returns them flattened in the order of ``trace``,
    the golden trace keys they are compared with.
    """

    ops: tuple[str, ...]
    trace: tuple[str, ...]
    invocations: Callable[[Step], list[Arrays]]
    collect: Callable[[Step, list[Arrays]], np.ndarray]

    @property
    def name(self) -> str:
        """The stage's name: its ops joined by ``+``."""
        return "+".join(self.ops)


def _gemv_rows(step: Step) -> int:
    gemv = step.spec("gemv")
    if int(gemv.params["N_IN"]) != step.cfg.hidden_size:
        raise FlowError("chain: the gemv kernel must take hidden_size inputs")
    return int(gemv.params["N_OUT"])


def _norm_out(step: Step, outs: list[Arrays]) -> np.ndarray:
    step.values["h"] = outs[0]["y"]
    return outs[0]["y"]


def _qkv_in(step: Step) -> list[Arrays]:
    rows = _gemv_rows(step)
    blocks = _split_rows(step.layer.wq, rows, "q_proj") + [step.layer.wk, step.layer.wv]
    return [{"w": b.reshape(-1), "x": np.tile(step.values["h"], rows)} for b in blocks]


def _qkv_out(step: Step, outs: list[Arrays]) -> np.ndarray:
    ys = [o["y"] for o in outs]
    step.values.update(q=np.concatenate(ys[:-2]), k=ys[-2], v=ys[-1])
    return np.concatenate(ys)


def _rope_in(step: Step) -> list[Arrays]:
    c, v = step.cfg, step.values
    vecs = np.concatenate([v["q"].reshape(c.num_attention_heads, c.head_dim),
                           v["k"].reshape(c.num_key_value_heads, c.head_dim)])
    n_vec = c.num_attention_heads + c.num_key_value_heads
    return [{"x": to_stream(vecs, int(step.spec("rope").params["P"])), "pos": np.full(n_vec, step.pos)}]


def _rope_out(step: Step, outs: list[Arrays]) -> np.ndarray:
    c = step.cfg
    roped = from_stream(outs[0]["y"], c.num_attention_heads + c.num_key_value_heads, c.head_dim,
                        int(step.spec("rope").params["P"]))
    step.values.update(qr=roped[:c.num_attention_heads], kr=roped[c.num_attention_heads:])
    return roped


def _kv_in(step: Step) -> list[Arrays]:
    """Per KV head: the new token at pos, the cache's K rows and V rows (kv_cache's layout: rows by position)."""
    c, v = step.cfg, step.values
    vr = v["v"].reshape(c.num_key_value_heads, c.head_dim)
    return [{"k_new": v["kr"][h], "v_new": vr[h], "pos": np.array([step.pos]), "kmem": step.cache.k[h].reshape(-1),
             "vmem": step.cache.v[h].reshape(-1)} for h in range(c.num_key_value_heads)]


def _kv_out(step: Step, outs: list[Arrays]) -> np.ndarray:
    d = step.cfg.head_dim
    keys = np.stack([o["k"].reshape(step.n, d) for o in outs])
    values = np.stack([o["vt"].reshape(d, step.n).T for o in outs])
    step.values.update(keys=keys, values=values)
    return np.concatenate([keys.reshape(-1), values.reshape(-1)])


def _heads(step: Step) -> range:
    return range(step.cfg.num_attention_heads)


def _n(step: Step) -> np.ndarray:
    """The run-time length input of the attention kernels: the keys attended."""
    return np.array([step.n])


def _qk_in(step: Step) -> list[Arrays]:
    v = step.values
    return [{"n": _n(step), "k": v["keys"][step.kv_of(h)].reshape(-1), "q": np.tile(v["qr"][h], step.n)}
            for h in _heads(step)]


def _keep(key: str, port: str) -> Callable[[Step, list[Arrays]], np.ndarray]:
    """A collector that keeps each invocation's ``port`` output under ``key``."""

    def collect(step: Step, outs: list[Arrays]) -> np.ndarray:
        step.values[key] = [o[port] for o in outs]
        return np.concatenate(step.values[key])

    return collect


def _exp_out(step: Step, outs: list[Arrays]) -> np.ndarray:
    step.values.update(exps=[o["exp"] for o in outs], sums=[o["sum"] for o in outs])
    return np.concatenate([np.concatenate(step.values["exps"]), np.concatenate(step.values["sums"])])


def _av_in(step: Step) -> list[Arrays]:
    v = step.values
    return [{"n": _n(step), "vt": v["values"][step.kv_of(h)].T.reshape(-1),
             "p": np.tile(v["probs"][h], step.cfg.head_dim)} for h in _heads(step)]


def _o_in(step: Step) -> list[Arrays]:
    attn = np.concatenate(step.values["heads"])
    if attn.size != step.cfg.hidden_size:
        raise FlowError("chain: o_proj through the gemv kernel needs q_dim == hidden_size")
    rows = _gemv_rows(step)
    return [{"w": b.reshape(-1), "x": np.tile(attn, rows)} for b in _split_rows(step.layer.wo, rows, "o_proj")]


#: The chain's jobs in chain order (their ops concatenated are ``golden.llama.CHAIN_OPS``).
STAGES: tuple[Stage, ...] = (
    Stage(("rmsnorm",), ("rmsnorm",),
          lambda st: [{"x": np.tile(st.x, 2), "gamma": st.layer.gamma}], _norm_out),
    Stage(("q_proj", "k_proj", "v_proj"), ("q_proj", "k_proj", "v_proj"), _qkv_in, _qkv_out),
    Stage(("rope_q", "rope_k"), ("rope_q", "rope_k"), _rope_in, _rope_out),
    Stage(("mem_store_kv", "mem_load_kv"), ("mem_load_kv.k", "mem_load_kv.v"), _kv_in, _kv_out),
    Stage(("qk",), ("qk",), _qk_in, _keep("logits", "logit")),
    Stage(("softmax_max",), ("softmax_max",),
          lambda st: [{"n": _n(st), "logit": lg} for lg in st.values["logits"]], _keep("mx", "max")),
    Stage(("softmax_exp",), ("softmax_exp", "softmax_exp.sum"),
          lambda st: [{"n": _n(st), "max": m, "logit": lg}
                      for m, lg in zip(st.values["mx"], st.values["logits"], strict=True)],
          _exp_out),
    Stage(("softmax_norm",), ("softmax_norm",),
          lambda st: [{"n": _n(st), "sum": sm, "exp": e}
                      for sm, e in zip(st.values["sums"], st.values["exps"], strict=True)],
          _keep("probs", "prob")),
    Stage(("av",), ("av",), _av_in, _keep("heads", "out")),
    Stage(("o_proj",), ("o_proj",), _o_in, _keep("final", "y")),
)


def run_chain(pc: Any, run_job: RunJob, seed: int = 0, progress: Callable[[str], None] | None = None,
              pos: int | None = None) -> dict[str, Any]:
    """Run one decode step at position ``pos`` (default: the last the capacity allows) through the kernels
    with ``run_job``; compare each stage with the golden trace."""
    x, layer, cache, tr, pos = golden_decode(pc, seed, pos)
    kernels = op_kernels()
    specs: dict[str, KernelSpec] = {}

    def spec(name: str) -> KernelSpec:
        if name not in specs:
            specs[name] = get_spec(name, pc)
        return specs[name]

    step = Step(pc.model, spec, x, layer, cache, pos, {})
    rows: list[dict[str, Any]] = []
    for stage in STAGES:
        names = {kernels[op] for op in stage.ops}
        if len(names) != 1:
            raise FlowError(f"chain: stage {stage.name} spans kernels {sorted(names)}")
        kernel = names.pop()
        if progress:
            progress(stage.name)
        t0 = time.perf_counter()
        invocations = stage.invocations(step)
        outs = run_job(spec(kernel), invocations)
        got = np.asarray(stage.collect(step, outs)).reshape(-1)
        want = np.concatenate([np.asarray(tr[k]).reshape(-1) for k in stage.trace])
        ok = got.shape == want.shape and bool(np.array_equal(got, want))
        bad = None if ok else int(np.argmax(got != want)) if got.shape == want.shape else -1
        rows.append({"stage": stage.name, "kernel": kernel,
                     "invocations": len(invocations), "seconds": round(time.perf_counter() - t0, 2),
                     "outputs_match": ok, "first_mismatch": bad, "elements": int(want.size)})
    return {"outputs_match": all(r["outputs_match"] for r in rows), "stages": rows, "position": pos,
            "context": pos + 1}
