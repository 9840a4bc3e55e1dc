"""Design-space exploration: lanes x number formats per kernel -> cycles, resources, Fmax, error.

A sweep is a list of :class:`DsePoint` (kernel, lanes, format overrides) evaluated by :func:`compute_point`, one
Dask task per point (:func:`run_sweep` on the :mod:`pyflow.cluster` engine: an embedded ``LocalCluster`` or a
cluster given by address).  The kernel-specific parts are pluggable (:class:`DseHooks`, module-level functions
so that they pickle):

* ``configure(ctx, point) -> config``: the project config of the point (FlowError = invalid point);
* ``job(config, point, ctx, workdir) -> SynthJob``: its Verilog, top and golden cycle count;
* ``error(config, point) -> dict | None``: numerical error of the golden fixed-point model vs float64;
* ``sim_cycles(config, point, ctx, workdir) -> int | None``: cycles measured by RTL simulation (run on a
  sample of the points only, to check the cycle model);
* ``synth(job, ctx, workdir, force) -> dict``: synthesis and place & route (default
  :func:`pyflow.synth.run.synth_one` for ``ctx.board``).

:data:`PROJECT_HOOKS` wires them to the real flow (project config, XLS via pyflow.backends.xls.build, golden.cycles via
the spec, pyflow.bench.accuracy, pyflow.sim.kernel).  Each point's result is cached by the client as
``points/<key>.json`` (key = hash of the point, target, clocks, config text and flow sources,
:func:`pyflow.sources.flow_fingerprint`), written whole once
the point is complete, so an interrupted sweep resumes where it stopped.  Every row names the ``worker`` that
ran it and the ``seconds`` it took there; a point whose task failed outright (a crash, a worker that kept dying)
is an ``error`` row with a one-line reason, not cached, and runs again next time.  Outputs: ``dse.csv`` and
``dse_pareto.png`` (decode-step latency vs LUTs and vs DSPs, Pareto fronts per kernel).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyflow.backends.templates import write_if_changed
from pyflow.cluster.engine import Outcome, Task, run_tasks
from pyflow.errors import FlowError
from pyflow.sources import flow_fingerprint
from pyflow.synth.devices import synth_target
from pyflow.synth.run import FLOW_VERSION, SynthJob, synth_one

#: Columns of dse.csv, in order.
CSV_COLUMNS = ("kernel", "lanes", "formats", "status", "xls_mhz", "stages", "latency", "cycles", "sim_cycles",
               "cycles_match", "target_mhz", "fmax_mhz", "decode_us", "lut", "ff", "dsp", "bram", "max_abs_err",
               "max_rel_err", "data_bits", "utilisation", "tokens_per_s", "error", "worker", "seconds", "key")


@dataclass(frozen=True)
class DsePoint:
    """One design point: a kernel at ``lanes`` with format overrides ``((tensor, width, frac), ...)``."""

    kernel: str
    lanes: int
    formats: tuple[tuple[str, int, int], ...] = ()
    simulate: bool = False

    @property
    def formats_label(self) -> str:
        """``act=16.10,logit=16.8`` or ``default``."""
        return ",".join(f"{n}={w}.{f}" for n, w, f in self.formats) or "default"

    @property
    def label(self) -> str:
        return f"{self.kernel} P={self.lanes} {self.formats_label}"


@dataclass(frozen=True)
class DseContext:
    """What every point shares: target board and clocks, base config, output root, options."""

    board: str
    freq_mhz: float
    xls_mhz: float
    root: Path
    config: str | None = None
    config_text: str = ""
    small: bool = False
    harness: str = "auto"
    seed: int = 1
    simulator: str = "verilator"


@dataclass(frozen=True)
class DseHooks:
    """The kernel-specific parts of a sweep (see the module docstring)."""

    configure: Callable[[DseContext, DsePoint], Any]
    job: Callable[[Any, DsePoint, DseContext, Path], SynthJob]
    error: Callable[[Any, DsePoint], Mapping[str, float] | None] | None = None
    sim_cycles: Callable[[Any, DsePoint, DseContext, Path], int | None] | None = None
    name: str = "custom"
    synth: Callable[[SynthJob, DseContext, Path, bool], dict[str, Any]] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_format(text: str) -> tuple[tuple[str, int, int], ...]:
    """``"act=16.10,logit=16.8"`` -> ``(("act", 16, 10), ("logit", 16, 8))``; ``"default"`` -> ``()``."""
    text = text.strip()
    if text in ("", "default"):
        return ()
    out = []
    for item in text.split(","):
        name, _, wf = item.partition("=")
        w, _, f = wf.partition(".")
        try:
            out.append((name.strip(), int(w), int(f)))
        except ValueError:
            raise FlowError(f"dse: format {item!r} must look like NAME=WIDTH.FRAC (e.g. act=16.10)") from None
        if not name.strip():
            raise FlowError(f"dse: format {item!r} has no tensor name")
    return tuple(sorted(out))


def grid(kernels: Sequence[str], lanes: Sequence[int], formats: Sequence[tuple[tuple[str, int, int], ...]],
         sim_sample: int = 0) -> list[DsePoint]:
    """The full grid kernels x lanes x formats; ``sim_sample`` points (evenly spaced) are marked for RTL
    simulation."""
    if any(p < 1 for p in lanes):
        raise FlowError(f"dse: lanes must be >= 1, got {list(lanes)}")
    pts = [DsePoint(k, int(p), f) for k in kernels for p in sorted(set(lanes)) for f in (formats or [()])]
    if sim_sample > 0 and pts:
        step = max(1, len(pts) // sim_sample)
        chosen = set(range(0, len(pts), step)[:sim_sample])
        pts = [DsePoint(p.kernel, p.lanes, p.formats, i in chosen) for i, p in enumerate(pts)]
    return pts


def point_key(point: DsePoint, ctx: DseContext, hooks: DseHooks) -> str:
    """Cache key of a point (changes with anything that changes its result, the flow's sources included)."""
    meta = {"point": asdict(point), "board": ctx.board, "freq": ctx.freq_mhz, "xls": ctx.xls_mhz,
            "config": ctx.config_text, "small": ctx.small, "harness": ctx.harness, "seed": ctx.seed,
            "sim": ctx.simulator if point.simulate else None, "hooks": hooks.name, "flow": FLOW_VERSION,
            "sources": flow_fingerprint()}
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]


