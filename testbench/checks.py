"""The checks every kernel's focused tests run (``hls/kernels/<name>/test_<name>.py``), as plain functions.

* :func:`check_csim`: render the kernel at the small test dimensions, compile its C++ with its generated
  testbench (g++, ap_types), run it on the golden vectors: every output element bit-exact.
* :func:`check_rtl`: its RTL (DSLX through XLS, or its Verilog template) in the generic cocotb stream test
  on one simulator: bit-exact outputs, no-stall cycles exactly as the spec's cycle model predicts, and
  random input gaps and output back-pressure change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyflow.project.config import load_project_config
from pyflow.specs import get_spec

SIMULATORS = ("verilator", "icarus")


def small_spec(kernel: str, pc: Any = None):  # noqa: ANN201, ANN401 (KernelSpec, ProjectConfig)
    """The spec of ``kernel`` at the small test dimensions of the default (or given) config."""
    return get_spec(kernel, pc or load_project_config(None), small=True)


def check_csim(kernel: str, out_root: Path, pc: Any = None) -> dict[str, Any]:  # noqa: ANN401
    """C-simulate ``kernel`` at the small dimensions into ``out_root``; assert it passes; return its entry."""
    from pyflow.backends.vitis.csim import run_csim

    report = run_csim(pc or load_project_config(None), names=[kernel], small=True, out_root=out_root,
                      report_path=None, progress=False)
    entry = report["kernels"][kernel]
    assert entry["status"] == "pass", entry["messages"]
    return entry


def check_rtl(kernel: str, simulator: str, build_root: Path, pc: Any = None, **kw: Any) -> dict[str, Any]:  # noqa: ANN401
    """Simulate ``kernel``'s RTL at the small dimensions with and without stalls; assert bit- and cycle-exact."""
    from pyflow.sim.kernel import run_kernel

    r = run_kernel(small_spec(kernel, pc), simulator, stalls=True, build_root=build_root, **kw)
    assert r["errors"] == []
    assert r["outputs_match"] and r["stalls_ok"]
    assert r["cycles_measured"] == r["cycles_predicted"]
    return r
