"""Softmax pass 1: the maximum logit of one head (exact), over a run-time number of keys.

Ports: ``n`` (scalar: valid keys, 1..N), ``logit`` (logit, P lanes, ceil(n/P) beats: the last beat's lanes
at and beyond n are padding, which the kernel masks), ``max`` (logit, 1 lane, 1 beat).  N = context.max_length.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from golden.cycles import row_beats
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import length_port, row_port

NAME = "softmax_max"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("softmax_max",)
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "softmax"


def random_logits(r: np.random.Generator, n: int, s) -> np.ndarray:  # noqa: ANN001 (FixedScheme)
    """Realistic attention logits: N(0, 2.5) with a few strong keys (raw, logit format)."""
    x = 2.5 * r.standard_normal(n)
    hot = r.choice(n, size=max(1, n // 16), replace=False)
    x[hot] += r.uniform(3.0, 8.0, size=hot.size)
    return s.logit.quantize(x).astype(np.int64)


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The softmax_max spec for project config ``pc``."""
    s = pc.scheme
    cap, p = pc.max_length, pc.lanes[LANES_KEY]
    ports = (
        length_port(cap),
        row_port("logit", "in", s.logit, p, rows=1, cols=cap, runtime="cols"),
        Port("max", "out", s.logit, lanes=1, beats=1, tlast_every=1),
    )

    def golden(ins: Arrays) -> Arrays:
        return {"max": np.atleast_1d(lf.softmax_max(ins["logit"]))}

    def make_vectors(seed: int, n: int) -> Arrays:
        return {"n": np.array([n]), "logit": random_logits(np.random.default_rng([seed, 1]), n, s)}

    return KernelSpec(
        name=NAME,
        params={"N": cap, "P": p},
        consts={"BEATS": row_beats(cap, p)},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth, n: cycles.softmax_max(n, p, depth),
        max_length=cap,
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.repeat(
            cycles.softmax_max(shape["n"], p, depth),
            shape.get("invocations", 1)),
        doc=__doc__.splitlines()[0],
    )