def point_cache(point: DsePoint, ctx: DseContext, hooks: DseHooks) -> Path:
    """Where the point's row is cached: ``<root>/points/<key>.json``."""
    return ctx.root / "points" / f"{point_key(point, ctx, hooks)}.json"


def cached_row(point: DsePoint, ctx: DseContext, hooks: DseHooks) -> dict[str, Any] | None:
    """The point's cached row (``cached`` set), or None when there is none (or it cannot be read)."""
    try:
        row = json.loads(point_cache(point, ctx, hooks).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return {**row, "cached": True} if isinstance(row, dict) else None


def save_row(ctx: DseContext, row: Mapping[str, Any]) -> None:
    """Cache a complete row as ``points/<key>.json`` (atomically)."""
    data = {k: v for k, v in row.items() if k != "cached"}
    write_if_changed(ctx.root / "points" / f"{row['key']}.json", json.dumps(data, indent=1) + "\n")


def compute_point(point: DsePoint, ctx: DseContext, hooks: DseHooks, force: bool = False) -> dict[str, Any]:
    """Evaluate one point (no result cache; the tools' own caches under ``<root>/work/<key>`` apply unless
    ``force``).  A bad point is a row whose ``status`` says what happened, not an exception."""
    key = point_key(point, ctx, hooks)
    row: dict[str, Any] = {"kernel": point.kernel, "lanes": point.lanes, "formats": point.formats_label,
                           "status": "failed", "error": None, "key": key, "target_mhz": ctx.freq_mhz,
                           "simulated": point.simulate}
    try:
        pc = hooks.configure(ctx, point)
    except FlowError as exc:
        row.update(status="invalid", error=str(exc))
        return row
    work = ctx.root / "work" / key
    try:
        job = hooks.job(pc, point, ctx, work)
        if hooks.synth is not None:
            res = hooks.synth(job, ctx, work, force)
        else:
            res = synth_one(job, synth_target(ctx.board), ctx.freq_mhz, work, ctx.harness, ctx.seed, force)
    except FlowError as exc:
        row["error"] = str(exc)
        return row
    r = res.get("resources", {})
    row.update(
        status=res["status"], error=res.get("error"), xls_mhz=job.extra.get("xls_mhz"),
        stages=job.extra.get("stages"), latency=job.extra.get("latency"), cycles=job.cycles,
        fmax_mhz=res.get("fmax_mhz"),
        decode_us=res.get("decode_step_us" if synth_target(ctx.board).flow == "pnr" else "decode_step_us_at_target"),
        lut=_used(r, "lut"), ff=_used(r, "ff"), dsp=_used(r, "dsp"), bram=_used(r, "bram"),
        resources=r, synth_dir=str(work / job.name),
    )
    if "data_bits" in job.extra:  # the accelerator: its port, the roofline share, tokens/s per layer at Fmax
        us = row["decode_us"]
        row.update(data_bits=job.extra["data_bits"], utilisation=job.extra.get("utilisation"),
                   tokens_per_s=round(1e6 / us, 1) if us else None)
    if hooks.error is not None:
        try:
            err = hooks.error(pc, point)
        except FlowError as exc:
            err, row["error"] = None, (row["error"] or "") + f" error model: {exc}"
        if err:
            row["max_abs_err"], row["max_rel_err"] = err.get("max_abs"), err.get("max_rel")
    if point.simulate and hooks.sim_cycles is not None:
        try:
            sim = hooks.sim_cycles(pc, point, ctx, work)
        except FlowError as exc:
            sim, row["error"] = None, (row["error"] or "") + f" sim: {exc}"
        row["sim_cycles"] = sim
        row["cycles_match"] = None if sim is None or job.cycles is None else sim == job.cycles
    return row


def evaluate_point(point: DsePoint, ctx: DseContext, hooks: DseHooks, force: bool = False) -> dict[str, Any]:
    """:func:`compute_point` in this process, through the point cache (for a single point without a cluster)."""
    if not force and (row := cached_row(point, ctx, hooks)) is not None:
        return row
    t0 = time.perf_counter()
    row = {**compute_point(point, ctx, hooks, force), "worker": "local",
           "seconds": round(time.perf_counter() - t0, 2)}
    save_row(ctx, row)
    return {**row, "cached": False}


def _used(res: Mapping[str, Any], cls: str) -> float | None:
    e = res.get(cls)
    return None if not e else e.get("used")


def outcome_row(point: DsePoint, ctx: DseContext, hooks: DseHooks, out: Outcome) -> dict[str, Any]:
    """The row of a finished task: the point's row with the worker and seconds, or an ``error`` row with the
    task's one-line reason."""
    if out.ok and isinstance(out.value, dict):
        row = dict(out.value)
    else:
        row = {"kernel": point.kernel, "lanes": point.lanes, "formats": point.formats_label, "status": "error",
               "error": out.error or "task returned no row", "key": point_key(point, ctx, hooks),
               "target_mhz": ctx.freq_mhz, "simulated": point.simulate}
    return {**row, "worker": out.worker, "seconds": out.seconds, "cached": False}


def run_sweep(points: Sequence[DsePoint], ctx: DseContext, hooks: DseHooks, client: Any,  # noqa: ANN401
              force: bool = False, on_done: Callable[[dict[str, Any]], str | None] | None = None,
              on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
              title: str = "dse", retries: int | None = None) -> list[dict[str, Any]]:
    """Evaluate every point as a Dask task on ``client`` (cached points are not submitted); rows in point
    order.  Each complete row is cached before ``on_done(row)`` (which may return a progress line) and
    ``on_rows(rows so far, in point order)`` (to rewrite outputs that hold complete rows only) see it."""
    from pyflow.cluster.engine import RETRIES

    ctx.root.mkdir(parents=True, exist_ok=True)
    rows: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    for i, p in enumerate(points):
        row = None if force else cached_row(p, ctx, hooks)
        if row is None:
            todo.append(i)
        else:
            rows[i] = row
    for i in sorted(rows):
        line = on_done(rows[i]) if on_done else None
        if line:
            print(line, flush=True)
    if rows and on_rows:
        on_rows([rows[i] for i in sorted(rows)])
    tasks = [Task(f"dse-{points[i].kernel}-P{points[i].lanes}-{point_key(points[i], ctx, hooks)}", compute_point,
                  (points[i], ctx, hooks, force), points[i].label) for i in todo]

    def done(j: int, out: Outcome) -> str | None:
        i = todo[j]
        rows[i] = outcome_row(points[i], ctx, hooks, out)
        if rows[i]["status"] != "error":
            save_row(ctx, rows[i])
        line = on_done(rows[i]) if on_done else None
        if on_rows:
            on_rows([rows[k] for k in sorted(rows)])
        return line

    run_tasks(client, tasks, title, done, RETRIES if retries is None else retries)
    return [rows[i] for i in range(len(points))]


# ----------------------------------------------------------------------------------------- outputs


def csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """dse.csv content (one line per point, :data:`CSV_COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (both coordinates minimised), sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front, best_y = [], float("inf")
    for i in order:
        if points[i][1] < best_y:
            front.append(i)
            best_y = points[i][1]
    return front


def pareto_png(rows: Sequence[Mapping[str, Any]], path: Path, title: str = "") -> Path | None:
    """Scatter of decode-step latency vs LUTs and vs DSPs per kernel, Pareto fronts joined; None when no
    point has both numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = [r for r in rows if r.get("status") == "ok" and r.get("decode_us") is not None]
    if not good:
        return None
    accel = [r for r in good if r.get("tokens_per_s")]
    good = [r for r in good if not r.get("tokens_per_s")]
    fig, grid_axes = plt.subplots(int(bool(good)) + int(bool(accel)), 2, figsize=(12, 4.8 * (bool(good) + bool(accel))),
                                  squeeze=False)
    if accel:
        _accel_pareto(grid_axes[-1], accel)
    if not good:
        return _save_png(fig, path, title or "DSE: the decode accelerator, tokens/s vs resources")
    axes = grid_axes[0]
    kernels = sorted({r["kernel"] for r in good})
    for ax, res in zip(axes, ("lut", "dsp"), strict=True):
        for k in kernels:
            pts = [r for r in good if r["kernel"] == k and r.get(res) is not None]
            if not pts:
                continue
            xy = [(float(r[res]), float(r["decode_us"])) for r in pts]
            sc = ax.scatter([p[0] for p in xy], [p[1] for p in xy], label=k, alpha=0.7)
            front = pareto_front(xy)
            ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "-", color=sc.get_facecolor()[0])
            for i, r in enumerate(pts):
                fmt = "" if r["formats"] == "default" else f" {r['formats']}"
                ax.annotate(f"P{r['lanes']}{fmt}", xy[i], fontsize=7, xytext=(3, 3), textcoords="offset points",
                            fontweight="bold" if i in front else "normal")
        ax.set_xlabel(f"{res.upper()}s used")
        ax.set_ylabel("decode-step latency (µs)")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save_png(fig, path, title or "DSE: latency vs resources (Pareto fronts joined)")


