"""The decode accelerator's top as a synthesis job: every kernel through XLS at the synthesis XLS clock, the top
rendered from the AccelSpec (pyflow.accel.build), cycles per token from the accelerator's cycle model.

The job's cycles are one token at the last position (pos = capacity - 1: the longest step), so the synthesis
report's ``decode_step_us`` is the decode time per token at Fmax.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyflow.paths import BUILD
from pyflow.synth.run import SynthJob

#: The report row's name (and the ``synth --kernel`` name that selects only the top).
ACCEL_NAME = "accelerator"
#: nextpnr's router2 for the top: router1 needs over an hour on its ~50k cells in WebAssembly nextpnr.  Its
#: congestion heat maps (per iteration: by coordinate, by net, by wire type) go beside the log as
#: ``congestion_*.csv``: where a top that does not route is congested.
PNR_ARGS = ("--router", "router2", "--router2-heatmap", "congestion")
#: nextpnr's time limit for the top: at the default config placement alone takes ~35 min and router2 several
#: minutes per iteration on a 2-core machine, beyond the kernels' one-hour limit.
PNR_TIMEOUT_S = 6 * 3600.0


def accel_job(pc: Any, xls_mhz: float, build_root: Path = BUILD,  # noqa: ANN401 (ProjectConfig)
              kernel_mhz: Mapping[str, float] | None = None) -> SynthJob:
    """Build the accelerator with its kernels pipelined for ``xls_mhz`` (or ``kernel_mhz[kernel]``; FlowError
    when the config cannot be served) and wrap it as a job."""
    from hls.accel.spec import build
    from pyflow.accel.build import build_accel
    from pyflow.accel.cycles import token_cycles

    a = build(pc)
    b = build_accel(a, build_root, lint=False, xls_mhz=xls_mhz, kernel_mhz=kernel_mhz)
    pos = a.capacity - 1
    cycles = token_cycles(a, b.latencies, pos)
    mhz = {k: float((kernel_mhz or {}).get(k, xls_mhz)) for k in a.kernels}
    extra = {"xls_mhz": xls_mhz, "kernel_xls_mhz": mhz, "latency": max(b.latencies.values()),
             "latencies": b.latencies, "data_bits": a.data_bits, "elements_per_word": a.per_word, "pos": pos,
             "roofline_cycles": a.roofline_cycles(pos + 1),
             "utilisation": round(a.roofline_cycles(pos + 1) / cycles, 4)}
    return SynthJob(ACCEL_NAME, tuple(b.sources), b.top, cycles,
                    f"pyflow.accel.cycles.token_cycles(pos={pos}) (one token per layer)", extra,
                    pnr_args=PNR_ARGS, pnr_timeout_s=PNR_TIMEOUT_S)


def limiting_kernel(row: Mapping[str, Any]) -> str | None:
    """The kernel whose instance holds the start (else the end) of the critical path (``u_gemv_i.…``,
    ``dut.u_gemv_i.…`` in the harness), or None when both are in the top's own logic (buffers, packers,
    engines, controller)."""
    from pyflow.accel.build import INSTANCES

    cp = row.get("critical_path") or {}
    by_inst = {f"{inst}_i": k for k, inst in INSTANCES.items()}  # the top instantiates kernel k as <inst>_i
    for cell in (cp.get("from", ""), cp.get("to", "")):
        parts = cell.split(".")
        parts = parts[1:] if parts and parts[0] == "dut" else parts
        if parts and parts[0] in by_inst:
            return by_inst[parts[0]]
    return None


def synth_accel(pc: Any, target: Any, freq_mhz: float, xls_mhz: float, root: Path, *,  # noqa: ANN401
                default_mhz: float, harness: str = "auto", seed: int = 1, force: bool = False,
                kernel_mhz: Mapping[str, float] | None = None, closure: int = 0) -> dict[str, Any]:
    """Synthesise (and place & route) the accelerator's top; its report row.  ``kernel_mhz`` seeds each kernel's
    XLS clock (``synth`` passes what the kernels' own timing closure kept); with ``closure`` > 0 a top that
    misses ``freq_mhz`` because of a kernel on its critical path is rebuilt with that kernel pipelined for a
    faster XLS clock and placed again, up to ``closure`` times (every attempt is listed under ``closure``).  A
    config the accelerator cannot serve gives a ``skipped`` row with the reason."""
    from pyflow.errors import FlowError
    from pyflow.synth.kernels import next_xls_mhz, rtl_root
    from pyflow.synth.run import synth_one

    mhz = dict(kernel_mhz or {})
    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    for attempt in range(1 + max(0, closure)):
        try:
            job = accel_job(pc, xls_mhz, rtl_root(xls_mhz, default_mhz) / "accel-synth" / f"try{attempt}", mhz)
        except FlowError as exc:
            if best is None:
                return {"name": ACCEL_NAME, "status": "skipped", "error": str(exc), "resources": {}, "over": [],
                        "harness": None, "target_mhz": freq_mhz, "fmax_mhz": None, "meets_timing": None,
                        "cycles": None, "decode_step_us": None, "decode_step_us_at_target": None}
            history.append({"kernel_xls_mhz": dict(mhz), "error": str(exc)})
            break
        row = synth_one(job, target, freq_mhz, root / f"xls{xls_mhz:g}" / f"try{attempt}", harness, seed, force)
        limit = limiting_kernel(row)
        history.append({"kernel_xls_mhz": job.extra["kernel_xls_mhz"], "fmax_mhz": row.get("fmax_mhz"),
                        "status": row["status"], "limited_by": limit or "top"})
        if best is None or (row.get("fmax_mhz") or 0) > (best.get("fmax_mhz") or 0):
            best = row
        if row["status"] != "ok" or row.get("fmax_mhz") is None or row.get("meets_timing") or limit is None:
            break
        cur = job.extra["kernel_xls_mhz"][limit]
        mhz = {**job.extra["kernel_xls_mhz"], limit: next_xls_mhz(cur, freq_mhz, row["fmax_mhz"])}
    assert best is not None
    us = best.get("decode_step_us")
    return {**best, "closure": history, "tokens_per_s": round(1e6 / us, 1) if us else None}
