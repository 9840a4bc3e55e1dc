"""Vitis C++ twin of the decode accelerator (hls/accel/, docs/ACCEL.md): one decode step of one layer's attention
block from external memory, the same AccelSpec in the other language.

Ports: ``pos`` (u32 scalar: the decode position, n = pos + 1 keys), ``w_base``, ``kv_base``, ``x_base``,
``y_base`` (m_axi bus words of ``memory.data_bits``, E elements a word: the accelerator's four memory areas,
regions and packing of :class:`hls.accel.spec.AccelSpec`), ``status`` (u32 output scalar: bit 0 = refused because
pos >= capacity, nothing read or written).  Phases as the RTL controller runs them: x and gamma -> rmsnorm ->
q/k/v projections (weight rows read at one word a cycle) -> rope at run-time pos -> per KV head: the new K and V
rows stored at pos, K and V rows 0..pos loaded once into on-chip buffers and served to the head's G query heads
(qk, 3-pass softmax, av with V read transposed from the V bank) -> o_proj -> y.  The kernels are
AccelSpec.kernels' (E lanes), rendered beside the top (``deps/``) and called by their cores.
"""

from __future__ import annotations

import numpy as np

from golden import llama_fixed as lf
from golden.fixed import Fmt
from hls.accel.spec import MAX_BURST, OUTSTANDING, AccelSpec
from hls.accel.spec import build as build_accel
from hls.kernels.rope.spec import POS_FMT
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, rng

NAME = "decode_step"
#: Left out of "every kernel" (pyflow.specs.all_specs) when the accelerator cannot serve the config (e.g. formats of
#: different widths); named explicitly it is an error.
OPTIONAL = True
#: The four memory areas, in argument order (their s_axilite offsets are hls/accel/spec.py REGISTERS).
AREAS = ("w_base", "kv_base", "x_base", "y_base")
#: The status register's format (bit 0: refused).
STATUS_FMT = Fmt(32, 0, signed=False, rnd="TRN", ovf="WRAP")


def area_ports(a: AccelSpec) -> tuple[Port, ...]:
    """The four m_axi areas: ``area_words`` bus words of E elements each."""
    e, fmt = a.per_word, a.scheme.act
    docs = {"w_base": ("in", "weights: gamma, wk, wv, wq, wo"), "kv_base": ("inout", "KV cache: per KV head K rows "
            "then V rows, capacity positions each"), "x_base": ("in", "input hidden state x"),
            "y_base": ("out", "output y (o_proj, before the residual add)")}
    return tuple(Port(area, docs[area][0], fmt, lanes=e, beats=a.area_words(area), kind="m_axi", doc=docs[area][1])
                 for area in AREAS)


