"""DATAFLOW top (C++ only): decode attention of one GQA group -- KV cache in memory, every query head of
the group through qk -> softmax (3 passes) -> av.

Ports: ``q`` (act, P_qk lanes, G*d/P_qk beats: the G roped query heads sharing the KV head), ``k_new``,
``v_new`` (act, P_kv lanes, d/P_kv beats: the new token's roped key and value), ``pos`` (u32 scalar, the
run-time position: n = pos + 1 keys), ``kmem``, ``vmem`` (m_axi, the KV head's cache in kv_cache's layout:
K rows and V rows of CAP = N positions, the very ports of the kv_cache spec), ``out`` (act, 1 lane, G*d
beats).  Tasks: the KV cache stores the new token, loads the head's K and V rows once into on-chip buffers
and streams K and V^T from them to each query head (kv_group), adapters regroup lanes between kernels,
re-stream q beside every key and p beside every V^T row, and buffer the exps until the sum is known.
"""

from __future__ import annotations

import math

import numpy as np

from golden import llama_fixed as lf
from hls.kernels.kv_cache import spec as kv_cache
from hls.kernels.rope.spec import POS_FMT
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, rng

NAME = "attention_decode"
#: Kernels whose C++ the top includes (rendered beside it).
INCLUDES = ("kv_cache", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av")


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The attention_decode spec for project config ``pc``."""
    s, m = pc.scheme, pc.model
    n, d, g = pc.max_length, m.head_dim, m.group_size
    pq, psm, pav, pkv = pc.lanes["qk"], pc.lanes["softmax"], pc.lanes["av"], pc.lanes["kv_cache"]
    cap = n
    kv = kv_cache.build(pc)  # the cache's layout: its kmem / vmem ports
    ports = (
        Port("q", "in", s.act, lanes=pq, beats=g * d // pq, tlast_every=g * d // pq,
             doc="roped queries of the group's heads"),
        Port("k_new", "in", s.act, lanes=pkv, beats=d // pkv, tlast_every=d // pkv, doc="roped key of the new token"),
        Port("v_new", "in", s.act, lanes=pkv, beats=d // pkv, tlast_every=d // pkv, doc="value of the new token"),
        Port("pos", "in", POS_FMT, lanes=1, beats=1, tlast_every=0, kind="scalar",
             doc=f"position of the new token, 0..{cap - 1}"),
        kv.port("kmem"),
        kv.port("vmem"),
        Port("out", "out", s.act, lanes=1, beats=g * d, tlast_every=g * d, doc="attention output of each head"),
    )

    def golden(ins: Arrays) -> Arrays:
        pos = int(ins["pos"][0])
        if not 0 <= pos < cap:
            raise ValueError(f"attention_decode: pos = {pos} is outside 0..{cap - 1}; the kernel refuses it")
        kmem = ins["kmem"].reshape(cap, d).copy()
        vmem = ins["vmem"].reshape(cap, d).copy()
        kmem[pos] = ins["k_new"]
        vmem[pos] = ins["v_new"]
        keys, values = kmem[: pos + 1], vmem[: pos + 1]
        q = ins["q"].reshape(g, d)
        logits = lf.qk(q, keys, d, s)
        e, total = lf.softmax_exp(logits, lf.softmax_max(logits), s)
        probs = lf.softmax_norm(e, total, s)
        return {"kmem": kmem.reshape(-1), "vmem": vmem.reshape(-1), "out": lf.av(probs, values, s).reshape(-1)}

    def make_vectors(seed: int, keys: int) -> Arrays:
        """The new token at pos = keys - 1; the cache holds random values in every row (beyond pos too: rows
        the kernel must neither read nor disturb)."""
        r = rng(seed, NAME)
        return {
            "q": gauss(r, s.act, g * d, 1.2),
            "k_new": gauss(r, s.act, d, 1.2),
            "v_new": gauss(r, s.act, d, 1.0),
            "pos": np.array([keys - 1], dtype=np.int64),
            "kmem": gauss(r, s.act, cap * d, 1.2),
            "vmem": gauss(r, s.act, cap * d, 1.0),
        }

    return KernelSpec(
        name=NAME,
        params={"N": n, "D": d, "G": g, "P_QK": pq, "P_SM": psm, "P_AV": pav, "P_KV": pkv,
                # repeat_p's buffer row: whole beats of both the softmax and the av lanes (static banks)
                "P_ROW": math.lcm(psm, pav),
                "KV_BURST": kv.consts["BURST"], "includes": INCLUDES},

        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=None,
        max_length=cap,
        langs=("vitis",),
        doc=__doc__.splitlines()[0],
    )
