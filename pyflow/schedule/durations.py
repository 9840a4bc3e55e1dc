"""Op durations in clock cycles from one of three sources (:data:`SOURCES`).

* ``golden``: each op's kernel spec (the one whose module lists the op in ``OPS``) gives its cycle formula
  (``golden.cycles``) at the op's shape (``KernelSpec.op_cycles``), with the config's lanes and a pipeline
  depth (``--depth``, default :data:`DEFAULT_DEPTH` since no compile result is read here).  A dimension that
  a lane count does not divide is padded up to a multiple of it (a part-filled last beat).  Per-head kernels
  (qk, softmax_*, av) run once per query head, so a whole-layer op costs ``heads`` times one invocation;
  projections and RoPE of a whole layer are one longer stream, KV transfers one per KV head.
* ``measured``: ``build/report/sim_report.json`` from the RTL flow.  For each kernel the first entry with
  ``outputs_match`` true gives ``ratio = cycles_measured / cycles_predicted`` (each an int total or a
  ``[first, last]`` pair, total = last + 1) and its ``pipeline_depth`` (default depth when absent).  An op
  then lasts ``round(ratio * golden formula at the op's shape with that depth)``: the measured depth and
  any measured slowdown carry over to the op's real shape.
  With an accelerator trace (``--accel-trace``: ``accel_trace_summary.json`` of ``accel trace``), each op
  kind instead takes the cycles the accelerator RTL spent on it in one measured token (its controller
  phases, ``tokens[].ops``; the token whose key count is nearest the graph's first token's): ``ratio =
  measured cycles / golden formula summed over that kind's ops of one token at the measured key count``
  (same granularity, --heads), then an op lasts ``round(ratio * golden formula at the op's shape)`` -- at
  the measured shape the token's ops add up to the measured cycles.
* ``profile``: a user JSON file of per-op times, e.g. measured on a CPU/GPU::

      {"unit": "us", "ops": {"rmsnorm": 1.2, "q_proj": 3.4, ...}}

  ``unit`` is ``us`` (default) or ``cycles``; without an ``ops`` key the other keys are the op names.
  Each time is per graph node at the chosen granularity (one head's op with ``--heads all``, the whole
  layer's with ``--heads 1``); every op kind in the graph must be given, unknown names are errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from golden.llama import CHAIN_OPS
from pyflow.errors import FlowError
from pyflow.schedule.graph import Graph, Op
from pyflow.specs import get_spec, op_kernels
from pyflow.specs.base import KernelSpec

SOURCES: tuple[str, ...] = ("golden", "measured", "profile")
#: Pipeline depth (cycles) of every kernel when no compile/simulation result says otherwise.
DEFAULT_DEPTH = 4


@dataclass(frozen=True)
class Hw:
    """The hardware the ops run on: for each chain op, the spec of the kernel that implements it (at the
    project config's lanes: it knows its own cycle formula at any op shape), the clock, a default depth."""

    kernels: Mapping[str, KernelSpec]
    clock_mhz: float
    depth: int = DEFAULT_DEPTH

    @classmethod
    def from_config(cls, pc: Any, depth: int = DEFAULT_DEPTH) -> Hw:  # noqa: ANN401 (ProjectConfig)
        """Every chain op's kernel spec built from project config ``pc``."""
        by_kernel: dict[str, KernelSpec] = {}
        ops: dict[str, KernelSpec] = {}
        for op, kernel in op_kernels().items():
            if kernel not in by_kernel:
                by_kernel[kernel] = get_spec(kernel, pc)
            ops[op] = by_kernel[kernel]
        missing = set(CHAIN_OPS) - set(ops)
        if missing:
            raise FlowError(f"schedule: no kernel implements op {sorted(missing)[0]}")
        return cls(ops, float(pc.clock_mhz), int(depth))

    def kernel_of(self, op_kind: str) -> str:
        """Name of the kernel that runs ops of kind ``op_kind``."""
        return self.kernels[op_kind].name


@dataclass
class Durations:
    """Cycles per op id and where each came from."""

    cycles: list[int]
    sources: list[str]
    method: str
    notes: list[str] = field(default_factory=list)

    def source_summary(self, graph: Graph) -> dict[str, str]:
        """Op kind -> source label (the first op of each kind; labels agree within a kind)."""
        out: dict[str, str] = {}
        for op, src in zip(graph.ops, self.sources, strict=True):
            out.setdefault(op.kind, src)
        return out


def model_cycles(op: Op, hw: Hw, depth: int | None = None) -> int:
    """Cycles of ``op`` (first input to last output, inclusive): its kernel's cycle formula at the op's shape."""
    spec = hw.kernels[op.kind]
    if spec.op_cycles is None:
        raise FlowError(f"schedule: kernel {spec.name} has no cycle formula for op shapes")
    try:
        return spec.op_cycles(op.kind, op.shape_dict(), hw.depth if depth is None else int(depth)).total
    except ValueError as exc:
        raise FlowError(f"schedule: {op.label}: {exc}") from None


def golden_durations(graph: Graph, hw: Hw) -> Durations:
    """Every op from the cycle model at depth ``hw.depth``."""
    cycles = [model_cycles(op, hw) for op in graph.ops]
    return Durations(cycles, [f"golden (depth {hw.depth})"] * len(cycles), "golden")


# ------------------------------------------------------------------------------------------ measured
def _total(value: Any, what: str) -> int:
    """A cycle count given as an int total or a [first, last] pair (total = last + 1)."""
    if isinstance(value, bool):
        raise FlowError(f"{what} must be a cycle count")
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return int(value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and value[1] >= 0:
        return int(value[1]) + 1
    raise FlowError(f"{what} = {value!r} is not a positive cycle count or a [first, last] pair")


def _load_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FlowError(f"{what} {path} not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FlowError(f"{what} {path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise FlowError(f"{what} {path} is not a UTF-8 text file") from None


def _sim_entries(raw: Any, path: Path) -> list[dict[str, Any]]:
    if isinstance(raw, dict):
        for key in ("kernels", "results", "entries"):
            if isinstance(raw.get(key), list):
                raw = raw[key]
                break
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise FlowError(f"measured: {path} must hold a list of kernel entries (or {{\"kernels\": [...]}})")
    return raw


def measured_durations(graph: Graph, hw: Hw, path: Path) -> Durations:
    """Ops scaled from RTL-simulated cycles (see the module docstring)."""
    entries = _sim_entries(_load_json(path, "measured: simulation report"), path)
    needed = sorted({hw.kernel_of(op.kind) for op in graph.ops})
    scale: dict[str, tuple[float, int, str]] = {}
    notes: list[str] = []
    for kernel in needed:
        rows = [e for e in entries if e.get("kernel") == kernel]
        if not rows:
            raise FlowError(f"measured: kernel {kernel} is absent from {path} (run `make sim` or use "
                            "--durations golden)")
        good = [e for e in rows if e.get("outputs_match") is True]
        if not good:
            raise FlowError(f"measured: kernel {kernel} failed its RTL test in {path} (outputs_match false)")
        e = good[0]
        for key in ("cycles_predicted", "cycles_measured"):
            if key not in e:
                raise FlowError(f"measured: entry of kernel {kernel} in {path} has no {key}")
        pred = _total(e["cycles_predicted"], f"measured: {kernel}.cycles_predicted")
        meas = _total(e["cycles_measured"], f"measured: {kernel}.cycles_measured")
        depth = e.get("pipeline_depth", hw.depth)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise FlowError(f"measured: {kernel}.pipeline_depth = {depth!r} must be a non-negative integer")
        scale[kernel] = (meas / pred, depth, str(e.get("simulator", "?")))
    cycles, sources = [], []
    for op in graph.ops:
        kernel = hw.kernel_of(op.kind)
        ratio, depth, sim = scale[kernel]
        cycles.append(max(1, round(ratio * model_cycles(op, hw, depth))))
        sources.append(f"measured ({kernel} on {sim}: x{ratio:.3f}, depth {depth})")
    return Durations(cycles, sources, "measured", notes)


def accel_trace_durations(graph: Graph, hw: Hw, cfg: Any, path: Path) -> Durations:  # noqa: ANN401 (LlamaConfig)
    """Ops scaled from the accelerator's measured cycles per op kind (see the module docstring)."""
    from pyflow.schedule.graph import build_graph

    raw = _load_json(path, "measured: accelerator trace summary")
    toks = raw.get("tokens") if isinstance(raw, dict) else None
    if not isinstance(toks, list) or not toks or not all(
            isinstance(t, dict) and isinstance(t.get("ops"), dict) and isinstance(t.get("keys"), int)
            for t in toks):
        raise FlowError(f"measured: {path} is not an accelerator trace summary (no tokens[].ops / keys; write it "
                        "with `python -m pyflow accel trace`)")
    dims = ("hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim")
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    theirs = {k: model.get(k) for k in dims}
    ours = {k: getattr(cfg, k) for k in dims}
    if theirs != ours:
        raise FlowError(f"measured: {path} was measured at {theirs}, the schedule's config has {ours}; run "
                        "`accel trace` with the same --config")
    ctx = int(graph.meta.get("ctx", 1))
    tok = min(toks, key=lambda t: (abs(t["keys"] - ctx), -t["keys"]))
    for kind in CHAIN_OPS:
        v = tok["ops"].get(kind)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise FlowError(f"measured: {path}: tokens[].ops.{kind} = {v!r} must be a positive cycle count")
    ref = build_graph(cfg, 1, tok["keys"], bool(graph.meta.get("per_head", True)), "autoregressive",
                      int(graph.meta.get("o_proj_blocks", 1)))
    model_sum: dict[str, int] = {}
    for op in ref.ops:
        model_sum[op.kind] = model_sum.get(op.kind, 0) + model_cycles(op, hw)
    sim = f"{raw.get('simulator', '?')}, {raw.get('data_bits', '?')}-bit port, n={tok['keys']}"
    cycles, sources = [], []
    for op in graph.ops:
        ratio = tok["ops"][op.kind] / model_sum[op.kind]
        cycles.append(max(1, round(ratio * model_cycles(op, hw))))
        sources.append(f"accel trace ({path.name}: {sim}, x{ratio:.3f})")
    notes = [f"durations from the accelerator RTL trace {path} (token at pos {tok.get('pos')}, {tok['keys']} keys; "
             "ops at other key counts scaled by the golden formula)"]
    return Durations(cycles, sources, "measured", notes)


# ------------------------------------------------------------------------------------------- profile
def read_profile(path: Path) -> tuple[dict[str, float], str]:
    """Validate a profile file; return (op kind -> time, unit)."""
    raw = _load_json(path, "profile: file")
    if not isinstance(raw, dict):
        raise FlowError(f"profile: {path} must hold a JSON object mapping op names to times")
    unit = raw.get("unit", "us")
    if unit not in ("us", "cycles"):
        raise FlowError(f"profile: unit {unit!r} in {path} must be \"us\" or \"cycles\"")
    ops = raw["ops"] if "ops" in raw else {k: v for k, v in raw.items() if k != "unit"}
    if not isinstance(ops, dict) or not ops:
        raise FlowError(f"profile: {path} has no op times (expected {{\"ops\": {{\"qk\": 1.5, ...}}}})")
    out: dict[str, float] = {}
    for name, value in ops.items():
        if name not in CHAIN_OPS:
            raise FlowError(f"profile: unknown op {name!r} in {path} (known: {', '.join(CHAIN_OPS)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0):
            raise FlowError(f"profile: time of {name} in {path} must be a positive number, got {value!r}")
        out[name] = float(value)
    return out, unit


def _check_granularity(graph: Graph, path: Path) -> None:
    """A profile that says at which granularity it was timed (``golden profile`` writes ``granularity``:
    ``heads`` and ``o_proj_blocks``) must match the graph's, or every duration would be off by a factor."""
    raw = _load_json(path, "profile: file")
    gran = raw.get("granularity") if isinstance(raw, dict) else None
    if not isinstance(gran, dict):
        return
    want = {"heads": "all" if graph.meta.get("per_head") else "1", "o_proj_blocks": graph.meta.get("o_proj_blocks")}
    for key, value in want.items():
        if key in gran and str(gran[key]) != str(value):
            flag = key.replace("_", "-")
            raise FlowError(f"profile: {path} was timed with --{flag} {gran[key]}, the schedule uses --{flag} "
                            f"{value}; profile again with --{flag} {value} or schedule with --{flag} {gran[key]}")


def profile_durations(graph: Graph, hw: Hw, path: Path) -> Durations:
    """Ops from a user profile (times per graph node), converted to cycles at the config's clock."""
    times, unit = read_profile(path)
    _check_granularity(graph, path)
    missing = [k for k in CHAIN_OPS if k in {op.kind for op in graph.ops} and k not in times]
    if missing:
        raise FlowError(f"profile: {path} has no time for op {missing[0]}")
    per = hw.clock_mhz if unit == "us" else 1.0
    cycles = [max(1, round(times[op.kind] * per)) for op in graph.ops]
    return Durations(cycles, [f"profile ({path.name}, {unit})"] * len(cycles), "profile")


def get_durations(graph: Graph, hw: Hw, method: str, profile: Path | None = None,
                  sim_report: Path | None = None, accel_trace: Path | None = None,
                  cfg: Any = None) -> Durations:  # noqa: ANN401 (LlamaConfig)
    """Dispatch on ``method`` (one of :data:`SOURCES`); ``measured`` with ``accel_trace`` (and the model config
    ``cfg``) takes the accelerator's measured op cycles."""
    if method == "golden":
        return golden_durations(graph, hw)
    if method == "measured":
        from pyflow.reports import REPORT_DIR

        if accel_trace is not None:
            return accel_trace_durations(graph, hw, cfg, accel_trace)
        return measured_durations(graph, hw, sim_report or REPORT_DIR / "sim_report.json")
    if method == "profile":
        if profile is None:
            raise FlowError("schedule: --durations profile needs --profile FILE")
        return profile_durations(graph, hw, profile)
    raise FlowError(f"schedule: unknown duration source {method!r} (choose from {', '.join(SOURCES)})")
