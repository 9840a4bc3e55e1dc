"""KV cache of one KV head in external memory (AXI4 master, bursts): mem_store_kv then mem_load_kv.

The cache keeps K by rows (``kmem``: CAP rows of d) and V transposed (``vtmem``: d rows of CAP), so
qk and av stream straight from memory (docs/FIXED_POINT.md).  One invocation stores the new token's
``k_new`` / ``v_new`` at position ``pos`` and streams rows 0..pos of K (``k``) and the first pos+1
entries of every V^T row (``vt``); the new token's values are forwarded from the on-chip copy, so the
loads never wait for the stores.  Ports: ``k_new``, ``v_new`` (act, P lanes, d/P beats), ``pos``
(u32 scalar), ``kmem``, ``vtmem`` (m_axi, P elements per bus word, CAP = N positions), ``k`` (act, P,
N*d/P beats), ``vt`` (act, P, d*N/P beats); the test vectors use pos = N - 1.
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from hls.kernels.rope.spec import POS_FMT
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, pad_to, rng

NAME = "kv_cache"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("mem_store_kv", "mem_load_kv")
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "kv_cache"
#: Longest AXI burst the kernel issues (beats); also the m_axi max_*_burst_length.
BURST = 16
#: Memory latency the cycle model assumes (cycles a read burst of L beats takes beyond L, AR to last R; a
#: write burst beyond L, AW to B).  The values are those of the cocotbext-axi AxiRam model used in the RTL
#: tests; a board's memory controller has its own, which go here.
MEM_READ_GAP, MEM_WRITE_GAP = 2, 3


def build(pc) -> KernelSpec:  # noqa: ANN001
    """The kv_cache spec for project config ``pc``."""
    s, m = pc.scheme, pc.model
    n, d, p = pc.max_length, m.head_dim, pc.lanes[LANES_KEY]
    cap = n
    ports = (
        Port("k_new", "in", s.act, lanes=p, beats=d // p, tlast_every=d // p, doc="roped key of the new token"),
        Port("v_new", "in", s.act, lanes=p, beats=d // p, tlast_every=d // p, doc="value of the new token"),
        Port("pos", "in", POS_FMT, lanes=1, beats=1, tlast_every=0, kind="scalar", doc="position of the new token"),
        Port("kmem", "inout", s.act, lanes=p, beats=cap * d // p, tlast_every=0, kind="m_axi", doc="K rows in memory"),
        Port("vtmem", "inout", s.act, lanes=p, beats=d * cap // p, tlast_every=0, kind="m_axi",
             doc="V^T rows in memory"),
        Port("k", "out", s.act, lanes=p, beats=n * d // p, tlast_every=n * d // p, doc="K rows 0..pos"),
        Port("vt", "out", s.act, lanes=p, beats=d * n // p, tlast_every=d * n // p, doc="V^T rows, entries 0..pos"),
    )

    def golden(ins: Arrays) -> Arrays:
        pos = int(ins["pos"][0])
        if pos != n - 1:
            raise ValueError(f"kv_cache: the port shapes fix pos = {n - 1}, got {pos}")
        kmem = ins["kmem"].reshape(cap, d).copy()
        vt = ins["vtmem"].reshape(d, cap).copy()
        kmem[pos] = ins["k_new"]
        vt[:, pos] = ins["v_new"]
        return {"kmem": kmem.reshape(-1), "vtmem": vt.reshape(-1), "k": kmem[: pos + 1].reshape(-1),
                "vt": vt[:, : pos + 1].reshape(-1)}

    def make_vectors(seed: int) -> Arrays:
        r = rng(seed, NAME)
        return {
            "k_new": gauss(r, s.act, d, 1.0),
            "v_new": gauss(r, s.act, d, 1.0),
            "pos": np.array([n - 1], dtype=np.int64),
            "kmem": gauss(r, s.act, cap * d, 1.0),
            "vtmem": gauss(r, s.act, d * cap, 1.0),
        }

    def op_cycles(op: str, shape, depth: int) -> cycles.Timing:  # noqa: ANN001 (Mapping)
        """The store (``kv_heads`` of them) or the load of ``n`` rows per KV head (``kv_heads`` of them)."""
        dim = pad_to(shape["head_dim"], p)
        if op == "mem_store_kv":
            one = cycles.kv_store_axi(dim, p, BURST, MEM_READ_GAP, MEM_WRITE_GAP)
        else:
            one = cycles.kv_load_axi(pad_to(shape["n"], p), dim, p, BURST, MEM_READ_GAP)
        return cycles.repeat(one, shape.get("kv_heads", 1))

    return KernelSpec(
        name=NAME,
        params={"N": n, "D": d, "P": p, "CAP": cap, "MEM_READ_GAP": MEM_READ_GAP,
                "MEM_WRITE_GAP": MEM_WRITE_GAP},
        consts={"ROW_WORDS": d // p, "CAP_WORDS": cap // p, "BURST": BURST},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth: cycles.kv_cache_axi(n, d, p, BURST, MEM_READ_GAP, MEM_WRITE_GAP),
        langs=("vitis", "rtl"),  # rtl: hand-written hls/kernels/kv_cache/kv_cache.v.j2
        lanes_key=LANES_KEY,
        op_cycles=op_cycles,
        doc=__doc__.splitlines()[0],
    )
