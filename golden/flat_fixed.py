"""Fixed-point FLAT attention of one head (Fused Logit-Attend Tiling, Kao et al.), bit-exact.

:func:`flat_attention` walks the ``L`` query rows in tiles of ``R`` rows; for each tile it computes the
``R x N`` logits with :func:`golden.llama_fixed.qk`, runs the three softmax passes on that ``R x N``
buffer (:func:`~golden.llama_fixed.softmax_max`, :func:`~golden.llama_fixed.softmax_exp`,
:func:`~golden.llama_fixed.softmax_norm`) and attends with :func:`~golden.llama_fixed.av`.  Every op
works row by row, so the result equals the unfused chain (:func:`unfused_attention`: one query row at a
time through qk -> softmax -> av, the ``L x N`` logits materialised) bit for bit.

The hardware kernel (hls/kernels/flat_attention/spec.py) re-streams K and V^T once per tile and keeps only
the tile on chip; :func:`flat_onchip` / :func:`flat_offchip` model its buffer and traffic in bytes, and
:func:`unfused_onchip` / :func:`unfused_offchip` the unfused chain whose ``L x N`` logits, exps and
probabilities go to external memory and back.  :func:`unfused_cycles` times that chain with the
per-kernel models of :mod:`golden.cycles`.  An element of format ``f`` occupies ``ceil(f.width / 8)``
bytes in external memory and ``f.width / 8`` bytes on chip (bit-exact packing in BRAM / flops).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from golden.fixed import Fmt
from golden.llama_fixed import FixedScheme

#: Kernels of the unfused chain, in order (names of :mod:`golden.cycles` functions and kernel specs).
UNFUSED_KERNELS: tuple[str, ...] = ("qk", "softmax_max", "softmax_exp", "softmax_norm", "av")


def _check(q: np.ndarray, k: np.ndarray, v: np.ndarray, rows: int) -> None:
    if q.ndim != 2 or k.ndim != 2 or v.shape != k.shape or q.shape[1] != k.shape[1]:
        raise ValueError(f"q (L, d), k and v (N, d) expected, got {q.shape}, {k.shape}, {v.shape}")
    if rows < 1 or q.shape[0] % rows:
        raise ValueError(f"row tile {rows} must be >= 1 and divide the {q.shape[0]} query rows")


def flat_tile(q_tile: np.ndarray, k: np.ndarray, v: np.ndarray, s: FixedScheme) -> dict[str, np.ndarray]:
    """One FLAT tile: raw ``q_tile`` (R, d), K and V (N, d) -> its on-chip values and output.

    Returns ``logit`` (R, N), ``max`` (R,), ``exp`` (R, N), ``sum`` (R,), ``prob`` (R, N), ``out`` (R, d).
    """
    d = q_tile.shape[-1]
    logit = lf.qk(q_tile, k, d, s)
    mx = lf.softmax_max(logit)
    e, total = lf.softmax_exp(logit, mx, s)
    p = lf.softmax_norm(e, total, s)
    return {"logit": logit, "max": mx, "exp": e, "sum": total, "prob": p, "out": lf.av(p, v, s)}


def flat_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, rows: int, s: FixedScheme) -> np.ndarray:
    """Fixed-point FLAT attention of one head: raw q (L, d), k, v (N, d) -> raw out (L, d) in ``s.act``."""
    _check(q, k, v, rows)
    out = np.empty(q.shape, dtype=np.int64)
    for r0 in range(0, q.shape[0], rows):
        out[r0:r0 + rows] = flat_tile(q[r0:r0 + rows], k, v, s)["out"]
    return out


def unfused_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, s: FixedScheme) -> np.ndarray:
    """The unfused chain, one query row per invocation as the decode kernels run: qk -> max -> exp -> norm -> av
    with the ``L x N`` logits, exps and probabilities materialised in full."""
    _check(q, k, v, 1)
    d = q.shape[1]
    logits = np.stack([lf.qk(row, k, d, s) for row in q])
    mx = np.array([lf.softmax_max(row) for row in logits])
    exps, sums = zip(*(lf.softmax_exp(row, m, s) for row, m in zip(logits, mx, strict=True)), strict=True)
    probs = np.stack([lf.softmax_norm(e, t, s) for e, t in zip(exps, sums, strict=True)])
    return np.stack([lf.av(p, v, s) for p in probs])


# ------------------------------------------------------------------------------- buffer / traffic models


def mem_bytes(fmt: Fmt) -> int:
    """Bytes of one element in external memory (byte containers)."""
    return -(-int(fmt.width) // 8)


def chip_bytes(fmt: Fmt, count: int) -> float:
    """On-chip bytes of ``count`` elements of ``fmt`` (bit-packed)."""
    return count * int(fmt.width) / 8


def flat_onchip(n: int, d: int, rows: int, s: FixedScheme) -> dict[str, float]:
    """On-chip buffer bytes of one FLAT tile: the R x d query tile, the R x N logit, exp and probability
    buffers (three, so that every pass reads one and writes another at one beat per cycle) and the per-row
    max, sum and accumulators (the sum in the exact sum format of softmax_exp, the accumulators in the exact
    q.k / p.v widths)."""
    acc = max(lf.acc_bits(s.act, s.act, d), lf.acc_bits(s.prob, s.act, n))
    sum_w = s.exp.width + max(1, (n - 1).bit_length())
    parts = {
        "q_tile": chip_bytes(s.act, rows * d),
        "logit": chip_bytes(s.logit, rows * n),
        "exp": chip_bytes(s.exp, rows * n),
        "prob": chip_bytes(s.prob, rows * n),
        "row_regs": rows * (s.logit.width + sum_w + acc) / 8,
    }
    return {**parts, "total": sum(parts.values())}


def unfused_onchip(n: int, d: int, s: FixedScheme) -> dict[str, float]:
    """On-chip bytes of the unfused chain: q held beside every key (d) and p beside every V^T row (N), plus
    the per-kernel registers (accumulator, max, sum); the L x N intermediates live off chip."""
    acc = max(lf.acc_bits(s.act, s.act, d), lf.acc_bits(s.prob, s.act, n))
    sum_w = s.exp.width + max(1, (n - 1).bit_length())
    parts = {"q_row": chip_bytes(s.act, d), "p_row": chip_bytes(s.prob, n),
             "row_regs": (s.logit.width + sum_w + acc) / 8}
    return {**parts, "total": sum(parts.values())}


def flat_offchip(l: int, n: int, d: int, rows: int, s: FixedScheme) -> dict[str, int]:
    """External-memory bytes of FLAT: Q read once, K and V^T once per row tile (ceil(l / rows) tiles, the last
    one partial), O written once; no logits."""
    tiles = -(-l // rows)
    parts = {
        "q": l * d * mem_bytes(s.act),
        "k": tiles * n * d * mem_bytes(s.act),
        "v": tiles * n * d * mem_bytes(s.act),
        "out": l * d * mem_bytes(s.act),
        "logit": 0, "exp": 0, "prob": 0,
    }
    return {**parts, "total": sum(parts.values())}


def unfused_offchip(l: int, n: int, d: int, s: FixedScheme) -> dict[str, int]:
    """External-memory bytes of the unfused chain over L query rows: qk reads q and all of K per row and
    writes the logits; softmax_max and softmax_exp each read the logits, softmax_exp writes the exps,
    softmax_norm reads them and writes the probabilities, av reads them and all of V^T per row."""
    parts = {
        "q": l * d * mem_bytes(s.act),
        "k": l * n * d * mem_bytes(s.act),
        "v": l * n * d * mem_bytes(s.act),
        "out": l * d * mem_bytes(s.act),
        "logit": 3 * l * n * mem_bytes(s.logit),  # written by qk, read by max and by exp
        "exp": 2 * l * n * mem_bytes(s.exp),  # written by exp, read by norm
        "prob": 2 * l * n * mem_bytes(s.prob),  # written by norm, read by av
    }
    return {**parts, "total": sum(parts.values())}


def unfused_cycles(l: int, n: int, d: int, lanes: Mapping[str, int], depths: Mapping[str, int] | int
                   ) -> dict[str, int]:
    """Cycles of the unfused chain over L query rows: each kernel streams its L invocations back to back
    (II = 1 across invocations, so a kernel costs L x its per-row beats + its depth), one kernel after the
    other (the L x N intermediate must be complete in memory before the next pass starts).

    ``lanes`` maps each kernel of :data:`UNFUSED_KERNELS` to its lanes; ``depths`` gives the pipeline depth
    per kernel (or one for all).  Returns cycles per kernel and ``total``.
    """
    out: dict[str, int] = {}
    for name in UNFUSED_KERNELS:
        depth = depths if isinstance(depths, int) else int(depths[name])
        p = int(lanes[name])
        t = cycles.qk(n, d, p, depth) if name == "qk" else cycles.av(n, d, p, depth) if name == "av" \
            else getattr(cycles, name)(n, p, depth)
        out[name] = l * t.busy + depth
    out["total"] = sum(out.values())
    return out
