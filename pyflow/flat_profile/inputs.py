"""Q, K, V (and the optional bias) for one sweep point: seeded random, or sliced from files.

A Q/K/V directory holds either ``q.npy``, ``k.npy`` and ``v.npy``, or one ``*.npz`` or
``*.safetensors`` file with arrays named ``q``, ``k`` and ``v``; each is ``(B, L, H, d)``.  As the
sweep grows, each point takes the leading ``B x L x H`` block of the stored tensors (``d`` must match).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pyflow.arrays import read_npy, read_npz, read_safetensors
from pyflow.errors import FlowError

Shape = tuple[int, int, int, int]
_NAMES = ("q", "k", "v")


def random_qkv(shape: Shape, dtype: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard-normal Q, K, V of ``shape`` from ``seed``."""
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)  # type: ignore[return-value]
                 for _ in _NAMES)


def random_bias(shape: Shape, dtype: str, seed: int) -> np.ndarray:
    """A per-head, per-key additive bias of shape ``(1, H, 1, L)`` (broadcast to ``(B, H, L, L)``).

    Kept at ``O(H L)`` storage so the bias does not itself materialise an ``L x L`` tensor.
    """
    _, seq, heads, _ = shape
    rng = np.random.default_rng(seed + 1)
    return rng.standard_normal((1, heads, 1, seq), dtype=np.float32).astype(dtype, copy=False)


def _load_dir(directory: Path) -> dict[str, np.ndarray]:
    if not directory.is_dir():
        raise FlowError(f"--qkv-dir {directory}: no such directory")
    npys = [directory / f"{n}.npy" for n in _NAMES]
    if all(p.is_file() for p in npys):
        return {n: read_npy(p, "--qkv-dir") for n, p in zip(_NAMES, npys, strict=True)}
    for path in sorted(directory.glob("*.npz")):
        found = read_npz(path, _NAMES, "--qkv-dir")
        if found is not None:
            return found
    for path in sorted(directory.glob("*.safetensors")):
        found = read_safetensors(path, _NAMES, "--qkv-dir")
        if found is not None:
            return found
    raise FlowError(
        f"--qkv-dir {directory}: found neither q.npy/k.npy/v.npy nor an .npz/.safetensors file with arrays q, k, v"
    )


class QkvFiles:
    """Q, K, V loaded once from a directory, checked, and sliced per sweep point."""

    def __init__(self, directory: Path, need: Shape) -> None:
        """Load from ``directory`` and check the tensors cover ``need`` (the sweep's largest shape)."""
        self.arrays = _load_dir(Path(directory))
        shapes = {n: tuple(a.shape) for n, a in self.arrays.items()}
        for name, arr in self.arrays.items():
            if arr.ndim != 4:
                raise FlowError(f"--qkv-dir: {name} has rank {arr.ndim} (shape {arr.shape}); expected (B, L, H, d)")
            if not np.issubdtype(arr.dtype, np.floating):
                raise FlowError(f"--qkv-dir: {name} has dtype {arr.dtype}; expected a floating-point array")
        if len(set(shapes.values())) != 1:
            raise FlowError(f"--qkv-dir: q, k, v shapes differ: {shapes}")
        have = shapes["q"]
        if have[3] != need[3]:
            raise FlowError(f"--qkv-dir: head dim d is {have[3]} in the files but {need[3]} in --shape")
        if any(h < n for h, n in zip(have[:3], need[:3], strict=True)):
            raise FlowError(
                f"--qkv-dir: files hold (B, L, H, d) = {have}, smaller than the sweep needs {tuple(need)}; "
                "lower --end-size or --shape"
            )
        for name, arr in self.arrays.items():
            block = arr[: need[0], : need[1], : need[2]]
            if not np.isfinite(block).all():
                raise FlowError(f"--qkv-dir: {name} contains NaN or Inf in the part the sweep uses")

    def take(self, shape: Shape, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The leading ``shape`` block of Q, K, V as contiguous ``dtype`` arrays."""
        b, seq, h, _ = shape
        return tuple(np.ascontiguousarray(self.arrays[n][:b, :seq, :h], dtype=dtype)  # type: ignore[return-value]
                     for n in _NAMES)
