"""Logits of one head: ``logit_j = requant(sum_i q_i K[j, i] * SCALE)`` with SCALE = 1/sqrt(head_dim).

Ports: ``k`` (act, P lanes, N*d/P beats, key rows), ``q`` (act, P lanes, same beats: q re-streamed beside
every key), ``logit`` (logit, 1 lane, N beats).  The gemv datapath with the scale constant.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, mag, pad_to, rng, signed_bits, unsigned_bits

NAME = "qk"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("qk",)
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "qk"


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The qk spec for project config ``pc``."""
    s, m = pc.scheme, pc.model
    n, d, p = pc.max_length, m.head_dim, pc.lanes[LANES_KEY]
    beats = n * d // p
    ports = (
        Port("k", "in", s.act, lanes=p, beats=beats, tlast_every=beats, doc="key rows"),
        Port("q", "in", s.act, lanes=p, beats=beats, tlast_every=beats, doc="query re-streamed beside every key"),
        Port("logit", "out", s.logit, lanes=1, beats=n, tlast_every=n),
    )
    scale = s.qk_scale_raw(d)

    def golden(ins: Arrays) -> Arrays:
        qs = ins["q"].reshape(n, d)
        if not np.all(qs == qs[0]):
            raise ValueError("qk: q must be the same vector re-streamed beside every key")
        return {"logit": lf.qk(qs[0], ins["k"].reshape(n, d), d, s)}

    def make_vectors(seed: int) -> Arrays:
        r = rng(seed, NAME)
        q = gauss(r, s.act, d, 1.2)
        return {"k": gauss(r, s.act, n * d, 1.2), "q": np.tile(q, n)}

    return KernelSpec(
        name=NAME,
        params={"N": n, "D": d, "P": p},
        consts={
            "ACC_W": signed_bits(d * mag(s.act) ** 2),
            "ROW_BEATS": d // p,
            "QK_SCALE": scale,
            "QK_SCALE_W": unsigned_bits(scale),
            "QK_SCALE_FRAC": s.qk_scale_frac,
        },
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth: cycles.qk(n, d, p, depth),
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.repeat(
            cycles.qk(shape["n"], pad_to(shape["head_dim"], p), p, depth),
            shape.get("invocations", 1)),
        doc=__doc__.splitlines()[0],
    )
