"""Vitis wrappers: find ``vitis_hls`` and ``v++``, run a generated project Tcl or a v++ link, read the csynth
report.

Vitis is proprietary and usually absent; :func:`find_vitis_hls` / :func:`find_vpp` return None then, and the
``synth-vitis`` command prints the exact commands to run on a machine where it is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError


def _find_tool(exe_name: str, root_var: str) -> str | None:
    """Path of ``exe_name`` (PATH, then ``$<root_var>/bin``), or None."""
    exe = shutil.which(exe_name)
    if exe:
        return exe
    root = os.environ.get(root_var)
    if root and (Path(root) / "bin" / exe_name).is_file():
        return str(Path(root) / "bin" / exe_name)
    return None


def find_vitis_hls() -> str | None:
    """Path of ``vitis_hls`` (PATH, then ``$XILINX_HLS/bin``), or None."""
    return _find_tool("vitis_hls", "XILINX_HLS")


def find_vpp() -> str | None:
    """Path of ``v++`` (PATH, then ``$XILINX_VITIS/bin``), or None."""
    return _find_tool("v++", "XILINX_VITIS")


def _run_logged(label: str, cmd: list[str], project_dir: Path, log_name: str, timeout_s: int) -> Path:
    """Run ``cmd`` in ``project_dir`` with its output in ``log_name`` there; return the log path; one-line
    FlowError (naming the tool as ``label``) on a timeout or a nonzero exit."""
    log = Path(project_dir) / log_name
    with open(log, "w") as fh:
        try:
            res = subprocess.run(cmd, cwd=project_dir, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s,
                                 check=False)
        except subprocess.TimeoutExpired:
            raise FlowError(f"{label}: {project_dir.name} ran longer than {timeout_s} s (log {log})") from None
    if res.returncode != 0:
        raise FlowError(f"{label} failed on {project_dir.name} (exit {res.returncode}); see {log}")
    return log


def run_vpp(project_dir: Path, argv: list[str], timeout_s: int = 12 * 3600) -> Path:
    """Run the v++ command ``argv`` (``argv[0]`` is ``v++``) in ``project_dir``; return the log path; FlowError
    on failure."""
    exe = find_vpp()
    if exe is None:
        raise FlowError("v++ not found on PATH (source <Vitis>/settings64.sh or set XILINX_VITIS)")
    return _run_logged("v++", [exe, *argv[1:]], Path(project_dir), "vpp_link.log", timeout_s)


def run_tcl(project_dir: Path, tcl: str = "run_hls.tcl", timeout_s: int = 6 * 3600) -> Path:
    """Run ``vitis_hls -f <tcl>`` in ``project_dir``; return the log path; FlowError on failure."""
    exe = find_vitis_hls()
    if exe is None:
        raise FlowError("vitis_hls not found on PATH (source <Vitis>/settings64.sh or set XILINX_HLS)")
    return _run_logged("vitis_hls", [exe, "-f", tcl], Path(project_dir), "vitis_hls.log", timeout_s)


def read_csynth(project_dir: Path, top: str) -> dict[str, Any]:
    """Latency, clock estimate and resources from ``<top>_prj/sol1/syn/report/<top>_csynth.xml``."""
    xml = Path(project_dir) / f"{top}_prj" / "sol1" / "syn" / "report" / f"{top}_csynth.xml"
    if not xml.is_file():
        return {}
    root = ET.parse(xml).getroot()

    def text(path: str) -> str | None:
        node = root.find(path)
        return node.text if node is not None else None

    out: dict[str, Any] = {
        "target_clock_ns": text("UserAssignments/TargetClockPeriod"),
        "estimated_clock_ns": text("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
        "latency_best": text("PerformanceEstimates/SummaryOfOverallLatency/Best-caseLatency"),
        "latency_worst": text("PerformanceEstimates/SummaryOfOverallLatency/Worst-caseLatency"),
        "interval_max": text("PerformanceEstimates/SummaryOfOverallLatency/Interval-max"),
    }
    for res in ("BRAM_18K", "DSP", "FF", "LUT", "URAM"):
        out[res] = text(f"AreaEstimates/Resources/{res}")
    return out
