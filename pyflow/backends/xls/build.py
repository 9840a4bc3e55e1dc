"""XLS backend, build step: kernel spec -> DSLX -> XLS pipelined Verilog -> primitives bound -> AXI4-Stream
wrapper -> lint.

Outputs land in ``build/rtl/k/``: ``k.x``, ``k.opt.ir``, ``k_core.xls.v`` (XLS), ``k_core.v`` (the same with
the primitives' registers bound in, :mod:`pyflow.backends.xls.bind`), ``k_prims.v`` (DSP and ROM modules,
:mod:`pyflow.backends.xls.primitives`), ``k.v`` (wrapper, top module ``k``), ``xls_meta.json``.  The report
``build/report/rtl_report.json`` lists every kernel's pipeline stages, latency and timings.

Kernels that XLS procs cannot express (an AXI4 master: ``kv_cache``) have a Verilog template
``hls/kernels/k/k.v.j2`` instead, rendered from the spec (lang tag ``rtl``), linted, no XLS;
:func:`has_rtl` tells whether a spec has either.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyflow.backends.templates import render, write_if_changed
from pyflow.backends.xls import bind, primitives
from pyflow.backends.xls.dslx import chan, has_dslx, ram_channels, render_dslx
from pyflow.backends.xls.wrapper import CLK, RST, WRAPPER_LATENCY, render_wrapper
from pyflow.errors import FlowError
from pyflow.paths import BUILD, TEMPLATES, kernel_folder
from pyflow.specs.base import KernelSpec
from pyflow.specs.common import index_bits
from pyflow.tools import verilator as vtool
from pyflow.tools import xls as xtool

__all__ = ["CLK", "RST", "RtlBuild", "build_kernel", "has_rtl", "has_template", "run_stage", "xls_options"]

#: Justified Verilator waivers for the XLS-generated cores (the wrapper gets none).
LINT_WAIVERS = TEMPLATES / "rtl" / "lint_waivers.vlt"


@dataclass(frozen=True)
class RtlBuild:
    """The Verilog of one kernel and what the cycle model needs from it."""

    kernel: str
    top: str
    sources: tuple[Path, ...]
    stages: int
    latency: int
    compile_seconds: float
    cached: bool


def xls_options(clock_mhz: float = 200.0, delay_model: str = "sky130") -> xtool.XlsOptions:
    """XLS options for a clock target; the reset is :data:`RST` (active-low)."""
    return xtool.XlsOptions.from_clock_mhz(clock_mhz, delay_model=delay_model, reset=RST,
                                           reset_active_low=True)


def has_verilog_template(kernel: str) -> bool:
    """True when ``hls/kernels/<kernel>/<kernel>.v.j2`` (hand-written RTL, lang tag ``rtl``) exists."""
    return (kernel_folder(kernel) / f"{kernel}.v.j2").is_file()


def has_template(kernel: str) -> bool:
    """True when the kernel has a DSLX template or a hand-written Verilog one."""
    return has_dslx(kernel) or has_verilog_template(kernel)


def has_rtl(spec: KernelSpec) -> bool:
    """True when ``spec`` has RTL at its dimensions: DSLX (lang ``dslx``) or hand-written Verilog (``rtl``)."""
    if "dslx" in spec.langs and has_dslx(spec.name):
        return True
    return "rtl" in spec.langs and has_verilog_template(spec.name)


def render_verilog(spec: KernelSpec) -> str:
    """The hand-written Verilog of ``spec`` (template ``hls/kernels/<name>/<name>.v.j2``, top module ``name``)."""
    from pyflow.backends.templates import environment

    env = environment("rtl", spec.name)
    env.globals["index_bits"] = index_bits
    return render(spec, "rtl", f"{spec.name}.v.j2", {"CLK": CLK, "RST": RST}, env)


def _build_verilog(spec: KernelSpec, build_root: Path | str, lint: bool) -> RtlBuild:
    for p in spec.ports:
        # An AXI4 bus word is a power of two of 8 to 1024 bits: the lanes are padded up to one (Port.mem_word_bits).
        if p.kind == "m_axi" and p.mem_word_bits > 1024:
            raise FlowError(f"rtl: AXI4 port {p.name} of {spec.name} needs {p.word_bits} bits a word; AXI4 words are "
                            "at most 1024 bits (use fewer lanes or a narrower element)")
    t0 = time.perf_counter()
    out = Path(build_root) / "rtl" / spec.name
    src = out / f"{spec.name}.v"
    write_if_changed(src, render_verilog(spec))
    if lint:
        vtool.lint((src,), spec.name, build_root, waivers=LINT_WAIVERS)
    # No XLS pipeline: the streamed outputs are combinational in the AXI read data (depth 0).
    return RtlBuild(spec.name, spec.name, (src,), 0, 0, time.perf_counter() - t0, False)


def build_kernel(spec: KernelSpec, options: xtool.XlsOptions | None = None, build_root: Path | str = BUILD,
                 template: str | None = None, lint: bool = True) -> RtlBuild:
    """Render, compile, wrap and (optionally) lint ``spec``; return the sources and pipeline depth."""
    if template is None and "dslx" not in spec.langs and "rtl" in spec.langs and has_verilog_template(spec.name):
        return _build_verilog(spec, build_root, lint)
    if template is None and "dslx" not in spec.langs:
        raise FlowError(f"rtl: kernel {spec.name} has no DSLX implementation at these dimensions "
                        f"(langs: {', '.join(spec.langs)})")
    options = options or xls_options()
    source = render_dslx(spec, template)
    core = f"{spec.name}_core"
    streams = ([chan(p) for p in spec.inputs if p.kind in ("axis", "scalar")],
               [chan(p) for p in spec.outputs if p.kind == "axis"])
    res = xtool.compile_dslx(spec.name, source, spec.name, spec.name, core, options, build_root,
                             rams=[ram_channels(r) for r in spec.rams], streams=streams)
    out = Path(build_root) / "rtl" / spec.name
    prims_text = primitives.render_prims(spec.name, dict(spec.luts), spec.rams)
    bound, stats = bind.bind_core(res.verilog_path.read_text(), spec.name, CLK, prims_text)
    if stats.unbound():
        raise FlowError(f"rtl: {spec.name}: a table read is not registered on its own in the XLS pipeline "
                        f"({', '.join(f'{k} {v}' for k, v in stats.as_dict().items())} bound), so it cannot use "
                        "the block RAM's registers; do not lower the FFI delay below the clock period")
    core_v, prims_v, wrapper = out / f"{core}.v", out / f"{spec.name}_prims.v", out / f"{spec.name}.v"
    write_if_changed(core_v, bound)
    write_if_changed(prims_v, prims_text)
    write_if_changed(wrapper, render_wrapper(spec, core, res.stages))
    write_if_changed(out / "prims_bound.json", json.dumps(stats.as_dict(), indent=2) + "\n")
    sources = (core_v, prims_v, wrapper)
    if lint:
        vtool.lint(sources, spec.name, build_root, waivers=LINT_WAIVERS)
    return RtlBuild(spec.name, spec.name, sources, res.stages, res.latency + WRAPPER_LATENCY, res.seconds,
                    res.cached)


def run_stage(specs: Iterable[KernelSpec], clock_mhz: float, build_root: Path | str = BUILD,
              progress: bool = True, delay_model: str = "sky130") -> dict[str, Any]:
    """Build every spec that has RTL; write ``build/report/rtl_report.json``."""
    rows = []
    for spec in specs:
        if not has_rtl(spec):
            continue
        t0 = time.perf_counter()
        b = build_kernel(spec, xls_options(clock_mhz, delay_model), build_root)
        row = {"kernel": b.kernel, "stages": b.stages, "latency": b.latency, "cached": b.cached,
               "xls_seconds": round(b.compile_seconds, 3), "total_seconds": round(time.perf_counter() - t0, 3),
               "verilog": [str(s) for s in b.sources]}
        rows.append(row)
        if progress:
            print(f"  {b.kernel:<14} stages {b.stages:>2}  latency {b.latency:>2}  "
                  f"{'cached' if b.cached else f'{b.compile_seconds:.1f} s'}", flush=True)
    report = {"clock_mhz": clock_mhz, "delay_model": delay_model, "xls_version": xtool.xls_version(), "kernels": rows}
    write_if_changed(Path(build_root) / "report" / "rtl_report.json", json.dumps(report, indent=2) + "\n")
    return report
