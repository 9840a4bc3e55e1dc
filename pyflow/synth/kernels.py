"""The project's kernels as synthesis jobs: spec -> XLS Verilog (pyflow.backends.xls.build) -> :class:`SynthJob`.

Cycles per kernel come from the spec's golden cycle formula at the pipeline latency XLS reports
(``spec.timing(latency).total``: one invocation at the capacity, first input handshake to last output beat).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError
from pyflow.paths import BUILD, KERNELS_DIR
from pyflow.synth.devices import SynthTarget
from pyflow.synth.run import SynthJob, parallel_map, synth_one, tool_versions

#: Vitis HLS project script of a kernel (written by the render stage), reported next to AMD estimates.
VITIS_TCL = "run_hls.tcl"
#: Safety factor on the Fmax shortfall when re-pipelining for timing closure.
CLOSURE_MARGIN = 1.15
#: Smallest relative step of the XLS clock target worth another closure attempt.
CLOSURE_MIN_STEP = 0.05
#: XLS scheduling failures (target too fast for XLS) tolerated per kernel while bisecting.
CLOSURE_MAX_XLS_FAILS = 4
#: Default time limit (s) of one synthesis beyond which no closure attempt follows.
CLOSURE_MAX_S = 600.0


def synthesizable(pc: Any, names: Sequence[str] | None = None) -> list[Any]:  # noqa: ANN401
    """Specs of the kernels that have RTL (a DSLX template), in dataflow order; FlowError for unknown names."""
    from pyflow.backends.xls import build as rtl
    from pyflow.specs import KERNELS, all_specs

    if names:
        bad = [n for n in names if n not in KERNELS]
        if bad:
            raise FlowError(f"unknown kernel {bad[0]!r}; choose one of: {', '.join(KERNELS)}")
    wanted = tuple(names) if names else KERNELS
    missing = [n for n in wanted if not rtl.has_template(n)]
    if names and missing:
        raise FlowError(f"kernel {missing[0]} has no RTL yet (no hls/templates/dslx/{missing[0]}.x.j2)")
    specs = all_specs(pc, names=tuple(n for n in wanted if n not in missing))
    return [s for s in specs if rtl.has_rtl(s)]


def rtl_root(xls_mhz: float, default_mhz: float) -> Path:
    """Build root of the XLS compile: the RTL stage's own (``build/``) at the project clock, else a private
    one under ``build/synth/xls/<mhz>/`` so that re-pipelined variants never overwrite ``build/rtl/``."""
    if abs(xls_mhz - default_mhz) < 1e-9:
        return BUILD
    return BUILD / "synth" / "xls" / f"{xls_mhz:g}mhz"


def kernel_job(spec: Any, xls_mhz: float, build_root: Path = BUILD) -> SynthJob:  # noqa: ANN401
    """Compile ``spec`` to Verilog with XLS at ``xls_mhz`` (cached by the RTL stage) and wrap it as a job."""
    from pyflow.backends.xls import build as rtl

    b = rtl.build_kernel(spec, rtl.xls_options(xls_mhz), build_root, lint=False)
    timing = spec.timing(b.latency)  # at the capacity (the longest invocation)
    cycles = int(timing.total) if timing is not None else None
    tcl = KERNELS_DIR / spec.name / VITIS_TCL
    params = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in spec.params.items()}
    xls = "dslx" in spec.langs
    extra = {"xls_mhz": xls_mhz if xls else None, "stages": b.stages, "latency": b.latency, "params": params,
             "vitis_project": str(tcl), "vitis_project_exists": tcl.is_file()}
    return SynthJob(spec.name, tuple(b.sources), b.top, cycles,
                    f"golden.cycles via spec.timing(latency={b.latency}).total" if cycles is not None else None,
                    extra)


def _rtl_failure(name: str, exc: FlowError, freq_mhz: float) -> dict[str, Any]:
    return {"name": name, "status": "failed", "error": f"rtl: {exc}", "resources": {}, "over": [],
            "harness": None, "target_mhz": freq_mhz, "fmax_mhz": None, "meets_timing": None,
            "cycles": None, "decode_step_us": None, "decode_step_us_at_target": None}


def next_xls_mhz(xls_mhz: float, target_mhz: float, fmax_mhz: float, margin: float = CLOSURE_MARGIN) -> float:
    """XLS clock target for the next closure attempt: scale by the Fmax shortfall plus a margin, at least
    +25 % so that XLS really adds stages."""
    return float(round(xls_mhz * max(1.25, margin * target_mhz / fmax_mhz)))


def synth_kernels(specs: Sequence[Any], target: SynthTarget, freq_mhz: float, xls_mhz: float, root: Path, *,
                  default_mhz: float | None = None, closure: int = 0, closure_max_s: float = CLOSURE_MAX_S,
                  harness: str = "auto", seed: int = 1,
                  workers: int = 2, force: bool = False,
                  on_done: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """XLS-compile and synthesise every spec, ``workers`` at a time; one result dict per spec, in order.

    With ``closure`` > 0 on a place & route board, a kernel that misses ``freq_mhz`` is recompiled with a
    faster XLS clock target (deeper pipeline) up to ``closure`` more times; the fastest attempt is kept
    and every attempt is listed under ``closure``.  No further attempt is made for a design whose synthesis
    took longer than ``closure_max_s`` (large designs take many minutes in WebAssembly nextpnr).  A kernel
    whose RTL build fails gets a ``failed`` row.
    """
    tool_versions(target)
    base = xls_mhz if default_mhz is None else default_mhz

    def one(spec: Any) -> dict[str, Any]:  # noqa: ANN401
        mhz, best, history = xls_mhz, None, []
        good, bad = None, None  # highest XLS target that compiled, lowest that XLS could not schedule
        # closure re-pipelines through XLS: only for place & route boards and DSLX kernels
        xls = "dslx" in spec.langs
        runs, fails = 1 + (closure if target.flow == "pnr" and xls else 0), 0
        while runs > 0 and fails <= CLOSURE_MAX_XLS_FAILS:
            try:
                job = kernel_job(spec, mhz, rtl_root(mhz, base))
            except FlowError as exc:
                history.append({"xls_mhz": mhz, "error": str(exc)})
                if good is None:
                    return {**_rtl_failure(spec.name, exc, freq_mhz), "closure": history}
                bad, fails = mhz, fails + 1
                mhz = float(round((good + bad) / 2))
                if mhz - good < CLOSURE_MIN_STEP * good:
                    break
                continue
            r = synth_one(job, target, freq_mhz, root / f"xls{mhz:g}", harness, seed, force)
            runs -= 1
            history.append({"xls_mhz": mhz, "stages": job.extra["stages"], "latency": job.extra["latency"],
                            "fmax_mhz": r["fmax_mhz"], "status": r["status"]})
            good = mhz if good is None else max(good, mhz)
            if best is None or (r["fmax_mhz"] or 0) > (best["fmax_mhz"] or 0):
                best = r
            if r["status"] != "ok" or r["fmax_mhz"] is None or r["meets_timing"]:
                break
            if (r.get("seconds") or 0) > closure_max_s:
                history[-1]["note"] = f"no further closure attempt: synthesis took {r['seconds']:.0f} s"
                break
            nxt = next_xls_mhz(mhz, freq_mhz, r["fmax_mhz"])
            if bad is not None and nxt >= bad:  # XLS cannot schedule that fast: bisect below it
                nxt = float(round((mhz + bad) / 2))
            if nxt - mhz < CLOSURE_MIN_STEP * mhz:
                break
            mhz = nxt
        assert best is not None
        return {**best, "closure": history}

    return parallel_map(one, list(specs), workers, on_done)
