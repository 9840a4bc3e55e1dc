"""The decode accelerator's whole-step cycle model (docs/ACCEL.md, "Cycle model"): a function of the decode
position, the lanes (the port width), the kernels' pipeline latencies and the memory's timing, exact against
the RTL (0 cycles of error, tests/test_accel.py).

A run is a sequence of phases, one at a time (hls/accel/accel.v.j2).  A phase entered at edge T issues its
commands at T + 1: a memory command is taken at T + 2 and its words follow pyflow.accel.axi_timing; a buffer
stream (ff_ram_stream, ff_vbank) takes its command at T + 2 and hands over its first word at T + 6, then one
per cycle; the head register feeds a kernel from T + 2.  A kernel's outputs follow its own cycle model
(golden.cycles, through its spec) from the edge both of its streams are in; the phase ends when its last
result is written, and the next phase is entered one edge later.  The cycles register counts from the edge
ap_start is accepted to the edge the controller is idle again: the phases plus one (the done state).
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.cycles import row_beats
from hls.accel.spec import AccelSpec
from pyflow.accel import axi_timing as at
from pyflow.errors import FlowError

#: Edges from a phase's entry to its memory command's handshake (command registered, then taken).
CMD_AT = 2
#: Edges from a phase's entry to the first word of a buffer stream (go register, command, RAM read, queue).
STREAM_AT = 6
#: Edges from a phase's entry to the head register's first beat (its valid needs the entry cycle over).
HREG_AT = 2
#: Edges from the last result written to the next phase entered (phase_done is read a cycle later).
NEXT = 1


@dataclass(frozen=True)
class Phase:
    """One phase of a run and its cycles."""

    name: str
    cycles: int
    kv_head: int | None = None
    q_head: int | None = None


def _memory(a: AccelSpec, memory: str) -> at.FfAxiMem | at.AxiRam:
    if memory == "verilog":
        return at.FfAxiMem(read_latency=a.read_latency, write_latency=a.write_latency)
    if memory == "axiram":
        return at.AxiRam()
    raise FlowError(f"accel: unknown memory model {memory!r} (axiram or verilog)")


def gamma_stall(cfg: at.EngineCfg, mem: at.FfAxiMem | at.AxiRam, byte: int, beats: int) -> int:
    """Cycles RMSNorm's second pass waits for gamma: its beat k needs x (streamed from the phase's entry +
    STREAM_AT, pass 1 then pass 2, one beat a cycle) and gamma word k (from memory, its command taken at
    CMD_AT); each beat is taken at the later of the two, and one cycle after the previous one."""
    words = at.read_timing(cfg, mem, [(byte, beats)]).out
    taken = -1
    for k in range(beats):
        taken = max(STREAM_AT + beats + k, CMD_AT + int(words[k]), taken + 1)
    return taken - (STREAM_AT + 2 * beats - 1)


def phases(a: AccelSpec, latencies: dict[str, int], pos: int, memory: str = "verilog",
           max_burst: int = 256, outstanding: int = 2) -> list[Phase]:
    """The phases of one token at ``pos`` with their cycles (``latencies``: each kernel's pipeline latency from
    its build)."""
    if not 0 <= pos < a.capacity:
        return []  # refused at once: the run is the done state alone
    m, e = a.model, a.per_word
    mem = _memory(a, memory)
    cfg = at.EngineCfg(data_w=a.data_bits, max_burst=max_burst, outstanding=outstanding)
    wb = a.word_bytes
    reg = {r.name: r for r in a.regions}
    n, hw, rw, d = pos + 1, m.hidden_size // e, m.head_dim // e, m.head_dim
    nb = row_beats(n, e)
    lat = latencies

    def read_last(cmds: list[tuple[str, int, int]]) -> int:
        """Edge of the last word of ``cmds`` (region, word offset, beats), from the first command taken."""
        words = [(reg[r].word * wb + off * wb, beats) for r, off, beats in cmds]
        return int(at.read_timing(cfg, mem, words).out[-1])

    def write_done(region: str, off: int, beats: int) -> int:
        return int(at.write_timing(cfg, mem, [(reg[region].word * wb + off * wb, beats)]).done[-1])

    def read_phase(cmds: list[tuple[str, int, int]], after: int = 0) -> int:
        """Memory words written into a buffer (or through a kernel of latency ``after``)."""
        return CMD_AT + read_last(cmds) + after + NEXT

    out: list[Phase] = [
        Phase("x", read_phase([("x", 0, hw)])),
        # rmsnorm: x twice from xb; gamma from memory beside pass 2 (a late gamma word stalls the pass)
        Phase("rmsnorm", STREAM_AT + a.kernels["rmsnorm"].timing(lat["rmsnorm"]).last
              + gamma_stall(cfg, mem, reg["gamma"].word * wb, hw) + NEXT),
        # the q/k/v projections: weights at one word per cycle, h replayed from hb; the last row's result
        Phase("qkv_proj", read_phase([("wk", 0, m.kv_dim * hw), ("wv", 0, m.kv_dim * hw),
                                      ("wq", 0, m.q_dim * hw)], after=lat["gemv"])),
    ]
    rope = HREG_AT + (rw - 1) + lat["rope"] + NEXT
    load_head = STREAM_AT + rw - 1 + NEXT
    for j in range(m.num_key_value_heads):
        out += [Phase("load_k", load_head, j), Phase("rope_k", rope, j),
                Phase("store_k", CMD_AT + write_done(f"k{j}", pos * rw, rw) + NEXT, j),
                Phase("load_v", load_head, j),
                Phase("store_v", CMD_AT + write_done(f"v{j}", pos * rw, rw) + NEXT, j),
                Phase("load_kc", read_phase([(f"k{j}", 0, n * rw)]), j),
                Phase("load_vc", read_phase([(f"v{j}", 0, n * rw)]), j)]
        for g in range(m.group_size):
            h = j * m.group_size + g
            out += [Phase("load_q", load_head, j, h), Phase("rope_q", rope, j, h),
                    Phase("qk", STREAM_AT + (n * rw - 1) + lat["qk"] + NEXT, j, h),
                    Phase("softmax_max", STREAM_AT + (nb - 1) + lat["softmax_max"] + NEXT, j, h),
                    Phase("softmax_exp", STREAM_AT + (nb - 1) + lat["softmax_exp"] + NEXT, j, h),
                    Phase("softmax_norm", STREAM_AT + (nb - 1) + lat["softmax_norm"] + NEXT, j, h),
                    Phase("av", STREAM_AT + (d * nb - 1) + lat["av"] + NEXT, j, h)]
    out += [Phase("o_proj", read_phase([("wo", 0, m.hidden_size * (m.q_dim // e))], after=lat["gemv"])),
            # y: the write command once yb's first word is ready (edge entry + 5), taken one edge later
            Phase("y", STREAM_AT + 1 + write_done("y", 0, hw) + NEXT)]
    return out


#: The done state (one cycle) that ends every run.
DONE = 1


def token_cycles(a: AccelSpec, latencies: dict[str, int], pos: int, memory: str = "verilog") -> int:
    """Cycles of one token at ``pos`` (the cycles register: ap_start accepted to idle again)."""
    return sum(p.cycles for p in phases(a, latencies, pos, memory)) + DONE
