"""Vitis backend, render step: kernel spec -> Vitis HLS C++ kernel, header, C testbench, Tcl and vectors.

Layout of ``build/kernels/<name>/``::

    <name>.h          types (one per port format / LUT), stream-word and beat types, the core and wrapper prototypes
    <name>.cpp        the kernel: core on ap_uint stream words + top-level AXI wrapper (<name>/<name>.cpp.j2)
    <name>_tb.cpp     C testbench: reads vectors/, drives the kernel, compares every word bit for bit
    vectors/<port>.in.txt   input raw values, stream order, one signed decimal per line, every lane of every
                            beat (an input's padding lanes hold garbage the kernel must ignore)
    vectors/<port>.exp.txt  expected output raw values (golden model), same format (padding lanes 0)
    vectors_pos<p>/         the same at decode position p (run-time length n = p + 1), for each position
                            asked for; vectors/ is the last position the capacity allows
    run_hls.tcl       Vitis HLS project script for the board (csim, csynth, cosim when asked, export: .xo for
                      an Alveo card, IP catalog for a Zynq board; pyflow/project/boards.py)

Files are written atomically and only when their content changed, so a second run with no change rewrites
nothing and keeps every mtime.  The C-sim-only shim ``build/kernels/_shim/ap_axi_sdata.h`` stands in for
Vitis' AXI-stream side-channel header, which the hls4ml ap_types copy lacks
(hls/templates/vitis/ap_axi_sdata_shim.h.j2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pyflow.backends.templates import RenderResult, environment, render, write_if_changed
from pyflow.paths import KERNELS_DIR
from pyflow.specs.base import KernelSpec

VECTOR_SEED = 0


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


def vector_dirs(spec: KernelSpec, positions: Sequence[int] = ()) -> dict[str, int | None]:
    """Vector folder name -> decode position (None: a kernel without a run-time length)."""
    if not spec.runtime:
        return {"vectors": None}
    last = int(spec.max_length) - 1
    return {"vectors": last, **{f"vectors_pos{p}": int(p) for p in positions if int(p) != last}}


def write_vectors(spec: KernelSpec, folder: Path, seed: int = VECTOR_SEED, pos: int | None = None,
                  result: RenderResult | None = None) -> None:
    """The golden vectors of ``spec`` at decode position ``pos`` (run-time length pos + 1) into ``folder``."""
    ins, exp = spec.vectors(seed, None if pos is None else pos + 1)
    ports = {p.name: p for p in spec.ports_at(spec.length(ins))}
    fill = np.random.default_rng([seed, 0xF111])  # garbage for the padding lanes of the inputs
    for p in spec.inputs:
        write_if_changed(folder / f"{p.name}.in.txt", vectors_text(ports[p.name].padded(ins[p.name], fill)), result)
    for p in spec.outputs:
        write_if_changed(folder / f"{p.name}.exp.txt", vectors_text(ports[p.name].padded(exp[p.name])), result)


def render_vitis(spec: KernelSpec, pc: Any, out_root: Path = KERNELS_DIR, seed: int = VECTOR_SEED,
                 with_vectors: bool = True, positions: Sequence[int] = (), cosim: bool = False) -> RenderResult:
    """Render the Vitis C++ kernel, header, testbench, Tcl and vectors of ``spec`` into out_root/<name>
    (vectors at every decode position in ``positions`` and at the last one, :func:`vector_dirs`); the Tcl
    runs cosim_design only with ``cosim``."""
    result = RenderResult()
    env = environment("vitis", spec.name)
    out = Path(out_root) / spec.name
    extra = {
        "clock_period_ns": pc.clock_period_ns,
        "part": vitis_part(pc),
        "board": vitis_board(pc),
        "cosim": bool(cosim),
        "extra_includes": [f"../{dep}" for dep in spec.params.get("includes", ())],
    }
    files = {f"{spec.name}.h": "kernel.h.j2", f"{spec.name}.cpp": f"{spec.name}.cpp.j2",
             f"{spec.name}_tb.cpp": "tb.cpp.j2", "ff_common.h": "ff_common.h.j2", "run_hls.tcl": "tcl/vitis_hls.tcl.j2"}
    for fname, template in files.items():
        write_if_changed(out / fname, render(spec, "vitis", template, extra, env), result)
    for dep in spec.deps.values():  # the kernels the top includes at its own lanes, beside it
        result.merge(render_vitis(dep, pc, out / "deps", seed, with_vectors=False))
    if with_vectors:
        for folder, pos in vector_dirs(spec, positions).items():
            write_vectors(spec, out / folder, seed, pos, result)
    render_shim(out_root, result)
    return result


def vitis_board(pc: Any) -> Any:  # noqa: ANN401 (Board)
    """The board the Vitis projects target: the config's board, or the U280 for an open-flow board."""
    if pc.board.flow == "vitis":
        return pc.board
    from pyflow.project.boards import BOARDS

    return BOARDS["u280"]


def vitis_part(pc: Any) -> str:
    """The AMD part the Vitis projects target (:func:`vitis_board`)."""
    return vitis_board(pc).part
