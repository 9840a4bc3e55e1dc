"""FLAT (Fused Logit-Attend Tiling, Kao et al.) attention golden model.

Tensors are laid out ``(B, L, H, d)`` (batch, sequence, heads, head dim).  ``bias`` is additive and
broadcastable to ``(B, H, L, L)``; ``causal`` masks key ``j > i`` for query row ``i``.

* :func:`attention_baseline` is the unfused dataflow: the whole ``B x H x L x L`` logit tensor ``S``
  is materialised, then the probability tensor ``P`` (a second ``B x H x L x L`` array), then ``P @ V``.
* :func:`flat_attention` runs the same logit -> softmax -> attend chain one tile at a time, so only
  one tile's ``S`` and ``P`` exist at once.  Tiles nest as in the FLAT paper:

  ========  ===========================================  ======================================
  mode      one tile                                     logits held by one tile
  ========  ===========================================  ======================================
  batch     ``size`` batches x all heads x all rows      ``min(size,B) * H * L * L``
  head      one batch x ``size`` heads x all rows        ``min(size,H) * L * L``
  row       one batch x one head x ``size`` query rows   ``min(size,L) * L``
  ========  ===========================================  ======================================

  Row tiles iterate over ``b``, ``h`` and row blocks (no vectorisation over ``b, h``), so the
  row-mode claim "at most ``size x L`` logits per tile" holds for what is measured.

Both functions compute in the input dtype (``float64`` for the golden reference; the profiler also
times them in ``float32``).  Softmax subtracts the row maximum.  A row whose every key is masked
(impossible with ``causal`` alone, since the diagonal is always kept, but possible with a ``-inf``
bias) yields a zero output row instead of NaN.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Tiling granularities, coarsest first.
MODES: tuple[str, ...] = ("batch", "head", "row")


def tile_extent(mode: str, size: int, shape: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """Batches, heads and query rows covered by one (full) tile of ``mode`` at ``size``.

    ``shape`` is ``(B, L, H, d)``; ``size`` is clamped to the tiled dimension.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if int(size) < 1:
        raise ValueError(f"tile size must be a positive integer, got {size}")
    b, seq, h, _ = shape
    if mode == "batch":
        return min(size, b), h, seq
    if mode == "head":
        return 1, min(size, h), seq
    return 1, 1, min(size, seq)


def tile_logits(mode: str, size: int, shape: tuple[int, int, int, int]) -> int:
    """Number of logits one tile holds (``S`` of one tile; ``P`` has as many)."""
    nb, nh, nr = tile_extent(mode, size, shape)
    return nb * nh * nr * shape[1]


def iter_tiles(mode: str, size: int, shape: tuple[int, int, int, int]) -> Iterator[tuple[slice, slice, slice]]:
    """Yield ``(batch, head, row)`` slices of every tile, in execution order (last tile may be short)."""
    nb, nh, nr = tile_extent(mode, size, shape)
    b, seq, h, _ = shape
    for b0 in range(0, b, nb):
        for h0 in range(0, h, nh):
            for r0 in range(0, seq, nr):
                yield slice(b0, min(b0 + nb, b)), slice(h0, min(h0 + nh, h)), slice(r0, min(r0 + nr, seq))


