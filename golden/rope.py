"""Rotary position embedding (RoPE) in float64: inverse frequencies with llama3 scaling, cos/sin, rotation.

Convention is HF's ``rotate_half``: element ``i`` pairs with ``i + head_dim/2`` and the cos/sin vectors
are ``concat(freqs, freqs)``.
"""

from __future__ import annotations

import math

import numpy as np

from golden.config import LlamaConfig, RopeScaling


def base_inv_freq(head_dim: int, theta: float) -> np.ndarray:
    """Unscaled inverse frequencies ``theta ** (-2i / head_dim)`` for i in [0, head_dim/2), float64."""
    exponents = np.arange(0, head_dim, 2, dtype=np.float64) / head_dim
    return 1.0 / (theta**exponents)


def llama3_scale(inv_freq: np.ndarray, scaling: RopeScaling) -> np.ndarray:
    """Apply llama3 frequency scaling exactly as HF ``_compute_llama3_parameters``.

    Wavelengths above ``original_max / low_freq_factor`` are divided by ``factor``; those below
    ``original_max / high_freq_factor`` are kept; the band in between (bounds included) is interpolated.
    """
    factor = float(scaling.factor)
    low, high = float(scaling.low_freq_factor), float(scaling.high_freq_factor)
    old_ctx = float(scaling.original_max_position_embeddings)
    low_freq_wavelen = old_ctx / low
    high_freq_wavelen = old_ctx / high
    wavelen = 2.0 * math.pi / inv_freq
    out = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    if high != low:
        smooth = (old_ctx / wavelen - low) / (high - low)
        smoothed = (1.0 - smooth) * out / factor + smooth * out
        medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        out = np.where(medium, smoothed, out)
    return out


def inv_freq(cfg: LlamaConfig) -> np.ndarray:
    """The config's inverse frequencies (head_dim/2,), llama3-scaled when ``cfg.rope_scaling`` is set."""
    freqs = base_inv_freq(cfg.head_dim, cfg.rope_theta)
    if cfg.rope_scaling is not None:
        freqs = llama3_scale(freqs, cfg.rope_scaling)
    return freqs


def cos_sin(cfg: LlamaConfig, pos: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of the rotation angles at position(s) ``pos``: shape (..., head_dim), float64."""
    angles = np.multiply.outer(np.asarray(pos, dtype=np.float64), inv_freq(cfg))
    emb = np.concatenate([angles, angles], axis=-1)
    return np.cos(emb), np.sin(emb)


def rotate_half(x: np.ndarray) -> np.ndarray:
    """HF ``rotate_half``: (x1, x2) -> (-x2, x1) over the last axis."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate ``x`` (..., head_dim) by the angles whose cos/sin are given (broadcast over leading axes)."""
    return x * cos + rotate_half(x) * sin
