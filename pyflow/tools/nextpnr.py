"""nextpnr wrapper (YoWASP builds ``yowasp-nextpnr-<family>``, native ``nextpnr-<family>`` as fallback).

``place_and_route`` runs one place & route and returns the log text; a missing tool or a failed run
becomes a FlowError line naming the log (the caller may still parse the log: nextpnr prints the device
utilisation before it gives up on a design that does not fit).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pyflow.errors import FlowError
from pyflow.tools import yowasp

#: Families with a nextpnr build on PyPI.
FAMILIES = ("ecp5", "ice40")
#: Seconds one place & route may take.
NEXTPNR_TIMEOUT_S = 3600.0


def nextpnr_cmd(family: str) -> list[str]:
    """Command prefix for nextpnr-``family``, or FlowError naming the fix."""
    if family not in FAMILIES:
        raise FlowError(f"nextpnr: no build for family {family!r} (choose from {', '.join(FAMILIES)})")
    return yowasp.find_tool(f"yowasp-nextpnr-{family}", f"yowasp-nextpnr-{family}", native=f"nextpnr-{family}")


@cache
def nextpnr_version(family: str) -> str:
    """``nextpnr-0.x`` of the tool in use (warms the YoWASP cache on first call)."""
    text = yowasp.warm(nextpnr_cmd(family), "--version")
    return text.split("(Version ")[-1].rstrip(")") if "(Version " in text else (text or "unknown")


def place_and_route(family: str, args: list[str], cwd: Path, log: Path,
                    timeout: float = NEXTPNR_TIMEOUT_S) -> str:
    """Run nextpnr-``family`` with ``args`` in ``cwd``; return the log text, FlowError when it fails."""
    nextpnr_version(family)
    res = yowasp.run(nextpnr_cmd(family) + ["-q", "-l", yowasp.rel_path(log, cwd)] + args, cwd=cwd,
                     timeout=timeout)
    text = log.read_text(errors="replace") if log.exists() else res.output
    if res.returncode != 0:
        raise FlowError(f"nextpnr-{family} failed: {yowasp.first_error(res.output + text)} (log: {log})")
    return text

