"""KV cache of one KV head in external memory (AXI4 masters, bursts): mem_store_kv then mem_load_kv, at a
run-time position.

The cache keeps K by rows (``kmem``: CAP rows of d) and V transposed (``vtmem``: d rows of CAP entries, each
row padded with whole bus words, ceil(CAP/P) of them), so qk and av stream straight from memory
(docs/FIXED_POINT.md).  One invocation stores the new token's ``k_new`` / ``v_new`` at position ``pos`` (a
scalar, 0..CAP-1; n = pos + 1 keys after the store) and streams rows 0..pos of K (``k``: n rows of d) and
the first n entries of every V^T row (``vt``: d rows of n, the last beat of each row zero beyond n); the new
token's values are forwarded from the on-chip copy, so the loads never wait for the stores.  A bus word is
the P elements packed and zero-padded to a power of two of at least 8 bits (``BUS_BITS``, as Vitis pads an
m_axi word).  Bursts are at most ``BURST`` beats and never cross a 4 KB boundary nor a buffer's end; the
buffers sit at byte addresses ``KMEM_BASE`` / ``VTMEM_BASE`` (``build`` arguments, 0 by default).  A
position at or beyond the capacity is refused: nothing is written (C++: an assert; RTL: the sticky
``error`` output, see kv_cache.v.j2).
"""

from __future__ import annotations

import numpy as np

from golden import cycles
from golden.cycles import row_beats
from hls.kernels.rope.spec import POS_FMT
from pyflow.specs.base import Arrays, KernelSpec, Port
from pyflow.specs.common import gauss, index_bits, pad_to, rng, row_port

NAME = "kv_cache"
#: The chain ops (golden.llama.CHAIN_OPS) this kernel implements.
OPS = ("mem_store_kv", "mem_load_kv")
#: The [lanes] key of the project config that sets this kernel's lanes.
LANES_KEY = "kv_cache"
#: Longest AXI burst the kernel issues (beats, a power of two); also the m_axi max_*_burst_length.
BURST = 16
#: Memory latency the cycle model assumes (cycles a read burst of L beats takes beyond L, AR to last R; a
#: write burst beyond L, AW to B).  The values are those of the cocotbext-axi AxiRam model used in the RTL
#: tests; a board's memory controller has its own, which go here.
MEM_READ_GAP, MEM_WRITE_GAP = 2, 3


def vt_memory(vt: np.ndarray, lanes: int) -> np.ndarray:
    """The ``vtmem`` image of V^T rows ``vt`` (d rows of CAP entries): each row zero-padded to whole bus words
    of ``lanes`` entries (ceil(CAP / lanes) * lanes), flattened."""
    vt = np.asarray(vt, dtype=np.int64)
    out = np.zeros((vt.shape[0], row_beats(vt.shape[1], lanes) * lanes), dtype=np.int64)
    out[:, : vt.shape[1]] = vt
    return out.reshape(-1)


