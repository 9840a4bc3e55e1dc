"""Attention output of one head: ``out_i = requant(sum_j p_j V[j, i])`` over V^T rows.

Ports: ``vt`` (act, P lanes, d*N/P beats: row i = column i of V), ``p`` (prob, P lanes, same beats: the
probabilities re-streamed beside every row), ``out`` (act, 1 lane, d beats).
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from hls.kernels.softmax_norm.spec import random_probs
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, mag, pad_to, rng, signed_bits

NAME = "av"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("av",)
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "av"


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The av spec for project config ``pc``."""
    s, m = pc.scheme, pc.model
    n, d, p = pc.max_length, m.head_dim, pc.lanes[LANES_KEY]
    beats = d * n // p
    ports = (
        Port("vt", "in", s.act, lanes=p, beats=beats, tlast_every=beats,
             doc="V transposed, one row per head dimension"),
        Port("p", "in", s.prob, lanes=p, beats=beats, tlast_every=beats,
             doc="probabilities re-streamed beside every row"),
        Port("out", "out", s.act, lanes=1, beats=d, tlast_every=d),
    )

    def golden(ins: Arrays) -> Arrays:
        ps = ins["p"].reshape(d, n)
        if not np.all(ps == ps[0]):
            raise ValueError("av: p must be the same vector re-streamed beside every V^T row")
        return {"out": lf.av(ps[0], ins["vt"].reshape(d, n).T, s)}

    def make_vectors(seed: int) -> Arrays:
        r = rng(seed, NAME)
        probs = random_probs(r, n, s)
        return {"vt": gauss(r, s.act, d * n, 1.0), "p": np.tile(probs, d)}

    return KernelSpec(
        name=NAME,
        params={"N": n, "D": d, "P": p},
        consts={"ACC_W": signed_bits(n * mag(s.prob) * mag(s.act)), "ROW_BEATS": n // p},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth: cycles.av(n, d, p, depth),
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.repeat(
            cycles.av(pad_to(shape["n"], p), shape["head_dim"], p, depth),
            shape.get("invocations", 1)),
        doc=__doc__.splitlines()[0],
    )
