"""Attention output of one head over n keys (n at run time): ``out_i = requant(sum_{j<n} p_j V[j, i])``.

Ports: ``n`` (scalar: valid keys, 1..N), ``vt`` (act, P lanes, d rows of n entries, each row ceil(n/P) beats:
row i = column i of V), ``p`` (prob, P lanes, same layout: the probabilities re-streamed beside every row),
``out`` (act, 1 lane, d beats).  N = context.max_length.  P need not divide n: the lanes of a row's last beat
at and beyond n are padding (garbage in vt and p alike), which the kernel masks out of the sum.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from golden.cycles import row_beats
from hls.kernels.softmax_norm.spec import random_probs
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, length_port, mag, rng, row_port, signed_bits

NAME = "av"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("av",)
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "av"


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The av spec for project config ``pc``."""
    s, m = pc.scheme, pc.model
    cap, d, p = pc.max_length, m.head_dim, pc.lanes[LANES_KEY]
    ports = (
        length_port(cap),
        row_port("vt", "in", s.act, p, rows=d, cols=cap, runtime="cols",
                 doc="V transposed, one row per head dimension"),
        row_port("p", "in", s.prob, p, rows=d, cols=cap, runtime="cols",
                 doc="probabilities re-streamed beside every row"),
        Port("out", "out", s.act, lanes=1, beats=d, tlast_every=d),
    )

    def golden(ins: Arrays) -> Arrays:
        n = int(ins["n"][0])
        ps = ins["p"].reshape(d, n)
        if not np.all(ps == ps[0]):
            raise ValueError("av: p must be the same vector re-streamed beside every V^T row")
        return {"out": lf.av(ps[0], ins["vt"].reshape(d, n).T, s)}

    def make_vectors(seed: int, n: int) -> Arrays:
        r = rng(seed, NAME)
        probs = random_probs(r, n, s)
        return {"n": np.array([n]), "vt": gauss(r, s.act, d * n, 1.0), "p": np.tile(probs, d)}

    return KernelSpec(
        name=NAME,
        params={"N": cap, "D": d, "P": p},
        consts={"ACC_W": signed_bits(cap * mag(s.prob) * mag(s.act)), "ROW_BEATS": row_beats(cap, p)},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth, n: cycles.av(n, d, p, depth),
        max_length=cap,
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.repeat(
            cycles.av(shape["n"], shape["head_dim"], p, depth),
            shape.get("invocations", 1)),
        doc=__doc__.splitlines()[0],
    )
