"""FLAT attention of one head: logits, softmax and attend fused per tile of R query rows, logits on chip.

Two run-time lengths (docs/FIXED_POINT.md, "Run-time lengths"): ``n`` keys (1..N = context.max_length) and
``l`` query rows (1..L = N), both scalar inputs.  The query rows go in tiles of R, the last one partial
when R does not divide l; T = ceil(l / R) tiles.  Ports: ``q`` (act, P lanes, l rows of d: the query rows),
``k`` (act, P lanes, T*n rows of d: the n key rows, re-streamed once per tile; each tile attends over the keys
streamed for it), ``vt`` (act, P lanes, T*d rows of n, each padded to ceil(n/P) beats: V^T, row i = column i
of V, re-streamed once per tile), ``out`` (act, R lanes, T*d beats: per tile, beat i holds column i of the
tile's R output rows, lane r = row r; lanes of rows beyond l are 0; TLAST on the last beat).  Per tile the
kernel holds the R x d queries, computes the R x N logits into an on-chip RAM (R*P MACs per K beat, row
maxima on the fly), runs the exp and normalise passes over that RAM and attends against V^T; no logit
leaves the chip.  Golden: golden.flat_fixed.flat_attention per tile (bit-identical to the unfused qk ->
softmax -> av chain); cycles: golden.cycles.flat_attention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from golden import cycles
from golden import flat_fixed as ff
from golden.cycles import row_beats
from hls.kernels.softmax_exp.spec import exp2_lut, exp_consts, sum_fmt
from hls.kernels.softmax_norm.spec import norm_consts, recip_lut
from pyflow.specs.base import Arrays, KernelSpec, Port, Ram
from pyflow.specs.common import (
    gauss,
    length_fmt,
    length_port,
    mag,
    rng,
    rom_copies,
    row_port,
    signed_bits,
    unsigned_bits,
)

NAME = "flat_attention"
#: Query rows per FLAT tile (at most; fewer when the context is shorter).
FLAT_ROWS = 4


def dims(pc) -> dict[str, int]:  # noqa: ANN001 (ProjectConfig)
    """FLAT parameters from a project config: N = the key capacity (context.max_length), L = N query rows at
    most (a prefill of the whole context), R = min(FLAT_ROWS, N) rows per tile, P = the lanes of the qk,
    softmax and av kernels that divide d (their gcd with d)."""
    n, d = pc.max_length, pc.model.head_dim
    p = math.gcd(pc.lanes["qk"], pc.lanes["softmax"], pc.lanes["av"], d)
    return {"R": min(FLAT_ROWS, n), "N": n, "D": d, "P": p, "L": n}


def tiles(l_rows: int, r: int) -> int:
    """Tiles of ``r`` query rows that ``l_rows`` rows take (the last one partial)."""
    return -(-int(l_rows) // int(r))


def from_out_stream(out: np.ndarray, l_rows: int, d: int, r: int) -> np.ndarray:
    """The ``out`` port's stream order -> (l, d) rows (the zero lanes of a partial last tile dropped)."""
    t = tiles(l_rows, r)
    return np.asarray(out).reshape(t, d, r).transpose(0, 2, 1).reshape(t * r, d)[:l_rows]


