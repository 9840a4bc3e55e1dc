"""FLAT golden model: every granularity and tile size equals an independent per-head float64 reference."""

from __future__ import annotations

import numpy as np
import pytest

from golden.flat import MODES, attention_baseline, flat_attention, iter_tiles, tile_extent, tile_logits

B, L, H, D = 2, 13, 3, 8
TOL = 1e-10


def _reference(q, k, v, bias=None, causal=False):
    """Textbook attention, one (b, h) at a time, written independently of golden.flat."""
    b_, seq, h_, d = q.shape
    full_bias = np.zeros((b_, h_, seq, seq)) if bias is None else np.broadcast_to(bias, (b_, h_, seq, seq))
    out = np.empty_like(q)
    for b in range(b_):
        for h in range(h_):
            s = q[b, :, h, :] @ k[b, :, h, :].T / np.sqrt(d) + full_bias[b, h]
            if causal:
                s = np.where(np.tril(np.ones((seq, seq), dtype=bool)), s, -np.inf)
            e = np.exp(s - s.max(axis=1, keepdims=True))
            out[b, :, h, :] = (e / e.sum(axis=1, keepdims=True)) @ v[b, :, h, :]
    return out


@pytest.fixture(scope="module")
def qkv():
    rng = np.random.default_rng(1234)
    return tuple(rng.standard_normal((B, L, H, D)) * 2.0 for _ in range(3))


@pytest.fixture(scope="module")
def bias():
    return np.random.default_rng(7).standard_normal((1, H, L, L)) * 3.0


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("use_bias", [False, True])
def test_baseline_matches_reference(qkv, bias, use_bias, causal):
    q, k, v = qkv
    b = bias if use_bias else None
    got = attention_baseline(q, k, v, bias=b, causal=causal)
    assert got.dtype == np.float64 and got.shape == q.shape
    np.testing.assert_allclose(got, _reference(q, k, v, b, causal), rtol=0, atol=TOL)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize(("mode", "size"), [
    ("batch", 1), ("batch", 2), ("batch", 5),  # 2 divides B; 5 > B
    ("head", 1), ("head", 2), ("head", 3),  # 2 does not divide H = 3
    ("row", 1), ("row", 4), ("row", 5), ("row", 13), ("row", 64),  # 4 and 5 do not divide L = 13
])
def test_flat_matches_reference(qkv, bias, mode, size, use_bias, causal):
    q, k, v = qkv
    b = bias if use_bias else None
    got = flat_attention(q, k, v, mode=mode, size=size, bias=b, causal=causal)
    np.testing.assert_allclose(got, _reference(q, k, v, b, causal), rtol=0, atol=TOL)


def test_large_logits_stay_finite(qkv):
    """Max subtraction: logits around 1e3 would overflow exp without it."""
    q, k, v = qkv
    got = flat_attention(q * 30.0, k * 30.0, v, mode="row", size=4, causal=True)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, _reference(q * 30.0, k * 30.0, v, causal=True), rtol=0, atol=TOL)


def test_fully_masked_row_is_zero_not_nan(qkv):
    q, k, v = qkv
    bias = np.zeros((1, 1, L, L))
    bias[..., 5, :] = -np.inf  # row 5 sees no key at all
    for out in (attention_baseline(q, k, v, bias=bias, causal=True),
                flat_attention(q, k, v, mode="row", size=4, bias=bias, causal=True)):
        assert np.isfinite(out).all()
        assert np.all(out[:, 5] == 0.0)
        np.testing.assert_allclose(np.delete(out, 5, axis=1),
                                   np.delete(_reference(q, k, v, causal=True), 5, axis=1), rtol=0, atol=TOL)


def test_float32_inputs_compute_in_float32(qkv):
    q, k, v = (x.astype(np.float32) for x in qkv)
    got = flat_attention(q, k, v, mode="row", size=4)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(*(x.astype(np.float64) for x in qkv)), atol=1e-5)


def test_tiles_cover_every_output_once():
    shape = (3, 10, 4, 2)
    for mode in MODES:
        for size in (1, 3, 4, 64):
            hits = np.zeros((shape[0], shape[2], shape[1]), dtype=int)
            for bs, hs, rs in iter_tiles(mode, size, shape):
                hits[bs, hs, rs] += 1
            assert (hits == 1).all(), (mode, size)


def test_row_tile_holds_at_most_size_times_length_logits():
    shape = (2, 1000, 16, 64)
    assert tile_extent("row", 64, shape) == (1, 1, 64)
    assert tile_logits("row", 64, shape) == 64 * 1000
    assert tile_logits("head", 4, shape) == 4 * 1000 * 1000
    assert tile_logits("batch", 1, shape) == 16 * 1000 * 1000


@pytest.mark.parametrize(("mode", "size"), [("col", 4), ("row", 0)])
def test_bad_mode_or_size_raises(qkv, mode, size):
    q, k, v = qkv
    with pytest.raises(ValueError):
        flat_attention(q, k, v, mode=mode, size=size)


def test_bad_bias_shape_raises(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="broadcast"):
        attention_baseline(q, k, v, bias=np.zeros((L + 1, L)))
