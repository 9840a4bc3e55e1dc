"""The checks every kernel's focused tests run (``hls/kernels/<name>/test_<name>.py``), as plain functions.

* :func:`check_csim`: render the kernel at the small test dimensions, compile its C++ with its generated
  testbench (g++, ap_types), run it on the golden vectors: every output element bit-exact, at every decode
  position of :func:`positions` (a kernel without a run-time length runs once).
* :func:`check_rtl`: its RTL (DSLX through XLS, or its Verilog template) in the generic cocotb stream test
  on one simulator at the same positions: bit-exact outputs, no-stall cycles exactly as the spec's cycle
  model predicts, and random input gaps and output back-pressure change nothing.

The positions are the issue's list at the small capacity (N = 16, lanes up to 4): 0, 1, P - 1, P, a random
position that is not a multiple of P, and N - 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pyflow.project.config import load_project_config
from pyflow.specs import get_spec

SIMULATORS = ("verilator", "icarus")


def positions(spec: Any, seed: int = 0) -> tuple[int, ...]:  # noqa: ANN401 (KernelSpec)
    """Decode positions to check ``spec`` at: 0, 1, P - 1, P, a random non-multiple of P, capacity - 1."""
    if not spec.runtime:
        return (0,)
    cap = int(spec.max_length)
    p = max(int(spec.params.get("P", 1)), 2)
    rng = np.random.default_rng([seed, cap, p])
    odd = [q for q in range(2, cap - 1) if q % p]
    chosen = {0, 1, p - 1, p, int(rng.choice(odd)) if odd else 0, cap - 1}
    return tuple(sorted(q for q in chosen if 0 <= q < cap))


def small_spec(kernel: str, pc: Any = None):  # noqa: ANN201, ANN401 (KernelSpec, ProjectConfig)
    """The spec of ``kernel`` at the small test dimensions of the default (or given) config."""
    return get_spec(kernel, pc or load_project_config(None), small=True)


def check_csim(kernel: str, out_root: Path, pc: Any = None) -> dict[str, Any]:  # noqa: ANN401
    """C-simulate ``kernel`` at the small dimensions into ``out_root``; assert it passes; return its entry."""
    from pyflow.backends.vitis.csim import run_csim

    report = run_csim(pc or load_project_config(None), names=[kernel], small=True, out_root=out_root,
                      report_path=None, progress=False, positions=positions(small_spec(kernel, pc)))
    entry = report["kernels"][kernel]
    assert entry["status"] == "pass", entry["messages"]
    return entry


def check_rtl(kernel: str, simulator: str, build_root: Path, pc: Any = None, **kw: Any) -> dict[str, Any]:  # noqa: ANN401
    """Simulate ``kernel``'s RTL at the small dimensions, at every position of :func:`positions`, with and
    without stalls; assert bit- and cycle-exact; return the row of the last position."""
    from pyflow.sim.kernel import run_positions

    spec = small_spec(kernel, pc)
    rows = run_positions(spec, positions(spec), simulator, stalls=True, build_root=build_root, **kw)
    for r in rows:
        where = f"{kernel} at pos {r['pos']}"
        assert r["errors"] == [], where
        assert r["outputs_match"] and r["stalls_ok"], where
        assert r["cycles_measured"] == r["cycles_predicted"], where
    return rows[-1]
