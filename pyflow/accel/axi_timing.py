"""Cycle model of the AXI4 engines (hls/rtl/ff_axi_read.v, ff_axi_write.v) with each memory model.

Exact (0 cycles of error, checked by tests/test_axi_engines.py on Verilator and Icarus) under these
conditions: commands are presented back to back (the next one on the cycle after a handshake), the read
engine's out_ready and the write engine's in_valid are always high, and the memory is

* :class:`FfAxiMem`: hls/rtl/ff_axi_mem.v with its READ_LATENCY / WRITE_LATENCY (QUEUE >= OUTSTANDING), or
* :class:`AxiRam`: cocotbext-axi 0.1.28's ``AxiRam`` with no pause generators.  Its timing comes from its
  coroutines: the AR / AW sinks queue two requests (READY falls when the second waits and rises two edges
  after the slave process takes the older one), the process takes a burst when the previous one is fully
  queued, the R / B sources queue two beats, and a beat queued at edge x is accepted at edge x + 2 at the
  earliest.  Measured: AR accepted at edge a -> first R beat at a + 2 when the slave is idle; bursts follow
  back to back; last W beat at edge w -> B at w + 2.

Edges are rising clock edges, counted from the first command handshake (edge 0); a handshake happens at the
edge where VALID and READY are both high.  Only numbers from the RTL's own rules enter (see the module
headers): the splitter takes a command at edge c, plans its first burst at c + 1 and each later burst one
edge after the engine took the previous one (the plan register must be empty), and takes the next command
one edge after planning the previous command's last burst; the engine issues an AR / AW (loads VALID) one
edge after its plan at the earliest, when its address register is free, fewer than OUTSTANDING bursts are
in flight and (reads) the FIFO's RAM has room for the burst; an R beat at edge t leaves the read engine at
t + 4; the write engine takes a burst's words from the edge after its AW issue, and W follows one edge
later; ``done`` is sampled high at the edge after the command's last B.

The model runs per burst (per beat only for AxiRam's R channel), so long phases (millions of words) cost
milliseconds; :attr:`ReadTiming.out` is a numpy array.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

NEVER = -(1 << 60)
PAGE_BYTES = 4096
#: Edges from an R beat to its word on ff_axi_read's out_* (ff_fifo_bram: RAM write, read, two registers).
OUT_DELAY = 4


@dataclass(frozen=True)
class EngineCfg:
    """Parameters of ff_axi_read / ff_axi_write."""

    data_w: int = 128
    max_burst: int = 256
    outstanding: int = 2

    def __post_init__(self) -> None:
        if self.data_w < 8 or self.data_w > 1024 or self.data_w & (self.data_w - 1):
            raise ValueError(f"data_w {self.data_w}: a power of two in 8..1024")
        if self.max_burst < 1 or self.outstanding < 1:
            raise ValueError(f"max_burst {self.max_burst} and outstanding {self.outstanding} must be >= 1")

    @property
    def word_bytes(self) -> int:
        return self.data_w // 8

    @property
    def maxb(self) -> int:
        """Longest burst: min(MAX_BURST, 256, words per 4 KB page)."""
        return min(self.max_burst, 256, PAGE_BYTES // self.word_bytes)

    @property
    def fifo_depth(self) -> int:
        """Read FIFO words: OUTSTANDING * MAXB rounded up to a power of two (at least 2)."""
        return max(2, 1 << (self.outstanding * self.maxb - 1).bit_length())

    def bursts(self, addr: int, beats: int) -> list[tuple[int, int]]:
        """The (byte address, beats) bursts of one command, as ff_axi_burst_split cuts them."""
        if beats < 1 or addr % self.word_bytes:
            raise ValueError(f"command at 0x{addr:x} of {beats} beats: beats >= 1, address word-aligned")
        out = []
        while beats:
            page_left = (PAGE_BYTES - addr % PAGE_BYTES) // self.word_bytes
            n = min(beats, page_left, self.maxb)
            out.append((addr, n))
            addr += n * self.word_bytes
            beats -= n
        return out


@dataclass(frozen=True)
class FfAxiMem:
    """hls/rtl/ff_axi_mem.v: first R beat at max(AR + read_latency, previous burst's last beat + 1), B at
    max(last W + write_latency, previous B + 1); AR / AW accepted at once (QUEUE >= OUTSTANDING), W too."""

    read_latency: int = 2
    write_latency: int = 2

    def __post_init__(self) -> None:
        if self.read_latency < 2 or self.write_latency < 2:
            raise ValueError("ff_axi_mem latencies are >= 2")


@dataclass(frozen=True)
class AxiRam:
    """cocotbext-axi's AxiRam without pause generators (see the module docstring)."""


Memory = FfAxiMem | AxiRam


@dataclass
class Burst:
    """One burst: its place in the command stream and the edges of its handshakes."""

    cmd: int
    addr: int
    beats: int
    plan: int = 0       # edge the splitter planned it
    issue: int = 0      # edge AxVALID was loaded
    addr_edge: int = 0  # AR / AW handshake
    first: int = 0      # first R beat (read) / first W beat (write)
    last: int = 0       # last R beat / last W beat
    resp: int = 0       # B handshake (write)


@dataclass
class ReadTiming:
    """Edges of a read phase: command handshakes, bursts, and every output word."""

    accept: list[int]
    bursts: list[Burst]
    out: np.ndarray = field(repr=False)

    @property
    def cycles(self) -> int:
        """Edges from the first command handshake to the last word (the phase's length in cycles)."""
        return int(self.out[-1]) if len(self.out) else 0


@dataclass
class WriteTiming:
    """Edges of a write phase: command handshakes, bursts (W beats, B), and each command's ``done``."""

    accept: list[int]
    bursts: list[Burst]
    done: list[int]
    w: np.ndarray = field(repr=False)  # edge of every W beat

    @property
    def cycles(self) -> int:
        return self.done[-1] if self.done else 0


def _plan(cfg: EngineCfg, cmds: Sequence[tuple[int, int]]) -> list[Burst]:
    return [Burst(k, a, n) for k, (a, n) in enumerate(cmds) for a, n in cfg.bursts(a, n)]


class _Splitter:
    """ff_axi_burst_split's edges: plan edge of each burst and accept edge of each command."""

    def __init__(self) -> None:
        self.accept: list[int] = []
        self.cmd = -1
        self.prev_plan = NEVER
        self.prev_issue = NEVER

    def plan(self, b: Burst) -> int:
        if b.cmd != self.cmd:  # a new command: accepted the edge after the previous command's last plan
            self.cmd = b.cmd
            self.accept.append(0 if self.prev_plan == NEVER else self.prev_plan + 1)
            b.plan = max(self.accept[-1] + 1, self.prev_issue + 1)
        else:
            b.plan = self.prev_issue + 1  # the plan register empties at the issue edge
        self.prev_plan = b.plan
        return b.plan

    def issued(self, edge: int) -> None:
        self.prev_issue = edge


def _ram_accept(i: int, issue: int, bursts: list[Burst], taken: list[int]) -> int:
    """AxiRam AR / AW sink: handshake edge of request ``i`` issued (VALID loaded) at ``issue``.  Its queue holds
    two requests: when request i - 1 was put while i - 2 was still untaken (``taken``: the edges the slave
    process took each request; a take in the edge of a put comes after it), READY fell and rises one edge
    after that take, so the next handshake is two edges after it."""
    edge = issue + 1
    if i >= 2 and taken[i - 2] >= bursts[i - 1].addr_edge:
        edge = max(edge, taken[i - 2] + 2)
    return edge


def read_timing(cfg: EngineCfg, mem: Memory, cmds: Sequence[tuple[int, int]]) -> ReadTiming:
    """Edges of ff_axi_read serving ``cmds`` [(byte address, beats), ...] from ``mem``."""
    bursts = _plan(cfg, cmds)
    split = _Splitter()
    cum: list[int] = []           # words up to and including each burst
    firsts: list[int] = []        # first R edge of each burst
    taken: list[int] = []         # AxiRam: edge its process took each AR
    p_last, h1, h2 = NEVER, NEVER, NEVER  # AxiRam: last put, last two R handshakes
    for i, b in enumerate(bursts):
        split.plan(b)
        total = (cum[-1] if cum else 0) + b.beats
        need = total - cfg.fifo_depth
        edge = b.plan + 1
        if i >= 1:
            edge = max(edge, bursts[i - 1].addr_edge)
        if i >= cfg.outstanding:
            edge = max(edge, bursts[i - cfg.outstanding].last + 1)
        if need > 0:  # FIFO room: word need - 1 must have been read (its R edge + 1) before this edge
            j = bisect.bisect_right(cum, need - 1)
            edge = max(edge, firsts[j] + (need - 1 - (cum[j - 1] if j else 0)) + 2)
        b.issue = edge
        split.issued(edge)
        if isinstance(mem, FfAxiMem):
            b.addr_edge = edge + 1
            b.first = b.addr_edge + mem.read_latency
            if i:
                b.first = max(b.first, bursts[i - 1].last + 1)
        else:
            b.addr_edge = _ram_accept(i, edge, bursts, taken)
            take = max(b.addr_edge, p_last)  # the process takes the AR when the previous burst is queued
            taken.append(take)
            # beats: put when the source queue holds < 2 (beat k-2 dequeued, one edge before its handshake)
            p = take
            for k in range(b.beats):
                p = max(p, h2 - 1)
                h = max(h1 + 1, p + 2)
                if k == 0:
                    b.first = h
                h1, h2 = h, h1
            p_last = p
        b.last = b.first + b.beats - 1
        cum.append(total)
        firsts.append(b.first)
    out = np.concatenate([np.arange(b.first + OUT_DELAY, b.first + OUT_DELAY + b.beats, dtype=np.int64)
                          for b in bursts]) \
        if bursts else np.zeros(0, dtype=np.int64)
    return ReadTiming(split.accept, bursts, out)


def write_timing(cfg: EngineCfg, mem: Memory, cmds: Sequence[tuple[int, int]]) -> WriteTiming:
    """Edges of ff_axi_write writing ``cmds`` [(byte address, beats), ...] into ``mem``."""
    bursts = _plan(cfg, cmds)
    split = _Splitter()
    taken: list[int] = []
    t_prev = NEVER                # edge the engine took the previous word
    lat = mem.write_latency if isinstance(mem, FfAxiMem) else 2
    done: list[int] = []
    w_edges: list[np.ndarray] = []
    for i, b in enumerate(bursts):
        split.plan(b)
        edge = b.plan + 1
        if i >= 1:
            edge = max(edge, bursts[i - 1].addr_edge)
        if i >= cfg.outstanding:
            edge = max(edge, bursts[i - cfg.outstanding].resp + 1)
        b.issue = edge
        split.issued(edge)
        t0 = max(t_prev + 1, edge + 1)  # words of this burst taken from the edge after its AW issue
        t_prev = t0 + b.beats - 1
        b.first, b.last = t0 + 1, t_prev + 1
        w_edges.append(np.arange(b.first, b.last + 1, dtype=np.int64))
        if isinstance(mem, FfAxiMem):
            b.addr_edge = edge + 1
        else:
            b.addr_edge = _ram_accept(i, edge, bursts, taken)
            if b.addr_edge >= b.first:
                raise NotImplementedError("AxiRam AW accepted after its first W beat: not modelled")
            # the process takes the AW when it has the previous burst's last W beat (B queued at once)
            taken.append(max(b.addr_edge, bursts[i - 1].last if i else NEVER))
        b.resp = b.last + lat
        if i:
            b.resp = max(b.resp, bursts[i - 1].resp + 1)
        if i + 1 == len(bursts) or bursts[i + 1].cmd != b.cmd:
            done.append(b.resp + 1)
    w = np.concatenate(w_edges) if w_edges else np.zeros(0, dtype=np.int64)
    return WriteTiming(split.accept, bursts, done, w)
