"""Rotary position embedding (HF rotate-half) of ``n_vec`` head vectors, each with its own position.

Ports (docs/FIXED_POINT.md): ``x`` (act, 2P lanes: lanes 0..P-1 = x[i..i+P), lanes P..2P-1 =
x[i+d/2..i+d/2+P); n_vec*d/(2P) beats), ``pos`` (u32, 1 lane, n_vec beats: one per vector), ``y`` (act,
2P lanes, same layout as ``x``).  The spec is instantiated for one token's q and k heads
(n_vec = heads + kv heads).  cos/sin come from a 32-bit phase accumulator and a quarter-wave table.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden import llama_fixed as lf
from golden.fixed import Fmt
from golden.rope import inv_freq
from pyflow.specs.base import Arrays, KernelSpec, Lut, Port
from pyflow.specs.common import gauss, lut_fmt, pad_to, rng, rom_copies

NAME = "rope"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("rope_q", "rope_k")
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "rope"
POS_FMT = Fmt(32, 0, signed=False, rnd="TRN", ovf="WRAP")


def to_stream(vecs: np.ndarray, p: int) -> np.ndarray:
    """(n_vec, d) tensor -> stream order of the 2P-lane layout."""
    n_vec, d = vecs.shape
    half = vecs.reshape(n_vec, 2, d // 2 // p, p)  # [v, half, beat, lane]
    return half.transpose(0, 2, 1, 3).reshape(-1)


def from_stream(raw: np.ndarray, n_vec: int, d: int, p: int) -> np.ndarray:
    """Inverse of :func:`to_stream`."""
    return raw.reshape(n_vec, d // 2 // p, 2, p).transpose(0, 2, 1, 3).reshape(n_vec, d)


def build(pc, n_vec: int | None = None) -> KernelSpec:  # noqa: ANN001
    """The rope spec for project config ``pc`` (default: the q and k heads of one token)."""
    s, m = pc.scheme, pc.model
    d, p = m.head_dim, pc.lanes[LANES_KEY]
    n_vec = n_vec or (m.num_attention_heads + m.num_key_value_heads)
    beats = n_vec * d // (2 * p)
    steps = s.rope_steps(inv_freq(m))
    ports = (
        Port("x", "in", s.act, lanes=2 * p, beats=beats, tlast_every=beats, doc="pairs (x_i, x_i+d/2), P per beat"),
        Port("pos", "in", POS_FMT, lanes=1, beats=n_vec, tlast_every=n_vec,
             doc="position of each vector, with its first beat"),
        Port("y", "out", s.act, lanes=2 * p, beats=beats, tlast_every=beats),
    )

    def golden(ins: Arrays) -> Arrays:
        x = from_stream(ins["x"], n_vec, d, p)
        y = lf.rope(x, ins["pos"], steps, s)
        return {"y": to_stream(y, p)}

    def make_vectors(seed: int) -> Arrays:
        r = rng(seed, NAME)
        x = gauss(r, s.act, (n_vec, d), 1.5).reshape(n_vec, d)
        pos = r.integers(0, m.max_position_embeddings, size=n_vec)
        pos[0] = pc.max_length - 1  # the last decode position the capacity allows
        return {"x": to_stream(x, p), "pos": pos.astype(np.int64)}

    k, pb = s.sine_lut_bits, s.phase_bits
    return KernelSpec(
        name=NAME,
        params={"N_VEC": n_vec, "D": d, "P": p, "TRIG": s.trig},
        consts={
            "VEC_BEATS": d // (2 * p),
            "SINE_BITS": k,
            "PHASE_BITS": pb,
            "PHASE_DROP": pb - k - 2,
            "SINE_COPIES": rom_copies(2 * p),  # P pairs x (sin, cos) reads of SINE per beat: one copy per pair
        },
        luts={
            "sine": Lut(s.sine_lut, lut_fmt(s.sine_lut, s.trig.frac)),
            "steps": Lut(steps, lut_fmt(steps, 0)),
        },
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth: cycles.rope(n_vec, d, p, depth),
        lanes_key=LANES_KEY,
        op_cycles=lambda op, shape, depth: cycles.rope(shape["n_vec"], pad_to(shape["head_dim"], 2 * p), p, depth),
        doc=__doc__.splitlines()[0],
    )
