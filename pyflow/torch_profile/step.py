"""One decode step of the torch op chain, op by op, at the granularity of the scheduler's graph.

``per_head=True`` is ``schedule --heads all`` (:func:`pyflow.schedule.graph.build_graph`): per token one
``rmsnorm``; per KV head ``k_proj``, ``v_proj``, ``rope_k``, ``mem_store_kv``, ``mem_load_kv``; per query
head ``q_proj``, ``rope_q``, ``qk``, ``softmax_max``, ``softmax_exp``, ``softmax_norm``, ``av``; and
``o_proj_blocks`` row blocks of ``o_proj``.  ``per_head=False`` is ``--heads 1``: each op once per token
over the whole layer.  Every op call runs inside ``region(op_name)`` (the profiler's hook); the RoPE
tables are constants (as on the hardware) and slicing weights per head happens once, outside the ops.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from golden.config import LlamaConfig
from golden.llama import fill_cache
from golden.rope import cos_sin
from golden.weights import LayerWeights
from pyflow.torch_profile import ops

#: A context-manager factory wrapped around every op call, given the op's name.
Region = Callable[[str], AbstractContextManager[object]]


def no_region(name: str) -> AbstractContextManager[object]:
    """The default region: nothing around the op."""
    return nullcontext()


@dataclass
class TorchChain:
    """One layer's weights (split as the graph's nodes need them), RoPE tables and KV cache on a device.

    ``wq`` / ``wk`` / ``wv`` hold one (head_dim, hidden) block per head, or one whole matrix; ``wo`` holds
    the ``o_proj_blocks`` row blocks.  ``cos`` / ``sin`` are (positions, head_dim); rows [0, length) of
    ``k_cache`` / ``v_cache`` (n_kv_heads, capacity, head_dim) are valid.
    """

    cfg: LlamaConfig
    per_head: bool
    norm: Tensor
    wq: list[Tensor]
    wk: list[Tensor]
    wv: list[Tensor]
    wo: list[Tensor]
    cos: Tensor
    sin: Tensor
    k_cache: Tensor
    v_cache: Tensor
    length: int = 0


def build_chain(cfg: LlamaConfig, weights: LayerWeights, *, capacity: int, device: str | torch.device = "cpu",
                dtype: torch.dtype = torch.float32, per_head: bool = True, o_proj_blocks: int = 1,
                prefill: np.ndarray | None = None) -> TorchChain:
    """Put ``weights`` on ``device`` as ``dtype`` with room for ``capacity`` tokens (positions 0..capacity-1).

    ``prefill`` rows (P, hidden) fill the cache at positions 0..P-1 through :func:`golden.llama.fill_cache`
    (float64, not timed), so the first decode step is at position P.
    """
    if o_proj_blocks < 1 or cfg.hidden_size % o_proj_blocks:
        raise ValueError(f"o_proj blocks ({o_proj_blocks}) must divide hidden_size ({cfg.hidden_size})")
    n_pre = 0 if prefill is None else int(np.asarray(prefill).shape[0])
    if capacity < n_pre + 1:
        raise ValueError(f"capacity {capacity} leaves no room after {n_pre} prefilled tokens")

    def put(a: np.ndarray) -> Tensor:
        return torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64)).to(device=device, dtype=dtype)

    d, nk = cfg.head_dim, cfg.num_key_value_heads
    wq, wk, wv, wo = (put(getattr(weights, n)) for n in ("wq", "wk", "wv", "wo"))

    def heads(w: Tensor, n: int) -> list[Tensor]:
        return [w[i * d:(i + 1) * d] for i in range(n)] if per_head else [w]

    rows = cfg.hidden_size // o_proj_blocks
    cos, sin = cos_sin(cfg, np.arange(capacity))
    k_cache = torch.zeros((nk, capacity, d), device=device, dtype=dtype)
    v_cache = torch.zeros_like(k_cache)
    if n_pre:
        filled = fill_cache(cfg, weights, np.asarray(prefill, dtype=np.float64))
        k_cache[:, :n_pre] = put(filled.k[:, :n_pre])
        v_cache[:, :n_pre] = put(filled.v[:, :n_pre])
    return TorchChain(cfg, per_head, put(weights.norm), heads(wq, cfg.num_attention_heads), heads(wk, nk),
                      heads(wv, nk), [wo[b * rows:(b + 1) * rows] for b in range(o_proj_blocks)],
                      put(cos), put(sin), k_cache, v_cache, n_pre)


def _trace_shapes(cfg: LlamaConfig, length: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the ``golden.llama.TRACE_KEYS`` op outputs for a step that attends ``length`` keys."""
    nh, nk, d, hid = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
    return {
        "rmsnorm": (hid,), "q_proj": (cfg.q_dim,), "k_proj": (cfg.kv_dim,), "v_proj": (cfg.kv_dim,),
        "rope_q": (nh, d), "rope_k": (nk, d), "mem_store_kv.k": (nk, d), "mem_store_kv.v": (nk, d),
        "mem_load_kv.k": (nk, length, d), "mem_load_kv.v": (nk, length, d), "qk": (nh, length),
        "softmax_max": (nh,), "softmax_exp": (nh, length), "softmax_exp.sum": (nh,),
        "softmax_norm": (nh, length), "av": (nh, d), "o_proj": (hid,),
    }


