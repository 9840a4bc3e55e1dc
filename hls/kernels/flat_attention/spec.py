"""FLAT attention of one head: logits, softmax and attend fused per tile of R query rows, logits on chip.

Ports: ``q`` (act, P lanes, L*d/P beats: the L query rows, TLAST per tile of R rows), ``k`` (act, P lanes,
(L/R)*N*d/P beats: the N key rows, re-streamed once per tile; each tile attends over the
keys streamed for it), ``vt`` (act, P lanes, (L/R)*d*N/P beats: V^T,
row i = column i of V, re-streamed once per tile), ``out`` (act, R lanes, L*d/R beats: per tile, beat i holds
column i of the tile's R output rows, lane r = row r).  Per tile the kernel holds the R x d queries, then
computes the R x N logits into an on-chip buffer (R*P MACs per K beat, row maxima on the fly), runs the exp
and normalise passes over that buffer and attends against V^T; no logit leaves the chip.  Golden:
golden.flat_fixed.flat_attention (bit-identical to the unfused qk -> softmax -> av chain); cycles:
golden.cycles.flat_attention.
"""

from __future__ import annotations

import math

import numpy as np

from golden import cycles
from golden import flat_fixed as ff
from hls.kernels.softmax_exp.spec import exp2_lut, exp_consts, sum_fmt
from hls.kernels.softmax_norm.spec import norm_consts, recip_lut
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, mag, rng, signed_bits, unsigned_bits

NAME = "flat_attention"
#: Query rows per FLAT tile (clipped to a divisor of the context length).
FLAT_ROWS = 4
#: Tiles the kernel's test vectors cover at most (the stream lengths grow with L x N x d).
FLAT_TILES = 4
#: Largest R x N logit buffer the DSLX kernel is generated for (the buffers are proc state, i.e. flops).
DSLX_MAX_LOGITS = 256


def dims(pc) -> dict[str, int]:  # noqa: ANN001 (ProjectConfig)
    """FLAT parameters from a project config: R = the largest divisor of N up to FLAT_ROWS, L = min(N,
    FLAT_TILES * R) query rows (a chunk of the prefill; pyflow.sim.flat_hw models the whole L = N prefill),
    P = the lanes that divide both d and N (gcd of the qk, softmax and av lanes)."""
    n, d = pc.max_length, pc.model.head_dim
    p = math.gcd(pc.lanes["qk"], pc.lanes["softmax"], pc.lanes["av"])
    r = max(x for x in range(1, FLAT_ROWS + 1) if n % x == 0)
    return {"R": r, "N": n, "D": d, "P": p, "L": min(n, FLAT_TILES * r)}


def from_out_stream(out: np.ndarray, l_rows: int, d: int, r: int) -> np.ndarray:
    """The ``out`` port's stream order -> (L, d) rows."""
    return np.asarray(out).reshape(l_rows // r, d, r).transpose(0, 2, 1).reshape(l_rows, d)


def to_out_stream(rows_out: np.ndarray, r: int) -> np.ndarray:
    """(L, d) rows -> the ``out`` port's stream order (per tile, column i of the R rows per beat)."""
    l_rows, d = rows_out.shape
    return np.asarray(rows_out).reshape(l_rows // r, r, d).transpose(0, 2, 1).reshape(-1)


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The flat_attention spec for project config ``pc``."""
    s = pc.scheme
    dm = dims(pc)
    r, n, d, p, l_rows = dm["R"], dm["N"], dm["D"], dm["P"], dm["L"]
    tiles = l_rows // r
    kb, qb = n * d // p, r * d // p
    ports = (
        Port("q", "in", s.act, lanes=p, beats=l_rows * d // p, tlast_every=qb,
             doc="query rows, TLAST per tile of R rows"),
        Port("k", "in", s.act, lanes=p, beats=tiles * kb, tlast_every=kb, doc="key rows, re-streamed once per tile"),
        Port("vt", "in", s.act, lanes=p, beats=tiles * kb, tlast_every=kb,
             doc="V transposed, re-streamed once per tile"),
        Port("out", "out", s.act, lanes=r, beats=l_rows * d // r, tlast_every=l_rows * d // r,
             doc="per tile, beat i = column i of the tile's R output rows"),
    )
    scale = s.qk_scale_raw(d)

    def golden(ins: Arrays) -> Arrays:
        # each tile attends over the K and V^T streamed for it (normally the same every tile)
        q = ins["q"].reshape(tiles, r, d)
        keys = ins["k"].reshape(tiles, n, d)
        vt = ins["vt"].reshape(tiles, d, n)
        out = np.concatenate([ff.flat_attention(q[t], keys[t], vt[t].T, r, s) for t in range(tiles)])
        return {"out": to_out_stream(out, r)}

    def make_vectors(seed: int) -> Arrays:
        g = rng(seed, NAME)
        q = gauss(g, s.act, l_rows * d, 1.2)
        k = gauss(g, s.act, n * d, 1.2)
        vt = gauss(g, s.act, d * n, 1.0)
        return {"q": q, "k": np.tile(k, tiles), "vt": np.tile(vt, tiles)}

    qk_acc_w = signed_bits(d * mag(s.act) ** 2)
    return KernelSpec(
        name=NAME,
        params=dm,
        consts={
            "TILES": tiles,
            "Q_TILE_BEATS": qb,
            "ROW_BEATS": d // p,  # beats of one key row / one query row
            "KEY_BEATS": kb,  # beats of one K (or V^T) pass
            "VT_ROW_BEATS": n // p,  # beats of one V^T row
            "SM_BEATS": r * n // p,  # cycles of one softmax pass over the R x N buffer
            "QK_ACC_W": qk_acc_w,
            "QK_SCALED_W": qk_acc_w + unsigned_bits(scale) + 1,  # q.k x the scale constant, exact
            "QK_SCALE": scale,
            "QK_SCALE_W": unsigned_bits(scale),
            "QK_SCALE_FRAC": s.qk_scale_frac,
            "AV_ACC_W": signed_bits(n * mag(s.prob) * mag(s.act)),
            "SUM_W": sum_fmt(s, n).width,
            # formats of the on-chip buffers (golden.fixed.Fmt; the C++ header skips them, the templates use
            # them for types and requant functions; key() serialises them)
            "LOGIT_FMT": s.logit,
            "EXP_FMT": s.exp,
            "PROB_FMT": s.prob,
            **exp_consts(s),
            **norm_consts(s, n),
        },
        luts={"exp2": exp2_lut(s), "recip": recip_lut(s)},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth: cycles.flat_attention(l_rows, n, d, r, p, depth),
        langs=("vitis", "dslx") if r * n <= DSLX_MAX_LOGITS else ("vitis",),
        doc=__doc__.splitlines()[0],
    )
