"""The decode accelerator's spec: which kernels at which lanes, the external-memory layout, the control
registers, the bytes a token must move (the roofline) -- one source for the RTL top, the Vitis C++ top,
the testbench, the host code and the reports (docs/ACCEL.md).

One layer's attention block in decode: rmsnorm -> q/k/v projections -> rope -> KV store -> per KV head, K and
V loaded once into on-chip buffers and served to its group of query heads -> qk -> softmax -> av -> o_proj.
Every tensor in memory is packed ``E = data_bits / width`` elements per bus word, element 0 in the least
significant bits (the kernels' lane order); every region starts on a 4 KB boundary.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from golden import llama_fixed as lf
from pyflow.errors import FlowError
from pyflow.specs import get_spec
from pyflow.specs.base import KernelSpec

#: AXI4 page: no burst crosses it, every region starts on it.
PAGE_BYTES = 4096
#: The memory port's read and write engines: bursts of up to MAX_BURST beats (never across 4 KB), OUTSTANDING
#: bursts in flight (the RTL's ff_axi_read / ff_axi_write, the Vitis top's m_axi pragmas).
MAX_BURST, OUTSTANDING = 256, 2
#: Kernels of the accelerator, by role.
KERNELS = ("rmsnorm", "gemv", "rope", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av")


@dataclass(frozen=True)
class Region:
    """A contiguous range of bus words in one of the accelerator's memory areas."""

    name: str
    area: str      # base register the region is relative to: w_base, kv_base, x_base or y_base
    word: int      # first word, relative to the area's base
    words: int
    doc: str

    @property
    def end(self) -> int:
        """One past the last word."""
        return self.word + self.words


@dataclass(frozen=True)
class Register:
    """One 32-bit AXI4-Lite control register."""

    name: str
    offset: int
    access: str    # "rw", "ro" (read only), "ctrl" (the ap_ctrl bits)
    doc: str


#: The control registers (Vitis HLS s_axilite conventions: ap_ctrl at 0x00, interrupt registers, then the
#: arguments; 64-bit addresses as two registers, low word first).
REGISTERS: tuple[Register, ...] = (
    Register("ctrl", 0x00, "ctrl", "bit 0 ap_start (write 1 to start; reads 1 until the run is accepted), "
             "bit 1 ap_done (set when a run ends, cleared when read), bit 2 ap_idle, bit 3 ap_ready"),
    Register("gie", 0x04, "rw", "global interrupt enable (bit 0)"),
    Register("ier", 0x08, "rw", "interrupt enable: bit 0 done"),
    Register("isr", 0x0C, "rw", "interrupt status: bit 0 done (write 1 to clear)"),
    Register("pos", 0x10, "rw", "decode position of the token (0 .. capacity - 1); keys attended n = pos + 1"),
    Register("w_base_lo", 0x18, "rw", "byte address of the weights area (4 KB aligned), bits 31:0"),
    Register("w_base_hi", 0x1C, "rw", "bits 63:32 (unused: the memory port has 32 address bits)"),
    Register("kv_base_lo", 0x24, "rw", "byte address of the KV cache area (4 KB aligned), bits 31:0"),
    Register("kv_base_hi", 0x28, "rw", "bits 63:32 (unused)"),
    Register("x_base_lo", 0x30, "rw", "byte address of the input hidden state x (4 KB aligned), bits 31:0"),
    Register("x_base_hi", 0x34, "rw", "bits 63:32 (unused)"),
    Register("y_base_lo", 0x3C, "rw", "byte address of the output y (o_proj result, 4 KB aligned), bits 31:0"),
    Register("y_base_hi", 0x40, "rw", "bits 63:32 (unused)"),
    Register("status", 0x48, "ro", "bit 0: the last run was refused because pos >= capacity (nothing was "
             "read or written)"),
    Register("cycles", 0x50, "ro", "clock cycles of the last run, from ap_start accepted to ap_done"),
)


