"""Bit-accurate fixed-point form of the decode attention ops, on raw integers.

Each function states its integer algorithm; the Vitis C++ and DSLX kernels implement the same steps
and must match bit for bit.  Products and sums are exact (the accumulators are sized so they cannot
overflow, see :func:`acc_bits`); the only rounding points are the :func:`golden.fixed.requant` calls.
Formats and table sizes come from a :class:`FixedScheme`; docs/FIXED_POINT.md explains the choices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from functools import cached_property

import numpy as np

from golden.config import LlamaConfig
from golden.fixed import Fmt, bits_for, msb_index, requant
from golden.luts import exp2_neg_lut, quarter_sine_lut, recip_lut, rope_phase_steps, rsqrt_lut
from golden.rope import inv_freq
from golden.weights import LayerWeights

LOG2E = 1.0 / math.log(2.0)


@dataclass(frozen=True)
class FixedScheme:
    """Formats of every tensor and the sizes of every table (the config's ``[formats]``/``[luts]``)."""

    act: Fmt = Fmt(16, 10)  # x, normalised x, q, k, v, roped q/k, attention out, o_proj out
    weight: Fmt = Fmt(16, 14)  # projection weights
    norm_weight: Fmt = Fmt(16, 12)  # RMSNorm gamma
    ms: Fmt = Fmt(40, 24, signed=False)  # mean square + eps (RMSNorm)
    inv_rms: Fmt = Fmt(24, 14, signed=False)  # 1 / sqrt(ms)
    trig: Fmt = Fmt(18, 16)  # RoPE cos / sin
    logit: Fmt = Fmt(24, 12)  # scaled q.k
    exp: Fmt = Fmt(18, 17, signed=False)  # exp(x - max), in (0, 1]
    prob: Fmt = Fmt(18, 17, signed=False)  # normalised probabilities
    qk_scale_frac: int = 16  # fraction bits of the 1/sqrt(head_dim) constant
    log2e_frac: int = 16  # fraction bits of the log2(e) constant
    invn_frac: int = 30  # fraction bits of the 1/N constant (RMSNorm mean)
    exp_lut_bits: int = 10  # index bits of the 2**-f table
    exp_lut_frac: int = 20
    recip_lut_bits: int = 10
    recip_lut_frac: int = 20
    rsqrt_lut_bits: int = 10
    rsqrt_lut_frac: int = 20
    sine_lut_bits: int = 10  # quarter-wave table: 2**bits + 1 entries
    phase_bits: int = 32  # RoPE phase accumulator width (turns)

    @classmethod
    def tensor_names(cls) -> tuple[str, ...]:
        """Names of the per-tensor formats (the fields holding a :class:`Fmt`)."""
        return tuple(f.name for f in fields(cls) if f.type in ("Fmt", Fmt))

    def with_formats(self, **fmts: Fmt) -> FixedScheme:
        return replace(self, **fmts)

    # ---- tables and constants (derived; one source of truth) ----
    @cached_property
    def exp_lut(self) -> np.ndarray:
        return exp2_neg_lut(self.exp_lut_bits, self.exp_lut_frac)

    @cached_property
    def recip_lut(self) -> np.ndarray:
        return recip_lut(self.recip_lut_bits, self.recip_lut_frac)

    @cached_property
    def rsqrt_lut(self) -> np.ndarray:
        return rsqrt_lut(self.rsqrt_lut_bits, self.rsqrt_lut_frac)

    @cached_property
    def sine_lut(self) -> np.ndarray:
        return quarter_sine_lut(self.sine_lut_bits, self.trig.frac)

    @property
    def log2e_raw(self) -> int:
        return round(LOG2E * (1 << self.log2e_frac))

    def qk_scale_raw(self, head_dim: int) -> int:
        return round((1 << self.qk_scale_frac) / math.sqrt(head_dim))

    def invn_raw(self, n: int) -> int:
        return round((1 << self.invn_frac) / n)

    def eps_raw(self, eps: float) -> int:
        return int(self.ms.quantize(eps))

    @property
    def exp_shift_max(self) -> int:
        """Beyond this integer part of -x*log2(e), exp rounds to 0 in every mode (see softmax_exp)."""
        return self.exp.frac + 2

    def rope_steps(self, inv_freq: np.ndarray) -> np.ndarray:
        return rope_phase_steps(inv_freq, self.phase_bits)


def acc_bits(a: Fmt, b: Fmt, terms: int) -> int:
    """Width of a signed accumulator that holds any sum of ``terms`` exact products a*b."""
    lo = min(a.raw_min * b.raw_max, a.raw_max * b.raw_min, a.raw_min * b.raw_min, a.raw_max * b.raw_max)
    hi = max(a.raw_min * b.raw_max, a.raw_max * b.raw_min, a.raw_min * b.raw_min, a.raw_max * b.raw_max)
    return bits_for(lo * terms, hi * terms)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer dot over the last axis (int64; callers keep the sums below 2**62)."""
    return np.einsum("...i,...i->...", a.astype(np.int64), b.astype(np.int64), dtype=np.int64)


# ---------------------------------------------------------------- RMSNorm
def rmsnorm(x: np.ndarray, gamma: np.ndarray, eps: float, s: FixedScheme) -> np.ndarray:
    """y = requant(requant(x * r, act) * gamma, act), r = rsqrt(ms), ms = requant(sum(x^2) / N) + eps.

    * ``sumsq = sum x_i^2`` exact (frac 2*act.frac);
    * ``ms = requant(sumsq * INVN, 2*act.frac + invn_frac, ms) + EPS`` with ``INVN = round(2**invn_frac/N)``,
      ``EPS = ms.quantize(eps)``; ms > 0 (the sum saturates at ms.raw_max);
    * ``r = rsqrt_lookup(ms)``, see :func:`rsqrt_lookup`;
    * ``t_i = requant(x_i * r, act.frac + inv_rms.frac, act)``;
      ``y_i = requant(t_i * g_i, act.frac + norm_weight.frac, act)``.
    """
    n = x.shape[-1]
    sumsq = _dot(x, x)
    ms = requant(sumsq * s.invn_raw(n), 2 * s.act.frac + s.invn_frac, s.ms)
    ms = np.minimum(ms + s.eps_raw(eps), s.ms.raw_max)
    r = rsqrt_lookup(ms, s)
    t = requant(x * r[..., None], s.act.frac + s.inv_rms.frac, s.act)
    return requant(t * gamma, s.act.frac + s.norm_weight.frac, s.act)


def rsqrt_lookup(ms: np.ndarray, s: FixedScheme) -> np.ndarray:
    """rsqrt of a positive ms raw value (frac ms.frac) into inv_rms.

    ``p = msb(ms)``, exponent ``e = p - ms.frac = 2q + par`` (q = floor(e/2), par in {0,1});
    ``idx`` = the ``rsqrt_lut_bits`` bits below the leading one (zero-filled when p is small);
    ``r = requant(RSQRT[par * 2**k + idx], rsqrt_lut_frac + q, inv_rms)``.
    """
    ms = np.asarray(ms, dtype=np.int64)
    k = s.rsqrt_lut_bits
    p = msb_index(ms)
    idx = _mantissa_index(ms, p, k)
    e = p - s.ms.frac
    q = np.floor_divide(e, 2)
    par = e - 2 * q
    return requant(s.rsqrt_lut[par * (1 << k) + idx], s.rsqrt_lut_frac + q, s.inv_rms)


def _mantissa_index(v: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """The k bits below the leading one of v (at bit p), zero-filled on the right when p < k."""
    sh = p - k
    aligned = np.where(sh >= 0, np.right_shift(v, np.maximum(sh, 0)), np.left_shift(v, np.maximum(-sh, 0)))
    return np.bitwise_and(aligned, (1 << k) - 1)


# ---------------------------------------------------------------- GEMV (q/k/v/o projections)
def gemv(w: np.ndarray, x: np.ndarray, s: FixedScheme, out: Fmt | None = None) -> np.ndarray:
    """y_o = requant(sum_i W[o, i] * x_i, weight.frac + act.frac, out=act)."""
    acc = _dot(w, x[..., None, :])
    return requant(acc, s.weight.frac + s.act.frac, out or s.act)


# ---------------------------------------------------------------- RoPE
def rope_cos_sin(pos: int | np.ndarray, steps: np.ndarray, s: FixedScheme) -> tuple[np.ndarray, np.ndarray]:
    """cos / sin raw (trig format) at ``pos`` for each frequency step.

    ``phase = (pos * STEP_i) mod 2**phase_bits``; with ``k = sine_lut_bits`` the angle index is
    ``a = ((phase + 2**(phase_bits-k-3)) >> (phase_bits-k-2)) mod 2**(k+2)`` (round to nearest of 4*2**k
    points per turn); quadrant ``a >> k``, offset ``o = a mod 2**k``; sin from the quarter table:
    q0: T[o], q1: T[2**k - o], q2: -T[o], q3: -T[2**k - o]; cos(a) = sin(a + 2**k).
    """
    k, pb = s.sine_lut_bits, s.phase_bits
    pos = np.asarray(pos, dtype=np.int64)
    phase = np.bitwise_and(pos[..., None] * steps, (1 << pb) - 1)
    drop = pb - k - 2
    a = np.bitwise_and(np.right_shift(phase + (1 << (drop - 1)), drop), (1 << (k + 2)) - 1)
    return _quarter_sin(np.bitwise_and(a + (1 << k), (1 << (k + 2)) - 1), s), _quarter_sin(a, s)


def _quarter_sin(a: np.ndarray, s: FixedScheme) -> np.ndarray:
    k = s.sine_lut_bits
    quad = np.right_shift(a, k)
    off = np.bitwise_and(a, (1 << k) - 1)
    mag = np.where(np.bitwise_and(quad, 1) == 1, s.sine_lut[(1 << k) - off], s.sine_lut[off])
    return np.where(quad >= 2, -mag, mag)


def rope(x: np.ndarray, pos: int | np.ndarray, steps: np.ndarray, s: FixedScheme) -> np.ndarray:
    """HF rotate-half RoPE on the last axis (pairs i, i + d/2):

    ``y1 = requant(x1*c - x2*s, act.frac + trig.frac, act)``, ``y2 = requant(x2*c + x1*s, ...)``.
    ``pos`` broadcasts against the leading axes of x (one position per vector).
    """
    half = x.shape[-1] // 2
    c, sn = rope_cos_sin(pos, steps, s)
    while c.ndim < x.ndim:
        c, sn = c[..., None, :], sn[..., None, :]
    x1, x2 = x[..., :half].astype(np.int64), x[..., half:].astype(np.int64)
    fr = s.act.frac + s.trig.frac
    y1 = requant(x1 * c - x2 * sn, fr, s.act)
    y2 = requant(x2 * c + x1 * sn, fr, s.act)
    return np.concatenate([y1, y2], axis=-1)


# ---------------------------------------------------------------- attention
def qk(q: np.ndarray, keys: np.ndarray, head_dim: int, s: FixedScheme) -> np.ndarray:
    """logit_j = requant(sum_i q_i * K[j, i] * SCALE, 2*act.frac + qk_scale_frac, logit).

    ``q``: (..., d); ``keys``: (..., N, d) -> (..., N).
    """
    acc = _dot(keys, q[..., None, :])
    return requant(acc * s.qk_scale_raw(head_dim), 2 * s.act.frac + s.qk_scale_frac, s.logit)


def softmax_max(logits: np.ndarray) -> np.ndarray:
    """Pass 1: the maximum logit (exact)."""
    return np.max(logits, axis=-1)


def exp_neg(x: np.ndarray, s: FixedScheme) -> np.ndarray:
    """exp(x) for raw x <= 0 (logit frac) into the exp format, via 2**-(n + f):

    ``t = -x * LOG2E`` (frac logit.frac + log2e_frac = F); ``n = t >> F``; ``idx = (t mod 2**F) >> (F - k)``;
    ``exp = requant(EXP2[idx], exp_lut_frac + n, exp)`` for ``n <= exp_shift_max``, else 0
    (the exact value is then below half an LSB, which every rounding mode maps to 0).
    """
    f_t = s.logit.frac + s.log2e_frac
    t = -np.asarray(x, dtype=np.int64) * s.log2e_raw
    n = np.right_shift(t, f_t)
    idx = np.right_shift(np.bitwise_and(t, (1 << f_t) - 1), f_t - s.exp_lut_bits)
    nn = np.minimum(n, s.exp_shift_max)
    e = requant(s.exp_lut[idx], s.exp_lut_frac + nn, s.exp)
    return np.where(n > s.exp_shift_max, 0, e)


def softmax_exp(logits: np.ndarray, mx: np.ndarray, s: FixedScheme) -> tuple[np.ndarray, np.ndarray]:
    """Pass 2: e_j = exp_neg(logit_j - max); sum = sum_j e_j (exact, frac exp.frac)."""
    e = exp_neg(logits - np.asarray(mx)[..., None], s)
    return e, e.sum(axis=-1)


def softmax_norm(e: np.ndarray, total: np.ndarray, s: FixedScheme) -> np.ndarray:
    """Pass 3: p_j = e_j / sum via the reciprocal table:

    ``P = msb(sum)``; ``idx`` = the recip_lut_bits bits below the leading one; ``r = RECIP[idx]``;
    ``p_j = requant(e_j * r, recip_lut_frac + P, prob)`` (sum = m * 2**P raw, 1/m ~ r / 2**frac).
    """
    total = np.asarray(total, dtype=np.int64)
    p_msb = msb_index(total)
    r = s.recip_lut[_mantissa_index(total, p_msb, s.recip_lut_bits)]
    return requant(e * r[..., None], s.recip_lut_frac + p_msb[..., None], s.prob)


def av(p: np.ndarray, values: np.ndarray, s: FixedScheme) -> np.ndarray:
    """out_i = requant(sum_j p_j * V[j, i], prob.frac + act.frac, act); p (..., N), V (..., N, d)."""
    acc = np.einsum("...j,...ji->...i", p.astype(np.int64), values.astype(np.int64), dtype=np.int64)
    return requant(acc, s.prob.frac + s.act.frac, s.act)


@dataclass(frozen=True)
class FixedLayer:
    """One layer's weights quantised to the scheme (raw ints, HF orientation)."""

    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    gamma: np.ndarray

    @classmethod
    def quantize(cls, weights: LayerWeights, s: FixedScheme) -> FixedLayer:
        q = s.weight.quantize
        return cls(q(weights.wq), q(weights.wk), q(weights.wv), q(weights.wo), s.norm_weight.quantize(weights.norm))


@dataclass
class FixedKVCache:
    """Raw K (roped) and V per KV head: (n_kv, capacity, d)."""

    k: np.ndarray
    v: np.ndarray
    length: int = 0

    @classmethod
    def empty(cls, cfg: LlamaConfig, capacity: int) -> FixedKVCache:
        shape = (cfg.num_key_value_heads, capacity, cfg.head_dim)
        return cls(np.zeros(shape, np.int64), np.zeros(shape, np.int64), 0)

    def store(self, k: np.ndarray, v: np.ndarray) -> None:
        """mem_store_kv: append one token's (n_kv, d) keys and values."""
        if self.length >= self.k.shape[1]:
            raise ValueError(f"KV cache full ({self.k.shape[1]} tokens)")
        self.k[:, self.length], self.v[:, self.length] = k, v
        self.length += 1

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """mem_load_kv: the valid (n_kv, length, d) keys and values."""
        return self.k[:, : self.length], self.v[:, : self.length]


def decode_step(cfg: LlamaConfig, layer: FixedLayer, x: np.ndarray, pos: int, cache: FixedKVCache,
                s: FixedScheme, trace: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The fixed-point decode step: raw x (hidden,) in act -> raw o_proj output (hidden,) in act.

    Same chain and trace keys as :func:`golden.llama.decode_step` (values raw; see TRACE_KEYS there).
    """
    nh, nk, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    steps = s.rope_steps(inv_freq(cfg))
    h = rmsnorm(x, layer.gamma, cfg.rms_norm_eps, s)
    q, k, v = gemv(layer.wq, h, s), gemv(layer.wk, h, s), gemv(layer.wv, h, s)
    qr = rope(q.reshape(nh, d), pos, steps, s)
    kr = rope(k.reshape(nk, d), pos, steps, s)
    vr = v.reshape(nk, d)
    cache.store(kr, vr)
    keys, values = cache.load()
    kv_of = np.array([cfg.kv_head_of(hh) for hh in range(nh)])
    scores = qk(qr, keys[kv_of], d, s)
    mx = softmax_max(scores)
    e, total = softmax_exp(scores, mx, s)
    p = softmax_norm(e, total, s)
    heads = av(p, values[kv_of], s)
    out = gemv(layer.wo, heads.reshape(nh * d), s)
    if trace is not None:
        c, sn = rope_cos_sin(pos, steps, s)
        trace.update({
            "x": x, "cos": c, "sin": sn, "rmsnorm": h, "q_proj": q, "k_proj": k, "v_proj": v,
            "rope_q": qr, "rope_k": kr, "mem_store_kv.k": kr.copy(), "mem_store_kv.v": vr.copy(),
            "mem_load_kv.k": keys.copy(), "mem_load_kv.v": values.copy(), "qk": scores, "softmax_max": mx,
            "softmax_exp": e, "softmax_exp.sum": total, "softmax_norm": p, "av": heads, "o_proj": out,
        })
    return out
