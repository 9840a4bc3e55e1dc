"""The sets of the AXI engine harness (hls/rtl/tb/ff_axi_engines_tb.v) and the data of their tests.

Shared by the cocotb module :mod:`testbench.axi_engine_test` and the pytest side (tests/test_axi_engines.py),
with no cocotb import: set parameters (they must match the harness), memory contents, random commands.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from pyflow.paths import REPO

RTL = REPO / "hls" / "rtl"
#: Sources of the harness, in compile order, and its top.
SOURCES = tuple(RTL / f for f in ("ff_axi_burst_split.v", "ff_fifo_bram.v", "ff_axi_read.v", "ff_axi_write.v",
                                   "ff_axi_mem.v", "tb/ff_axi_engines_tb.v"))
TOP = "ff_axi_engines_tb"
#: Bytes of memory behind every set (AxiRam size, ff_axi_mem WORDS x bytes per word).
REGION = 256 * 1024


@dataclass(frozen=True)
class SetCfg:
    """One engine set of the harness: read + write engine on one memory."""

    name: str
    data_w: int
    outstanding: int
    max_burst: int
    mem: str                      # "axiram" (cocotbext-axi, driven by cocotb) or "ff_axi_mem"
    read_latency: int = 0         # ff_axi_mem only
    write_latency: int = 0

    @property
    def word_bytes(self) -> int:
        return self.data_w // 8

    @property
    def words(self) -> int:
        return REGION // self.word_bytes

    @property
    def init_file(self) -> str:
        """The $readmemh file of an ff_axi_mem set (in the simulation's working directory)."""
        return f"ff_mem_{self.name}.hex"


#: Must match the parameters in hls/rtl/tb/ff_axi_engines_tb.v.
SETS: dict[str, SetCfg] = {s.name: s for s in (
    SetCfg("a", 128, 6, 16, "axiram"),
    SetCfg("b", 256, 1, 256, "axiram"),
    SetCfg("c", 128, 1, 32, "ff_axi_mem", read_latency=3, write_latency=2),
    SetCfg("d", 256, 2, 256, "ff_axi_mem", read_latency=20, write_latency=12),
    SetCfg("e", 64, 4, 256, "ff_axi_mem", read_latency=6, write_latency=5),
)}


def init_words(cfg: SetCfg, seed: int) -> list[int]:
    """The initial memory contents of set ``cfg`` (one word per bus word of the region)."""
    rng = random.Random(f"{seed}:{cfg.name}:init")
    return [rng.getrandbits(cfg.data_w) for _ in range(cfg.words)]


def write_init_files(directory: Path, seed: int) -> None:
    """The $readmemh files of every ff_axi_mem set, into the simulation's working directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for cfg in SETS.values():
        if cfg.mem == "ff_axi_mem":
            digits = cfg.data_w // 4
            text = "\n".join(f"{w:0{digits}x}" for w in init_words(cfg, seed)) + "\n"
            (directory / cfg.init_file).write_text(text)


def random_commands(cfg: SetCfg, rng: random.Random, n: int, max_beats: int = 700) -> list[tuple[int, int]]:
    """``n`` commands (byte address, beats) inside the region: lengths 1..max_beats, a third starting just
    below a 4 KB boundary, a third crossing one near its start, a third anywhere; a few fixed corner cases
    (one beat, one beat below a boundary, exactly one page from a boundary) first."""
    wb, page = cfg.word_bytes, 4096 // cfg.word_bytes
    limit = cfg.words
    cmds = [(4096 - wb, 1), (8192, page), (3 * 4096 - wb, 2)][:n]
    while len(cmds) < n:
        beats = rng.randint(1, max_beats)
        kind = rng.randrange(3)
        boundary = rng.randrange(1, limit // page) * page
        if kind == 0:      # ends at or just below a boundary
            start = boundary - beats - rng.randrange(0, 3)
        elif kind == 1:    # crosses a boundary a few words in
            start = boundary - rng.randrange(1, 9)
        else:
            start = rng.randrange(0, limit)
        start = max(0, min(start, limit - beats))
        cmds.append((start * wb, beats))
    return cmds


#: The cocotb tests of testbench.axi_engine_test.
TESTS = ("reads", "reads_stall", "writes", "writes_stall", "throughput")


def make_job(seed: int, n_cmds: int, stall: float = 0.3, throughput_words: int = 65536) -> dict:
    """A job for testbench.axi_engine_test: ``n_cmds`` random commands per set and test (separate lists for
    the four read / write tests), and ``throughput_words`` words read by whole-region commands of set d."""
    rng = random.Random(seed)
    job: dict = {"clock_ns": 10, "seed": seed, "stall": stall}
    for test in TESTS[:4]:
        job[test] = {name: random_commands(cfg, rng, n_cmds) for name, cfg in SETS.items()}
    d = SETS["d"]
    job["throughput"] = {"set": "d", "beats": d.words, "commands": max(1, throughput_words // d.words)}
    return job