def _words(elements: int, per_word: int) -> int:
    return -(-int(elements) // int(per_word))


def _page_words(words: int, word_bytes: int) -> int:
    """``words`` rounded up to whole 4 KB pages."""
    per_page = PAGE_BYTES // word_bytes
    return -(-words // per_page) * per_page


@dataclass(frozen=True, eq=False)
class AccelSpec:
    """Everything the accelerator's implementations and its testbench share."""

    pc: Any                      # the project config, lanes overridden to the accelerator's
    data_bits: int               # AXI4 data width of the memory port
    width: int                   # element width (act = weight = norm_weight)
    capacity: int                # N: the most keys a KV head holds
    read_latency: int
    write_latency: int
    regions: tuple[Region, ...]
    kernels: Mapping[str, KernelSpec]

    @property
    def model(self) -> Any:  # noqa: ANN401 (LlamaConfig)
        """The model config."""
        return self.pc.model

    @property
    def scheme(self) -> lf.FixedScheme:
        """The fixed-point scheme."""
        return self.pc.scheme

    @property
    def word_bytes(self) -> int:
        """Bytes per bus word."""
        return self.data_bits // 8

    @property
    def per_word(self) -> int:
        """Elements per bus word (E): also the lanes of the projection, qk, softmax and av kernels."""
        return self.data_bits // self.width

    def region(self, name: str) -> Region:
        """The region called ``name``."""
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    def area_words(self, area: str) -> int:
        """Words the area ``area`` spans (its regions, the last one rounded up to a page)."""
        return _page_words(max((r.end for r in self.regions if r.area == area), default=0), self.word_bytes)

    # ------------------------------------------------------------------------------------- packing
    def pack(self, raw: np.ndarray) -> list[int]:
        """Raw element codes (any signedness) -> bus words, ``per_word`` a word, element 0 in the LSBs."""
        raw = np.asarray(raw, dtype=np.int64).reshape(-1)
        e, w = self.per_word, self.width
        mask = (1 << w) - 1
        pad = (-raw.size) % e
        codes = (np.concatenate([raw, np.zeros(pad, np.int64)]) & mask).reshape(-1, e)
        return [sum(int(c) << (i * w) for i, c in enumerate(row)) for row in codes.tolist()]

    def unpack(self, words: list[int], count: int, signed: bool = True) -> np.ndarray:
        """Bus words -> ``count`` raw element codes (sign-extended when ``signed``)."""
        e, w = self.per_word, self.width
        mask = (1 << w) - 1
        out = [(int(word) >> (i * w)) & mask for word in words for i in range(e)][:count]
        arr = np.asarray(out, dtype=np.int64)
        if signed:
            arr = np.where(arr >> (w - 1), arr - (1 << w), arr)
        return arr

    # ------------------------------------------------------------------------------------- images
    def weights_image(self, layer: lf.FixedLayer) -> dict[int, int]:
        """The weights area (word -> value) for a quantised layer, in the layout of :attr:`regions`."""
        img: dict[int, int] = {}
        for name, arr in (("gamma", layer.gamma), ("wk", layer.wk), ("wv", layer.wv), ("wq", layer.wq),
                          ("wo", layer.wo)):
            reg = self.region(name)
            words = self.pack(arr)
            if len(words) != reg.words:
                raise FlowError(f"accel: {name} packs into {len(words)} words, its region holds {reg.words}")
            img.update({reg.word + i: w for i, w in enumerate(words)})
        return img

    def kv_image(self, cache: lf.FixedKVCache) -> dict[int, int]:
        """The KV cache area (word -> value): per KV head j, K_j rows 0..N-1 then V_j rows 0..N-1."""
        img: dict[int, int] = {}
        row_words = self.row_words
        for j in range(self.model.num_key_value_heads):
            for name, arr in ((f"k{j}", cache.k[j]), (f"v{j}", cache.v[j])):
                reg = self.region(name)
                for pos in range(self.capacity):
                    words = self.pack(arr[pos])
                    img.update({reg.word + pos * row_words + i: w for i, w in enumerate(words)})
        return img

    def cache_from_image(self, img: Mapping[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The (n_kv, N, d) K and V raw arrays held in a KV area image (absent words read as 0)."""
        m, d, rw = self.model, self.model.head_dim, self.row_words
        k = np.zeros((m.num_key_value_heads, self.capacity, d), np.int64)
        v = np.zeros_like(k)
        for j in range(m.num_key_value_heads):
            for arr, name in ((k, f"k{j}"), (v, f"v{j}")):
                reg = self.region(name)
                for pos in range(self.capacity):
                    words = [img.get(reg.word + pos * rw + i, 0) for i in range(rw)]
                    arr[j, pos] = self.unpack(words, d)
        return k, v

    @property
    def row_words(self) -> int:
        """Bus words of one K or V row (head_dim elements)."""
        return _words(self.model.head_dim, self.per_word)

    # ----------------------------------------------------------------------------------- roofline
    def bytes_per_token(self, n: int) -> dict[str, int]:
        """Bytes that must move for one token attending ``n`` keys: every weight once, the K and V rows
        0..n-1 of every KV head read, the new row written, x read and y written."""
        m, wb = self.model, self.word_bytes
        weights = sum(self.region(r).words for r in ("gamma", "wk", "wv", "wq", "wo")) * wb
        kv_read = 2 * m.num_key_value_heads * n * self.row_words * wb
        kv_write = 2 * m.num_key_value_heads * self.row_words * wb
        io = 2 * _words(m.hidden_size, self.per_word) * wb
        return {"weights": weights, "kv_read": kv_read, "kv_write": kv_write, "x_y": io,
                "total": weights + kv_read + kv_write + io}

    def roofline_cycles(self, n: int) -> int:
        """Cycles the memory port needs for one token at one word per cycle: the lower bound."""
        return math.ceil(self.bytes_per_token(n)["total"] / self.word_bytes)


def build(pc: Any) -> AccelSpec:  # noqa: ANN401 (ProjectConfig)
    """The accelerator for project config ``pc`` (its [memory] section sets the port; the kernels' lanes
    follow from the port width).  FlowError when the shapes or formats cannot be served."""
    m, s = pc.model, pc.scheme
    bits = int(pc.memory["data_bits"])
    widths = {"act": s.act.width, "weight": s.weight.width, "norm_weight": s.norm_weight.width}
    if len(set(widths.values())) != 1:
        raise FlowError(f"accel: the accelerator packs activations, weights and gamma alike; their formats have "
                        f"widths {widths} (make formats.act, weight and norm_weight equally wide)")
    width = s.act.width
    if bits % width:
        raise FlowError(f"accel: memory.data_bits = {bits} is not a multiple of the element width {width}")
    e = bits // width
    for label, dim in (("model.hidden_size", m.hidden_size), ("model.head_dim", m.head_dim)):
        if dim % e:
            raise FlowError(f"accel: {label} = {dim} is not a multiple of the {e} elements of a {bits}-bit word; "
                            "choose memory.data_bits so that it is")
    if e % 2:
        raise FlowError(f"accel: {e} elements per word: RoPE takes pairs, the count must be even")
    if m.q_dim != m.hidden_size:
        raise FlowError(f"accel: o_proj runs on the projection datapath, which needs heads x head_dim = "
                        f"{m.q_dim} to equal hidden_size = {m.hidden_size}")
    lanes = {"rmsnorm": e, "gemv": e, "rope": e // 2, "qk": e, "softmax": e, "av": e, "kv_cache": e}
    pca = dataclasses.replace(pc, lanes=lanes, source=pc.source + f" (accelerator, {bits}-bit memory)")
    kernels = {k: get_spec(k, pca) for k in KERNELS}
    wb = bits // 8
    h, kvd, qd, d, cap = m.hidden_size, m.kv_dim, m.q_dim, m.head_dim, pca.max_length
    regions: list[Region] = []
    cursor: dict[str, int] = {}

    def add(name: str, area: str, words: int, doc: str) -> None:
        """Append a region to ``area``; the next one starts on the following 4 KB page."""
        start = cursor.get(area, 0)
        regions.append(Region(name, area, start, words, doc))
        cursor[area] = _page_words(start + words, wb)

    add("gamma", "w_base", _words(h, e), f"RMSNorm weight, {h} elements")
    add("wk", "w_base", kvd * _words(h, e), f"k_proj weight, {kvd} rows of {h} (row-major)")
    add("wv", "w_base", kvd * _words(h, e), f"v_proj weight, {kvd} rows of {h}")
    add("wq", "w_base", qd * _words(h, e), f"q_proj weight, {qd} rows of {h}")
    add("wo", "w_base", h * _words(qd, e), f"o_proj weight, {h} rows of {qd}")
    row = _words(d, e)
    for j in range(m.num_key_value_heads):
        add(f"k{j}", "kv_base", cap * row, f"K of KV head {j}: {cap} rows (positions) of {d}, roped")
        add(f"v{j}", "kv_base", cap * row, f"V of KV head {j}: {cap} rows of {d}")
    add("x", "x_base", _words(h, e), f"input hidden state, {h} elements")
    add("y", "y_base", _words(h, e), f"output (o_proj, before the residual add), {h} elements")
    return AccelSpec(pca, bits, width, cap, int(pc.memory["read_latency"]), int(pc.memory["write_latency"]),
                     tuple(regions), kernels)
