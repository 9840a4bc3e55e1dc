"""RMSNorm of the hidden state: two passes over ``x`` (sum of squares, then scale by rsqrt and gamma).

Ports (docs/FIXED_POINT.md): ``x`` (act, P lanes, 2H/P beats: the vector twice), ``gamma`` (norm_weight,
P lanes, H/P beats, alongside pass 2), ``y`` (act, P lanes, H/P beats).
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from pyflow.specs.base import Arrays, KernelSpec, Lut, Port
from pyflow.specs.common import gauss, lut_fmt, mag, pad_to, rng, unsigned_bits

NAME = "rmsnorm"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("rmsnorm",)
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "rmsnorm"


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The rmsnorm spec for project config ``pc``."""
    s, m = pc.scheme, pc.model
    h, p = m.hidden_size, pc.lanes[LANES_KEY]
    eps = m.rms_norm_eps
    ports = (
        Port("x", "in", s.act, lanes=p, beats=2 * h // p, tlast_every=2 * h // p,
             doc="the vector twice (pass 1, pass 2)"),
        Port("gamma", "in", s.norm_weight, lanes=p, beats=h // p, tlast_every=h // p,
             doc="RMSNorm weight, alongside pass 2"),
        Port("y", "out", s.act, lanes=p, beats=h // p, tlast_every=h // p),
    )

    def golden(ins: Arrays) -> Arrays:
        x2 = ins["x"].reshape(2, h)
        if not np.all(x2[0] == x2[1]):
            raise ValueError("rmsnorm: x must be streamed twice, identically")
        return {"y": lf.rmsnorm(x2[0], ins["gamma"], eps, s)}

    def make_vectors(seed: int) -> Arrays:
        r = rng(seed, NAME)
        x = gauss(r, s.act, h, 1.0)
        return {"x": np.tile(x, 2), "gamma": gauss(r, s.norm_weight, h, 0.05, mean=1.0)}

    invn = s.invn_raw(h)
    rsqrt = Lut(s.rsqrt_lut, lut_fmt(s.rsqrt_lut, s.rsqrt_lut_frac))
    sumsq_w = unsigned_bits(h * mag(s.act) ** 2)
    q_min = (0 - s.ms.frac) // 2
    q_max = (s.ms.width - 1 - s.ms.frac) // 2
    return KernelSpec(
        name=NAME,
        params={"H": h, "P": p, "EPS": eps, "MS": s.ms, "INV_RMS": s.inv_rms},
        consts={
            "BEATS": h // p,
            "INVN": invn,
            "INVN_W": unsigned_bits(invn),
            "INVN_FRAC": s.invn_frac,
            "EPS_RAW": s.eps_raw(eps),
            "SUMSQ_W": sumsq_w,
            "RSQRT_LUT_BITS": s.rsqrt_lut_bits,
            "RSQRT_LUT_FRAC": s.rsqrt_lut_frac,
            "Q_MIN": q_min,
            "Q_MAX": q_max,
            "MS_PROD_W": sumsq_w + unsigned_bits(invn) + 1,  # sum of squares x 1/n, exact, signed
            "RSQRT_ALIGN_W": rsqrt.fmt.width + (q_max - q_min) + 1,  # table value << up to Q_MAX - Q_MIN
        },
        luts={"rsqrt": rsqrt},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth: cycles.rmsnorm(h, p, depth),
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.rmsnorm(pad_to(shape["n"], p), p, depth),
        doc=__doc__.splitlines()[0],
    )
