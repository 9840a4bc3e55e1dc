"""KV cache of one KV head in external memory (AXI4 masters, bursts): mem_store_kv then mem_load_kv, at a
run-time position.

The cache keeps K and V by rows, position-major like the decode accelerator (docs/ACCEL.md, ``kv_image``):
``kmem`` and ``vmem`` each hold CAP rows of d elements, ``WORD_ELEMS`` (M) elements per bus word (element 0 in
the low bits), a row being ``ROW_WORDS`` = d / M whole words.  M is the most elements a ``[memory] data_bits``
word holds that is a multiple of the stream lanes P and divides d (:func:`word_elems`; 8 at the default
config, as the accelerator's), so a bus word is ``BEATS_PER_WORD`` = M / P stream beats.  One invocation
stores the new token's ``k_new`` / ``v_new`` at position ``pos`` (a scalar, 0..CAP-1; n = pos + 1 keys after
the store): one burst write of one row into each buffer; then loads rows 0..pos of both (burst reads of
whole rows), streams K (``k``: n rows of d) and produces V^T on chip from the V rows (``vt``: d rows of n,
ceil(n/P) beats each, the lanes beyond n zero); the new token's row is forwarded from the on-chip copy, so
the loads never wait for the stores.  A bus word is the M elements packed and zero-padded to a power of two
of at least 8 bits (``BUS_BITS``, as Vitis pads an m_axi word).  Bursts are at most ``BURST`` beats (the
m_axi max_*_burst_length: 256 or one 4 KB page) and never cross a 4 KB boundary nor a buffer's end; the
buffers sit at byte addresses ``KMEM_BASE`` / ``VMEM_BASE`` (``build`` arguments, 0 by default).  A position
at or beyond the capacity is refused: nothing is written (C++: an assert; RTL: the sticky ``error`` output,
see kv_cache.v.j2).
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
#: Longest AXI4 burst (beats): the m_axi max_*_burst_length; a burst is also kept within one 4 KB page.
MAX_BURST = 256
#: Memory latency the cycle model assumes (cycles a read burst of L beats takes beyond L, AR to last R; a
#: write burst beyond L, AW to B).  The values are those of the cocotbext-axi AxiRam model used in the RTL
#: tests; a board's memory controller has its own, which go here.
MEM_READ_GAP, MEM_WRITE_GAP = 2, 3


def word_elems(data_bits: int, width: int, lanes: int, head_dim: int) -> int:
    """Elements of one bus word: the largest multiple of ``lanes`` that fits ``data_bits`` and divides
    ``head_dim`` (``lanes`` itself when even that does not fit: the word is then wider than ``data_bits``)."""
    best = lanes
    for m in range(lanes, data_bits // width + 1, lanes):
        if head_dim % m == 0:
            best = m
    return best


def burst_beats(word_bytes: int) -> int:
    """The longest burst: ``MAX_BURST`` beats, or one 4 KB page of ``word_bytes`` words when that is shorter."""
    return min(MAX_BURST, cycles.AXI_BOUNDARY // word_bytes)


def reciprocal(divisor: int, limit: int) -> tuple[int, int]:
    """``(m, s)`` with ``(q * m) >> s == q // divisor`` for every ``0 <= q < limit`` (the smallest such s):
    a division by a constant as a multiply (the RTL's pos / P when P is not a power of two)."""
    for s in range(index_bits(limit), 64):
        m = -(-(1 << s) // divisor)
        q = np.arange(limit, dtype=object)
        if all((q * m) >> s == q // divisor):
            return m, s
    raise ValueError(f"no reciprocal of {divisor} for {limit} values")  # pragma: no cover


def build(pc, kmem_base: int = 0, vmem_base: int = 0) -> KernelSpec:  # noqa: ANN001
    """The kv_cache spec for project config ``pc``, its buffers at byte addresses ``kmem_base`` / ``vmem_base``."""
    s, m = pc.scheme, pc.model
    cap, d, p = pc.max_length, m.head_dim, pc.lanes[LANES_KEY]
    if d % p:
        raise ValueError(f"kv_cache: lanes {p} must divide head_dim {d}")
    me = word_elems(int(pc.memory["data_bits"]), int(s.act.width), p, d)
    rw = d // me
    kmem = Port("kmem", "inout", s.act, lanes=me, beats=cap * rw, kind="m_axi",
                doc=f"K rows in memory (CAP x d, {rw} words a row)")
    vmem = Port("vmem", "inout", s.act, lanes=me, beats=cap * rw, kind="m_axi",
                doc=f"V rows in memory (CAP x d, {rw} words a row)")
    bus_bits = kmem.mem_word_bits
    wb = bus_bits // 8
    if bus_bits > 1024:
        raise ValueError(f"kv_cache: {p} lanes of {s.act.width} bits need a {bus_bits}-bit AXI4 word (max 1024)")
    if kmem_base % wb or vmem_base % wb:
        raise ValueError(f"kv_cache: buffer bases {kmem_base}, {vmem_base} must be multiples of the {wb}-byte word")
    burst = burst_beats(wb)
    ports = (
        Port("k_new", "in", s.act, lanes=p, beats=d // p, tlast_every=d // p, doc="roped key of the new token"),
        Port("v_new", "in", s.act, lanes=p, beats=d // p, tlast_every=d // p, doc="value of the new token"),
        Port("pos", "in", POS_FMT, lanes=1, beats=1, tlast_every=0, kind="scalar",
             doc=f"position of the new token, 0..{cap - 1}"),
        kmem,
        vmem,
        row_port("k", "out", s.act, p, rows=cap, cols=d, runtime="rows", doc="K rows 0..pos"),
        row_port("vt", "out", s.act, p, rows=d, cols=cap, runtime="cols", doc="V^T rows, entries 0..pos"),
    )

    def golden(ins: Arrays) -> Arrays:
        pos = int(ins["pos"][0])
        if not 0 <= pos < cap:
            raise ValueError(f"kv_cache: pos = {pos} is outside 0..{cap - 1}; the kernel refuses it")
        kmem = ins["kmem"].reshape(cap, d).copy()
        vmem = ins["vmem"].reshape(cap, d).copy()
        kmem[pos] = ins["k_new"]
        vmem[pos] = ins["v_new"]
        return {"kmem": kmem.reshape(-1), "vmem": vmem.reshape(-1), "k": kmem[: pos + 1].reshape(-1),
                "vt": vmem[: pos + 1].T.reshape(-1)}

    def make_vectors(seed: int, n: int) -> Arrays:
        """The new token at pos = n - 1; the memories hold random words everywhere (rows at and beyond pos:
        garbage the kernel must neither stream nor disturb)."""
        r = rng(seed, NAME)
        act = s.act
        return {
            "k_new": gauss(r, act, d, 1.0),
            "v_new": gauss(r, act, d, 1.0),
            "pos": np.array([n - 1], dtype=np.int64),
            "kmem": r.integers(act.raw_min, act.raw_max + 1, size=kmem.elements, dtype=np.int64),
            "vmem": r.integers(act.raw_min, act.raw_max + 1, size=vmem.elements, dtype=np.int64),
        }

    geometry = {"word_elems": me, "burst": burst, "read_gap": MEM_READ_GAP, "write_gap": MEM_WRITE_GAP,
                "word_bytes": wb}

    def timing(n: int) -> cycles.Timing:
        return cycles.kv_cache_axi(n, d, p, cap=cap, k_base=kmem_base, v_base=vmem_base, **geometry)

    def op_cycles(op: str, shape, depth: int) -> cycles.Timing:  # noqa: ANN001 (Mapping)
        """The store of token n - 1 or the load of ``n`` rows (``shape["n"]``; the capacity when absent), per
        KV head (``kv_heads`` of them).  A schedule may ask beyond the capacity: the model is then that of a
        kernel built for n keys."""
        dim = pad_to(shape["head_dim"], me)
        n = int(shape.get("n", cap))
        common = {"cap": max(cap, n), "k_base": kmem_base, "v_base": vmem_base, **geometry}
        if op == "mem_store_kv":
            one = cycles.kv_store_axi(dim, p, n=n, **common)
        else:
            one = cycles.kv_load_axi(n, dim, p, **common)
        return cycles.repeat(one, shape.get("kv_heads", 1))

    div_m, div_s = reciprocal(p, cap)
    return KernelSpec(
        name=NAME,
        params={"N": cap, "D": d, "P": p, "CAP": cap, "MEM_READ_GAP": MEM_READ_GAP,
                "MEM_WRITE_GAP": MEM_WRITE_GAP, "KMEM_BASE": kmem_base, "VMEM_BASE": vmem_base},
        consts={"ROW_WORDS": rw, "WORD_ELEMS": me, "BEATS_PER_WORD": me // p, "ROW_BEATS": d // p,
                "CAP_BEATS": row_beats(cap, p), "BURST": burst, "BUS_BITS": bus_bits,
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
