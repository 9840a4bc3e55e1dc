"""Synthesis of one Verilog design (a kernel or a DSE point) and of many in parallel.

``synth_one`` runs, in ``<root>/<name>/``: port discovery, the harness decision, Yosys (``stat -json``),
and on the open flow nextpnr at the target clock (``--report``).  It never raises for a design-level
failure: the result dict says ``status`` = ``ok`` | ``no_fit`` | ``failed`` with an ``error`` line, so a
sweep goes on with the next design.  Results are cached in ``result.json`` under a content hash of the
inputs (Verilog text, top, target, clock, harness mode, templates, tool versions).

Result schema (one entry of ``kernels`` in ``build/report/synth_<board>.json``, documented in
docs/SYNTH.md): name, top, verilog, status, error, harness {mode, in_bits, out_bits, ff, luts},
io_bits, resources {lut, ff, dsp, bram, ...: {used, available, pct}}, over, cells, target_mhz, fmax_mhz,
fmax_clock, meets_timing, cycles, cycles_source, decode_step_us, seconds, cached, key, logs, extra.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pyflow.backends.templates import environment, write_if_changed
from pyflow.errors import FlowError
from pyflow.paths import TEMPLATES
from pyflow.synth import harness as hz
from pyflow.synth import reports
from pyflow.synth.devices import SynthTarget
from pyflow.tools import nextpnr, yosys

T = TypeVar("T")
R = TypeVar("R")

HARNESS_MODES = ("auto", "always", "never")
#: Bump when the result schema or the flow changes in a way the cache key cannot see.
FLOW_VERSION = 1
#: File in a work directory holding the cache key of the run whose tool outputs lie there.
INPUTS_KEY = "inputs.key"
#: Yosys command put before ``synth_*`` on a retry after a WebAssembly stack overflow: marks every wire as
#: "not an FSM" so that FSM extraction (which synth_ecp5 / synth_ice40 always run) skips them.
NOFSM = 'setattr -set fsm_encoding "none" w:*'


@dataclass(frozen=True)
class SynthJob:
    """One design to synthesise: Verilog files, top module, and the cycles of one decode step (or None)."""

    name: str
    verilog: tuple[Path, ...]
    top: str
    cycles: int | None = None
    cycles_source: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Extra nextpnr options of this design (e.g. ``("--router", "router2")`` for the accelerator's top).
    pnr_args: tuple[str, ...] = ()
    #: nextpnr's wall-clock limit for this design in seconds (None: the tool wrapper's default).
    pnr_timeout_s: float | None = None


def tool_versions(target: SynthTarget) -> dict[str, str]:
    """Versions of the tools a target uses (FlowError naming the fix when one is missing)."""
    out = {"yosys": yosys.yosys_version()}
    if target.flow == "pnr":
        out[f"nextpnr-{target.nextpnr_family}"] = nextpnr.nextpnr_version(target.nextpnr_family)
    return out


def _key(job: SynthJob, target: SynthTarget, freq: float, mode: str, seed: int, versions: dict[str, str]) -> str:
    h = hashlib.sha256()
    meta = {"top": job.top, "target": target.key(), "freq": freq, "mode": mode, "seed": seed,
            "versions": versions, "flow": FLOW_VERSION, "cycles": job.cycles, "pnr_args": list(job.pnr_args)}
    h.update(json.dumps(meta, sort_keys=True).encode())
    for f in job.verilog:
        h.update(Path(f).read_bytes())
    for t in sorted((TEMPLATES / "synth").glob("*.j2")):
        h.update(t.read_bytes())
    return h.hexdigest()[:16]


def _write_json(path: Path, data: Any) -> None:
    write_if_changed(path, json.dumps(data, indent=1, sort_keys=False, default=str) + "\n")


def synth_one(job: SynthJob, target: SynthTarget, freq_mhz: float, root: Path, harness: str = "auto",
              seed: int = 1, force: bool = False) -> dict[str, Any]:
    """Synthesise (and on the open flow place & route) ``job``; return its result dict (see module doc)."""
    if harness not in HARNESS_MODES:
        raise FlowError(f"synth: harness mode {harness!r} unknown (choose from {', '.join(HARNESS_MODES)})")
    for f in job.verilog:
        if not Path(f).is_file():
            raise FlowError(f"synth: {job.name}: Verilog file {f} not found")
    work = root / job.name
    work.mkdir(parents=True, exist_ok=True)
    versions = tool_versions(target)
    key = _key(job, target, freq_mhz, harness, seed, versions)
    cached = work / "result.json"
    if not force and cached.is_file():
        try:
            old = json.loads(cached.read_text())
            if old.get("key") == key and old.get("status") != "failed":  # failures are retried
                return {**old, "cached": True}
        except (json.JSONDecodeError, OSError):
            pass
    t0 = time.monotonic()
    res: dict[str, Any] = {
        "name": job.name, "top": job.top, "verilog": [str(f) for f in job.verilog], "status": "failed",
        "error": None, "harness": None, "io_bits": None, "resources": {}, "over": [], "cells": {},
        "target_mhz": freq_mhz, "fmax_mhz": None, "fmax_clock": None, "critical_path": None, "meets_timing": None,
        "cycles": job.cycles, "cycles_source": job.cycles_source, "decode_step_us": None,
        "decode_step_us_at_target": _us(job.cycles, freq_mhz), "seconds": None, "cached": False, "key": key,
        "logs": {}, "extra": dict(job.extra),
    }
    resume = not force and _outputs_complete(work, key, target)
    write_if_changed(work / INPUTS_KEY, key + "\n")
    try:
        _flow(job, target, freq_mhz, work, harness, seed, res, resume)
    except FlowError as exc:
        res["error"] = str(exc)
    res["seconds"] = round(time.monotonic() - t0, 1)
    _write_json(cached, res)
    return res


def _outputs_complete(work: Path, key: str, target: SynthTarget) -> bool:
    """True when an earlier run with the same inputs finished the tools (its Python post-processing did not):
    ``inputs.key`` matches, Yosys wrote its statistics and nextpnr its report."""
    try:
        if (work / INPUTS_KEY).read_text().strip() != key or not (work / "stat.json").is_file():
            return False
    except OSError:
        return False
    return target.flow != "pnr" or (work / "pnr.json").is_file()


def _us(cycles: int | None, mhz: float | None) -> float | None:
    """Time of ``cycles`` at ``mhz`` in microseconds (cycles / MHz), None when either is unknown."""
    if cycles is None or not mhz:
        return None
    return round(cycles / mhz, 4)


def _stage_sources(files: tuple[Path, ...], dest: Path) -> list[str]:
    """Copy the Verilog sources under the work directory; return their paths relative to it.

    The tools then see only relative paths (see :func:`pyflow.tools.yowasp.rel_path`).
    """
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(files):
        name = Path(f).name if [Path(g).name for g in files].count(Path(f).name) == 1 else f"{i}_{Path(f).name}"
        write_if_changed(dest / name, Path(f).read_bytes())
        out.append(f"{dest.name}/{name}")
    return out


def _flow(job: SynthJob, target: SynthTarget, freq: float, work: Path, mode: str, seed: int,
          res: dict[str, Any], resume: bool = False) -> None:
    verilog = _stage_sources(job.verilog, work / "src")
    ports = hz.discover_ports(verilog, job.top, work)
    need = hz.io_bits(ports)
    res["io_bits"] = need
    top, harness_file = job.top, None
    if target.flow == "estimate":
        res["harness"] = {"mode": "ooc", "note": "out-of-context Yosys estimate, no pins"}
    elif mode == "always" or (mode == "auto" and target.io_pins is not None and need > target.io_pins):
        h = hz.make_harness(job.name, job.top, ports, target.io_pins)
        write_if_changed(work / "harness.v", h.text)
        harness_file, top = "harness.v", h.top
        res["harness"] = {"mode": "serial", "in_bits": h.in_bits, "out_bits": h.out_bits, "ff": h.harness_ff,
                          "luts": h.fold_luts, "pins": h.pins}
    else:
        res["harness"] = {"mode": "direct", "pins": need}
    netlist = "netlist.json" if target.flow == "pnr" else None

    def script(synth: str) -> None:
        write_if_changed(work / "synth.ys", environment("synth").get_template("synth.ys.j2").render(
            kernel=job.name, board=target.name, verilog=verilog, harness=harness_file, top=top, synth=synth,
            defines=target.defines, libs=target.libs, post_synth=target.post_synth,
            netlist=netlist, stat_json="stat.json"))

    script(target.yosys_synth)
    res["logs"]["yosys"] = str(work / "yosys.log")
    if not resume:
        (work / "stat.json").unlink(missing_ok=True)
        try:
            yosys.run_script(Path("synth.ys"), cwd=work, log=work / "yosys.log")
        except FlowError as exc:
            # Yosys' FSM extraction recurses over huge state-update mux trees (an XLS state register fed by a
            # 1024-entry table) and overflows the WebAssembly stack; XLS pipelines have no FSM worth
            # re-encoding, so retry without it and say so in the report.
            if "wasm trap" not in str(exc):
                raise
            script(f"{NOFSM}\n{target.yosys_synth}")
            res["yosys_retry"] = f"FSM extraction off (first run: {exc})"
            yosys.run_script(Path("synth.ys"), cwd=work, log=work / "yosys.log")
    cells = reports.yosys_cells(json.loads((work / "stat.json").read_text()))
    res["cells"] = cells
    if target.flow == "estimate":
        res["resources"] = reports.estimate_resources("xilinx", cells, target.capacity)
        res["over"] = reports.over_capacity(res["resources"])
        res["status"] = "no_fit" if res["over"] else "ok"
        return
    _pnr(target, freq, work, seed, cells, res, resume, job.pnr_args, job.pnr_timeout_s)


def _pnr(target: SynthTarget, freq: float, work: Path, seed: int, cells: dict[str, int],
         res: dict[str, Any], resume: bool = False, extra_args: tuple[str, ...] = (),
         timeout_s: float | None = None) -> None:
    fam = target.nextpnr_family
    rpt = work / "pnr.json"
    args = list(target.nextpnr_args) + ["--json", "netlist.json", "--freq", f"{freq:g}", "--report",
                                        "pnr.json", "--timing-allow-fail", "--seed", str(seed), *extra_args]
    log = work / "nextpnr.log"
    res["logs"]["nextpnr"] = str(log)
    limit = {} if timeout_s is None else {"timeout": timeout_s}
    try:
        if resume:
            text = log.read_text(errors="replace")
        else:
            rpt.unlink(missing_ok=True)
            try:
                text = nextpnr.place_and_route(fam, args, cwd=work, log=log, **limit)
            except FlowError as exc:
                # router2 can fail to route the clock from a pad the placer chose (seen on ECP5); nextpnr's
                # default router1 routes it, only more slowly: try once more with it
                if "router2" not in extra_args or "Failed to route" not in str(exc):
                    raise
                res["router_retry"] = f"router2 failed ({exc}); placed and routed again with router1"
                text = nextpnr.place_and_route(fam, args[:len(args) - len(extra_args)], cwd=work, log=log, **limit)
    except FlowError as exc:
        text = log.read_text(errors="replace") if log.exists() else ""
        util = reports.parse_pnr_util_log(text)
        res["resources"] = reports.pnr_resources(fam, util, cells) if util else {}
        res["over"] = reports.over_capacity(res["resources"])
        if res["over"]:
            worst = ", ".join(f"{k} {res['resources'][k]['pct']:.0f}%" for k in res["over"])
            res["status"], res["error"] = "no_fit", f"does not fit {target.name}: {worst}"
        else:
            res["error"] = str(exc)
        return
    if rpt.is_file():
        doc = json.loads(rpt.read_text())
        util, fmax = reports.parse_pnr_report(doc)
        res["critical_path"] = reports.critical_path(doc)
    else:
        util, fmax = reports.parse_pnr_util_log(text), reports.parse_pnr_fmax_log(text)
    res["resources"] = reports.pnr_resources(fam, util, cells)
    res["over"] = reports.over_capacity(res["resources"])
    mhz, clock = reports.design_fmax(fmax)
    res["fmax_mhz"], res["fmax_clock"] = mhz, clock
    res["meets_timing"] = None if mhz is None else mhz >= freq
    res["decode_step_us"] = _us(res["cycles"], mhz)
    res["status"] = "no_fit" if res["over"] else "ok"


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int = 2,
                 on_done: Callable[[R], None] | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on ``workers`` threads (the work is in tool subprocesses), in order;
    ``on_done`` is called as each result arrives (progress display)."""
    out: dict[int, R] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = {pool.submit(fn, x): i for i, x in enumerate(items)}
        for fut in as_completed(futs):
            out[futs[fut]] = fut.result()
            if on_done:
                on_done(out[futs[fut]])
    return [out[i] for i in range(len(items))]
