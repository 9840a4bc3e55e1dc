"""Build the decode accelerator's RTL: its kernels through the XLS backend at the accelerator's lanes, the top
rendered from hls/accel/accel.v.j2 and the AccelSpec, the shared Verilog library of hls/rtl/, lint.

Outputs under ``<build_root>/accel/<tag>/``: ``rtl/<kernel>/...`` (the kernels), ``flatflow_accel.v`` (the
top) and ``build.json`` (sources, kernel latencies).  The tag is the port width, so 128- and 256-bit builds
coexist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hls.accel.spec import MAX_BURST, OUTSTANDING, AccelSpec  # read / write engine parameters
from pyflow.backends.templates import environment, write_if_changed
from pyflow.backends.xls.build import CLK, LINT_WAIVERS, RST, build_kernel, xls_options
from pyflow.paths import BUILD, REPO
from pyflow.specs.common import index_bits
from pyflow.tools import verilator as vtool

TOP = "flatflow_accel"
#: The Verilog library the top instantiates (hls/rtl/).
LIBRARY = ("ff_axi_burst_split.v", "ff_fifo_bram.v", "ff_axi_read.v", "ff_axi_write.v", "ff_ram.v",
           "ff_ram_stream.v", "ff_pack.v", "ff_vbank.v")
#: Instance names of the kernels in the top (hls/accel/accel.v.j2 routes their ports by these names).
INSTANCES = {"rmsnorm": "u_rmsnorm", "gemv": "u_gemv", "rope": "u_rope", "qk": "u_qk", "softmax_max": "u_smax",
             "softmax_exp": "u_sexp", "softmax_norm": "u_snorm", "av": "u_av"}
#: The controller's states, in order (docs/ACCEL.md, "Phases").
STATES = ("S_IDLE", "S_X", "S_NORM", "S_PROJ", "S_LDK", "S_ROPEK", "S_STK", "S_LDV", "S_STV", "S_LDKC", "S_LDVC",
          "S_LDQ", "S_ROPEQ", "S_QK", "S_SMAX", "S_SEXP", "S_SNORM", "S_AV", "S_OPROJ", "S_Y", "S_DONE")
#: Phase -> next phase where the order is fixed (S_AV chooses: next query head, next KV head or o_proj).
CHAIN = (("S_X", "S_NORM"), ("S_NORM", "S_PROJ"), ("S_PROJ", "S_LDK"), ("S_LDK", "S_ROPEK"), ("S_ROPEK", "S_STK"),
         ("S_STK", "S_LDV"), ("S_LDV", "S_STV"), ("S_STV", "S_LDKC"), ("S_LDKC", "S_LDVC"), ("S_LDVC", "S_LDQ"),
         ("S_LDQ", "S_ROPEQ"), ("S_ROPEQ", "S_QK"), ("S_QK", "S_SMAX"), ("S_SMAX", "S_SEXP"), ("S_SEXP", "S_SNORM"),
         ("S_SNORM", "S_AV"), ("S_OPROJ", "S_Y"))
#: The phases in which each unit of the trace monitor works (``FLATFLOW_TRACE``, docs/ACCEL.md "Trace of the
#: RTL run"): a unit with nothing moving in one of them is starved or stalled, outside them it is idle.
ACTIVE = {"rmsnorm": ("S_NORM",), "gemv": ("S_PROJ", "S_OPROJ"), "rope": ("S_ROPEK", "S_ROPEQ"), "qk": ("S_QK",),
          "softmax_max": ("S_SMAX",), "softmax_exp": ("S_SEXP",), "softmax_norm": ("S_SNORM",), "av": ("S_AV",),
          "axi read": ("S_X", "S_NORM", "S_PROJ", "S_LDKC", "S_LDVC", "S_OPROJ"),
          "axi write": ("S_STK", "S_STV", "S_Y")}
#: Per-cycle unit states the monitor logs (codes 0..4, in this order).
UNIT_STATES = ("idle", "busy", "starved", "stalled", "back-pressured")
#: S_PROJ's sub-phases (k, v, q rows), split where the first weight word of wv / wq is taken.
PROJ_SUBS = ("k_proj", "v_proj", "q_proj")


@dataclass(frozen=True)
class AccelBuild:
    """The accelerator's Verilog and the facts its cycle model needs."""

    top: str
    sources: tuple[Path, ...]
    latencies: dict[str, int]     # kernel -> pipeline latency (cycles, from its build)
    folder: Path


def _buffer(name: str, width: int, depth: int, doc: str) -> dict[str, Any]:
    return {"name": name, "width": width, "depth": depth, "ab": index_bits(depth), "doc": doc}


