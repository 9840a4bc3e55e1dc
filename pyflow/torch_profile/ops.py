"""The decode attention chain as PyTorch ops: one function per ``golden.llama.CHAIN_OPS`` op.

A second implementation of :mod:`golden.llama` (which stays NumPy-only), used to measure op durations.
Ops work on the last axis and broadcast over leading axes, so one function serves one head or a whole
layer: ``qk`` / ``av`` take queries (..., g, d) or (d,) against keys/values (..., L, d) of their KV head(s).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def rmsnorm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """``weight * x / sqrt(mean(x**2) + eps)`` over the last axis."""
    return weight * (x / torch.sqrt(torch.mean(x * x, dim=-1, keepdim=True) + eps))


def _linear(x: Tensor, w: Tensor, out: Tensor | None = None) -> Tensor:
    return torch.matmul(w, x) if out is None else torch.matmul(w, x, out=out)


def q_proj(x: Tensor, wq: Tensor) -> Tensor:
    """Query projection ``wq @ x``: wq (rows, hidden) holds one head's rows or all of them."""
    return _linear(x, wq)


def k_proj(x: Tensor, wk: Tensor) -> Tensor:
    """Key projection ``wk @ x`` (one KV head's rows or all)."""
    return _linear(x, wk)


def v_proj(x: Tensor, wv: Tensor) -> Tensor:
    """Value projection ``wv @ x`` (one KV head's rows or all)."""
    return _linear(x, wv)


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    return x * cos + _rotate_half(x) * sin


def rope_q(q: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate query head(s) (..., head_dim) by the position's angles (HF rotate-half convention)."""
    return _apply_rope(q, cos, sin)


def rope_k(k: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate key head(s) (..., head_dim) by the position's angles."""
    return _apply_rope(k, cos, sin)


def mem_store_kv(k_cache: Tensor, v_cache: Tensor, k: Tensor, v: Tensor, slot: int) -> None:
    """Write one token's rotated keys and values (..., d) into row ``slot`` of the caches (..., capacity, d)."""
    k_cache[..., slot, :] = k
    v_cache[..., slot, :] = v


def mem_load_kv(k_cache: Tensor, v_cache: Tensor, length: int) -> tuple[Tensor, Tensor]:
    """Copies of the valid rows [0, length) of the caches: (..., length, d) each.

    A copy, not a view: the hardware streams the cache out of memory, and a view would cost nothing.
    """
    return k_cache[..., :length, :].clone(), v_cache[..., :length, :].clone()


def qk(q: Tensor, keys: Tensor) -> Tensor:
    """Scores ``q @ keys^T / sqrt(head_dim)``: q (d,) or (..., g, d), keys (..., L, d) -> (L,) or (..., g, L)."""
    return torch.matmul(q, keys.transpose(-1, -2)) / math.sqrt(q.shape[-1])


def softmax_max(scores: Tensor) -> Tensor:
    """First softmax pass: the maximum over the last axis."""
    return torch.amax(scores, dim=-1)


def softmax_exp(scores: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
    """Second softmax pass: ``exp(scores - m)`` and its sum over the last axis."""
    e = torch.exp(scores - m.unsqueeze(-1))
    return e, torch.sum(e, dim=-1)


def softmax_norm(e: Tensor, total: Tensor) -> Tensor:
    """Third softmax pass: divide the exponentials by their sum."""
    return e / total.unsqueeze(-1)


def av(p: Tensor, values: Tensor, out: Tensor | None = None) -> Tensor:
    """Attention-weighted values ``p @ values``: p (L,) or (..., g, L), values (..., L, d).

    ``out`` (optional) receives the result, e.g. one head's slice of the attention vector.
    """
    if out is None:
        return torch.matmul(p, values)
    if p.dim() == 1:  # one head: a gemv over the transposed values (matmul would resize ``out``)
        return torch.mv(values.transpose(-1, -2), p, out=out)
    return torch.matmul(p, values, out=out)


def o_proj(attn: Tensor, wo: Tensor, out: Tensor | None = None) -> Tensor:
    """Output projection ``wo @ attn``: wo (rows, q_dim) holds a row block of the output or all of it."""
    return _linear(attn, wo, out)
