"""Sweep settings for the FLAT profiler and the list of points they describe."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from golden.flat import MODES
from pyflow.errors import FlowError

#: Which dimension a sweep varies, and its index in the ``(B, L, H, d)`` shape.
SWEEP_DIMS: dict[str, int] = {"batch": 0, "length": 1, "head": 2}
#: ``(start, end, step)`` used when the command line leaves them out.  The length default
#: (256 -> 2048 in steps of 64: 29 points) finishes in about a minute on 2 cores at the default shape;
#: long sweeps should use ``--geometric`` (256 -> 16384 doubling is 7 points).
DEFAULT_RANGES: dict[str, tuple[int, int, int]] = {
    "length": (256, 2048, 64),
    "batch": (1, 8, 1),
    "head": (1, 16, 1),
}
PLATFORMS: tuple[str, ...] = ("cpu", "gpu")
BACKENDS: tuple[str, ...] = ("numpy", "torch")
DTYPES: tuple[str, ...] = ("float32", "float64")
#: BLAS threads used for timing (0 = the library's default).  One thread by default: with a
#: multi-threaded BLAS, every small FLAT-tile GEMM synchronises its worker threads, and on a busy
#: machine each synchronisation can wait a scheduler time slice (measured on the shared 2-core box:
#: FLAT row x64 at L = 8192 took 124 s with 2 threads instead of about 5 s).
DEFAULT_THREADS = 1
#: Largest number of sweep points accepted (a guard against a mistyped step).
MAX_POINTS = 1000


@dataclass(frozen=True)
class SweepConfig:
    """Everything one profiler run needs; :meth:`validated` fills defaults and checks values."""

    mode: str = "row"
    size: int = 64
    test: str = "length"
    start: int | None = None
    end: int | None = None
    step: int | None = None
    geometric: bool = False
    shape: tuple[int, int, int, int] = (1, 256, 16, 64)
    platform: str = "cpu"
    backend: str | None = None
    dtype: str = "float32"
    loops: int = 3
    threads: int = DEFAULT_THREADS
    store_path: Path = field(default_factory=lambda: Path("build/flat"))
    qkv_dir: Path | None = None
    bias: bool = False
    causal: bool = False
    seed: int = 0

    def validated(self) -> SweepConfig:
        """Return a copy with defaults resolved; raise FlowError on a bad value."""
        if self.mode not in MODES:
            raise FlowError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.test not in SWEEP_DIMS:
            raise FlowError(f"--test must be one of {', '.join(SWEEP_DIMS)}, got {self.test!r}")
        if self.platform not in PLATFORMS:
            raise FlowError(f"--platform must be one of {', '.join(PLATFORMS)}, got {self.platform!r}")
        if self.dtype not in DTYPES:
            raise FlowError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        backend = self.backend or ("torch" if self.platform == "gpu" else "numpy")
        if backend not in BACKENDS:
            raise FlowError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if self.platform == "gpu" and backend != "torch":
            raise FlowError("--platform gpu needs --backend torch")
        if len(self.shape) != 4 or any(int(x) < 1 for x in self.shape):
            raise FlowError(f"--shape needs four positive integers B L H d, got {' '.join(map(str, self.shape))}")
        if self.size < 1:
            raise FlowError(f"--size must be a positive integer, got {self.size}")
        if self.threads < 0:
            raise FlowError(f"--threads must be 0 (library default) or a positive integer, got {self.threads}")
        if self.loops < 1:
            raise FlowError(f"--loops must be a positive integer, got {self.loops}")
        d_start, d_end, d_step = DEFAULT_RANGES[self.test]
        start = d_start if self.start is None else self.start
        end = d_end if self.end is None else self.end
        step = d_step if self.step is None else self.step
        if start < 1 or end < start:
            raise FlowError(f"sweep range must satisfy 1 <= --start-size <= --end-size, got {start} .. {end}")
        if not self.geometric and step < 1:
            raise FlowError(f"--step must be a positive integer, got {step}")
        out = replace(self, backend=backend, start=start, end=end, step=step,
                      shape=tuple(int(x) for x in self.shape), store_path=Path(self.store_path))
        if len(out.points()) > MAX_POINTS:
            raise FlowError(f"sweep has {len(out.points())} points (> {MAX_POINTS}); raise --step or use --geometric")
        return out

    def points(self) -> list[int]:
        """Swept values: start, start+step, ... (or doubling with ``geometric``), capped at end."""
        assert self.start is not None and self.end is not None and self.step is not None
        values: list[int] = []
        v = self.start
        while v <= self.end and len(values) <= MAX_POINTS:
            values.append(v)
            v = v * 2 if self.geometric else v + self.step
        return values

    def shape_at(self, value: int) -> tuple[int, int, int, int]:
        """The ``(B, L, H, d)`` shape of the point where the swept dimension equals ``value``."""
        shape = list(self.shape)
        shape[SWEEP_DIMS[self.test]] = value
        return (shape[0], shape[1], shape[2], shape[3])

    def max_shape(self) -> tuple[int, int, int, int]:
        """Largest shape the sweep visits (what a Q/K/V file must cover)."""
        return self.shape_at(self.points()[-1])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        raw = asdict(self)
        raw["store_path"] = str(self.store_path)
        raw["qkv_dir"] = None if self.qkv_dir is None else str(self.qkv_dir)
        raw["shape"] = list(self.shape)
        raw["points"] = self.points()
        return raw
