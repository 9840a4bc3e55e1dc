"""Float64 golden model of the LLaMA-3.2 decode attention chain (one token, one layer, KV cache).

Each chain op is its own function (names in :data:`CHAIN_OPS`, in chain order); ops work on the last
axis, so leading axes (heads, tokens) broadcast.  :func:`decode_step` runs the chain for one token and
returns the attention sub-block output (after ``o_proj``, before the residual add), exactly what HF
``LlamaDecoderLayer`` computes as ``self_attn(input_layernorm(x))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.config import LlamaConfig
from golden.rope import apply_rope, cos_sin
from golden.weights import LayerWeights

#: The ops of one decode step in chain order (the scheduler and the kernel flow import this).
CHAIN_OPS: tuple[str, ...] = (
    "rmsnorm",
    "q_proj",
    "k_proj",
    "v_proj",
    "rope_q",
    "rope_k",
    "mem_store_kv",
    "mem_load_kv",
    "qk",
    "softmax_max",
    "softmax_exp",
    "softmax_norm",
    "av",
    "o_proj",
)

#: Keys :func:`decode_step` writes into ``trace``, in chain order.  Each key is an op name, or an op name
#: plus ``.k`` / ``.v`` / ``.sum`` for ops with two outputs; ``x``, ``cos``, ``sin`` are the step inputs.
#: Shapes: rmsnorm/o_proj (hidden,), q_proj (q_dim,), k_proj/v_proj (kv_dim,), rope_q (n_heads, d),
#: rope_k and mem_store_kv.* (n_kv, d), mem_load_kv.* (n_kv, L, d), qk/softmax_exp/softmax_norm
#: (n_heads, L), softmax_max/softmax_exp.sum (n_heads,), av (n_heads, d); L = cache length after the store.
TRACE_KEYS: tuple[str, ...] = (
    "x", "cos", "sin",
    "rmsnorm", "q_proj", "k_proj", "v_proj", "rope_q", "rope_k",
    "mem_store_kv.k", "mem_store_kv.v", "mem_load_kv.k", "mem_load_kv.v",
    "qk", "softmax_max", "softmax_exp", "softmax_exp.sum", "softmax_norm", "av", "o_proj",
)


# ----------------------------------------------------------------------------------------------- ops
def rmsnorm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """``weight * x / sqrt(mean(x**2) + eps)`` over the last axis.

    Scale-invariant for any finite input: rows whose largest magnitude is at least 1 are first scaled by a
    power of two 2**-e that brings it into [0.5, 1) (exact, so the result is bit-identical where ``x * x``
    does not overflow, and still right where it would, e.g. at 1e200), with ``eps`` scaled by 2**-2e.
    """
    x = np.asarray(x, dtype=np.float64) if not np.issubdtype(np.asarray(x).dtype, np.floating) else np.asarray(x)
    big = np.max(np.abs(x), axis=-1, keepdims=True)
    exp = np.where(big >= 1.0, np.frexp(np.where(big >= 1.0, big, 1.0))[1], 0)
    xs = np.ldexp(x, -exp)
    return weight * (xs / np.sqrt(np.mean(xs * xs, axis=-1, keepdims=True) + np.ldexp(eps, -2 * exp)))


def _linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x @ w.T


def q_proj(x: np.ndarray, wq: np.ndarray) -> np.ndarray:
    """Query projection ``wq @ x``: (hidden,) -> (q_dim,)."""
    return _linear(x, wq)


def k_proj(x: np.ndarray, wk: np.ndarray) -> np.ndarray:
    """Key projection ``wk @ x``: (hidden,) -> (kv_dim,)."""
    return _linear(x, wk)


def v_proj(x: np.ndarray, wv: np.ndarray) -> np.ndarray:
    """Value projection ``wv @ x``: (hidden,) -> (kv_dim,)."""
    return _linear(x, wv)


def rope_q(q: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate the query heads (n_heads, head_dim) by the position's angles."""
    return apply_rope(q, cos, sin)


