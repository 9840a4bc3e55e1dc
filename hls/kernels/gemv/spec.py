"""GEMV ``y = W x`` (q/k/v/o projections), weights streamed in, ``x`` re-streamed beside every row.

Ports (docs/FIXED_POINT.md): ``w`` (weight, P lanes, n_out*n_in/P beats, row-major), ``x`` (act, P lanes,
same beats: the input vector once per row), ``y`` (act, 1 lane, n_out beats).  The spec is instantiated at
the k/v projection shape (n_out = kv heads x head_dim, n_in = hidden_size); q/o projections are the same
kernel with other ``n_out`` / ``n_in`` params.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, mag, pad_to, rng, signed_bits

NAME = "gemv"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("q_proj", "k_proj", "v_proj", "o_proj")
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "gemv"


def build(pc, n_out: int | None = None, n_in: int | None = None) -> KernelSpec:  # noqa: ANN001
    """The GEMV spec for project config ``pc`` (default shape: k/v projection)."""
    s, m = pc.scheme, pc.model
    n_out = n_out or m.kv_dim
    n_in = n_in or m.hidden_size
    p = pc.lanes[LANES_KEY]
    beats = n_out * n_in // p
    ports = (
        Port("w", "in", s.weight, lanes=p, beats=beats, tlast_every=beats, doc="weights, row-major"),
        Port("x", "in", s.act, lanes=p, beats=beats, tlast_every=beats,
             doc="input vector, re-streamed beside every row"),
        Port("y", "out", s.act, lanes=1, beats=n_out, tlast_every=n_out, doc="one output per row"),
    )

    def golden(ins: Arrays) -> Arrays:
        w = ins["w"].reshape(n_out, n_in)
        xs = ins["x"].reshape(n_out, n_in)
        if not np.all(xs == xs[0]):
            raise ValueError("gemv: x must be the same vector re-streamed beside every row")
        return {"y": lf.gemv(w, xs[0], s)}

    def make_vectors(seed: int) -> Arrays:
        r = rng(seed, NAME)
        x = gauss(r, s.act, n_in, 1.0)
        return {"w": gauss(r, s.weight, n_out * n_in, 0.02), "x": np.tile(x, n_out)}

    return KernelSpec(
        name=NAME,
        params={"N_OUT": n_out, "N_IN": n_in, "P": p},
        consts={"ACC_W": signed_bits(n_in * mag(s.weight) * mag(s.act)), "ROW_BEATS": n_in // p},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth: cycles.gemv(n_out, n_in, p, depth),
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.gemv(shape["n_out"], pad_to(shape["n_in"], p), p, depth),
        doc=__doc__.splitlines()[0],
    )
