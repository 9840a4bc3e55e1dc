"""Render stage: kernel specs -> source files under ``build/kernels/<name>/`` via Jinja2.

Templates live in ``hls/templates/<lang>/`` and receive the spec and nothing else (plus a few derived
helpers computed here from the spec).  Files are written atomically and only when their content changed,
so a second run with no change rewrites nothing and keeps every mtime.

Layout of ``build/kernels/<name>/`` for ``lang="vitis"``::

    <name>.h          types (one per port format / LUT), beat types, the top-level prototype
    <name>.cpp        the kernel (Vitis HLS C++)
    <name>_tb.cpp     C testbench: reads vectors/, drives the kernel, compares every word bit for bit
    vectors/<port>.in.txt   input raw values, stream order, one signed decimal per line
    vectors/<port>.exp.txt  expected output raw values (golden model), same format
    run_hls.tcl       Vitis HLS project script (csim, csynth, cosim, export)

The C-sim-only shim ``build/kernels/_shim/ap_axi_sdata.h`` stands in for Vitis' AXI-stream side-channel
header, which the hls4ml ap_types copy lacks (see hls/templates/vitis/ap_axi_sdata_shim.h.j2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from pyflow.reports import atomic_write_bytes
from pyflow.specs.base import KernelSpec, Lut, Port

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "hls" / "templates"
BUILD = REPO / "build"
KERNELS_DIR = BUILD / "kernels"
VECTOR_SEED = 0


@dataclass
class RenderResult:
    """Which files a render wrote and which it left untouched."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)

    def merge(self, other: RenderResult) -> None:
        self.written += other.written
        self.unchanged += other.unchanged


def write_if_changed(path: Path, content: str | bytes, result: RenderResult | None = None) -> bool:
    """Atomically write ``content`` unless the file already holds exactly it; return True if written."""
    data = content.encode() if isinstance(content, str) else content
    path = Path(path)
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        if result is not None:
            result.unchanged.append(path)
        return False
    atomic_write_bytes(path, data)
    if result is not None:
        result.written.append(path)
    return True


def environment(lang: str) -> jinja2.Environment:
    """The Jinja2 environment for ``lang`` (StrictUndefined, trailing newline kept, shared Tcl folder)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(TEMPLATES / lang), str(TEMPLATES)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["cpp_array"] = cpp_array
    env.globals["beat_type"] = beat_type
    env.globals["word_type"] = word_type
    env.globals["elem_type"] = elem_type
    return env


# ------------------------------------------------------------------------------------- template helpers


def elem_type(port_or_name: Port | str) -> str:
    """C++ typedef name of a port's element (``<port>_t``)."""
    name = port_or_name.name if isinstance(port_or_name, Port) else port_or_name
    return f"{name}_t"


def word_type(port: Port) -> str:
    """C++ typedef name of a port's packed beat word (``<port>_word_t`` = ap_uint<lanes*width>)."""
    return f"{port.name}_word_t"


def beat_type(port: Port) -> str:
    """C++ type travelling on an axis port: ``ap_axiu<W,0,0,0>`` with TLAST, else the bare word."""
    return f"{port.name}_beat_t"


def cpp_array(values: Iterable[int], per_line: int = 16) -> str:
    """Comma-separated integer initialiser list, ``per_line`` values per line."""
    vals = [str(int(v)) for v in np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
            .reshape(-1)]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    return ",\n    ".join(lines)


def lut_context(luts: dict[str, Lut]) -> list[dict[str, Any]]:
    """LUTs as template-friendly dicts (name, depth, index_bits, fmt, data = raw values)."""
    return [
        {"name": k, "depth": v.depth, "index_bits": v.index_bits, "fmt": v.fmt, "data": v.values}
        for k, v in sorted(luts.items())
    ]


def context(spec: KernelSpec, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template context for ``spec``: the spec itself plus derived conveniences."""
    ctx: dict[str, Any] = {
        "spec": spec,
        "name": spec.name,
        "p": dict(spec.params),
        "c": dict(spec.consts),
        "ports": spec.ports,
        "inputs": spec.inputs,
        "outputs": spec.outputs,
        "axis_ports": [p for p in spec.ports if p.kind == "axis"],
        "luts": lut_context(dict(spec.luts)),
        "digest": spec.digest(),
    }
    if extra:
        ctx.update(extra)
    return ctx


# ----------------------------------------------------------------------------------------- rendering


def vectors_text(raw: np.ndarray) -> str:
    """One signed decimal per line, stream order."""
    arr = np.asarray(raw, dtype=np.int64).reshape(-1)
    return "\n".join(map(str, arr.tolist())) + "\n"


def render_shim(out_root: Path = KERNELS_DIR, result: RenderResult | None = None) -> Path:
    """Write the C-sim ``ap_axi_sdata.h`` shim into ``out_root/_shim``; return that folder."""
    env = environment("vitis")
    shim = Path(out_root) / "_shim"
    write_if_changed(shim / "ap_axi_sdata.h", env.get_template("ap_axi_sdata_shim.h.j2").render(), result)
    return shim


def render_vitis(spec: KernelSpec, pc: Any, out_root: Path = KERNELS_DIR, seed: int = VECTOR_SEED,
                 with_vectors: bool = True) -> RenderResult:
    """Render the Vitis C++ kernel, header, testbench, Tcl and vectors of ``spec`` into out_root/<name>."""
    result = RenderResult()
    env = environment("vitis")
    out = Path(out_root) / spec.name
    ctx = context(spec, {
        "clock_period_ns": pc.clock_period_ns,
        "part": _vitis_part(pc),
        "spec_module": spec.name,
        "extra_includes": [f"../{dep}" for dep in spec.params.get("includes", ())],
    })
    write_if_changed(out / f"{spec.name}.h", env.get_template("kernel.h.j2").render(**ctx), result)
    write_if_changed(out / f"{spec.name}.cpp", env.get_template(f"{spec.name}.cpp.j2").render(**ctx), result)
    write_if_changed(out / f"{spec.name}_tb.cpp", env.get_template("tb.cpp.j2").render(**ctx), result)
    write_if_changed(out / "ff_common.h", env.get_template("ff_common.h.j2").render(**ctx), result)
    write_if_changed(out / "run_hls.tcl", env.get_template("tcl/vitis_hls.tcl.j2").render(**ctx), result)
    if with_vectors:
        ins, exp = spec.vectors(seed)
        for p in spec.inputs:
            write_if_changed(out / "vectors" / f"{p.name}.in.txt", vectors_text(ins[p.name]), result)
        for p in spec.outputs:
            write_if_changed(out / "vectors" / f"{p.name}.exp.txt", vectors_text(exp[p.name]), result)
    render_shim(out_root, result)
    return result


def _vitis_part(pc: Any) -> str:
    board = pc.board
    if board.flow == "vitis":
        return board.part
    from pyflow.boards import BOARDS

    return BOARDS["u280"].part


def render_all(specs: Iterable[KernelSpec], pc: Any, langs: tuple[str, ...] = ("vitis",),
               out_root: Path = KERNELS_DIR, progress: bool = True) -> RenderResult:
    """Render every spec in every requested language it supports."""
    total = RenderResult()
    for spec in specs:
        for lang in langs:
            if lang not in spec.langs:
                continue
            if lang == "vitis":
                r = render_vitis(spec, pc, out_root)
            else:
                raise ValueError(f"render: language {lang!r} is not rendered by pyflow.render")
            total.merge(r)
            if progress:
                print(f"  {spec.name:<18} {lang:<6} {len(r.written)} written, {len(r.unchanged)} unchanged",
                      flush=True)
    return total