def to_out_stream(rows_out: np.ndarray, r: int) -> np.ndarray:
    """(l, d) rows -> the ``out`` port's stream order (per tile, column i of the R rows per beat; the rows a
    partial last tile lacks are 0)."""
    l_rows, d = rows_out.shape
    t = tiles(l_rows, r)
    full = np.zeros((t * r, d), dtype=np.int64)
    full[:l_rows] = rows_out
    return full.reshape(t, r, d).transpose(0, 2, 1).reshape(-1)


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The flat_attention spec for project config ``pc``."""
    s = pc.scheme
    dm = dims(pc)
    r, cap, d, p, lcap = dm["R"], dm["N"], dm["D"], dm["P"], dm["L"]
    tcap = tiles(lcap, r)

    def lengths(x: Any) -> tuple[int, int]:  # noqa: ANN401 (int or mapping)
        """(n, l) from a mapping of both, or from n alone: then l = min(n, L), the prefill of n tokens."""
        if isinstance(x, Mapping):
            return int(x["n"]), int(x["l"])
        return int(x), min(int(x), lcap)

    def shape_at(x: Any) -> dict[str, tuple[int, int]]:  # noqa: ANN401
        n, l_rows = lengths(x)
        t = tiles(l_rows, r)
        return {"q": (l_rows, d), "k": (t * n, d), "vt": (t * d, n), "out": (t * d, r)}

    ports = (
        length_port(cap),
        Port("l", "in", length_fmt(lcap), kind="scalar", doc=f"query rows this invocation, 1..{lcap}"),
        row_port("q", "in", s.act, p, rows=lcap, cols=d, runtime="rows", doc="the l query rows"),
        row_port("k", "in", s.act, p, rows=tcap * cap, cols=d, runtime="rows",
                 doc="the n key rows, re-streamed once per tile"),
        row_port("vt", "in", s.act, p, rows=tcap * d, cols=cap, runtime="cols",
                 doc="V transposed (d rows of n), re-streamed once per tile"),
        row_port("out", "out", s.act, r, rows=tcap * d, cols=r, runtime="rows",
                 doc="per tile, beat i = column i of the tile's R output rows (rows beyond l: 0)"),
    )
    scale = s.qk_scale_raw(d)

    def golden(ins: Arrays) -> Arrays:
        # each tile attends over the K and V^T streamed for it (normally the same every tile)
        n, l_rows = int(ins["n"][0]), int(ins["l"][0])
        if not 1 <= l_rows <= lcap:
            raise ValueError(f"{NAME}: l = {l_rows} query rows outside 1..{lcap}")
        t = tiles(l_rows, r)
        q = ins["q"].reshape(l_rows, d)
        keys = ins["k"].reshape(t, n, d)
        vt = ins["vt"].reshape(t, d, n)
        out = np.concatenate([ff.flat_attention(q[i * r:(i + 1) * r], keys[i], vt[i].T, len(q[i * r:(i + 1) * r]), s)
                              for i in range(t)])
        return {"out": to_out_stream(out, r)}

    def make_vectors(seed: int, n: int, l_rows: int | None = None) -> Arrays:
        """Vectors at n keys and ``l_rows`` query rows (default min(n, L): the prefill of n tokens)."""
        l_rows = lengths(n)[1] if l_rows is None else int(l_rows)
        t = tiles(l_rows, r)
        g = rng(seed, NAME)
        q = gauss(g, s.act, l_rows * d, 1.2)
        k = gauss(g, s.act, n * d, 1.2)
        vt = gauss(g, s.act, d * n, 1.0)
        return {"n": np.array([n]), "l": np.array([l_rows]), "q": q, "k": np.tile(k, t), "vt": np.tile(vt, t)}

    def timing(depth: int, x: Any) -> cycles.Timing:  # noqa: ANN401
        n, l_rows = lengths(x)
        return cycles.flat_attention(l_rows, n, d, r, p, depth)

    nbc = row_beats(cap, p)  # words of one row of the R x N buffers (beats of one V^T row at capacity)
    aw, lw, ew, pw = s.act.width, s.logit.width, s.exp.width, s.prob.width
    rams = (
        Ram("qb", d // p, r * p * aw, segments=r, doc="query tile, word b = beat b of each row, segment r = row r"),
        Ram("lg", nbc, p * r * lw, segments=p, doc="logits, word w = keys wP..wP+P-1, segment k = key wP+k's R rows"),
        Ram("ex", nbc, r * p * ew, segments=r, doc="exps, word w = keys wP..wP+P-1, segment r = row r's P exps"),
        Ram("pb", nbc, r * p * pw, segments=r, doc="probabilities, laid out as the exps"),
    )
    qk_acc_w = signed_bits(d * mag(s.act) ** 2)
    # the logit requant: q.k x 2^k for a power-of-two scale is q.k with k fewer fraction bits (exact), so the
    # rounding and saturation work on the narrow accumulator (flat_attention.x.j2)
    pow2 = scale & (scale - 1) == 0
    lg_in = qk_acc_w if pow2 else qk_acc_w + unsigned_bits(scale) + 1
    lg_shift = 2 * s.act.frac + s.qk_scale_frac - (scale.bit_length() - 1 if pow2 else 0) - s.logit.frac
    return KernelSpec(
        name=NAME,
        params=dm,
        consts={
            "MAX_TILES": tcap,  # tiles of l = L query rows
            "ROW_BEATS": d // p,  # beats of one key row / one query row
            "VT_ROW_BEATS": nbc,  # beats of one V^T row at capacity (words of one row of the on-chip buffers)
            "QK_ACC_W": qk_acc_w,
            "QK_SCALED_W": qk_acc_w + unsigned_bits(scale) + 1,  # q.k x the scale constant, exact
            "QK_SCALE": scale,
            "QK_SCALE_W": unsigned_bits(scale),
            "QK_SCALE_FRAC": s.qk_scale_frac,
            "LOGIT_IN_W": lg_in,  # what the logit requant rounds: q.k, or q.k x the scale constant
            "LOGIT_SHIFT": lg_shift,  # its fraction bits beyond the logit format's
            "AV_ACC_W": signed_bits(cap * mag(s.prob) * mag(s.act)),
            "SUM_W": sum_fmt(s, cap).width,
            # formats of the on-chip buffers (golden.fixed.Fmt; the C++ header skips them, the templates use
            # them for types and requant functions; key() serialises them)
            "LOGIT_FMT": s.logit,
            "EXP_FMT": s.exp,
            "PROB_FMT": s.prob,
            "EXP2_COPIES": rom_copies(p),  # the exp pass reads EXP2 P times per cycle
            **exp_consts(s),
            **norm_consts(s, cap),
        },
        luts={"exp2": exp2_lut(s), "recip": recip_lut(s)},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=timing,
        max_length=cap,
        length_of=lambda ins: {"n": int(ins["n"][0]), "l": int(ins["l"][0])},
        shape_at=shape_at,
        rams=rams,
        doc=__doc__.splitlines()[0],
    )