def rope_k(k: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate the key heads (n_kv_heads, head_dim) by the position's angles."""
    return apply_rope(k, cos, sin)


@dataclass
class KVCache:
    """Per-layer KV cache: ``k``/``v`` of shape (n_kv_heads, capacity, head_dim); rows [0, length) valid.

    Slots are filled in order (slot = number of tokens seen), independent of the RoPE position.
    """

    k: np.ndarray
    v: np.ndarray
    length: int = 0

    @classmethod
    def empty(cls, cfg: LlamaConfig, capacity: int = 16, dtype: type = np.float64) -> KVCache:
        """An empty cache with room for ``capacity`` tokens (it grows when full)."""
        shape = (cfg.num_key_value_heads, max(1, int(capacity)), cfg.head_dim)
        return cls(np.zeros(shape, dtype=dtype), np.zeros(shape, dtype=dtype), 0)

    @property
    def capacity(self) -> int:
        """Tokens the arrays can hold before growing."""
        return int(self.k.shape[1])


def mem_store_kv(cache: KVCache, k: np.ndarray, v: np.ndarray) -> KVCache:
    """Append one token's rotated keys and values (n_kv_heads, head_dim) at slot ``cache.length``."""
    if cache.length >= cache.capacity:
        grow = np.zeros_like(cache.k)
        cache.k = np.concatenate([cache.k, grow], axis=1)
        cache.v = np.concatenate([cache.v, np.zeros_like(grow)], axis=1)
    cache.k[:, cache.length, :] = k
    cache.v[:, cache.length, :] = v
    cache.length += 1
    return cache


def mem_load_kv(cache: KVCache, kv_head: int) -> tuple[np.ndarray, np.ndarray]:
    """The valid keys and values of one KV head: two (length, head_dim) arrays."""
    return cache.k[kv_head, : cache.length, :], cache.v[kv_head, : cache.length, :]


def qk(q: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Scores ``keys @ q / sqrt(head_dim)``: q (..., d), keys (L, d) -> (..., L)."""
    return (q @ keys.T) / np.sqrt(q.shape[-1])


def softmax_max(scores: np.ndarray) -> np.ndarray:
    """First softmax pass: the maximum over the last axis."""
    return np.max(scores, axis=-1)


def softmax_exp(scores: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Second softmax pass: ``exp(scores - m)`` and its sum over the last axis."""
    e = np.exp(scores - np.expand_dims(m, -1))
    return e, np.sum(e, axis=-1)


def softmax_norm(e: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Third softmax pass: divide the exponentials by their sum."""
    return e / np.expand_dims(total, -1)


def av(p: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Attention-weighted values ``p @ values``: p (..., L), values (L, d) -> (..., d)."""
    return p @ values


def o_proj(attn: np.ndarray, wo: np.ndarray) -> np.ndarray:
    """Output projection ``wo @ attn``: (q_dim,) -> (hidden,)."""
    return _linear(attn, wo)


# ------------------------------------------------------------------------------------------- chain
def _check_row(cfg: LlamaConfig, x_row: np.ndarray) -> np.ndarray:
    x = np.asarray(x_row, dtype=np.float64)
    if x.shape != (cfg.hidden_size,):
        raise ValueError(f"decode input has shape {x.shape}, expected ({cfg.hidden_size},)")
    return x


def decode_step(
    cfg: LlamaConfig,
    weights: LayerWeights,
    x_row: np.ndarray,
    pos: int,
    cache: KVCache | None = None,
    trace: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, KVCache]:
    """One decode step for the token ``x_row`` (hidden,) at RoPE position ``pos``.

    Appends its K/V to ``cache`` (a new empty one when None), attends over every cached token with GQA
    (query head h reads KV head ``cfg.kv_head_of(h)``) and returns ``(out_row, cache)`` where
    ``out_row`` is the attention output after ``o_proj``, before the residual add.  When ``trace`` is a
    dict, every op's output is stored under the keys of :data:`TRACE_KEYS`.
    """
    x = _check_row(cfg, x_row)
    if cache is None:
        cache = KVCache.empty(cfg)
    nh, nk, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim

    h = rmsnorm(x, weights.norm, cfg.rms_norm_eps)
    q = q_proj(h, weights.wq)
    k = k_proj(h, weights.wk)
    v = v_proj(h, weights.wv)
    cos, sin = cos_sin(cfg, pos)
    qr = rope_q(q.reshape(nh, d), cos, sin)
    kr = rope_k(k.reshape(nk, d), cos, sin)
    vr = v.reshape(nk, d)
    cache = mem_store_kv(cache, kr, vr)

    length = cache.length
    loaded_k = np.empty((nk, length, d))
    loaded_v = np.empty((nk, length, d))
    scores = np.empty((nh, length))
    maxes = np.empty(nh)
    exps = np.empty((nh, length))
    sums = np.empty(nh)
    probs = np.empty((nh, length))
    heads_out = np.empty((nh, d))
    for kv in range(nk):
        keys, values = mem_load_kv(cache, kv)
        loaded_k[kv], loaded_v[kv] = keys, values
        for head in (hh for hh in range(nh) if cfg.kv_head_of(hh) == kv):
            scores[head] = qk(qr[head], keys)
            maxes[head] = softmax_max(scores[head])
            exps[head], sums[head] = softmax_exp(scores[head], maxes[head])
            probs[head] = softmax_norm(exps[head], sums[head])
            heads_out[head] = av(probs[head], values)
    out = o_proj(heads_out.reshape(nh * d), weights.wo)

    if trace is not None:
        trace.update({
            "x": x, "cos": cos, "sin": sin,
            "rmsnorm": h, "q_proj": q, "k_proj": k, "v_proj": v, "rope_q": qr, "rope_k": kr,
            "mem_store_kv.k": kr.copy(), "mem_store_kv.v": vr.copy(),
            "mem_load_kv.k": loaded_k, "mem_load_kv.v": loaded_v,
            "qk": scores, "softmax_max": maxes, "softmax_exp": exps, "softmax_exp.sum": sums,
            "softmax_norm": probs, "av": heads_out, "o_proj": out,
        })
    return out, cache


def _check_rows(cfg: LlamaConfig, rows: np.ndarray) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != cfg.hidden_size:
        raise ValueError(f"decode inputs have shape {x.shape}, expected (T, {cfg.hidden_size})")
    return x


def decode_sequence(
    cfg: LlamaConfig, weights: LayerWeights, rows: np.ndarray, start_pos: int = 0
) -> np.ndarray:
    """Run the T rows of ``rows`` (T, hidden) as consecutive decode steps from an empty cache.

    Row t sits at RoPE position ``start_pos + t`` and attends to rows 0..t (causal); returns (T, hidden).
    """
    x = _check_rows(cfg, rows)
    cache = KVCache.empty(cfg, capacity=max(1, x.shape[0]))
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        out[t], cache = decode_step(cfg, weights, x[t], start_pos + t, cache)
    return out


def fill_cache(
    cfg: LlamaConfig, weights: LayerWeights, rows: np.ndarray, start_pos: int = 0,
    cache: KVCache | None = None,
) -> KVCache:
    """Store the K/V of ``rows`` (T, hidden) at positions start_pos.. without computing attention.

    Gives the same cache as :func:`decode_sequence` would leave behind (prefill of a context).
    """
    x = _check_rows(cfg, rows)
    if cache is None:
        cache = KVCache.empty(cfg, capacity=x.shape[0] + 1)
    nk, d = cfg.num_key_value_heads, cfg.head_dim
    h = rmsnorm(x, weights.norm, cfg.rms_norm_eps)
    k = k_proj(h, weights.wk).reshape(-1, nk, d)
    v = v_proj(h, weights.wv).reshape(-1, nk, d)
    cos, sin = cos_sin(cfg, np.arange(start_pos, start_pos + x.shape[0]))
    kr = rope_k(k, cos[:, None, :], sin[:, None, :])
    for t in range(x.shape[0]):
        cache = mem_store_kv(cache, kr[t], v[t])
    return cache


# ------------------------------------------------------------------------------------------- costs
@dataclass(frozen=True)
class OpCost:
    """Shapes and work of one chain op in one decode step (all heads).

    ``macs`` counts multiplies (a multiply-accumulate counts once); ``other`` counts non-multiply
    element operations (compare, exp, add of a reduction, reciprocal, rsqrt).  ``weight_elems`` are
    constant operands (weights, norm weight, RoPE cos/sin); ``act_elems`` are activation elements read
    plus written, including KV-cache traffic.
    """

    op: str
    in_shapes: tuple[tuple[int, ...], ...]
    out_shapes: tuple[tuple[int, ...], ...]
    macs: int
    other: int
    weight_elems: int
    act_elems: int

    def bytes_moved(self, elem_bytes: float) -> float:
        """Weights plus activations at ``elem_bytes`` bytes per element."""
        return (self.weight_elems + self.act_elems) * elem_bytes


def _n(*shapes: tuple[int, ...]) -> int:
    return int(sum(int(np.prod(s)) for s in shapes))


def chain_costs(cfg: LlamaConfig, ctx: int) -> list[OpCost]:
    """Per-op shapes and work of a decode step that attends over ``ctx`` keys (ctx - 1 cached tokens plus
    the new one, which sits at position ctx - 1).

    The KV cache is read once per KV head and shared by its ``group_size`` query heads.
    """
    if ctx < 1:
        raise ValueError(f"ctx must be >= 1, got {ctx}")
    hid, nh, nk, d = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    qd, kvd, length = cfg.q_dim, cfg.kv_dim, ctx
    vec_h, vec_q, vec_kv = (hid,), (qd,), (kvd,)
    q_heads, kv_heads = (nh, d), (nk, d)
    cache_kv = (nk, length, d)
    scores, per_head = (nh, length), (nh,)

    def cost(op: str, ins: tuple, outs: tuple, macs: int, other: int, weights: int) -> OpCost:
        return OpCost(op, ins, outs, int(macs), int(other), int(weights), _n(*ins) + _n(*outs))

    costs = [
        cost("rmsnorm", (vec_h,), (vec_h,), 3 * hid, hid + 1, hid),
        cost("q_proj", (vec_h,), (vec_q,), qd * hid, 0, qd * hid),
        cost("k_proj", (vec_h,), (vec_kv,), kvd * hid, 0, kvd * hid),
        cost("v_proj", (vec_h,), (vec_kv,), kvd * hid, 0, kvd * hid),
        cost("rope_q", (q_heads,), (q_heads,), 2 * qd, qd, 2 * d),
        cost("rope_k", (kv_heads,), (kv_heads,), 2 * kvd, kvd, 2 * d),
        cost("mem_store_kv", (kv_heads, kv_heads), (kv_heads, kv_heads), 0, 0, 0),
        cost("mem_load_kv", (cache_kv, cache_kv), (cache_kv, cache_kv), 0, 0, 0),
        cost("qk", (q_heads, cache_kv), (scores,), nh * length * (d + 1), 0, 0),
        cost("softmax_max", (scores,), (per_head,), 0, nh * length, 0),
        cost("softmax_exp", (scores, per_head), (scores, per_head), 0, 3 * nh * length, 0),
        cost("softmax_norm", (scores, per_head), (scores,), nh * length, nh, 0),
        cost("av", (scores, cache_kv), (q_heads,), nh * length * d, 0, 0),
        cost("o_proj", (vec_q,), (vec_h,), hid * qd, 0, hid * qd),
    ]
    assert tuple(c.op for c in costs) == CHAIN_OPS
    return costs