def _accel_pareto(axes: Any, rows: Sequence[Mapping[str, Any]]) -> None:  # noqa: ANN401 (matplotlib axes)
    """Tokens/s per layer at Fmax vs LUTs and vs DSPs of the accelerator's points (front: fewer resources, more
    tokens/s), each labelled with its memory port width."""
    for ax, res in zip(axes, ("lut", "dsp"), strict=True):
        pts = [r for r in rows if r.get(res) is not None]
        xy = [(float(r[res]), -float(r["tokens_per_s"])) for r in pts]
        ax.scatter([p[0] for p in xy], [-p[1] for p in xy], color="tab:red", label="accelerator")
        front = pareto_front(xy)
        ax.plot([xy[i][0] for i in front], [-xy[i][1] for i in front], "-", color="tab:red")
        for i, r in enumerate(pts):
            fmt = "" if r["formats"] == "default" else f" {r['formats']}"
            ax.annotate(f"{r.get('data_bits')}b{fmt}", (xy[i][0], -xy[i][1]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points", fontweight="bold" if i in front else "normal")
        ax.set_xlabel(f"{res.upper()}s used")
        ax.set_ylabel("tokens/s per layer at Fmax")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)


def _save_png(fig: Any, path: Path, title: str) -> Path:  # noqa: ANN401
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(path, buf.getvalue())
    return path


# ------------------------------------------------------------------------------ the project's hooks


def project_configure(ctx: DseContext, point: DsePoint) -> Any:  # noqa: ANN401
    """The project config (default overlaid with ``ctx.config``) with the point's lanes and formats."""
    import tomllib

    from pyflow.project import config as pcm
    from pyflow.specs import lanes_key

    raw = tomllib.loads(pcm.DEFAULT_CONFIG.read_text())
    if ctx.config_text:
        pcm.merge_tables(raw, pcm.migrate(tomllib.loads(ctx.config_text)))
    from pyflow.synth.accel import ACCEL_NAME

    accel = point.kernel == ACCEL_NAME
    key = None if accel else lanes_key(point.kernel)
    if key is None and not accel:
        raise FlowError(f"dse: kernel {point.kernel} has no lanes key")
    base = Path(ctx.config).parent if ctx.config else None
    if ctx.small:  # the small test dimensions of pyflow.project.config.small_config, lanes overridable
        sm = pcm.small_config(pcm.from_dict(copy.deepcopy(raw), base_dir=base))
        m = sm.model
        raw.setdefault("model", {}).pop("hf_config", None)
        raw["model"].update(hidden_size=m.hidden_size, num_attention_heads=m.num_attention_heads,
                            num_key_value_heads=m.num_key_value_heads, head_dim=m.head_dim)
        raw.setdefault("context", {})["max_length"] = sm.max_length
        raw["lanes"] = dict(sm.lanes)
    over: dict[str, Any] = {} if accel else {"lanes": {key: point.lanes}}
    if point.formats:
        over["formats"] = {n: {"width": w, "frac": f} for n, w, f in point.formats}
    pcm.merge_tables(raw, over)
    source = f"{ctx.config or pcm.DEFAULT_CONFIG} + {point.label}"
    if accel:  # the accelerator's lanes are the elements per memory word: the port is lanes x element width
        width = pcm.from_dict(copy.deepcopy(raw), source=source, base_dir=base).scheme.act.width
        pcm.merge_tables(raw, {"memory": {"data_bits": point.lanes * width}})
    return pcm.from_dict(raw, source=source, base_dir=base)


def project_job(pc: Any, point: DsePoint, ctx: DseContext, work: Path) -> SynthJob:  # noqa: ANN401
    """XLS Verilog of the point's kernel (private build root per point) with its golden cycle count."""
    from pyflow.specs import get_spec
    from pyflow.synth.accel import ACCEL_NAME, accel_job
    from pyflow.synth.kernels import kernel_job

    if point.kernel == ACCEL_NAME:
        return accel_job(pc, ctx.xls_mhz, work)
    return kernel_job(get_spec(point.kernel, pc), ctx.xls_mhz, work)


_ERR_CACHE: dict[str, dict[str, Any]] = {}
#: Decode steps run by the error model (fills the KV cache; errors are taken at the last step).
ERR_CTX = 8


def project_error(pc: Any, point: DsePoint) -> dict[str, float] | None:  # noqa: ANN401
    """Worst relative / absolute error of the ops the kernel implements (pyflow.bench.accuracy: fixed point vs
    float64 over a short decode run at the point's formats)."""
    from pyflow.bench import accuracy
    from pyflow.specs import op_kernels

    m = pc.model
    tag = f"{point.formats_label} {m.hidden_size} {m.num_attention_heads} {m.head_dim} {pc.max_length}"
    if tag not in _ERR_CACHE:
        rep = accuracy.accuracy_report(pc.model, pc.scheme, min(ERR_CTX, pc.max_length), seed=0)
        _ERR_CACHE[tag] = rep["realistic"]["ops"]
    from pyflow.synth.accel import ACCEL_NAME

    kernel_of = op_kernels()
    ops = [e for op, e in _ERR_CACHE[tag].items()
           if point.kernel == ACCEL_NAME or kernel_of.get(op) == point.kernel]  # the accelerator runs every op
    if not ops:
        return None
    return {"max_abs": max(e["max_abs"] for e in ops), "max_rel": max(e["max_rel"] for e in ops)}


def project_sim_cycles(pc: Any, point: DsePoint, ctx: DseContext, work: Path) -> int | None:  # noqa: ANN401
    """Cycles (first input to last output, inclusive) measured by RTL simulation of the point's kernel."""
    from pyflow.backends.xls import build as rtl
    from pyflow.sim import kernel as rtl_sim
    from pyflow.specs import get_spec
    from pyflow.synth.accel import ACCEL_NAME

    if point.kernel == ACCEL_NAME:  # one token at the last position, as the job's cycles
        from hls.accel.spec import build
        from pyflow.accel.sim import run_tokens

        a = build(pc)
        out = run_tokens(a, range(a.capacity - 1, a.capacity), ctx.simulator, memory="verilog", build_root=work,
                         xls_mhz=ctx.xls_mhz)
        toks = out.get("tokens") or []
        # a cycle-count difference is what this check reports (cycles_match); any other error is a failed point
        bad = [e for e in out.get("errors", []) if "!= predicted" not in e]
        if bad or not toks:
            raise FlowError(f"{point.label}: accelerator RTL run failed ({'; '.join(bad[:2]) or 'no token ran'})")
        return int(toks[0]["cycles"])
    res = rtl_sim.run_kernel(get_spec(point.kernel, pc), ctx.simulator, build_root=work,
                             options=rtl.xls_options(ctx.xls_mhz))
    if not res.get("outputs_match"):
        raise FlowError(f"{point.label}: RTL outputs differ from golden ({'; '.join(res.get('errors', []))})")
    return int(res["cycles_measured"][1]) + 1


PROJECT_HOOKS = DseHooks(project_configure, project_job, project_error, project_sim_cycles, name="project-v1")
