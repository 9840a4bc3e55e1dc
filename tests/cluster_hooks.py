"""Cheap DSE hooks for the cluster tests: real work (a short sleep and a deterministic computation) instead of
synthesis, run through the production path (``pyflow dse --hooks tests.cluster_hooks:HOOKS``, the Dask engine,
the point cache).  Every point leaves ``<out>/started/<pid>-<key>`` when it starts, so a test can tell which
worker process is running what.

Points: any kernel name; lanes that do not divide 64 are invalid (a FlowError from ``configure``); lanes 13 makes
the task raise a RuntimeError (a crash, retried by Dask, then an error row).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError
from pyflow.synth import dse
from pyflow.synth.run import SynthJob

N = 64
#: Seconds each point sleeps (env FLATFLOW_TEST_POINT_S overrides, read on the worker).
POINT_S = 1.0
CRASH_LANES = 13


def configure(ctx: dse.DseContext, p: dse.DsePoint) -> dict[str, int]:
    if p.lanes == CRASH_LANES:
        raise RuntimeError(f"simulated crash at lanes {p.lanes}\nsecond line of the message")
    if N % p.lanes:
        raise FlowError(f"lanes {p.lanes} does not divide {N}")
    return {"lanes": p.lanes}


def job(cfg: dict[str, int], p: dse.DsePoint, ctx: dse.DseContext, work: Path) -> SynthJob:
    return SynthJob(p.kernel, (), p.kernel, cycles=N // cfg["lanes"] + 2, extra={"xls_mhz": None})


def synth(job: SynthJob, ctx: dse.DseContext, work: Path, force: bool) -> dict[str, Any]:
    started = ctx.root / "started"
    started.mkdir(parents=True, exist_ok=True)
    (started / f"{os.getpid()}-{work.name}").touch()
    time.sleep(float(os.environ.get("FLATFLOW_TEST_POINT_S", POINT_S)))
    digest = hashlib.sha256(f"{job.name}/{job.cycles}".encode()).digest()
    for _ in range(2000):  # a little real computation
        digest = hashlib.sha256(digest).digest()
    lanes = N // (job.cycles - 2)
    fmax = 100.0 + digest[0] / 4
    return {"status": "ok", "error": None, "fmax_mhz": fmax, "decode_step_us": round(job.cycles / fmax, 4),
            "resources": {"lut": {"used": 40 * lanes + digest[1]}, "dsp": {"used": lanes}}}


def error(cfg: dict[str, int], p: dse.DsePoint) -> dict[str, float]:
    return {"max_abs": 0.5 / cfg["lanes"], "max_rel": 0.01}


HOOKS = dse.DseHooks(configure, job, error, None, name="cluster-test", synth=synth)
