"""Analytic on-chip buffer / off-chip traffic model of attention (the FLAT paper's view).

Baseline (unfused): the logit operator reads Q and K and writes the ``B x H x L x L`` intermediate
off-chip; the attend operator reads it back with V and writes O.  Traffic = Q + K + V + O + 2 x logits.
(If softmax also runs as its own operator, the intermediate makes a second round trip:
``baseline_unfused_softmax_bytes`` = Q + K + V + O + 4 x logits, which is what the NumPy baseline does.)

FLAT: logit, softmax and attend run on one tile that stays on chip.  The buffer holds the tile's
query rows, the keys and values of the tile's heads (kept resident across its row tiles), the tile's
logits and row statistics, and its output rows.  With that buffer each of Q, K, V, O crosses the
off-chip interface once.
"""

from __future__ import annotations

from typing import Any

from golden.flat import MODES, tile_extent

Shape = tuple[int, int, int, int]


def baseline_traffic(shape: Shape, itemsize: int) -> dict[str, int]:
    """Off-chip bytes of the unfused dataflow."""
    b, seq, h, d = shape
    qkvo = 4 * b * seq * h * d * itemsize
    logits = b * h * seq * seq * itemsize
    return {
        "qkvo_bytes": qkvo,
        "logit_bytes": logits,
        "baseline_offchip_bytes": qkvo + 2 * logits,
        "baseline_unfused_softmax_bytes": qkvo + 4 * logits,
    }


def flat_buffer(mode: str, size: int, shape: Shape, itemsize: int) -> int:
    """On-chip bytes needed to keep one FLAT tile of ``mode`` / ``size`` fused on chip."""
    _, seq, _, d = shape
    nb, nh, nr = tile_extent(mode, size, shape)
    heads = nb * nh
    rows = heads * nr
    return (
        rows * d  # query rows
        + 2 * heads * seq * d  # keys and values of the tile's heads
        + rows * seq  # logits / probabilities (softmax in place)
        + 2 * rows  # row max and row sum
        + rows * d  # output rows
    ) * itemsize


def flat_traffic(shape: Shape, itemsize: int) -> int:
    """Off-chip bytes of FLAT with a buffer of :func:`flat_buffer`: Q, K, V read once, O written once."""
    b, seq, h, d = shape
    return 4 * b * seq * h * d * itemsize


def traffic_point(shape: Shape, itemsize: int, size: int) -> dict[str, Any]:
    """Model of one shape for every granularity at tile ``size``."""
    row: dict[str, Any] = {"shape": list(shape), **baseline_traffic(shape, itemsize),
                           "flat_offchip_bytes": flat_traffic(shape, itemsize)}
    row["flat_onchip_buffer_bytes"] = {m: flat_buffer(m, size, shape, itemsize) for m in MODES}
    return row


def traffic_model(shapes: list[Shape], itemsize: int, size: int) -> dict[str, Any]:
    """The model over a sweep's shapes, JSON-ready."""
    return {
        "description": __doc__.strip().splitlines()[0],
        "itemsize": itemsize,
        "tile_size": size,
        "points": [traffic_point(s, itemsize, size) for s in shapes],
    }
