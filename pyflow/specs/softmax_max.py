"""Softmax pass 1: the maximum logit of one head (exact).

Ports: ``logit`` (logit, P lanes, N/P beats), ``max`` (logit, 1 lane, 1 beat).
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from pyflow.specs.base import Arrays, KernelSpec, Port

NAME = "softmax_max"


def random_logits(r: np.random.Generator, n: int, s) -> np.ndarray:  # noqa: ANN001 (FixedScheme)
    """Realistic attention logits: N(0, 2.5) with a few strong keys (raw, logit format)."""
    x = 2.5 * r.standard_normal(n)
    hot = r.choice(n, size=max(1, n // 16), replace=False)
    x[hot] += r.uniform(3.0, 8.0, size=hot.size)
    return s.logit.quantize(x).astype(np.int64)


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The softmax_max spec for project config ``pc``."""
    s = pc.scheme
    n, p = pc.context_length, pc.lanes["softmax"]
    ports = (
        Port("logit", "in", s.logit, p, n // p, n // p),
        Port("max", "out", s.logit, 1, 1, 1),
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
        doc=__doc__.splitlines()[0],
    )
