"""The decode accelerator's top as a synthesis job: every kernel through XLS at the synthesis XLS clock, the top
rendered from the AccelSpec (pyflow.accel.build), cycles per token from the accelerator's cycle model.

The job's cycles are one token at the last position (pos = capacity - 1: the longest step), so the synthesis
report's ``decode_step_us`` is the decode time per token at Fmax.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyflow.paths import BUILD
from pyflow.synth.run import SynthJob

#: The report row's name (and the ``synth --kernel`` name that selects only the top).
ACCEL_NAME = "accelerator"


def accel_job(pc: Any, xls_mhz: float, build_root: Path = BUILD) -> SynthJob:  # noqa: ANN401 (ProjectConfig)
    """Build the accelerator at ``xls_mhz`` (FlowError when the config cannot be served) and wrap it as a job."""
    from hls.accel.spec import build
    from pyflow.accel.build import build_accel
    from pyflow.accel.cycles import token_cycles

    a = build(pc)
    b = build_accel(a, build_root, lint=False, xls_mhz=xls_mhz)
    pos = a.capacity - 1
    cycles = token_cycles(a, b.latencies, pos)
    extra = {"xls_mhz": xls_mhz, "latency": max(b.latencies.values()), "latencies": b.latencies,
             "data_bits": a.data_bits, "elements_per_word": a.per_word, "pos": pos,
             "roofline_cycles": a.roofline_cycles(pos + 1),
             "utilisation": round(a.roofline_cycles(pos + 1) / cycles, 4)}
    return SynthJob(ACCEL_NAME, tuple(b.sources), b.top, cycles,
                    f"pyflow.accel.cycles.token_cycles(pos={pos}) (one token per layer)", extra)


def synth_accel(pc: Any, target: Any, freq_mhz: float, xls_mhz: float, root: Path, *,  # noqa: ANN401
                default_mhz: float, harness: str = "auto", seed: int = 1, force: bool = False) -> dict[str, Any]:
    """Synthesise (and place & route) the accelerator's top; its report row.  A config the accelerator cannot
    serve gives a ``skipped`` row with the reason; no timing-closure loop (one attempt: the top is the longest
    design, and the kernels' own closure shows what each needs)."""
    from pyflow.errors import FlowError
    from pyflow.synth.kernels import rtl_root
    from pyflow.synth.run import synth_one

    try:
        job = accel_job(pc, xls_mhz, rtl_root(xls_mhz, default_mhz))
    except FlowError as exc:
        return {"name": ACCEL_NAME, "status": "skipped", "error": str(exc), "resources": {}, "over": [],
                "harness": None, "target_mhz": freq_mhz, "fmax_mhz": None, "meets_timing": None, "cycles": None,
                "decode_step_us": None, "decode_step_us_at_target": None}
    row = synth_one(job, target, freq_mhz, root / f"xls{xls_mhz:g}", harness, seed, force)
    us = row.get("decode_step_us")
    row["tokens_per_s"] = round(1e6 / us, 1) if us else None
    return row
