"""Table contents shared bit for bit by the golden model, the Vitis C++ and the DSLX kernels.

Every table is an ``int64`` array of raw values with a stated number of fraction bits; kernel specs
pass them to the templates, which render them as constant arrays.  Entries are sampled at the
centre of each index interval, so truncating the index gives a nearest-sample lookup.
"""

from __future__ import annotations

import math

import numpy as np


def exp2_neg_lut(index_bits: int, frac: int) -> np.ndarray:
    """``T[i] = round(2**(-(i + 0.5) / 2**index_bits) * 2**frac)``: 2**-f for f in [0, 1)."""
    i = np.arange(1 << index_bits, dtype=np.float64)
    return np.round(np.exp2(-(i + 0.5) / (1 << index_bits)) * (1 << frac)).astype(np.int64)


def recip_lut(index_bits: int, frac: int) -> np.ndarray:
    """``T[i] = round(2**frac / (1 + (i + 0.5) / 2**index_bits))``: 1/m for m in [1, 2)."""
    i = np.arange(1 << index_bits, dtype=np.float64)
    return np.round((1 << frac) / (1.0 + (i + 0.5) / (1 << index_bits))).astype(np.int64)


def rsqrt_lut(index_bits: int, frac: int) -> np.ndarray:
    """Two halves: ``T[p * 2**k + i] = round(2**frac / sqrt((1 + p) * (1 + (i + 0.5) / 2**k)))``.

    ``p`` is the parity of the exponent: m * 2**(2q + p) has rsqrt = T / 2**frac * 2**-q.
    """
    k = 1 << index_bits
    m = 1.0 + (np.arange(k, dtype=np.float64) + 0.5) / k
    both = np.concatenate([m, 2.0 * m])
    return np.round((1 << frac) / np.sqrt(both)).astype(np.int64)


def quarter_sine_lut(index_bits: int, frac: int) -> np.ndarray:
    """``T[i] = round(sin(pi/2 * i / 2**index_bits) * 2**frac)`` for i in 0..2**index_bits (inclusive)."""
    i = np.arange((1 << index_bits) + 1, dtype=np.float64)
    return np.round(np.sin(0.5 * math.pi * i / (1 << index_bits)) * (1 << frac)).astype(np.int64)


def rope_phase_steps(inv_freq: np.ndarray, phase_bits: int) -> np.ndarray:
    """Per-frequency phase step in turns per position: ``round(inv_freq / (2 pi) * 2**phase_bits)``.

    The angle at position ``pos`` is ``(pos * step) mod 2**phase_bits`` turns / 2**phase_bits: the
    modulo is the natural wrap of an unsigned ``phase_bits`` multiplier.
    """
    steps = np.round(np.asarray(inv_freq, dtype=np.float64) / (2.0 * math.pi) * (1 << phase_bits))
    return steps.astype(np.int64)
