"""Fixed-point core and ops against independent references (exact rationals, float64 formulas)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from golden import llama
from golden import llama_fixed as lf
from golden.config import LlamaConfig
from golden.fixed import Fmt, msb_index, requant
from golden.rope import inv_freq
from golden.weights import random_weights

S = lf.FixedScheme()


def _ref_round(v: Fraction, rnd: str) -> int:
    """Round an exact rational to an integer with an ap_fixed quantisation mode."""
    fl = math.floor(v)
    rem = v - fl
    if rnd == "TRN":
        return fl
    if rnd == "RND":
        return fl + (1 if rem >= Fraction(1, 2) else 0)
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2):
        return fl + 1
    return fl


def _ref_assign(v: Fraction, fmt: Fmt) -> int:
    q = _ref_round(v * (1 << fmt.frac), fmt.rnd)
    if fmt.ovf == "SAT":
        return max(fmt.raw_min, min(fmt.raw_max, q))
    q &= (1 << fmt.width) - 1
    if fmt.signed and q >= 1 << (fmt.width - 1):
        q -= 1 << fmt.width
    return q


@pytest.mark.parametrize("rnd", ["TRN", "RND", "RND_CONV"])
@pytest.mark.parametrize("ovf", ["WRAP", "SAT"])
@pytest.mark.parametrize("signed", [True, False])
def test_requant_matches_exact_rational_rounding(rnd: str, ovf: str, signed: bool) -> None:
    rng = np.random.default_rng(7)
    fmt = Fmt(9, 3, signed, rnd, ovf)
    raw = rng.integers(-(1 << 14), 1 << 14, size=400)
    raw[:8] = [4, 12, -4, -12, 20, -20, 0, 1]  # exact ties at frac_in = 6 -> frac 3
    for frac_in in (-2, 0, 3, 6, 11):
        got = requant(raw, frac_in, fmt)
        want = [_ref_assign(Fraction(int(r), 1) / Fraction(2) ** frac_in, fmt) for r in raw]
        assert got.tolist() == want, (frac_in, rnd, ovf)


def test_requant_with_per_element_shift() -> None:
    fmt = Fmt(18, 17, False, "RND_CONV", "SAT")
    raw = np.array([1 << 20, 3 << 18, 5, 7, 1 << 30])
    frac = np.array([20, 22, 5, 20, 40])
    want = [_ref_assign(Fraction(int(r)) / Fraction(2) ** int(f), fmt) for r, f in zip(raw, frac, strict=True)]
    assert requant(raw, frac, fmt).tolist() == want


@pytest.mark.parametrize("rnd", ["TRN", "RND", "RND_CONV"])
def test_quantize_matches_exact_rational(rnd: str) -> None:
    fmt = Fmt(12, 5, True, rnd, "SAT")
    xs = np.concatenate([np.random.default_rng(3).normal(0, 30, 300), [0.015625, -0.015625, 0.046875, 1e9]])
    want = [_ref_assign(Fraction(float(x)), fmt) for x in xs]
    assert fmt.quantize(xs).tolist() == want
    with pytest.raises(ValueError):
        fmt.quantize([np.nan])


def test_cpp_type_and_msb() -> None:
    assert Fmt(16, 10).cpp_type() == "ap_fixed<16,6,AP_RND_CONV,AP_SAT>"
    assert Fmt(18, 17, False, "TRN", "WRAP").cpp_type() == "ap_ufixed<18,1,AP_TRN,AP_WRAP>"
    vals = [1, 2, 3, 255, 256, (1 << 45) + 3]
    assert msb_index(np.array(vals)).tolist() == [v.bit_length() - 1 for v in vals]


def _rand_act(rng: np.random.Generator, shape: tuple[int, ...], std: float = 1.0) -> np.ndarray:
    return S.act.quantize(rng.normal(0, std, shape))


def test_gemv_qk_av_round_once() -> None:
    """Exact accumulation then one rounding: within half an output LSB of the float64 result."""
    rng = np.random.default_rng(0)
    w = S.weight.quantize(rng.normal(0, 0.05, (24, 256)))
    x = _rand_act(rng, (256,))
    ref = S.weight.to_float(w) @ S.act.to_float(x)
    assert np.abs(S.act.to_float(lf.gemv(w, x, S)) - ref).max() <= S.act.lsb / 2
    keys, q = _rand_act(rng, (40, 64)), _rand_act(rng, (64,))
    ref = S.act.to_float(keys) @ S.act.to_float(q) / 8.0
    assert np.abs(S.logit.to_float(lf.qk(q, keys, 64, S)) - ref).max() <= S.logit.lsb / 2
    p = S.prob.quantize(rng.dirichlet(np.ones(40)))
    v = _rand_act(rng, (40, 64))
    ref = S.prob.to_float(p) @ S.act.to_float(v)
    assert np.abs(S.act.to_float(lf.av(p, v, S)) - ref).max() <= S.act.lsb / 2


def test_softmax_passes_against_float() -> None:
    rng = np.random.default_rng(1)
    logits = S.logit.quantize(rng.normal(0, 3, (8, 128)))
    mx = lf.softmax_max(logits)
    lf_ = S.logit.to_float(logits)
    assert np.array_equal(S.logit.to_float(mx), lf_.max(axis=-1))
    e, total = lf.softmax_exp(logits, mx, S)
    ref_e = np.exp(lf_ - lf_.max(axis=-1, keepdims=True))
    # table step 2^-11 in the exponent, midpoint sampled: relative error <= ~2^-12, plus half an LSB
    assert np.all(np.abs(S.exp.to_float(e) - ref_e) <= ref_e * 2.0 ** -11 + S.exp.lsb)
    assert np.array_equal(total, e.sum(axis=-1))
    p = S.prob.to_float(lf.softmax_norm(e, total, S))
    ref_p = ref_e / ref_e.sum(axis=-1, keepdims=True)
    assert np.abs(p - ref_p).max() < 2e-3 * ref_p.max() + 2 * S.prob.lsb
    assert np.array_equal(p.argmax(axis=-1), ref_p.argmax(axis=-1))


def test_rmsnorm_against_float() -> None:
    rng = np.random.default_rng(2)
    for std in (0.05, 1.0, 6.0):
        x = _rand_act(rng, (3, 512), std)
        g = S.norm_weight.quantize(1 + rng.normal(0, 0.1, 512))
        ref = llama.rmsnorm(S.act.to_float(x), S.norm_weight.to_float(g), 1e-5)
        got = S.act.to_float(lf.rmsnorm(x, g, 1e-5, S))
        assert np.abs(got - ref).max() <= 2e-3 * np.abs(ref).max() + 2 * S.act.lsb, std


def test_rope_against_float() -> None:
    cfg = LlamaConfig()
    steps = S.rope_steps(inv_freq(cfg))
    rng = np.random.default_rng(3)
    x = _rand_act(rng, (4, 64), 2.0)
    for pos in (0, 1, 77, 8191, 100_000):
        c, s = lf.rope_cos_sin(pos, steps, S)
        ang = pos * inv_freq(cfg)
        # angle on a 2^12-point grid per turn: |err| <= pi/4096 + table rounding
        assert np.abs(S.trig.to_float(c) - np.cos(ang)).max() < 1e-3
        assert np.abs(S.trig.to_float(s) - np.sin(ang)).max() < 1e-3
        fc, fs = np.concatenate([np.cos(ang)] * 2), np.concatenate([np.sin(ang)] * 2)
        ref = llama.rope_q(S.act.to_float(x), fc, fs)
        got = S.act.to_float(lf.rope(x, pos, steps, S))
        assert np.abs(got - ref).max() < 2e-3 * S.act.to_float(np.abs(x).max()) + S.act.lsb


def test_fixed_decode_tracks_float_decode() -> None:
    """The fixed-point chain stays close to float64 over several decode steps (small config)."""
    cfg = LlamaConfig(hidden_size=256, num_attention_heads=8, num_key_value_heads=2, head_dim=32)
    w = random_weights(cfg, seed=4)
    layer = lf.FixedLayer.quantize(w, S)
    rng = np.random.default_rng(5)
    xs = rng.normal(0, 1, (12, cfg.hidden_size))
    cache, fcache = llama.KVCache.empty(cfg, 12), lf.FixedKVCache.empty(cfg, 12)
    for t, row in enumerate(xs):
        tr: dict = {}
        ftr: dict = {}
        ref, cache = llama.decode_step(cfg, w, row, 40 + t, cache, trace=tr)
        got = S.act.to_float(lf.decode_step(cfg, layer, S.act.quantize(row), 40 + t, fcache, S, trace=ftr))
        assert np.abs(got - ref).max() < 0.02 * np.abs(ref).max() + 8 * S.act.lsb
        assert np.array_equal(ftr["softmax_norm"].argmax(-1), tr["softmax_norm"].argmax(-1))
