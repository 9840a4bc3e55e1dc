"""Small helpers shared by the spec modules: bounds, vector generators, standard port shapes."""

from __future__ import annotations

import numpy as np

from golden.fixed import Fmt


def mag(f: Fmt) -> int:
    """Largest raw magnitude of format ``f``."""
    return max(abs(f.raw_min), f.raw_max)


def signed_bits(bound: int) -> int:
    """Signed width holding every integer in [-bound, bound]."""
    return int(bound).bit_length() + 1


def unsigned_bits(bound: int) -> int:
    """Unsigned width holding every integer in [0, bound]."""
    return max(1, int(bound).bit_length())


def clog2(n: int) -> int:
    """ceil(log2(n)) for n >= 1 (0 for n = 1)."""
    return max(0, int(n - 1).bit_length())


def rom_copies(reads_per_cycle: int, ports: int = 2) -> int:
    """Copies of a table that serve ``reads_per_cycle`` reads in one cycle from ``ports``-port ROMs (a Vitis
    ``rom_2p`` serves two): ``ceil(reads / ports)``, at least 1.  Read ``k`` of a cycle uses copy ``k // ports``."""
    return max(1, -(-int(reads_per_cycle) // int(ports)))


def index_bits(n: int) -> int:
    """Bits of an index or counter over ``n`` values 0..n-1: ``clog2(n)``, at least 1 (a wire has a bit)."""
    return max(1, clog2(n))


def pad_to(n: int, multiple: int) -> int:
    """``n`` rounded up to a multiple of ``multiple`` (a part-filled last beat costs a whole beat)."""
    return -(-int(n) // int(multiple)) * int(multiple)


def rng(seed: int, salt: str) -> np.random.Generator:
    """A generator seeded by (seed, kernel name): vectors differ per kernel but are reproducible."""
    return np.random.default_rng([seed, *salt.encode()])


def gauss(r: np.random.Generator, fmt: Fmt, shape: int | tuple[int, ...], std: float, mean: float = 0.0
          ) -> np.ndarray:
    """Quantised N(mean, std) samples in ``fmt`` (raw int64, flattened)."""
    return fmt.quantize(mean + std * r.standard_normal(shape)).reshape(-1)


def lut_fmt(values: np.ndarray, frac: int) -> Fmt:
    """The narrowest format holding raw ``values`` with ``frac`` fraction bits."""
    v = np.asarray(values, dtype=np.int64)
    lo, hi = int(v.min()), int(v.max())
    if lo >= 0:
        return Fmt(unsigned_bits(hi), frac, signed=False, rnd="TRN", ovf="WRAP")
    return Fmt(signed_bits(max(-lo, hi)), frac, signed=True, rnd="TRN", ovf="WRAP")


def length_fmt(capacity: int) -> Fmt:
    """Format of a run-time length 1..capacity (unsigned integer)."""
    return Fmt(unsigned_bits(capacity), 0, signed=False, rnd="TRN", ovf="WRAP")


def length_port(capacity: int):  # noqa: ANN201 (Port)
    """The scalar input ``n``: the run-time number of valid keys, 1..capacity (docs/FIXED_POINT.md)."""
    from pyflow.specs.base import Port

    return Port("n", "in", length_fmt(capacity), kind="scalar", doc=f"valid keys this invocation, 1..{capacity}")


def row_port(name: str, direction: str, fmt: Fmt, lanes: int, rows: int, cols: int, runtime: str, doc: str = ""):  # noqa: ANN201
    """A stream of ``rows`` rows of ``cols`` elements (capacity), each row padded to whole beats of ``lanes``,
    TLAST on its last beat; ``runtime`` ("rows" / "cols") is the dimension that follows the run-time length."""
    from pyflow.specs.base import Port

    beats = rows * -(-cols // lanes)
    return Port(name, direction, fmt, lanes=lanes, beats=beats, tlast_every=beats, rows=rows, cols=cols,
                runtime=runtime, doc=doc)