def reciprocal(divisor: int, limit: int) -> tuple[int, int]:
    """``(m, s)`` with ``(q * m) >> s == q // divisor`` for every ``0 <= q < limit`` (the smallest such s):
    a division by a constant as a multiply (the RTL's pos / P when P is not a power of two)."""
    for s in range(index_bits(limit), 64):
        m = -(-(1 << s) // divisor)
        q = np.arange(limit, dtype=object)
        if all((q * m) >> s == q // divisor):
            return m, s
    raise ValueError(f"no reciprocal of {divisor} for {limit} values")  # pragma: no cover


def build(pc, kmem_base: int = 0, vtmem_base: int = 0) -> KernelSpec:  # noqa: ANN001
    """The kv_cache spec for project config ``pc``, its buffers at byte addresses ``kmem_base`` / ``vtmem_base``."""
    s, m = pc.scheme, pc.model
    cap, d, p = pc.max_length, m.head_dim, pc.lanes[LANES_KEY]
    if d % p:
        raise ValueError(f"kv_cache: lanes {p} must divide head_dim {d}")
    rw, capw = d // p, row_beats(cap, p)
    kmem = Port("kmem", "inout", s.act, lanes=p, beats=cap * rw, kind="m_axi", doc="K rows in memory (CAP x d)")
    vtmem = Port("vtmem", "inout", s.act, lanes=p, beats=d * capw, kind="m_axi",
                 doc=f"V^T rows in memory (d x CAP, each row padded to {capw} words)")
    bus_bits = kmem.mem_word_bits
    wb = bus_bits // 8
    if bus_bits > 1024:
        raise ValueError(f"kv_cache: {p} lanes of {s.act.width} bits need a {bus_bits}-bit AXI4 word (max 1024)")
    if kmem_base % wb or vtmem_base % wb:
        raise ValueError(f"kv_cache: buffer bases {kmem_base}, {vtmem_base} must be multiples of the {wb}-byte word")
    ports = (
        Port("k_new", "in", s.act, lanes=p, beats=rw, tlast_every=rw, doc="roped key of the new token"),
        Port("v_new", "in", s.act, lanes=p, beats=rw, tlast_every=rw, doc="value of the new token"),
        Port("pos", "in", POS_FMT, lanes=1, beats=1, tlast_every=0, kind="scalar",
             doc=f"position of the new token, 0..{cap - 1}"),
        kmem,
        vtmem,
        row_port("k", "out", s.act, p, rows=cap, cols=d, runtime="rows", doc="K rows 0..pos"),
        row_port("vt", "out", s.act, p, rows=d, cols=cap, runtime="cols", doc="V^T rows, entries 0..pos"),
    )

    def golden(ins: Arrays) -> Arrays:
        pos = int(ins["pos"][0])
        if not 0 <= pos < cap:
            raise ValueError(f"kv_cache: pos = {pos} is outside 0..{cap - 1}; the kernel refuses it")
        kmem = ins["kmem"].reshape(cap, d).copy()
        vt = ins["vtmem"].reshape(d, capw * p).copy()
        kmem[pos] = ins["k_new"]
        vt[:, pos] = ins["v_new"]
        return {"kmem": kmem.reshape(-1), "vtmem": vt.reshape(-1), "k": kmem[: pos + 1].reshape(-1),
                "vt": vt[:, : pos + 1].reshape(-1)}

    def make_vectors(seed: int, n: int) -> Arrays:
        """The new token at pos = n - 1; the memories hold random words everywhere (rows beyond pos, the
        padding entries of the V^T rows: garbage the kernel must neither load nor disturb)."""
        r = rng(seed, NAME)
        act = s.act
        return {
            "k_new": gauss(r, act, d, 1.0),
            "v_new": gauss(r, act, d, 1.0),
            "pos": np.array([n - 1], dtype=np.int64),
            "kmem": r.integers(act.raw_min, act.raw_max + 1, size=kmem.elements, dtype=np.int64),
            "vtmem": r.integers(act.raw_min, act.raw_max + 1, size=vtmem.elements, dtype=np.int64),
        }

    def timing(n: int) -> cycles.Timing:
        return cycles.kv_cache_axi(n, d, p, BURST, MEM_READ_GAP, MEM_WRITE_GAP, cap=cap, word_bytes=wb,
                                   k_base=kmem_base, v_base=vtmem_base)

    def op_cycles(op: str, shape, depth: int) -> cycles.Timing:  # noqa: ANN001 (Mapping)
        """The store of token n - 1 or the load of ``n`` rows (``shape["n"]``; the capacity when absent), per
        KV head (``kv_heads`` of them).  A schedule may ask beyond the capacity: the model is then that of a
        kernel built for n keys."""
        dim = pad_to(shape["head_dim"], p)
        n = int(shape.get("n", cap))
        common = {"cap": max(cap, n), "word_bytes": wb, "k_base": kmem_base}
        if op == "mem_store_kv":
            one = cycles.kv_store_axi(dim, p, BURST, MEM_READ_GAP, MEM_WRITE_GAP, n=n, **common)
        else:
            one = cycles.kv_load_axi(n, dim, p, BURST, MEM_READ_GAP, v_base=vtmem_base, **common)
        return cycles.repeat(one, shape.get("kv_heads", 1))

    div_m, div_s = reciprocal(p, cap)
    return KernelSpec(
        name=NAME,
        params={"N": cap, "D": d, "P": p, "CAP": cap, "MEM_READ_GAP": MEM_READ_GAP,
                "MEM_WRITE_GAP": MEM_WRITE_GAP, "KMEM_BASE": kmem_base, "VTMEM_BASE": vtmem_base},
        consts={"ROW_WORDS": rw, "CAP_WORDS": capw, "BURST": BURST, "BUS_BITS": bus_bits,
                "BOUNDARY": cycles.AXI_BOUNDARY, "DIV_M": div_m, "DIV_S": div_s},
        ports=ports,
        golden=golden,
        make_vectors=make_vectors,
        cycles=lambda depth, n: timing(n),
        max_length=cap,
        langs=("vitis", "rtl"),  # rtl: hand-written hls/kernels/kv_cache/kv_cache.v.j2
        lanes_key=LANES_KEY,
        op_cycles=op_cycles,
        doc=__doc__.splitlines()[0],
    )
