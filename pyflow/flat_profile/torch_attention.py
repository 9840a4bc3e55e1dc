"""Torch twin of :mod:`golden.flat` (same tiles, same allocation pattern) for CPU or CUDA tensors."""

from __future__ import annotations

import math

import torch

from golden.flat import iter_tiles, tile_extent, tile_index


def _attend_block(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                  rows: slice, causal: bool) -> torch.Tensor:
    """Logit, softmax, attend for one block; see ``golden.flat._attend_block``."""
    s = torch.matmul(q, k.transpose(-1, -2))
    if bias is not None:
        s += bias
    if causal:
        keys = torch.arange(k.shape[-2], device=s.device)
        qrows = torch.arange(rows.start, rows.stop, device=s.device)
        s.masked_fill_(keys[None, :] > qrows[:, None], float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    m.masked_fill_(~torch.isfinite(m), 0.0)
    p = s - m
    del s
    p.exp_()
    denom = p.sum(dim=-1, keepdim=True)
    denom.masked_fill_(denom == 0, float("inf"))
    p /= denom
    return torch.matmul(p, v)


def _heads_first(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 1, 3)


def attention_baseline(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None,
                       causal: bool = False) -> torch.Tensor:
    """Unfused attention on ``(B, L, H, d)`` tensors (full ``B x H x L x L`` logits)."""
    b, seq, h, d = q.shape
    bias_v = None if bias is None else bias.expand(b, h, seq, seq)
    qh = _heads_first(q * (1.0 / math.sqrt(d)))
    out = _attend_block(qh, _heads_first(k), _heads_first(v), bias_v, slice(0, seq), causal)
    return out.permute(0, 2, 1, 3)


def flat_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mode: str = "row", size: int = 64,
                   bias: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
    """FLAT attention on ``(B, L, H, d)`` tensors, one tile of ``mode`` granularity at a time."""
    shape = tuple(q.shape)
    tile_extent(mode, size, shape)
    b, seq, h, d = shape
    bias_v = None if bias is None else bias.expand(b, h, seq, seq)
    scale = 1.0 / math.sqrt(d)
    qh, kh, vh = _heads_first(q), _heads_first(k), _heads_first(v)
    out = torch.empty_like(q)
    oh = _heads_first(out)
    for bs, hs, rs in iter_tiles(mode, size, shape):
        bh = tile_index(mode, bs, hs)
        tb = None if bias_v is None else bias_v[bh + (rs,)]
        oh[bh + (rs,)] = _attend_block(qh[bh + (rs,)] * scale, kh[bh], vh[bh], tb, rs, causal)
    return out
