"""The kernel-spec layer: one small, language-neutral description per hardware kernel.

A :class:`KernelSpec` is the hub every stage reads (render -> Vitis C++ / DSLX, g++ C-sim, XLS, RTL sim,
synthesis).  It states *what* a kernel computes and *how its ports look on the wire*; it knows nothing of
any tool.  Specs are built by ``pyflow.specs.<kernel>.build(pc)`` from a project config and collected by
:func:`pyflow.specs.all_specs`.

Contract shared by every consumer (C++ and RTL testbenches alike)
-----------------------------------------------------------------
* **Values are raw integers.**  Every tensor crossing a port is a 1-D ``numpy.int64`` array of raw
  fixed-point codes (the integer ``round(x * 2**frac)`` after the format's rounding/overflow, see
  ``golden.fixed.Fmt``).  Signed formats hold negative codes as negative int64 (not two's-complement
  bit patterns); :meth:`Port.to_words` / :meth:`Port.from_words` convert to/from unsigned beat words.
* **Stream order.**  A port carries ``beats * lanes`` elements per kernel invocation; element ``i`` travels
  in beat ``i // lanes``, lane ``i % lanes``.  Lane 0 occupies the least significant ``fmt.width`` bits of
  the beat's data word (lanes packed without padding: ``word_bits = lanes * fmt.width``; the AXI TDATA
  is that rounded up to a multiple of 8, ``tdata_bits``, upper bits zero).
* **TLAST** is asserted on beat ``b`` (0-based) iff ``tlast_every > 0 and (b + 1) % tlast_every == 0``.
  ``tlast_every == beats`` means "last beat of the transaction"; ``0`` means the port has no TLAST.
* **Run-time lengths** (docs/FIXED_POINT.md, "Run-time lengths").  A kernel built for a capacity (the most
  keys it holds, ``context.max_length``) takes the number of valid keys ``n`` (1 <= n <= capacity) at run
  time, as a scalar input (``n``, or ``pos`` = n - 1 where the kernel stores the new token).  A port whose
  size follows ``n`` declares a row layout: ``rows`` rows of ``cols`` elements at capacity, each row padded
  to whole beats (``ceil(cols / lanes)``), and ``runtime`` names which of the two is ``n`` at run time
  (:meth:`Port.at`).  Padding lanes of an input are don't-care (the kernel masks them: the testbenches fill
  them with garbage); padding lanes of an output are 0.  Such a port carries TLAST on the last beat of the
  transfer, whatever ``n`` is.
* **Several run-time lengths.**  A kernel may take more than one (``flat_attention``: keys ``n`` and query
  rows ``l``).  Its ``length_of`` then returns a mapping (``{"n": 16, "l": 5}``; ``n`` is the one
  ``max_length`` bounds and decode positions set) and its ``shape_at(lengths)`` gives ``(rows, cols)`` of every
  run-time port at those lengths (a port's size may be a product of lengths, e.g. K re-streamed once per tile
  of query rows); ``shape_at`` and ``cycles`` also accept a plain ``n``, meaning the kernel's default for the
  other lengths (what ``make_vectors(seed, n)`` uses).  :meth:`KernelSpec.length`, :meth:`KernelSpec.ports_at`
  and :meth:`KernelSpec.timing` pass such a mapping through, so consumers need not know how many there are.
* **Port kinds.**  ``axis`` = AXI4-Stream (valid/ready handshake, data, optional last);
  ``m_axi`` = AXI4 memory-mapped master (``beats`` is then the buffer's size in bus words, ``lanes`` the
  elements per bus word, packed like a beat and padded to ``mem_word_bits``, a power of two; direction
  ``inout`` = memory read and written: its initial contents are an input and its final contents an output,
  both under the port's name); ``scalar`` = a register argument (``beats == lanes == 1``, no handshake;
  direction ``out``: a result register the kernel sets, passed by reference).
* **golden**: ``spec.golden(inputs) -> outputs`` maps ``{input port name: stream-order raw array}`` to
  ``{output port name: stream-order raw array}`` and is the bit-exact reference every implementation must
  match.  It wraps the lead's ``golden.llama_fixed`` op, reordering between tensor and stream layouts.
* **make_vectors(seed)** (``make_vectors(seed, n)`` for a kernel with a run-time length, ``max_length`` set)
  returns deterministic, realistic input arrays (same seed -> same arrays).
* **op_cycles(op, shape, depth)** gives the same formula at the shape of one op of the decode chain (the
  kernel module's ``OPS`` lists the ops it implements), for the scheduler.
* **cycles(depth)** (``cycles(depth, n)`` with a run-time length; :meth:`KernelSpec.timing` calls either)
  returns a ``golden.cycles.Timing`` (``first`` / ``last`` output-beat cycles counted
  from the first input handshake, ``busy`` beats) for a kernel of latency ``depth`` (docs/FIXED_POINT.md).
* **rams**: the on-chip RAMs of the kernel's RTL (:class:`Ram`): the DSLX proc talks to each through XLS RAM
  channels, which XLS rewrites into RAM ports; the AXI4-Stream wrapper instantiates the RAM.
* **luts**: name -> :class:`Lut` (raw int values + element format).  Templates must take LUT contents and
  every numeric constant from the spec (``luts``, ``consts``, ``params``), never type them in.
* **params** are the user-visible shape/lane parameters (``P``, ``N``, ``D`` ...); **consts** are derived
  integer constants the hardware needs (shift amounts, table index widths ...).  Both are plain
  ``str -> int | float | str`` mappings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from golden.cycles import Timing
    from golden.fixed import Fmt

Direction = Literal["in", "out", "inout"]
PortKind = Literal["axis", "m_axi", "scalar"]
Arrays = dict[str, np.ndarray]


def fmt_key(fmt: Fmt) -> dict[str, Any]:
    """A JSON-able description of a ``golden.fixed.Fmt`` (used in hashes and reports)."""
    return {
        "width": int(fmt.width),
        "frac": int(fmt.frac),
        "signed": bool(fmt.signed),
        "rnd": str(fmt.rnd),
        "ovf": str(fmt.ovf),
    }


@dataclass(frozen=True)
class Port:
    """One kernel port; see the module docstring for the stream contract."""

    name: str
    direction: Direction
    fmt: Fmt
    _: KW_ONLY
    lanes: int = 1
    beats: int = 1
    tlast_every: int = 0
    kind: PortKind = "axis"
    doc: str = ""
    #: Row layout (0: none): ``rows`` rows of ``cols`` elements at capacity, each row padded to whole beats.
    rows: int = 0
    cols: int = 0
    #: ``"rows"`` or ``"cols"``: that dimension is the run-time length ``n`` (``""``: the port is static).  In a
    #: kernel with :attr:`KernelSpec.shape_at` it marks the port as run-time sized; the spec gives both dimensions.
    runtime: str = ""

    def __post_init__(self) -> None:
        if self.direction not in ("in", "out", "inout"):
            raise ValueError(f"port {self.name}: direction must be 'in', 'out' or 'inout'")
        if self.direction == "inout" and self.kind != "m_axi":
            raise ValueError(f"port {self.name}: only m_axi ports may be 'inout'")
        if self.kind not in ("axis", "m_axi", "scalar"):
            raise ValueError(f"port {self.name}: unknown kind {self.kind!r}")
        if self.lanes < 1 or self.beats < 1 or self.tlast_every < 0:
            raise ValueError(f"port {self.name}: lanes/beats must be >= 1 and tlast_every >= 0")
        if self.tlast_every and self.beats % self.tlast_every:
            raise ValueError(f"port {self.name}: tlast_every {self.tlast_every} must divide beats "
                             f"{self.beats}")
        if self.runtime not in ("", "rows", "cols"):
            raise ValueError(f"port {self.name}: runtime must be '', 'rows' or 'cols'")
        if self.cols and self.beats != self.rows * self.row_beats:
            raise ValueError(f"port {self.name}: {self.rows} rows of {self.cols} elements in {self.lanes} lanes "
                             f"are {self.rows * self.row_beats} beats, not {self.beats}")
        if self.runtime and not self.cols:
            raise ValueError(f"port {self.name}: a run-time length needs a row layout (rows, cols)")
        if self.runtime and self.tlast_every not in (0, self.beats):
            raise ValueError(f"port {self.name}: a run-time port carries TLAST on its last beat only")

    @property
    def row_beats(self) -> int:
        """Beats of one row (``ceil(cols / lanes)``); the whole transfer without a row layout."""
        return -(-self.cols // self.lanes) if self.cols else self.beats

    def at(self, n: int) -> Port:
        """This port at run-time length ``n`` (itself when static): rows or cols replaced, beats recomputed."""
        if not self.runtime:
            return self
        return self.resized(*((n, self.cols) if self.runtime == "rows" else (self.rows, n)))

    def resized(self, rows: int, cols: int) -> Port:
        """This port with a row layout of ``rows`` rows of ``cols`` elements (beats recomputed, TLAST on the last
        beat when it has one): the general form of :meth:`at`, for sizes that follow several lengths."""
        beats = rows * -(-cols // self.lanes)
        return dataclasses.replace(self, rows=rows, cols=cols, beats=beats,
                                   tlast_every=beats if self.tlast_every else 0)

    def padded(self, raw: np.ndarray, fill: np.random.Generator | None = None) -> np.ndarray:
        """Stream-order values with each row padded to whole beats (``beats * lanes`` values): zeros, or
        values drawn from ``fill`` (the garbage an input's padding lanes may hold)."""
        raw = np.asarray(raw, dtype=np.int64).reshape(-1)
        if not self.cols or self.cols % self.lanes == 0:
            return raw
        width = self.row_beats * self.lanes
        out = np.zeros((self.rows, width), dtype=np.int64)
        if fill is not None:
            out[:] = fill.integers(self.fmt.raw_min, self.fmt.raw_max + 1, size=out.shape)
        out[:, :self.cols] = raw.reshape(self.rows, self.cols)
        return out.reshape(-1)

    def unpadded(self, values: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`padded`: drop the padding lanes of each row."""
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        if not self.cols or self.cols % self.lanes == 0:
            return values
        return values.reshape(self.rows, self.row_beats * self.lanes)[:, :self.cols].reshape(-1)
    @property
    def elements(self) -> int:
        """Elements per invocation (``beats * lanes``; ``rows * cols`` with a row layout: padding excluded)."""
        return self.rows * self.cols if self.cols else self.beats * self.lanes

    @property
    def word_bits(self) -> int:
        """Width of one beat's data word (``lanes * fmt.width``)."""
        return self.lanes * int(self.fmt.width)

    @property
    def tdata_bits(self) -> int:
        """AXI4-Stream TDATA width: ``word_bits`` rounded up to a multiple of 8."""
        return -(-self.word_bits // 8) * 8

    @property
    def mem_word_bits(self) -> int:
        """Width of an m_axi port's bus word: ``word_bits`` rounded up to a power of two of at least 8 (AXI4
        data widths are powers of two, and Vitis HLS pads an m_axi word the same way); the lanes sit in its
        low ``word_bits`` (:meth:`to_words`), the bits above are zero.  ``word_bits`` for other kinds."""
        if self.kind != "m_axi":
            return self.word_bits
        return max(8, 1 << (self.word_bits - 1).bit_length())

    @property
    def has_last(self) -> bool:
        """True when the port carries TLAST."""
        return self.tlast_every > 0

    def tlast(self, beat: int) -> bool:
        """TLAST value on 0-based ``beat``."""
        return self.tlast_every > 0 and (beat + 1) % self.tlast_every == 0

    def tlast_array(self) -> np.ndarray:
        """TLAST per beat as a bool array of length ``beats``."""
        b = np.arange(self.beats)
        return (self.tlast_every > 0) & ((b + 1) % max(self.tlast_every, 1) == 0)

    def to_words(self, raw: np.ndarray, fill: np.random.Generator | None = None) -> list[int]:
        """Pack stream-order raw values into ``beats`` unsigned Python ints (lane 0 in the LSBs); padding
        lanes are 0, or drawn from ``fill``."""
        raw = self.padded(raw, fill).reshape(self.beats, self.lanes)
        w = int(self.fmt.width)
        mask = (1 << w) - 1
        words = []
        for row in raw.tolist():
            word = 0
            for lane, v in enumerate(row):
                word |= (int(v) & mask) << (lane * w)
            words.append(word)
        return words

    def from_words(self, words: list[int]) -> np.ndarray:
        """Unpack beat words into a stream-order raw int64 array (sign-extending signed formats), padding
        lanes included (:meth:`unpadded` drops them)."""
        w = int(self.fmt.width)
        mask = (1 << w) - 1
        out = []
        for word in words:
            for lane in range(self.lanes):
                v = (int(word) >> (lane * w)) & mask
                if self.fmt.signed and v >> (w - 1):
                    v -= 1 << w
                out.append(v)
        return np.asarray(out, dtype=np.int64)

    def key(self) -> dict[str, Any]:
        """A JSON-able description (for hashes and reports)."""
        return {
            "name": self.name,
            "direction": self.direction,
            "fmt": fmt_key(self.fmt),
            "lanes": self.lanes,
            "beats": self.beats,
            "tlast_every": self.tlast_every,
            "kind": self.kind,
            "rows": self.rows,
            "cols": self.cols,
            "runtime": self.runtime,
        }


@dataclass(frozen=True, eq=False)
class Lut:
    """A read-only table: raw int values (1-D int64) stored in format ``fmt``."""

    values: np.ndarray
    fmt: Fmt

    def __iter__(self):  # noqa: ANN204
        """``values, fmt = lut`` unpacks like the (values, Fmt) pair it stands for."""
        return iter((self.values, self.fmt))

    @property
    def depth(self) -> int:
        """Number of entries."""
        return int(len(self.values))

    @property
    def index_bits(self) -> int:
        """Address width (``ceil(log2(depth))``, at least 1)."""
        from pyflow.specs.common import index_bits

        return index_bits(self.depth)


@dataclass(frozen=True)
class Ram:
    """An on-chip RAM of a kernel's RTL: ``depth`` words of ``width`` bits, one read and one write port,
    read data one cycle after the read request, writes masked in ``segments`` equal parts of the word.

    The DSLX proc declares four channels per RAM (:func:`pyflow.backends.xls.dslx.ram_channels`); XLS rewrites
    them into RAM ports (``ram_<name>_rd_addr`` ...), and the AXI4-Stream wrapper instantiates the RAM
    (``<kernel>_ram`` in the kernel's primitives).  The compile schedules a RAM's read and write requests in
    the same pipeline stage, so every read sees exactly the writes of earlier activations, as proc state would.
    """

    name: str
    depth: int
    width: int
    segments: int = 1
    doc: str = ""

    def __post_init__(self) -> None:
        if self.depth < 1 or self.width < 1 or self.segments < 1 or self.width % self.segments:
            raise ValueError(f"ram {self.name}: depth and width must be >= 1 and the {self.segments} write "
                             f"segments must divide the width {self.width}")

    @property
    def addr_bits(self) -> int:
        """Address width (``ceil(log2(depth))``, at least 1)."""
        from pyflow.specs.common import index_bits

        return index_bits(self.depth)

    def key(self) -> dict[str, Any]:
        """A JSON-able description (for hashes and reports)."""
        return {"name": self.name, "depth": self.depth, "width": self.width, "segments": self.segments}


@dataclass(frozen=True, eq=False)
class KernelSpec:
    """Everything a stage needs to know about one kernel; see the module docstring."""

    name: str
    params: Mapping[str, Any]
    ports: tuple[Port, ...]
    golden: Callable[[Arrays], Arrays]
    make_vectors: Callable[..., Arrays]
    cycles: Callable[..., Timing] | None = None
    luts: Mapping[str, Lut] = field(default_factory=dict)
    consts: Mapping[str, Any] = field(default_factory=dict)
    langs: tuple[str, ...] = ("vitis", "dslx")
    doc: str = ""
    #: The ``[lanes]`` key of the project config that sets this kernel's lanes (None: derived, e.g. a top).
    lanes_key: str | None = None
    #: Cycles of one chain op this kernel implements at that op's shape: ``op_cycles(op, shape, depth)``
    #: (``shape`` as the scheduler's graph gives it); the scheduler and the timing models ask this.
    op_cycles: Callable[[str, Mapping[str, int], int], Timing] | None = None
    #: Capacity of a kernel with a run-time length (the most keys it holds); None for a static kernel.
    max_length: int | None = None
    #: The run-time length ``n`` of an invocation from its scalar inputs (default: ``n``, or ``pos`` + 1), or a
    #: mapping of several lengths (``{"n": ..., "l": ...}``: see "Several run-time lengths" above).
    length_of: Callable[[Arrays], int | Mapping[str, int]] | None = None
    #: ``(rows, cols)`` of every run-time port at the given lengths (a mapping, or a plain ``n``), for a kernel
    #: whose port sizes follow several lengths; None: each run-time port follows ``n`` (:meth:`Port.at`).
    shape_at: Callable[[Any], Mapping[str, tuple[int, int]]] | None = None
    #: On-chip RAMs of the kernel's RTL (:class:`Ram`).
    rams: tuple[Ram, ...] = ()
    #: Kernels a top includes at its own shapes and lanes (name -> spec): rendered into the top's folder,
    #: ``<name>/deps/<dep>/``, and included from there (``#include "deps/<dep>/<dep>.cpp"``).
    deps: Mapping[str, KernelSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [p.name for p in self.ports]
        if len(set(names)) != len(names):
            raise ValueError(f"kernel {self.name}: duplicate port names {names}")
        rams = [r.name for r in self.rams]
        if len(set(rams)) != len(rams):
            raise ValueError(f"kernel {self.name}: duplicate RAM names {rams}")

    @property
    def inputs(self) -> tuple[Port, ...]:
        """Input ports in declaration order."""
        return tuple(p for p in self.ports if p.direction in ("in", "inout"))

    @property
    def outputs(self) -> tuple[Port, ...]:
        """Output ports in declaration order."""
        return tuple(p for p in self.ports if p.direction in ("out", "inout"))

    def port(self, name: str) -> Port:
        """The port called ``name`` (KeyError if absent)."""
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(f"kernel {self.name} has no port {name!r}")

    @property
    def runtime(self) -> bool:
        """True when the kernel takes a run-time length (its behaviour depends on the decode position)."""
        return self.max_length is not None

    def length(self, inputs: Arrays) -> int | dict[str, int]:
        """The run-time length ``n`` of the invocation ``inputs`` (0 for a static kernel), or the mapping of
        its lengths for a kernel with several."""
        if not self.runtime:
            return 0
        if self.length_of is not None:
            n = self.length_of(inputs)
            return {k: int(v) for k, v in n.items()} if isinstance(n, Mapping) else int(n)
        if "n" in inputs:
            return int(np.asarray(inputs["n"]).reshape(-1)[0])
        return int(np.asarray(inputs["pos"]).reshape(-1)[0]) + 1

    def ports_at(self, n: int | Mapping[str, int]) -> tuple[Port, ...]:
        """Every port at run-time length ``n`` (or at the lengths of a mapping, :attr:`shape_at`)."""
        if self.shape_at is not None:
            shapes = self.shape_at(n)
            return tuple(p.resized(*shapes[p.name]) if p.runtime else p for p in self.ports)
        if isinstance(n, Mapping):
            n = n["n"]
        return tuple(p.at(int(n)) for p in self.ports)

    def timing(self, depth: int, n: int | Mapping[str, int] | None = None) -> Timing | None:
        """The cycle model for pipeline depth ``depth`` at run-time length ``n`` (capacity by default; a
        mapping of lengths for a kernel with several)."""
        if self.cycles is None:
            return None
        if not self.runtime:
            return self.cycles(depth)
        if n is None:
            n = self.max_length
        return self.cycles(depth, n if isinstance(n, Mapping) else int(n))

    def expected(self, inputs: Arrays) -> Arrays:
        """Golden outputs for ``inputs``, checked against the declared port shapes (at the run-time length)."""
        n = self.length(inputs)
        keys = n["n"] if isinstance(n, Mapping) else n
        if self.runtime and not 1 <= keys <= int(self.max_length):
            raise ValueError(f"kernel {self.name}: run-time length n = {keys} outside 1..{self.max_length}")
        ports = {p.name: p for p in self.ports_at(n)} if self.runtime else {p.name: p for p in self.ports}
        for p in (ports[q.name] for q in self.inputs):
            if p.name not in inputs:
                raise ValueError(f"kernel {self.name}: missing input {p.name}")
            if np.asarray(inputs[p.name]).size != p.elements:
                raise ValueError(
                    f"kernel {self.name}: input {p.name} has {np.asarray(inputs[p.name]).size} elements, "
                    f"port expects {p.elements}"
                )
        out = self.golden(inputs)
        result: Arrays = {}
        for p in (ports[q.name] for q in self.outputs):
            arr = np.asarray(out[p.name], dtype=np.int64).reshape(-1)
            if arr.size != p.elements:
                raise ValueError(
                    f"kernel {self.name}: golden output {p.name} has {arr.size} elements, port declares "
                    f"{p.elements}"
                )
            result[p.name] = arr
        return result

    def vectors(self, seed: int = 0, n: int | None = None) -> tuple[Arrays, Arrays]:
        """``(inputs, expected outputs)`` for ``seed`` (at run-time length ``n``, default the capacity), all
        stream-order int64."""
        raw = self.make_vectors(seed, self.max_length if n is None else int(n)) if self.runtime \
            else self.make_vectors(seed)
        ins = {k: np.asarray(v, dtype=np.int64).reshape(-1) for k, v in raw.items()}
        return ins, self.expected(ins)

    def key(self) -> dict[str, Any]:
        """A JSON-able description of everything that shapes generated code."""
        return {
            "name": self.name,
            "params": {k: _jsonable(v) for k, v in sorted(self.params.items())},
            "consts": {k: _jsonable(v) for k, v in sorted(self.consts.items())},
            "ports": [p.key() for p in self.ports],
            "luts": {
                k: {"fmt": fmt_key(v.fmt), "sha": hashlib.sha256(np.asarray(v.values, np.int64).tobytes())
                    .hexdigest()}
                for k, v in sorted(self.luts.items())
            },
            **({"rams": [r.key() for r in self.rams]} if self.rams else {}),
            **({"deps": {k: v.key() for k, v in sorted(self.deps.items())}} if self.deps else {}),
        }

    def digest(self) -> str:
        """Short content hash of :meth:`key` (for caches)."""
        blob = json.dumps(self.key(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "width") and hasattr(v, "frac"):
        return fmt_key(v)
    return v
