"""Softmax pass 1: the maximum logit of one head (exact).

Ports: ``logit`` (logit, P lanes, N/P beats), ``max`` (logit, 1 lane, 1 beat).
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import pad_to

NAME = "softmax_max"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("softmax_max",)
#: The [lanes] key of the project config that sets this kernel\'s lanes.
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
    n, p = pc.context_length, pc.lanes[LANES_KEY]
    ports = (
        Port("logit", "in", s.logit, lanes=p, beats=n // p, tlast_every=n // p),
        Port("max", "out", s.logit, lanes=1, beats=1, tlast_every=1),
    )

    def golden(ins: Arrays) -> Arrays:
        return {"max": np.atleast_1d(lf.softmax_max(ins["logit"]))}

    return KernelSpec(
        name=NAME,
        params={"N": n, "P": p},
        consts={"BEATS": n // p},
        ports=ports,
        golden=golden,
        make_vectors=lambda seed: {"logit": random_logits(np.random.default_rng([seed, 1]), n, s)},
        cycles=lambda depth: cycles.softmax_max(n, p, depth),
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.repeat(
            cycles.softmax_max(pad_to(shape["n"], p), p, depth),
            shape.get("invocations", 1)),
        doc=__doc__.splitlines()[0],
    )