def context(a: AccelSpec) -> dict[str, Any]:
    """The template context of the top: numbers, buffers, kernels (ports), packers, byte offsets, states."""
    m, s, e, wb = a.model, a.scheme, a.per_word, a.word_bytes
    cap, d, h = a.capacity, m.head_dim, m.hidden_size
    rw, capw = d // e, -(-cap // e)
    k = {"H": h, "NH": m.num_attention_heads, "NK": m.num_key_value_heads, "G": m.group_size, "D": d, "CAP": cap,
         "RW": rw, "HW": h // e, "KVD": m.kv_dim, "QD": m.q_dim, "QDW": m.q_dim // e, "LB": index_bits(e),
         "VB_DEPTH": capw * rw, "VB_AB": index_bits(capw * rw), "LW": s.logit.width,
         "SW": a.kernels["softmax_exp"].port("sum").fmt.width, "MAX_BURST": MAX_BURST, "OUTSTANDING": OUTSTANDING}
    buffers = [
        _buffer("xb", a.data_bits, h // e, "the input hidden state x"),
        _buffer("hb", a.data_bits, h // e, "RMSNorm(x)"),
        _buffer("pb", a.data_bits, (2 * m.kv_dim + m.q_dim) // e, "the projections k | v | q"),
        _buffer("kb", a.data_bits, cap * rw, "K rows 0..pos of the current KV head"),
        _buffer("lg", e * s.logit.width, capw, "one head's logits"),
        _buffer("ex", e * s.exp.width, capw, "one head's exps"),
        _buffer("pr", e * s.prob.width, capw, "one head's probabilities"),
        _buffer("at", a.data_bits, m.q_dim // e, "the heads' attention outputs"),
        _buffer("yb", a.data_bits, h // e, "o_proj's output y"),
    ]
    kernels = []
    for name, spec in a.kernels.items():
        kernels.append({
            "name": name, "inst": INSTANCES[name],
            "scalars": [{"name": p.name, "width": p.word_bits} for p in spec.inputs if p.kind == "scalar"],
            "ins": [{"name": p.name, "width": p.word_bits, "last": p.has_last} for p in spec.inputs
                    if p.kind == "axis"],
            "outs": [{"name": p.name, "width": p.word_bits, "last": p.has_last} for p in spec.outputs],
        })
    by = {b["name"]: b for b in buffers}
    packers = [{"name": "pk_pb", "ram": "pb", "ew": a.width, "ab": by["pb"]["ab"], "doc": "gemv outputs -> pb"},
               {"name": "pk_lg", "ram": "lg", "ew": s.logit.width, "ab": by["lg"]["ab"], "doc": "qk logits -> lg"},
               {"name": "pk_at", "ram": "at", "ew": a.width, "ab": by["at"]["ab"], "doc": "av outputs -> at"},
               {"name": "pk_yb", "ram": "yb", "ew": a.width, "ab": by["yb"]["ab"], "doc": "o_proj outputs -> yb"}]
    reg = {r.name: r for r in a.regions}
    byte = {name: reg[name].word * wb for name in ("gamma", "wk", "wv", "wq", "wo", "x", "y")}
    byte["kv_stride"] = (reg["k1"].word - reg["k0"].word) * wb if m.num_key_value_heads > 1 else 0
    byte["v0"] = (reg["v0"].word - reg["k0"].word) * wb
    return {"a": a, "k": k, "buffers": buffers, "buf": by, "kernels": kernels, "packers": packers, "byte": byte,
            "states": STATES, "chain": CHAIN, "top": TOP, "CLK": CLK, "RST": RST, "monitor": monitor_units(kernels)}


def monitor_units(kernels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The units the trace monitor watches, in log order: each kernel instance and the two AXI engines, with
    their input and output streams (name, valid, ready) and the phases they work in.  Kernel outputs are
    always ready (the packers and writers take every beat)."""
    units = []
    for kern in kernels:
        inst = kern["inst"]
        units.append({"name": kern["name"], "inst": inst, "active": ACTIVE[kern["name"]],
                      "ins": [(p["name"], f"{inst}_{p['name']}_v", f"{inst}_{p['name']}_r") for p in kern["ins"]],
                      "outs": [(p["name"], f"{inst}_{p['name']}_v", "1'b1") for p in kern["outs"]]})
    units.append({"name": "axi read", "inst": "u_rd", "active": ACTIVE["axi read"],
                  "ins": [("r", "m_axi_gmem_rvalid", "m_axi_gmem_rready")], "outs": [("out", "rd_valid", "rd_ready")]})
    units.append({"name": "axi write", "inst": "u_wr", "active": ACTIVE["axi write"],
                  "ins": [("in", "wr_valid", "wr_ready")], "outs": [("w", "m_axi_gmem_wvalid", "m_axi_gmem_wready")]})
    return units


def render_top(a: AccelSpec) -> str:
    """The top's Verilog."""
    env = environment("rtl")
    env.loader.searchpath.insert(0, str(REPO / "hls" / "accel"))  # type: ignore[union-attr]
    return env.get_template("accel.v.j2").render(**context(a))


def build_accel(a: AccelSpec, build_root: Path | str = BUILD, lint: bool = True,
                xls_mhz: float | None = None, kernel_mhz: Mapping[str, float] | None = None) -> AccelBuild:
    """Build every kernel (XLS) and the top; lint the whole design with Verilator.  Kernels are pipelined for
    ``xls_mhz`` (default: the config's clock), or for ``kernel_mhz[name]`` where given (timing closure of the
    top deepens only the kernels that limit it)."""
    folder = Path(build_root) / "accel" / f"{a.data_bits}b"
    base = xls_mhz or a.pc.clock_mhz
    sources: list[Path] = [REPO / "hls" / "rtl" / f for f in LIBRARY]
    latencies: dict[str, int] = {}
    for name, spec in a.kernels.items():
        b = build_kernel(spec, xls_options((kernel_mhz or {}).get(name, base)), folder, lint=False)
        sources += list(b.sources)
        latencies[name] = b.latency
    top = folder / f"{TOP}.v"
    write_if_changed(top, render_top(a))
    sources.append(top)
    if lint:
        vtool.lint(tuple(sources), TOP, folder, waivers=LINT_WAIVERS)
    write_if_changed(folder / "build.json", json.dumps({"top": TOP, "sources": [str(p) for p in sources],
                                                        "latencies": latencies}, indent=2) + "\n")
    return AccelBuild(TOP, tuple(sources), latencies, folder)

