"""Logits of one head over n keys (n at run time): ``logit_j = requant(q . K[j] * SCALE)``, SCALE = 1/sqrt(d).

Ports: ``n`` (scalar: valid keys, 1..N), ``k`` (act, P lanes, n key rows of d/P beats), ``q`` (act, P lanes,
same beats: q re-streamed beside every key), ``logit`` (logit, 1 lane, n beats, TLAST on the last).
N = context.max_length; d = head_dim is static and a multiple of P, so no beat is part-filled.  The gemv
datapath with the scale constant.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from pyflow.specs.base import Arrays, KernelSpec
from pyflow.specs.common import gauss, length_port, mag, pad_to, rng, row_port, signed_bits, unsigned_bits

NAME = "qk"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("qk",)
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "qk"


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The qk spec for project config ``pc``."""
    s, m = pc.scheme, pc.model
    cap, d, p = pc.max_length, m.head_dim, pc.lanes[LANES_KEY]
    if d % p:
        raise ValueError(f"qk: lanes {p} must divide head_dim {d}")
    ports = (
        length_port(cap),
        row_port("k", "in", s.act, p, rows=cap, cols=d, runtime="rows", doc="key rows"),
        row_port("q", "in", s.act, p, rows=cap, cols=d, runtime="rows", doc="query re-streamed beside every key"),
        row_port("logit", "out", s.logit, 1, rows=1, cols=cap, runtime="cols", doc="one logit per key"),
    )
    scale = s.qk_scale_raw(d)

    def golden(ins: Arrays) -> Arrays:
        n = int(ins["n"][0])
        qs = ins["q"].reshape(n, d)
        if not np.all(qs == qs[0]):
            raise ValueError("qk: q must be the same vector re-streamed beside every key")
        return {"logit": lf.qk(qs[0], ins["k"].reshape(n, d), d, s)}

    def make_vectors(seed: int, n: int) -> Arrays:
        r = rng(seed, NAME)
        q = gauss(r, s.act, d, 1.2)
        keys = gauss(r, s.act, cap * d, 1.2)[: n * d]  # the first n keys of a full cache
        return {"n": np.array([n]), "k": keys, "q": np.tile(q, n)}

    return KernelSpec(
        name=NAME,
        params={"N": cap, "D": d, "P": p},
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
        cycles=lambda depth, n: cycles.qk(n, d, p, depth),
        max_length=cap,
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.repeat(
            cycles.qk(shape["n"], pad_to(shape["head_dim"], p), p, depth),
            shape.get("invocations", 1)),
        doc=__doc__.splitlines()[0],
    )
