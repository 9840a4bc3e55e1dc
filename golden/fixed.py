"""Bit-accurate fixed-point arithmetic with Vitis ``ap_fixed`` semantics on raw integers.

A value in format ``Fmt(width, frac, signed)`` is held as its raw two's-complement integer ``raw``; its
real value is ``raw * 2**-frac``.  :func:`requant` is the one conversion: it takes an *exact* value
``raw_in * 2**-frac_in`` and assigns it to a format exactly as an ``ap_fixed`` assignment does:

* quantisation (applied first): ``TRN`` floor (AP_TRN), ``RND`` round half towards +inf (AP_RND),
  ``RND_CONV`` round half to even (AP_RND_CONV);
* overflow: ``WRAP`` keeps the low ``width`` bits (AP_WRAP), ``SAT`` clamps to the range (AP_SAT).

Because requant is a function of the exact value, any hardware that rounds the same exact value the
same way matches it bit for bit; C++ realises it with ``ap_fixed`` assignment, DSLX with shifts.
Raw arrays are numpy ``int64``; every intermediate in the kernels is kept below 62 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Rounding = Literal["TRN", "RND", "RND_CONV"]
Overflow = Literal["WRAP", "SAT"]
ROUNDINGS: tuple[str, ...] = ("TRN", "RND", "RND_CONV")
OVERFLOWS: tuple[str, ...] = ("WRAP", "SAT")
#: Widest raw value the golden model handles in int64 without risk.
MAX_RAW_BITS = 62


@dataclass(frozen=True)
class Fmt:
    """A fixed-point format: ``width`` total bits, ``frac`` fraction bits, signedness, modes."""

    width: int
    frac: int
    signed: bool = True
    rnd: Rounding = "RND_CONV"
    ovf: Overflow = "SAT"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= MAX_RAW_BITS:
            raise ValueError(f"fixed-point width must be in 1..{MAX_RAW_BITS}, got {self.width}")
        if self.rnd not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, got {self.rnd!r}")
        if self.ovf not in OVERFLOWS:
            raise ValueError(f"overflow must be one of {OVERFLOWS}, got {self.ovf!r}")

    @property
    def int_bits(self) -> int:
        """Integer bits including the sign bit (the ``I`` of ``ap_fixed<W, I>``)."""
        return self.width - self.frac

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        """Real value of one raw step."""
        return 2.0 ** -self.frac

    @property
    def min(self) -> float:
        return self.raw_min * self.lsb

    @property
    def max(self) -> float:
        return self.raw_max * self.lsb

    def cpp_type(self) -> str:
        """The Vitis type, e.g. ``ap_fixed<16,6,AP_RND_CONV,AP_SAT>``."""
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.int_bits},AP_{self.rnd},AP_{self.ovf}>"

    def dslx_type(self) -> str:
        """The DSLX raw type, e.g. ``s16`` / ``u18``."""
        return f"{'s' if self.signed else 'u'}{self.width}"

    def describe(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.width}.{self.frac} {self.rnd}/{self.ovf}"

    def quantize(self, x: np.ndarray | float) -> np.ndarray:
        """Float -> raw, as assigning a double to this ``ap_fixed`` type (NaN/inf rejected)."""
        arr = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"cannot quantize non-finite values to {self.describe()}")
        scaled = arr * (2.0 ** self.frac)
        if self.rnd == "TRN":
            q = np.floor(scaled)
        elif self.rnd == "RND":
            q = np.floor(scaled + 0.5)
        else:
            q = np.round(scaled)  # numpy rounds half to even
        lim = float(1 << MAX_RAW_BITS)
        q = np.clip(q, -lim, lim).astype(np.int64)
        return _overflow(q, self)

    def to_float(self, raw: np.ndarray | int) -> np.ndarray:
        """Raw -> float64 real value."""
        return np.asarray(raw, dtype=np.float64) * self.lsb

    def check_raw(self, raw: np.ndarray, what: str = "value") -> np.ndarray:
        """Assert that ``raw`` lies in this format's range; returns it as int64."""
        arr = np.asarray(raw, dtype=np.int64)
        if arr.size and (arr.min() < self.raw_min or arr.max() > self.raw_max):
            raise ValueError(f"{what} out of range for {self.describe()}")
        return arr


def _overflow(q: np.ndarray, fmt: Fmt) -> np.ndarray:
    if fmt.ovf == "SAT":
        return np.clip(q, fmt.raw_min, fmt.raw_max).astype(np.int64)
    mask = (1 << fmt.width) - 1
    low = np.bitwise_and(q, mask)
    if fmt.signed:
        low = np.where(low >= (1 << (fmt.width - 1)), low - (1 << fmt.width), low)
    return low.astype(np.int64)


def shift_round(raw: np.ndarray, shift: np.ndarray | int, rnd: str) -> np.ndarray:
    """``raw * 2**-shift`` rounded to an integer with mode ``rnd``; ``shift`` may be negative or an array.

    Exact for every shift: the dropped bits decide the rounding, nothing else.
    """
    raw = np.asarray(raw, dtype=np.int64)
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64), raw.shape)
    out = np.empty(raw.shape, dtype=np.int64)
    left = shift <= 0
    if np.any(left):
        out[left] = np.left_shift(raw[left], -shift[left])
    right = ~left
    if np.any(right):
        r, s = raw[right], np.minimum(shift[right], 63)
        floor = np.right_shift(r, s)  # arithmetic shift = floor
        rem = r - np.left_shift(floor, s)  # 0 <= rem < 2**s
        half = np.left_shift(np.int64(1), s - 1)
        if rnd == "TRN":
            res = floor
        elif rnd == "RND":
            res = floor + (rem >= half)
        else:
            up = (rem > half) | ((rem == half) & (np.bitwise_and(floor, 1) == 1))
            res = floor + up
        out[right] = res
    return out


def requant(raw: np.ndarray | int, frac_in: np.ndarray | int, fmt: Fmt) -> np.ndarray:
    """Assign the exact value ``raw * 2**-frac_in`` to ``fmt`` (ap_fixed quantisation, then overflow)."""
    q = shift_round(raw, np.asarray(frac_in) - fmt.frac, fmt.rnd)
    return _overflow(q, fmt)


def bits_for(lo: int, hi: int) -> int:
    """Signed two's-complement width that holds every integer in [lo, hi]."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def msb_index(raw: np.ndarray) -> np.ndarray:
    """Index of the leading one of positive integers (floor(log2)), exact for int64."""
    raw = np.asarray(raw, dtype=np.int64)
    if raw.size and raw.min() <= 0:
        raise ValueError("msb_index needs positive values")
    out = np.zeros(raw.shape, dtype=np.int64)
    v = raw.copy()
    for step in (32, 16, 8, 4, 2, 1):
        big = v >= (np.int64(1) << step)
        out = out + np.where(big, step, 0)
        v = np.where(big, np.right_shift(v, step), v)
    return out
