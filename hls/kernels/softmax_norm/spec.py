"""Softmax pass 3: ``p_j = e_j / sum`` through the reciprocal table (one table read per row), over a run-time
number of keys.

Ports: ``n`` (scalar: valid keys, 1..N), ``sum`` (softmax_exp's sum format, 1 beat), ``exp`` (exp, P lanes,
ceil(n/P) beats: the last beat's lanes at and beyond n are padding, which the kernel masks) -> ``prob``
(prob, P lanes, ceil(n/P) beats, padding lanes 0, TLAST on the last beat).  N = context.max_length.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from golden.cycles import row_beats
from hls.kernels.softmax_exp.spec import sum_fmt
from hls.kernels.softmax_max.spec import random_logits
from pyflow.specs.base import Arrays, KernelSpec, Lut, Port
from pyflow.specs.common import length_port, lut_fmt, row_port

NAME = "softmax_norm"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("softmax_norm",)
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "softmax"


def random_exps(r: np.random.Generator, n: int, s) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """exp values and their sum from realistic logits via the golden passes 1 and 2."""
    logits = random_logits(r, n, s)
    e, total = lf.softmax_exp(logits, lf.softmax_max(logits), s)
    return e, np.atleast_1d(total)


def random_probs(r: np.random.Generator, n: int, s) -> np.ndarray:  # noqa: ANN001
    """Probabilities from realistic logits via the full golden softmax."""
    e, total = random_exps(r, n, s)
    return lf.softmax_norm(e, total[0], s)


def recip_lut(s) -> Lut:  # noqa: ANN001 (FixedScheme)
    """The reciprocal table of :func:`golden.llama_fixed.softmax_norm` as a spec Lut."""
    return Lut(s.recip_lut, lut_fmt(s.recip_lut, s.recip_lut_frac))


def norm_consts(s, n: int) -> dict[str, int]:  # noqa: ANN001 (FixedScheme)
    """Integer constants of :func:`golden.llama_fixed.softmax_norm` for the templates."""
    prod_w = s.exp.width + recip_lut(s).fmt.width
    return {
        "NORM_PROD_W": prod_w,  # exp x reciprocal table value, exact
        "NORM_ALIGN_W": prod_w + sum_fmt(s, n).width,  # the product << up to SUM_MSB_MAX, signed
        "RECIP_LUT_BITS": s.recip_lut_bits,
        "RECIP_LUT_FRAC": s.recip_lut_frac,
        "SUM_MSB_MAX": sum_fmt(s, n).width - 1,
    }


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The softmax_norm spec for project config ``pc``."""
    s = pc.scheme
    cap, p = pc.max_length, pc.lanes[LANES_KEY]
    ports = (
        length_port(cap),
        Port("sum", "in", sum_fmt(s, cap), lanes=1, beats=1, tlast_every=1, doc="exact exp sum (softmax_exp)"),
        row_port("exp", "in", s.exp, p, rows=1, cols=cap, runtime="cols"),
        row_port("prob", "out", s.prob, p, rows=1, cols=cap, runtime="cols"),
    )

    def golden(ins: Arrays) -> Arrays:
        return {"prob": lf.softmax_norm(ins["exp"], ins["sum"][0], s)}

    def make_vectors(seed: int, n: int) -> Arrays:
        e, total = random_exps(np.random.default_rng([seed, 3]), n, s)
        return {"n": np.array([n]), "sum": total, "exp": e}

    return KernelSpec(
        name=NAME,
        params={"N": cap, "P": p},
        consts={"BEATS": row_beats(cap, p), **norm_consts(s, cap)},
        luts={"recip": recip_lut(s)},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth, n: cycles.softmax_norm(n, p, depth),
        max_length=cap,
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.repeat(
            cycles.softmax_norm(shape["n"], p, depth),
            shape.get("invocations", 1)),
        doc=__doc__.splitlines()[0],
    )
