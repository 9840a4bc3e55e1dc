"""The worker side of ``regress``: one config's simulation, in a child process with its own build root.

``run_config(config, folder, options)`` runs ``python -m pyflow.regress.child`` with the current directory
``folder`` and ``FLATFLOW_BUILD=<folder>/build``: everything the simulation builds (rendered kernels, XLS
Verilog, Verilator models, the chain's runs) lands under that config's folder, so configs simulated at the same
time never write the same file.  What is shared is content-addressed: the compiled Verilator runtime (linked to
the checkout's ``build/sim/_verilator_runtime``) and the g++ compile cache.  The child's output goes to
``<folder>/sim.log``; its report (``<folder>/build/report/sim_report.json``) is returned to the client, which keeps
it as ``<folder>/sim_report.json``.  A lock on the folder keeps two runs of one config apart.

A run that did not end by itself (its worker was killed, or the client interrupted it) leaves the marker
``<folder>/.incomplete``; the next run of the config first removes the simulator builds of that build root
(``**/sim/<kernel>/``: a Verilator build cut short can look up to date to the next one), keeping the XLS results,
which are written atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError
from pyflow.paths import BUILD, BUILD_ENV, REPO
from pyflow.regress.child import PARENT_ENV

#: The child's log, in the config's folder.
LOG = "sim.log"
#: Marker of a run that has not ended by itself (see the module doc).
INCOMPLETE = ".incomplete"


def build_root(folder: Path) -> Path:
    """The private build root of the config whose outputs live in ``folder``."""
    return folder / "build"


def run_config(config: str, folder: str, options: dict[str, Any]) -> dict[str, Any]:
    """Simulate ``config`` (absolute path) with ``options`` (:class:`pyflow.regress.matrix.SimOptions` as a
    dict) in ``folder`` (absolute path); return the report.  FlowError (one line) when the simulation could not
    run; a simulation that ran and failed returns its report with ``ok`` false."""
    out = Path(folder)
    root = build_root(out)
    report = root / "report" / "sim_report.json"
    (root / "sim").mkdir(parents=True, exist_ok=True)
    _share_runtime(root)
    env = dict(os.environ, **{BUILD_ENV: str(root), "PYTHONPATH": os.pathsep.join(
        [str(REPO), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])})
    env[PARENT_ENV] = str(os.getpid())
    env["PYTHONUNBUFFERED"] = "1"  # sim.log follows the run
    cmd = [sys.executable, "-m", "pyflow.regress.child", "--config", config, "--report", str(report),
           "--options", json.dumps(options)]
    with _locked(out / ".lock"):
        report.unlink(missing_ok=True)
        marker = out / INCOMPLETE
        if marker.exists():
            _drop_sim_builds(root)
        marker.touch()
        with open(out / LOG, "wb") as log:
            proc = subprocess.run(cmd, cwd=out, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True, check=False)
        if proc.returncode >= 0:  # ended by itself (not by a signal): its build folders are consistent
            marker.unlink()
        if proc.returncode != 0 or not report.is_file():
            raise FlowError(_failure(out / LOG, proc.returncode))
        try:
            return json.loads(report.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FlowError(f"sim report {report} unreadable ({exc})") from None


def _drop_sim_builds(root: Path) -> None:
    """Remove the simulator builds under ``root`` (``sim/<kernel>/`` folders, at any depth), not the shared
    Verilator runtime."""
    for sim in [root / "sim", *root.glob("**/sim")]:
        if sim.is_dir() and not sim.is_symlink():
            for sub in sim.iterdir():
                if sub.name != "_verilator_runtime" and sub.is_dir() and not sub.is_symlink():
                    shutil.rmtree(sub, ignore_errors=True)


def _share_runtime(root: Path) -> None:
    """Link the config's Verilator runtime stash to the checkout's (compiled once per machine, not per config)."""
    mine = root / "sim" / "_verilator_runtime"
    shared = BUILD / "sim" / "_verilator_runtime"
    if mine.is_symlink() or mine.exists() or shared.resolve() == mine.resolve():
        return
    shared.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        mine.symlink_to(shared, target_is_directory=True)


@contextlib.contextmanager
def _locked(path: Path):  # noqa: ANN202
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _failure(log: Path, code: int) -> str:
    """One line: the child's ``error:`` line, else the last line of its log."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    errors = [ln for ln in lines if ln.startswith("error:")]
    why = errors[-1][len("error:"):].strip() if errors else (lines[-1] if lines else "no output")
    return f"sim exited with status {code}: {why} (log {log})"
