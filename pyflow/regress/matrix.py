"""The client side of ``regress``: configs -> tasks -> one summary row per config.

Each config gets a folder ``<out>/<config stem>/`` holding its full report (``sim_report.json``, written whole by
the client), the child's log (``sim.log``), its private build root (``build/``) and its cached summary row
(``result.json``).  The cache key hashes the validated config (every resolved value, not the file's text), the
simulation options and the flow's sources (:func:`pyflow.sources.flow_fingerprint`): a rerun skips configs
whose key matches, so an interrupted regression resumes.  A config that cannot be loaded, and a task that could
not run (a crash, a worker that kept dying), are ``error`` rows with a one-line reason; error rows are not cached.

Summary row: ``config`` (stem), ``path``, ``status`` (``pass`` / ``fail`` / ``error``), ``ok``, ``kernels``
(rows matching / rows), ``chain`` (positions matching / positions, or None), ``cycles_predicted`` /
``cycles_measured`` (sums over the kernel rows of last-output cycle + 1), ``seconds`` (the simulation's own),
``worker``, ``task_seconds``, ``error``, ``key``, ``report``, ``cached``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyflow.cluster.engine import Outcome, Task, run_tasks
from pyflow.errors import FlowError
from pyflow.reports import write_json_atomic

#: Version of the summary row (part of the cache key).
ROW_VERSION = 1


@dataclass(frozen=True)
class SimOptions:
    """What ``run_sim`` is asked to do for every config (the ``sim`` command's options)."""

    simulator: str = "verilator"
    kernels: tuple[str, ...] | None = None
    chain: bool = True
    csim: bool = True
    stalls: bool = True
    flat: bool = True
    positions: tuple[int, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["kernels"] = list(self.kernels) if self.kernels else None
        d["positions"] = list(self.positions) if self.positions else None
        return d


@dataclass(frozen=True)
class Entry:
    """One config of the matrix: its absolute ``path``, ``name`` (file stem), output ``folder``, cache ``key``
    (None when the config is invalid) and the one-line ``error`` that made it invalid."""

    path: Path
    name: str
    folder: Path
    key: str | None
    error: str | None = None


def entries(configs: Sequence[str | Path], out: Path, opts: SimOptions) -> list[Entry]:
    """Resolve and validate ``configs``: FlowError for a missing file or two configs with one stem; a config
    that does not validate becomes an entry with its error."""
    from pyflow.project.config import load_project_config
    from pyflow.sources import flow_fingerprint

    if not configs:
        raise FlowError("regress: give at least one config TOML")
    found: dict[str, Path] = {}
    result = []
    for c in configs:
        path = Path(c).resolve()
        if not path.is_file():
            raise FlowError(f"regress: config {c} not found")
        name = path.stem
        if name in found and found[name] != path:
            raise FlowError(f"regress: configs {found[name]} and {path} share the name {name!r} (their outputs "
                            f"would share build/regress/{name}); rename one")
        if name in found:
            continue
        found[name] = path
        try:
            cfg = load_project_config(path).to_dict()
        except FlowError as exc:
            result.append(Entry(path, name, out / name, None, " ".join(str(exc).split())))
            continue
        cfg.pop("source", None)
        meta = {"config": cfg, "options": opts.as_json(), "sources": flow_fingerprint(), "row": ROW_VERSION}
        key = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()[:16]
        result.append(Entry(path, name, out / name, key))
    return result


def summary_row(e: Entry, report: Mapping[str, Any] | None, out: Outcome | None) -> dict[str, Any]:
    """The summary row of a config from its report (None: the config or its task failed, ``error`` says why)."""
    row: dict[str, Any] = {"config": e.name, "path": str(e.path), "status": "error", "ok": False, "kernels": None,
                           "chain": None, "cycles_predicted": None, "cycles_measured": None, "seconds": None,
                           "worker": out.worker if out else None, "task_seconds": out.seconds if out else None,
                           "error": e.error or (out.error if out else None), "key": e.key,
                           "report": None, "cached": False}
    if report is None:
        return row
    kernels = list(report.get("kernels") or [])
    chain = report.get("chain")
    chain = [chain] if isinstance(chain, Mapping) else list(chain or [])
    good = [k for k in kernels if k.get("outputs_match") and k.get("cycles_measured") == k.get("cycles_predicted")]
    ok = bool(report.get("ok"))
    row.update(status="pass" if ok else "fail", ok=ok, kernels=f"{len(good)}/{len(kernels)}",
               chain=f"{sum(bool(c.get('outputs_match')) for c in chain)}/{len(chain)}" if chain else None,
               cycles_predicted=_total(kernels, "cycles_predicted"), cycles_measured=_total(kernels, "cycles_measured"),
               seconds=report.get("seconds"), report=str(e.folder / "sim_report.json"),
               error=None if ok else "; ".join(_reasons(report, kernels, chain, e))[:400])
    return row


def _reasons(report: Mapping[str, Any], kernels: Sequence[Mapping[str, Any]], chain: Sequence[Mapping[str, Any]],
             e: Entry) -> list[str]:
    """What made a report fail, one short phrase per part (the first error of each)."""
    out = []
    cs = report.get("csim") or {}
    if cs.get("failed"):
        out.append(f"C-sim: {cs['failed']} of {cs['failed'] + cs.get('passed', 0)} failed (see {e.folder / 'sim.log'})")
    for k in kernels:
        if not k.get("outputs_match") or k.get("cycles_measured") != k.get("cycles_predicted"):
            cycles = f"cycles {k.get('cycles_measured')} vs predicted {k.get('cycles_predicted')}"
            why = (k.get("errors") or [cycles])[0]
            out.append(f"{k.get('kernel')}: {' '.join(str(why).split())[:160]}")
            break
    for c in chain:
        if not c.get("outputs_match"):
            bad = [s.get("stage") for s in c.get("stages", []) if not s.get("outputs_match")]
            why = (c.get("errors") or [f"stages {', '.join(map(str, bad))} differ"])[0]
            out.append(f"chain at {c.get('position')}: {' '.join(str(why).split())[:160]}")
            break
    flat = report.get("flat_hw") or {}
    if flat and not flat.get("outputs_match", True):
        out.append(f"FLAT: {' '.join(str((flat.get('errors') or ['outputs differ'])[0]).split())[:160]}")
    return out or ["see the report"]


def _total(rows: Sequence[Mapping[str, Any]], key: str) -> int | None:
    """Sum of last-output cycle + 1 over the rows that have ``key`` (None when none has it)."""
    vals = [r[key][1] + 1 for r in rows if isinstance(r.get(key), list | tuple) and len(r[key]) == 2]
    return sum(vals) if vals else None


def cached_row(e: Entry) -> dict[str, Any] | None:
    """The config's cached summary row when its key matches and its report is there."""
    if e.key is None:
        return None
    try:
        row = json.loads((e.folder / "result.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(row, dict) or row.get("key") != e.key or not (e.folder / "sim_report.json").is_file():
        return None
    return {**row, "cached": True}


def run_matrix(items: Sequence[Entry], opts: SimOptions, client: Any, summary: Path,  # noqa: ANN401
               force: bool = False, retries: int | None = None) -> list[dict[str, Any]]:
    """Simulate every config as a Dask task; keep each report and summary row as it completes and rewrite
    ``summary`` (complete rows only); return the rows in config order."""
    from pyflow.cluster.engine import RETRIES
    from pyflow.regress.task import run_config

    rows: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    for i, e in enumerate(items):
        row = None if force else cached_row(e)
        if e.key is None:
            rows[i] = summary_row(e, None, None)
        elif row is not None:
            rows[i] = row
        else:
            todo.append(i)
    for i in sorted(rows):
        print(line(rows[i]), flush=True)
    write_summary(summary, [rows[i] for i in sorted(rows)], opts)
    tasks = [Task(f"regress-{items[i].name}-{items[i].key}", run_config,
                  (str(items[i].path), str(items[i].folder), opts.as_json()), items[i].name) for i in todo]

    def done(j: int, out: Outcome) -> str:
        i = todo[j]
        e = items[i]
        report = out.value if out.ok and isinstance(out.value, dict) else None
        if report is not None:
            write_json_atomic(e.folder / "sim_report.json", report)
        rows[i] = summary_row(e, report, out)
        if rows[i]["status"] != "error":
            write_json_atomic(e.folder / "result.json", rows[i])
        write_summary(summary, [rows[k] for k in sorted(rows)], opts)
        return line(rows[i])

    run_tasks(client, tasks, "regress", done, RETRIES if retries is None else retries)
    return [rows[i] for i in range(len(items))]


def line(r: Mapping[str, Any]) -> str:
    """One progress line for a finished config."""
    where = " (cached)" if r.get("cached") else f" on {r['worker']}, {r['task_seconds']} s" if r.get("worker") else ""
    why = f"  {r['error']}" if r.get("error") else ""
    return f"  {r['config']:<24} {r['status']:<5}{where}{why}"


def write_summary(path: Path, rows: Sequence[Mapping[str, Any]], opts: SimOptions) -> None:
    """``regress.json``: the options and the complete rows so far (written whole)."""
    write_json_atomic(path, {"options": opts.as_json(), "configs": list(rows),
                             "ok": bool(rows) and all(r.get("ok") for r in rows)})


def print_table(rows: Sequence[Mapping[str, Any]]) -> None:
    """The summary table: config x pass/fail x cycles."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title="regress summary")
    for c in ("config", "result", "kernels", "chain", "predicted cycles", "measured cycles", "sim s", "worker"):
        t.add_column(c, justify="left" if c in ("config", "result", "worker") else "right")
    for r in rows:
        def n(v: object) -> str:
            return "-" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
        res = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]"}.get(r["status"], "[red]error[/]")
        t.add_row(r["config"], res, n(r.get("kernels")), n(r.get("chain")), n(r.get("cycles_predicted")),
                  n(r.get("cycles_measured")), n(r.get("seconds")),
                  "(cached)" if r.get("cached") else n(r.get("worker")))
    Console(width=max(Console().width, 120)).print(t)
    for r in rows:
        if r.get("error"):
            print(f"{r['config']}: {r['error']}", flush=True)