def params(a: AccelSpec) -> dict:
    """Shapes, lanes and the memory layout (word offsets of every region) for the template."""
    m = a.model
    return {
        "H": m.hidden_size, "NH": m.num_attention_heads, "NK": m.num_key_value_heads, "D": m.head_dim,
        "G": m.group_size, "KV": m.kv_dim, "QD": m.q_dim, "N": a.capacity, "E": a.per_word, "DW": a.data_bits,
        "EW": a.width, "RW": a.row_words, "HW": m.hidden_size // a.per_word, "QW": m.q_dim // a.per_word,
        "MAX_BURST": MAX_BURST, "OUTSTANDING": OUTSTANDING,
        "GAMMA_AT": a.region("gamma").word, "WK_AT": a.region("wk").word, "WV_AT": a.region("wv").word,
        "WQ_AT": a.region("wq").word, "WO_AT": a.region("wo").word, "X_AT": a.region("x").word,
        "Y_AT": a.region("y").word,
        "K_AT": [a.region(f"k{j}").word for j in range(m.num_key_value_heads)],
        "V_AT": [a.region(f"v{j}").word for j in range(m.num_key_value_heads)],
    }


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The decode_step spec for project config ``pc`` (the accelerator at its [memory] port width)."""
    a = build_accel(pc)
    m, s = a.model, a.scheme
    cap, nk, d, h = a.capacity, m.num_key_value_heads, m.head_dim, m.hidden_size
    ports = (
        Port("pos", "in", POS_FMT, kind="scalar", doc=f"decode position 0..{cap - 1}; keys attended n = pos + 1"),
        *area_ports(a),
        Port("status", "out", STATUS_FMT, kind="scalar", doc="bit 0: refused, pos >= capacity"),
    )
    e = a.per_word

    def at(region: str, pos: int = 0) -> int:
        """Element index of a region's first element (of row ``pos`` for a K or V region) in its area."""
        return (a.region(region).word + pos * a.row_words) * e

    def golden(ins: Arrays) -> Arrays:
        pos = int(ins["pos"][0])
        if not 0 <= pos < cap:
            raise ValueError(f"decode_step: pos = {pos} is outside 0..{cap - 1}; the kernel refuses it")
        w, kv = np.asarray(ins["w_base"], np.int64), np.asarray(ins["kv_base"], np.int64)
        layer = lf.FixedLayer(*(w[at(r):][: int(np.prod(shape))].reshape(shape) for r, shape in _tensors(m)))
        k = np.stack([kv[at(f"k{j}"):][: cap * d].reshape(cap, d) for j in range(nk)])
        v = np.stack([kv[at(f"v{j}"):][: cap * d].reshape(cap, d) for j in range(nk)])
        cache = lf.FixedKVCache(k, v, pos)
        y = lf.decode_step(m, layer, ins["x_base"][at("x"):][:h], pos, cache, s)
        kv_after = kv.copy()
        for j in range(nk):
            kv_after[at(f"k{j}", pos):][:d] = cache.k[j, pos]
            kv_after[at(f"v{j}", pos):][:d] = cache.v[j, pos]
        y_area = np.zeros(a.area_words("y_base") * e, np.int64)
        y_area[at("y"):][:h] = y
        return {"kv_base": kv_after, "y_base": y_area, "status": np.array([0])}

    def make_vectors(seed: int, keys: int) -> Arrays:
        """The new token at pos = keys - 1: random weights and x, a cache of random values in every row (rows
        at and beyond pos too: the kernel must neither read nor keep them).  The areas hold the layout of
        AccelSpec.weights_image / kv_image (tests/test_decode_csim.py checks that they agree)."""
        r = rng(seed, NAME)
        ws = h ** -0.5  # unit-variance projections
        tensors = {"wq": gauss(r, s.weight, m.q_dim * h, ws), "wk": gauss(r, s.weight, m.kv_dim * h, ws),
                   "wv": gauss(r, s.weight, m.kv_dim * h, ws), "wo": gauss(r, s.weight, h * m.q_dim, ws),
                   "gamma": gauss(r, s.norm_weight, h, 0.05, mean=1.0)}
        k, v = gauss(r, s.act, nk * cap * d, 1.2), gauss(r, s.act, nk * cap * d, 1.0)
        areas = {area: np.zeros(a.area_words(area) * e, np.int64) for area in ("w_base", "kv_base", "x_base")}
        for name, arr in tensors.items():
            areas["w_base"][at(name):][: arr.size] = arr
        for j in range(nk):
            areas["kv_base"][at(f"k{j}"):][: cap * d] = k[j * cap * d:][: cap * d]
            areas["kv_base"][at(f"v{j}"):][: cap * d] = v[j * cap * d:][: cap * d]
        areas["x_base"][at("x"):][:h] = gauss(r, s.act, h, 1.0)
        return {"pos": np.array([keys - 1], dtype=np.int64), **areas}

    p = params(a)
    return KernelSpec(
        name=NAME,
        params=p,
        consts={},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=None,
        max_length=cap,
        langs=("vitis",),
        doc=__doc__.splitlines()[0],
        deps=dict(a.kernels),
    )


def _tensors(m) -> tuple[tuple[str, tuple[int, ...]], ...]:  # noqa: ANN001 (LlamaConfig)
    """(region, shape) of the layer's tensors in FixedLayer's argument order."""
    h = m.hidden_size
    return (("wq", (m.q_dim, h)), ("wk", (m.kv_dim, h)), ("wv", (m.kv_dim, h)), ("wo", (h, m.q_dim)), ("gamma", (h,)))
