"""C-simulation stage: render each kernel, compile kernel + generated testbench with g++, run, report.

The testbench (hls/templates/vitis/tb.cpp.j2) compares every output element with the golden model's
vectors bit for bit and TLAST on every beat; this module collects its verdicts into
``build/report/csim_report.json``:

``{"config": {...}, "small": bool, "positions": [...], "gxx": "...", "hls4ml": "...", "kernels": {name:
{"status": "pass"|"fail", "compile_s", "cached", "run_s", "elements", "messages": [...], "positions":
[{"pos": int | null, "status", "messages"}, ...]}}, "skipped": {name: why}, "passed": int, "failed": int}``
(``skipped``: optional tops the config cannot have, see :func:`pyflow.specs.all_specs`; a kernel passes when
every position passes; a kernel without a run-time length runs once, ``pos`` null).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyflow.backends.templates import RenderResult, write_if_changed
from pyflow.backends.vitis.render import render_vitis, vector_dirs
from pyflow.errors import FlowError
from pyflow.paths import BUILD, KERNELS_DIR
from pyflow.specs import all_specs
from pyflow.specs.base import KernelSpec
from pyflow.tools import gxx

REPORT = BUILD / "report" / "csim_report.json"
SMALL_KERNELS_DIR = BUILD / "kernels_small"


def kernel_dir(spec: KernelSpec, out_root: Path) -> Path:
    """Folder holding the rendered files of ``spec``."""
    return Path(out_root) / spec.name


def compile_kernel(spec: KernelSpec, out_root: Path) -> gxx.Compiled:
    """Compile the rendered kernel and its testbench (cached by content)."""
    d = kernel_dir(spec, out_root)
    includes = [d, Path(out_root) / "_shim"]
    includes += [Path(out_root) / dep for dep in spec.params.get("includes", ())]
    includes += [d / "deps" / dep for dep in spec.deps]  # included as "deps/<dep>/<dep>.cpp"; listed for the cache key
    return gxx.compile_exe([d / f"{spec.name}.cpp", d / f"{spec.name}_tb.cpp"], includes, f"{spec.name}_tb")


def run_kernel(spec: KernelSpec, exe: Path, out_root: Path, timeout_s: int = 600, folder: str = "vectors"
               ) -> tuple[bool, list[str], float]:
    """Run the testbench on the rendered vectors in ``folder``; return (passed, its MISMATCH/ERROR lines,
    seconds)."""
    d = kernel_dir(spec, out_root)
    t0 = time.perf_counter()
    try:
        res = subprocess.run([str(exe), str(d / folder)], capture_output=True, text=True, timeout=timeout_s,
                             check=False)
    except subprocess.TimeoutExpired:
        return False, [f"testbench ran longer than {timeout_s} s"], time.perf_counter() - t0
    secs = time.perf_counter() - t0
    lines = res.stdout.splitlines()
    msgs = [ln for ln in lines if ln.startswith(("MISMATCH", "ERROR"))]
    passed = res.returncode == 0 and f"RESULT {spec.name} PASS" in lines
    if not passed and not msgs:
        msgs = [f"testbench exited with status {res.returncode}: {(res.stderr or res.stdout).strip()[-300:]}"]
    return passed, msgs, secs


def render_for_csim(specs: Sequence[KernelSpec], pc: Any, out_root: Path, positions: Sequence[int] = ()
                    ) -> RenderResult:
    """Render every spec (and the kernels a top includes) for C-sim, with vectors at ``positions``."""
    result = RenderResult()
    names = {s.name for s in specs}
    extra: list[str] = []
    for s in specs:
        extra += [dep for dep in s.params.get("includes", ()) if dep not in names and dep not in extra]
    if extra:
        from pyflow.specs import get_spec

        for dep in extra:
            result.merge(render_vitis(get_spec(dep, pc), pc, out_root, with_vectors=False))
    for s in specs:
        result.merge(render_vitis(s, pc, out_root, positions=positions))
    return result


def run_csim(pc: Any, names: Sequence[str] | None = None, small: bool = False, out_root: Path | None = None,
             report_path: Path | None = REPORT, progress: bool = True, positions: Sequence[int] | None = None
             ) -> dict[str, Any]:
    """C-simulate the requested kernels (all by default) at decode ``positions`` (default: the config's
    :attr:`~pyflow.project.config.ProjectConfig.positions`); return and write the report."""
    from pyflow.project.config import small_config

    pcx = small_config(pc) if small else pc
    out_root = Path(out_root or (SMALL_KERNELS_DIR if small else KERNELS_DIR))
    skipped: dict[str, str] = {}
    specs = all_specs(pcx, names=tuple(names) if names else None, skipped=skipped)
    say = print if progress else (lambda *a, **k: None)
    say(f"csim: {len(specs)} kernel(s), {'small' if small else 'config'} dimensions, {gxx.gxx_version()}",
        flush=True)
    for k, why in skipped.items():
        say(f"  {k}: skipped, the config has none ({why})", flush=True)
    gxx.gxx_path()
    gxx.ap_types_dir()
    t0 = time.perf_counter()
    positions = tuple(pcx.positions if positions is None else positions)
    check_positions(positions, pcx.max_length)
    render_for_csim(specs, pcx, out_root, positions)
    say(f"  rendered into {out_root} ({time.perf_counter() - t0:.1f} s)", flush=True)
    kernels: dict[str, Any] = {}
    for i, spec in enumerate(specs, 1):
        say(f"  [{i}/{len(specs)}] {spec.name:<18} compiling...", end="", flush=True)
        try:
            comp = compile_kernel(spec, out_root)
        except FlowError as exc:
            comp = gxx.Compiled(Path(), False, 0.0, "")
            ok, msgs, secs = False, [f"compile error: {exc}"], 0.0
            runs = []
        else:
            say(f" {'cached' if comp.cached else f'{comp.seconds:.1f} s'}, running...", end="", flush=True)
            runs = []
            for folder, pos in vector_dirs(spec, positions).items():
                p_ok, p_msgs, p_secs = run_kernel(spec, comp.exe, out_root, folder=folder)
                runs.append({"pos": pos, "status": "pass" if p_ok else "fail", "messages": p_msgs,
                             "run_s": round(p_secs, 3)})
            ok = all(r["status"] == "pass" for r in runs)
            msgs = [f"pos {r['pos']}: {m}" if r["pos"] is not None else m for r in runs for m in r["messages"]]
            secs = sum(r["run_s"] for r in runs)
        where = "" if len(runs) < 2 else f" at {len(runs)} positions"
        say(f" {'PASS' if ok else 'FAIL'}{where} ({secs:.2f} s)", flush=True)
        for m in msgs[:4]:
            say(f"      {m}", flush=True)
        kernels[spec.name] = {
            "status": "pass" if ok else "fail",
            "compile_s": round(comp.seconds, 3),
            "cached": comp.cached,
            "run_s": round(secs, 3),
            "elements": {p.name: p.elements for p in spec.outputs},
            "messages": msgs,
            "positions": runs,
        }
    passed = sum(k["status"] == "pass" for k in kernels.values())
    report = {
        "config": pcx.to_dict(),
        "small": small,
        "positions": list(positions),
        "gxx": gxx.gxx_version(),
        "hls4ml": gxx.hls4ml_version(),
        "kernels": kernels,
        "skipped": skipped,
        "passed": passed,
        "failed": len(kernels) - passed,
        "total_s": round(time.perf_counter() - t0, 3),
    }
    if report_path is not None:
        write_if_changed(Path(report_path), json.dumps(report, indent=2) + "\n")
        say(f"csim: {passed}/{len(kernels)} passed; report {report_path}", flush=True)
    return report


def check_positions(positions: Sequence[int], capacity: int) -> None:
    """FlowError unless every decode position is within the capacity (0 <= pos < capacity)."""
    bad = [p for p in positions if not 0 <= int(p) < capacity]
    if bad:
        raise FlowError(f"decode position {bad[0]} is outside 0..{capacity - 1} (context.max_length = {capacity}); "
                        "choose positions below the capacity")


def check_report(report: dict[str, Any]) -> None:
    """FlowError naming the failing kernels, if any."""
    bad = [k for k, v in report["kernels"].items() if v["status"] != "pass"]
    if bad:
        raise FlowError(f"csim: {len(bad)} kernel(s) differ from the golden model: {', '.join(bad)}")