def _check_qkv(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> None:
    if q.ndim != 4 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k, v must share one (B, L, H, d) shape, got {q.shape}, {k.shape}, {v.shape}")


def _bias_view(bias: np.ndarray | None, shape: tuple[int, int, int, int]) -> np.ndarray | None:
    """``bias`` broadcast (as a view, no copy) to ``(B, H, L, L)``."""
    if bias is None:
        return None
    b, seq, h, _ = shape
    try:
        return np.broadcast_to(np.asarray(bias), (b, h, seq, seq))
    except ValueError:
        raise ValueError(f"bias of shape {np.shape(bias)} does not broadcast to {(b, h, seq, seq)}") from None


def _attend_block(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    bias: np.ndarray | None,
    rows: slice,
    causal: bool,
) -> np.ndarray:
    """Logit, softmax and attend for one block.

    ``q`` is ``(..., R, d)`` (already scaled), ``k`` and ``v`` are ``(..., L, d)``, ``bias`` is
    ``(..., R, L)`` or None; ``rows`` gives the block's query-row indices (for the causal mask).
    Allocates ``S`` and ``P`` of shape ``(..., R, L)`` plus ``(..., R)`` reductions and the output.
    """
    s = np.matmul(q, np.swapaxes(k, -1, -2))  # S: logits
    if bias is not None:
        s += bias
    if causal:
        row_idx = np.arange(rows.start, rows.stop)[:, None]
        s[..., np.arange(k.shape[-2])[None, :] > row_idx] = -np.inf
    m = s.max(axis=-1, keepdims=True)
    m[~np.isfinite(m)] = 0.0  # fully masked row: exp(-inf - 0) = 0, no inf - inf
    p = np.subtract(s, m)  # P: probabilities (unnormalised until the division below)
    del s
    np.exp(p, out=p)
    denom = p.sum(axis=-1, keepdims=True)
    denom[denom == 0] = np.inf  # fully masked row -> zero output
    p /= denom
    return np.matmul(p, v)


def _work_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(np.float32, *arrays)


def attention_baseline(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    bias: np.ndarray | None = None,
    causal: bool = False,
) -> np.ndarray:
    """Unfused attention: full ``(B, H, L, L)`` logits, full softmax, then attend. Returns ``(B, L, H, d)``."""
    _check_qkv(q, k, v)
    dt = _work_dtype(q, k, v)
    shape = q.shape
    bias_v = _bias_view(bias, shape)
    scale = dt.type(1.0 / np.sqrt(shape[3]))
    qh = (q.astype(dt, copy=False) * scale).transpose(0, 2, 1, 3)
    kh = k.astype(dt, copy=False).transpose(0, 2, 1, 3)
    vh = v.astype(dt, copy=False).transpose(0, 2, 1, 3)
    out = np.empty(shape, dtype=dt)
    out.transpose(0, 2, 1, 3)[...] = _attend_block(qh, kh, vh, bias_v, slice(0, shape[1]), causal)
    return out


def flat_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mode: str = "row",
    size: int = 64,
    bias: np.ndarray | None = None,
    causal: bool = False,
) -> np.ndarray:
    """FLAT attention: logit, softmax and attend fused per tile of ``mode`` granularity. ``(B, L, H, d)``."""
    _check_qkv(q, k, v)
    dt = _work_dtype(q, k, v)
    shape = q.shape
    tile_extent(mode, size, shape)  # validates mode and size
    bias_v = _bias_view(bias, shape)
    scale = dt.type(1.0 / np.sqrt(shape[3]))
    qh = q.astype(dt, copy=False).transpose(0, 2, 1, 3)  # (B, H, L, d) views, no copy
    kh = k.astype(dt, copy=False).transpose(0, 2, 1, 3)
    vh = v.astype(dt, copy=False).transpose(0, 2, 1, 3)
    out = np.empty(shape, dtype=dt)
    oh = out.transpose(0, 2, 1, 3)
    for bs, hs, rs in iter_tiles(mode, size, shape):
        bh = tile_index(mode, bs, hs)
        tb = None if bias_v is None else bias_v[bh + (rs,)]
        oh[bh + (rs,)] = _attend_block(qh[bh + (rs,)] * scale, kh[bh], vh[bh], tb, rs, causal)
    return out


def tile_index(mode: str, bs: slice, hs: slice) -> tuple[int | slice, int | slice]:
    """Batch/head index of a tile; a single batch or head is an integer, so row tiles are plain 2-D
    matrices (NumPy's stacked matmul on strided 4-D views is several times slower per call)."""
    if mode == "row":
        return bs.start, hs.start
    if mode == "head":
        return bs.start, hs
    return bs, hs
