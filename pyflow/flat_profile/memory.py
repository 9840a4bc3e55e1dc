"""Peak-memory prediction from shapes, and the check that a point fits in available memory.

The prediction follows the allocations of :mod:`golden.flat` (and its torch twin): the output ``O``,
the scaled query block, the logit block ``S`` and probability block ``P`` (alive together while ``P``
is formed), and the row maxima.  For the baseline the block is the whole ``B x H x L x L``; for FLAT it
is one tile (:func:`golden.flat.tile_extent`).  ``working`` is what the call allocates (what
tracemalloc / ``max_memory_allocated`` measure); ``inputs`` are Q, K, V and the bias.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.flat import tile_extent

Shape = tuple[int, int, int, int]
#: Fraction of the reported available memory a point may use (the rest is head-room for the OS,
#: other processes and allocator slack).
SAFETY_FRACTION = 0.8
#: Fixed allowance for interpreter / library overhead per run, bytes.
FIXED_OVERHEAD = 16 * 2**20


@dataclass(frozen=True)
class Prediction:
    """Predicted bytes of one run: inputs held before the call and the call's own peak allocation."""

    inputs: int
    working: int

    @property
    def total(self) -> int:
        """Inputs plus the call's peak."""
        return self.inputs + self.working


def predict(variant: str, shape: Shape, itemsize: int, mode: str = "row", size: int = 64,
            bias: bool = False) -> Prediction:
    """Predict the peak memory of ``variant`` (``baseline`` or ``flat``) at ``shape``.

    The causal mask (one byte per logit of the block) is freed before ``P`` exists, so it never
    raises the peak.
    """
    b, seq, h, d = shape
    qkv = b * seq * h * d
    if variant == "baseline":
        nb, nh, nr = b, h, seq
    elif variant == "flat":
        nb, nh, nr = tile_extent(mode, size, shape)
    else:
        raise ValueError(f"variant must be 'baseline' or 'flat', got {variant!r}")
    rows = nb * nh * nr
    block = (
        qkv  # output O
        + rows * d  # scaled query block
        + 2 * rows * seq  # S and P
        + rows  # row maxima
    ) * itemsize
    inputs = (3 * qkv + (h * seq if bias else 0)) * itemsize
    return Prediction(inputs=inputs, working=block)


@dataclass(frozen=True)
class FitCheck:
    """Whether a predicted run fits in the memory available for it."""

    fits: bool
    predicted: int
    available: int
    reason: str


def check_fit(pred: Prediction, available: int, extra: int = 0) -> FitCheck:
    """Compare ``pred.total + extra`` (+ a fixed allowance) with ``SAFETY_FRACTION * available``."""
    need = pred.total + extra + FIXED_OVERHEAD
    budget = int(SAFETY_FRACTION * available)
    if need <= budget:
        return FitCheck(True, need, available, "")
    return FitCheck(
        False, need, available,
        f"predicted {need / 2**30:.2f} GiB > {SAFETY_FRACTION:.0%} of {available / 2**30:.2f} GiB available",
    )


def available_bytes(platform: str) -> int:
    """Memory free for a new point: host RAM (psutil) on cpu, device memory on gpu."""
    if platform == "gpu":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)
