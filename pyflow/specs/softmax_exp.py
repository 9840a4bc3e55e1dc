"""Softmax pass 2: ``e_j = exp(logit_j - max)`` through the 2^-f table, and their exact sum.

Ports: ``max`` (logit, 1 lane, 1 beat), ``logit`` (logit, P lanes, N/P beats) -> ``exp`` (exp, P lanes,
N/P beats), ``sum`` (unsigned, exp.frac fraction bits, exp.width + ceil(log2 N) bits, 1 beat).
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from golden.fixed import Fmt
from pyflow.specs._common import clog2, lut_fmt, mag, signed_bits, unsigned_bits
from pyflow.specs.base import Arrays, KernelSpec, Lut, Port
from pyflow.specs.softmax_max import random_logits

NAME = "softmax_exp"


def sum_fmt(s, n: int) -> Fmt:  # noqa: ANN001 (FixedScheme)
    """Format of the exact exp sum (docs/FIXED_POINT.md): unsigned, exp.frac, exp.width + ceil(log2 N)."""
    return Fmt(s.exp.width + max(1, clog2(n)), s.exp.frac, signed=False, rnd="TRN", ovf="WRAP")


def exp_consts(s) -> dict[str, int]:  # noqa: ANN001 (FixedScheme)
    """Integer constants of :func:`golden.llama_fixed.exp_neg` for the templates."""
    f_t = s.logit.frac + s.log2e_frac
    return {
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
    n, p = pc.context_length, pc.lanes["softmax"]
    sf = sum_fmt(s, n)
    ports = (
        Port("max", "in", s.logit, 1, 1, 1, doc="row maximum (softmax_max)"),
        Port("logit", "in", s.logit, p, n // p, n // p),
        Port("exp", "out", s.exp, p, n // p, n // p),
        Port("sum", "out", sf, 1, 1, 1, doc="exact sum of the exps, with the last exp beat"),
    )

    def golden(ins: Arrays) -> Arrays:
        e, total = lf.softmax_exp(ins["logit"], ins["max"][0], s)
        return {"exp": e, "sum": np.atleast_1d(total)}

    def make_vectors(seed: int) -> Arrays:
        logits = random_logits(np.random.default_rng([seed, 2]), n, s)
        return {"max": np.atleast_1d(lf.softmax_max(logits)), "logit": logits}

    return KernelSpec(
        name=NAME,
        params={"N": n, "P": p},
        consts={"BEATS": n // p, **exp_consts(s)},
        luts={"exp2": Lut(s.exp_lut, lut_fmt(s.exp_lut, s.exp_lut_frac))},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth: cycles.softmax_exp(n, p, depth),
        doc=__doc__.splitlines()[0],
    )