def decode_step(chain: TorchChain, x: Tensor, pos: int, region: Region = no_region,
                trace: dict[str, Tensor] | None = None) -> Tensor:
    """One decode step for ``x`` (hidden,) at RoPE position ``pos``; returns the o_proj output (hidden,).

    Stores the token's K/V at row ``chain.length`` and attends over rows 0..length (inclusive).  With a
    ``trace`` dict, every op output is stored under the ``golden.llama.TRACE_KEYS`` names and shapes.
    """
    cfg = chain.cfg
    nh, nk, d, g = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.group_size
    slot = chain.length
    if slot >= chain.k_cache.shape[1] or pos >= chain.cos.shape[0]:
        raise ValueError(f"decode step at slot {slot}, position {pos} is beyond the chain's capacity "
                         f"{chain.k_cache.shape[1]}")
    length = slot + 1
    cos, sin = chain.cos[pos], chain.sin[pos]
    attn = torch.empty(cfg.q_dim, device=x.device, dtype=x.dtype)
    out = torch.empty(cfg.hidden_size, device=x.device, dtype=x.dtype)
    parts: dict[str, list[Tensor]] = {}

    def rec(key: str, value: Tensor) -> None:
        if trace is not None:
            parts.setdefault(key, []).append(value.detach().clone())

    with region("rmsnorm"):
        h = ops.rmsnorm(x, chain.norm, cfg.rms_norm_eps)
    rec("rmsnorm", h)
    if chain.per_head:
        loaded = []
        for j in range(nk):
            with region("k_proj"):
                k = ops.k_proj(h, chain.wk[j])
            with region("v_proj"):
                v = ops.v_proj(h, chain.wv[j])
            with region("rope_k"):
                kr = ops.rope_k(k, cos, sin)
            with region("mem_store_kv"):
                ops.mem_store_kv(chain.k_cache[j], chain.v_cache[j], kr, v, slot)
            with region("mem_load_kv"):
                loaded.append(ops.mem_load_kv(chain.k_cache[j], chain.v_cache[j], length))
            for key, val in (("k_proj", k), ("v_proj", v), ("rope_k", kr), ("mem_store_kv.k", chain.k_cache[j, slot]),
                             ("mem_store_kv.v", chain.v_cache[j, slot]), ("mem_load_kv.k", loaded[j][0]),
                             ("mem_load_kv.v", loaded[j][1])):
                rec(key, val)
        for hq in range(nh):
            keys, values = loaded[cfg.kv_head_of(hq)]
            with region("q_proj"):
                q = ops.q_proj(h, chain.wq[hq])
            with region("rope_q"):
                qr = ops.rope_q(q, cos, sin)
            with region("qk"):
                s = ops.qk(qr, keys)
            with region("softmax_max"):
                m = ops.softmax_max(s)
            with region("softmax_exp"):
                e, total = ops.softmax_exp(s, m)
            with region("softmax_norm"):
                p = ops.softmax_norm(e, total)
            with region("av"):
                ops.av(p, values, out=attn[hq * d:(hq + 1) * d])
            for key, val in (("q_proj", q), ("rope_q", qr), ("qk", s), ("softmax_max", m), ("softmax_exp", e),
                             ("softmax_exp.sum", total), ("softmax_norm", p)):
                rec(key, val)
    else:
        with region("q_proj"):
            q = ops.q_proj(h, chain.wq[0])
        with region("k_proj"):
            k = ops.k_proj(h, chain.wk[0])
        with region("v_proj"):
            v = ops.v_proj(h, chain.wv[0])
        with region("rope_q"):
            qr = ops.rope_q(q.view(nh, d), cos, sin)
        with region("rope_k"):
            kr = ops.rope_k(k.view(nk, d), cos, sin)
        with region("mem_store_kv"):
            ops.mem_store_kv(chain.k_cache, chain.v_cache, kr, v.view(nk, d), slot)
        with region("mem_load_kv"):
            keys, values = ops.mem_load_kv(chain.k_cache, chain.v_cache, length)
        with region("qk"):
            s = ops.qk(qr.view(nk, g, d), keys)
        with region("softmax_max"):
            m = ops.softmax_max(s)
        with region("softmax_exp"):
            e, total = ops.softmax_exp(s, m)
        with region("softmax_norm"):
            p = ops.softmax_norm(e, total)
        with region("av"):
            ops.av(p, values, out=attn.view(nk, g, d))
        for key, val in (("q_proj", q), ("k_proj", k), ("v_proj", v), ("rope_q", qr), ("rope_k", kr),
                         ("mem_store_kv.k", chain.k_cache[:, slot]), ("mem_store_kv.v", chain.v_cache[:, slot]),
                         ("mem_load_kv.k", keys), ("mem_load_kv.v", values), ("qk", s), ("softmax_max", m),
                         ("softmax_exp", e), ("softmax_exp.sum", total), ("softmax_norm", p)):
            rec(key, val)
    rows = cfg.hidden_size // len(chain.wo)
    for b, wo in enumerate(chain.wo):
        with region("o_proj"):
            ops.o_proj(attn, wo, out=out[b * rows:(b + 1) * rows])
    chain.length = length
    if trace is not None:
        rec("av", attn)
        rec("o_proj", out)
        for key, shape in _trace_shapes(cfg, length).items():
            trace[key] = torch.cat([t.reshape(-1) for t in parts[key]]).reshape(shape)
    return out
