"""Checks with chosen (adversarial) input padding, for the softmax kernels' tests.

testbench.checks fills the padding lanes of the inputs with random garbage.  Random logits far below the
max, or above it (whose exp underflows in the table path), hardly ever give an exp that counts, so a kernel
that forgot to mask could still pass; these helpers set every padding lane to one chosen value (for
softmax_exp the row maximum: exp 1, the most a lane can add) and run C-sim or the RTL on it.  They also make
configs whose lane count divides neither the capacity nor most lengths.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pyflow.project.config import ProjectConfig
from pyflow.specs.base import Arrays, KernelSpec, Port


def odd_lanes_config(pc: ProjectConfig, lanes: int = 3) -> ProjectConfig:
    """``pc`` with ``lanes`` softmax lanes (3 at the small capacity 16: a part-filled last beat at most n)."""
    return dataclasses.replace(pc, lanes={**pc.lanes, "softmax": lanes}, source=pc.source + f" (softmax P={lanes})")


def padded_with(port: Port, raw: np.ndarray, pad: int) -> np.ndarray:
    """Stream-order values of ``port`` (at its run-time shape) with every padding lane set to ``pad``."""
    vals = port.padded(raw)
    if port.cols and port.cols % port.lanes:
        vals = vals.reshape(port.rows, -1).copy()
        vals[:, port.cols:] = pad
    return vals.reshape(-1)


def _words(port: Port, vals: np.ndarray) -> list[int]:
    w, mask = int(port.fmt.width), (1 << int(port.fmt.width)) - 1
    return [sum((int(v) & mask) << (lane * w) for lane, v in enumerate(row))
            for row in vals.reshape(-1, port.lanes).tolist()]


def csim_padded(spec: KernelSpec, pc: ProjectConfig, cases: Iterable[tuple[Arrays, int]], out_root: Path
                ) -> list[str]:
    """C-simulate ``spec`` on each (inputs, padding value) case; return the failures (empty: all bit-exact)."""
    from pyflow.backends.vitis.csim import compile_kernel, render_for_csim
    from pyflow.backends.vitis.render import vectors_text

    render_for_csim([spec], pc, out_root / "build")
    exe = compile_kernel(spec, out_root / "build").exe
    failures = []
    for i, (ins, pad) in enumerate(cases):
        n = spec.length(ins)
        ports = {p.name: p for p in spec.ports_at(n)}
        exp = spec.expected(ins)
        vec = out_root / f"case{i}"
        vec.mkdir(parents=True)
        for p in spec.inputs:
            (vec / f"{p.name}.in.txt").write_text(vectors_text(padded_with(ports[p.name], ins[p.name], pad)))
        for p in spec.outputs:
            (vec / f"{p.name}.exp.txt").write_text(vectors_text(ports[p.name].padded(exp[p.name])))
        res = subprocess.run([str(exe), str(vec)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            failures.append(f"n = {n}, padding {pad}: {res.stdout.strip()[-400:]}")
    return failures


def rtl_padded(spec: KernelSpec, cases: Iterable[tuple[Arrays, int]], simulator: str, build_root: Path
               ) -> list[str]:
    """Simulate ``spec``'s RTL (no stalls) on each (inputs, padding value) case; return the failures."""
    from pyflow.backends.xls.build import build_kernel, xls_options
    from pyflow.sim.kernel import make_job
    from testbench.runner import simulate

    rtl = build_kernel(spec, xls_options(), build_root)
    failures = []
    for i, (ins, pad) in enumerate(cases):
        n = spec.length(ins)
        ports = {p.name: p for p in spec.ports_at(n)}
        job = make_job(spec, rtl.latency, vectors=(ins, spec.expected(ins)))
        for entry in job["inputs"]:
            entry["words"] = _words(ports[entry["name"]], padded_with(ports[entry["name"]], ins[entry["name"]], pad))
        res = simulate(simulator, rtl.sources, rtl.top, job, Path(build_root) / "sim_padded" / spec.name / simulator,
                       build_root=build_root, rebuild=i == 0)["nostall"]
        if not res.get("outputs_match") or res.get("errors"):
            failures.append(f"n = {n}, padding {pad}: {'; '.join(res.get('errors', [])) or 'mismatch'}")
    return failures


def rtl_back_to_back(spec: KernelSpec, invocations: list[tuple[Arrays, int]], simulator: str, build_root: Path
                     ) -> list[str]:
    """Simulate ``spec``'s RTL on several (inputs, padding value) invocations of the same run-time length,
    streamed back to back in one run (the state must restart on each row: a sum, the row counter); return the
    errors of the run with and without stalls (no cycle prediction: the model covers one invocation)."""
    from pyflow.backends.xls.build import build_kernel, xls_options
    from pyflow.sim.kernel import make_job
    from testbench.runner import simulate

    rtl = build_kernel(spec, xls_options(), build_root)
    n = spec.length(invocations[0][0])
    ports = {p.name: p for p in spec.ports_at(n)}
    jobs = []
    for ins, pad in invocations:
        if spec.length(ins) != n:
            raise ValueError("back-to-back invocations share the scalar n")
        job = make_job(spec, rtl.latency, vectors=(ins, spec.expected(ins)))
        for entry in job["inputs"]:
            entry["words"] = _words(ports[entry["name"]], padded_with(ports[entry["name"]], ins[entry["name"]], pad))
        jobs.append(job)
    job = dict(jobs[0], predicted=None, timeout_cycles=sum(j["timeout_cycles"] for j in jobs))
    for key, field in (("inputs", "words"), ("outputs", "expected")):
        job[key] = [dict(e, **{field: [w for j in jobs for w in j[key][i][field]]}) for i, e in enumerate(job[key])]
    res = simulate(simulator, rtl.sources, rtl.top, job, Path(build_root) / "sim_b2b" / spec.name / simulator,
                   tests=("nostall", "stalls"), build_root=build_root)
    return [f"{t}: {e}" for t in ("nostall", "stalls") for e in res[t].get("errors", [])] + \
        [f"{t}: outputs differ" for t in ("nostall", "stalls") if not res[t].get("outputs_match")]
