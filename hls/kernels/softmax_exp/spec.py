"""Softmax pass 2: ``e_j = exp(logit_j - max)`` through the 2^-f table, and their exact sum, over a run-time
number of keys.

Ports: ``n`` (scalar: valid keys, 1..N), ``max`` (logit, 1 lane, 1 beat), ``logit`` (logit, P lanes,
ceil(n/P) beats: the last beat's lanes at and beyond n are padding, which the kernel masks) -> ``exp`` (exp,
P lanes, ceil(n/P) beats, padding lanes 0, TLAST on the last beat), ``sum`` (unsigned, exp.frac fraction
bits, exp.width + ceil(log2 N) bits, 1 beat).  N = context.max_length.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from golden.cycles import row_beats
from golden.fixed import Fmt
from hls.kernels.softmax_max.spec import random_logits
from pyflow.specs.base import Arrays, KernelSpec, Lut, Port
from pyflow.specs.common import clog2, length_port, lut_fmt, mag, rom_copies, row_port, signed_bits, unsigned_bits

NAME = "softmax_exp"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("softmax_exp",)
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "softmax"


def sum_fmt(s, n: int) -> Fmt:  # noqa: ANN001 (FixedScheme)
    """Format of the exact exp sum (docs/FIXED_POINT.md): unsigned, exp.frac, exp.width + ceil(log2 N)."""
    return Fmt(s.exp.width + max(1, clog2(n)), s.exp.frac, signed=False, rnd="TRN", ovf="WRAP")


def exp2_lut(s) -> Lut:  # noqa: ANN001 (FixedScheme)
    """The 2^-f table of :func:`golden.llama_fixed.exp_neg` as a spec Lut."""
    return Lut(s.exp_lut, lut_fmt(s.exp_lut, s.exp_lut_frac))


def exp_consts(s) -> dict[str, int]:  # noqa: ANN001 (FixedScheme)
    """Integer constants of :func:`golden.llama_fixed.exp_neg` for the templates."""
    f_t = s.logit.frac + s.log2e_frac
    return {
        "EXP_ALIGN_W": exp2_lut(s).fmt.width + s.exp_shift_max + 1,  # table value << up to EXP_SHIFT_MAX, signed
        "LOG2E": s.log2e_raw,
        "T_FRAC": f_t,
        "T_W": unsigned_bits(2 * mag(s.logit) * s.log2e_raw),
        "EXP_LUT_BITS": s.exp_lut_bits,
        "EXP_LUT_FRAC": s.exp_lut_frac,
        "EXP_SHIFT_MAX": s.exp_shift_max,
        "DIFF_W": signed_bits(2 * mag(s.logit)),
    }


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The softmax_exp spec for project config ``pc``."""
    s = pc.scheme
    cap, p = pc.max_length, pc.lanes[LANES_KEY]
    sf = sum_fmt(s, cap)
    ports = (
        length_port(cap),
        Port("max", "in", s.logit, lanes=1, beats=1, tlast_every=1, doc="row maximum (softmax_max)"),
        row_port("logit", "in", s.logit, p, rows=1, cols=cap, runtime="cols"),
        row_port("exp", "out", s.exp, p, rows=1, cols=cap, runtime="cols"),
        Port("sum", "out", sf, lanes=1, beats=1, tlast_every=1, doc="exact sum of the exps, with the last exp beat"),
    )

    def golden(ins: Arrays) -> Arrays:
        e, total = lf.softmax_exp(ins["logit"], ins["max"][0], s)
        return {"exp": e, "sum": np.atleast_1d(total)}

    def make_vectors(seed: int, n: int) -> Arrays:
        logits = random_logits(np.random.default_rng([seed, 2]), n, s)
        return {"n": np.array([n]), "max": np.atleast_1d(lf.softmax_max(logits)), "logit": logits}

    return KernelSpec(
        name=NAME,
        params={"N": cap, "P": p},
        consts={"BEATS": row_beats(cap, p), "EXP2_COPIES": rom_copies(p), **exp_consts(s)},  # P EXP2 reads a beat
        luts={"exp2": exp2_lut(s)},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth, n: cycles.softmax_exp(n, p, depth),
        max_length=cap,
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.repeat(
            cycles.softmax_exp(shape["n"], p, depth),
            shape.get("invocations", 1)),
        doc=__doc__.splitlines()[0],
    )
