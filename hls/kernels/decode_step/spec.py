"""DATAFLOW top (C++ only): one decode step of one layer -- rmsnorm -> q/k/v projections -> rope -> KV cache
in memory -> per-head qk -> softmax (3 passes) -> av -> o_proj, the kernels joined by FIFOs.

Ports: ``x`` (act, P_rms lanes, H/P_rms beats: the hidden state once), ``gamma`` (norm_weight, P_rms lanes),
``wq``, ``wk``, ``wv``, ``wo`` (weight, P_gemv lanes, row-major, streamed once), ``pos`` (u32 scalar, the
run-time position: n = pos + 1 keys), ``kmem``, ``vtmem`` (m_axi: per KV head, K rows and V^T rows of CAP
= N positions in kv_cache's layout, holding pos earlier tokens), ``out`` (act, 1 lane, H beats: the o_proj
output).  Adapters buffer a vector on chip once and
re-stream it where a kernel wants it beside every row (gemv x, qk q, av p) and regroup lanes between
kernels.  Every projection is the one gemv kernel (kv_dim x H) called block by block, so the top needs
num_heads * head_dim == hidden_size.
"""

from __future__ import annotations

import numpy as np

from golden import llama_fixed as lf
from golden.cycles import row_beats
from hls.kernels.kv_cache.spec import vt_memory
from hls.kernels.rope.spec import POS_FMT
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, rng

NAME = "decode_step"
#: Kernels whose C++ the top includes (rendered beside it at their own spec shapes).
INCLUDES = ("rmsnorm", "gemv", "rope", "kv_cache", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av")


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The decode_step spec for project config ``pc``."""
    s, m = pc.scheme, pc.model
    n, d, g = pc.max_length, m.head_dim, m.group_size
    h, nh, nk, kv = m.hidden_size, m.num_attention_heads, m.num_key_value_heads, m.kv_dim
    if nh * d != h or h % kv:
        raise ValueError(f"decode_step: needs heads*head_dim == hidden_size ({nh * d} vs {h}) and "
                         f"hidden_size divisible by kv_dim ({kv}), to reuse the {kv} x {h} gemv kernel")
    pr, pg, pro = pc.lanes["rmsnorm"], pc.lanes["gemv"], pc.lanes["rope"]
    pq, psm, pav, pkv = pc.lanes["qk"], pc.lanes["softmax"], pc.lanes["av"], pc.lanes["kv_cache"]
    cap = n
    vt_row = row_beats(cap, pkv) * pkv  # a V^T row in memory: CAP entries padded to whole bus words
    ports = (
        Port("x", "in", s.act, lanes=pr, beats=h // pr, tlast_every=h // pr, doc="hidden state of the new token"),
        Port("gamma", "in", s.norm_weight, lanes=pr, beats=h // pr, tlast_every=h // pr, doc="RMSNorm weight"),
        Port("wq", "in", s.weight, lanes=pg, beats=nh * d * h // pg, tlast_every=nh * d * h // pg,
             doc="q_proj weights, row-major"),
        Port("wk", "in", s.weight, lanes=pg, beats=kv * h // pg, tlast_every=kv * h // pg,
             doc="k_proj weights, row-major"),
        Port("wv", "in", s.weight, lanes=pg, beats=kv * h // pg, tlast_every=kv * h // pg,
             doc="v_proj weights, row-major"),
        Port("wo", "in", s.weight, lanes=pg, beats=h * nh * d // pg, tlast_every=h * nh * d // pg,
             doc="o_proj weights, row-major"),
        Port("pos", "in", POS_FMT, lanes=1, beats=1, tlast_every=0, kind="scalar",
             doc=f"position of the new token, 0..{cap - 1}"),
        Port("kmem", "inout", s.act, lanes=pkv, beats=nk * cap * d // pkv, tlast_every=0, kind="m_axi",
             doc="K rows per KV head"),
        Port("vtmem", "inout", s.act, lanes=pkv, beats=nk * d * vt_row // pkv, tlast_every=0, kind="m_axi",
             doc="V^T rows per KV head (padded to whole words)"),
        Port("out", "out", s.act, lanes=1, beats=h, tlast_every=h, doc="o_proj output"),
    )

    def golden(ins: Arrays) -> Arrays:
        pos = int(ins["pos"][0])
        if not 0 <= pos < cap:
            raise ValueError(f"decode_step: pos = {pos} is outside 0..{cap - 1}; the kernel refuses it")
        layer = lf.FixedLayer(ins["wq"].reshape(nh * d, h), ins["wk"].reshape(kv, h), ins["wv"].reshape(kv, h),
                              ins["wo"].reshape(h, nh * d), ins["gamma"].copy())
        k = ins["kmem"].reshape(nk, cap, d).copy()
        vt = ins["vtmem"].reshape(nk, d, vt_row)
        cache = lf.FixedKVCache(k, vt[:, :, :cap].transpose(0, 2, 1).copy(), pos)
        out = lf.decode_step(m, layer, ins["x"], pos, cache, s)
        vt_after = vt.copy()
        vt_after[:, :, :cap] = cache.v.transpose(0, 2, 1)
        return {"kmem": cache.k.reshape(-1), "vtmem": vt_after.reshape(-1), "out": out}

    def make_vectors(seed: int, keys: int) -> Arrays:
        """The new token at pos = keys - 1 over a cache of random values in every row (rows beyond pos and
        the V^T rows' padding entries too: the kernel must neither read nor disturb them)."""
        r = rng(seed, NAME)
        ws = h ** -0.5  # unit-variance projections
        k = gauss(r, s.act, (nk, cap, d), 1.2).reshape(nk, cap, d)
        v = gauss(r, s.act, (nk, cap, d), 1.0).reshape(nk, cap, d)
        return {
            "x": gauss(r, s.act, h, 1.0),
            "gamma": gauss(r, s.norm_weight, h, 0.05, mean=1.0),
            "wq": gauss(r, s.weight, nh * d * h, ws),
            "wk": gauss(r, s.weight, kv * h, ws),
            "wv": gauss(r, s.weight, kv * h, ws),
            "wo": gauss(r, s.weight, h * nh * d, ws),
            "pos": np.array([keys - 1], dtype=np.int64),
            "kmem": k.reshape(-1),
            "vtmem": np.concatenate([vt_memory(v[j].T, pkv) for j in range(nk)]),
        }

    return KernelSpec(
        name=NAME,
        params={"N": n, "D": d, "G": g, "H": h, "NH": nh, "NK": nk, "KV": kv, "P_RMS": pr, "P_GEMV": pg,
                "P_ROPE": pro, "P_QK": pq, "P_SM": psm, "P_AV": pav, "P_KV": pkv, "includes": INCLUDES},
        consts={"ROPE_BEATS": d // (2 * pro), "KV_ROW_WORDS": d // pkv, "Q_BLOCKS": nh * d // kv,
                "O_BLOCKS": h // kv},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=None,
        max_length=cap,
        langs=("vitis",),
        doc=__doc__.splitlines()[0],
    )
