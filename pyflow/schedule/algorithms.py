"""Placing a DAG of ops with fixed durations on typed engines (non-preemptive, one op per engine at a time).

* ``list``: non-delay list scheduling in ready order (an op queues when its last predecessor ends; a free
  engine takes the earliest-queued op, ties by op id) -- what the original visualiser did.
* ``hlfet``: the same event loop with static critical-path priority (HLFET: highest bottom level first).
* ``cpsat``: OR-Tools CP-SAT over start times with one cumulative constraint per engine class (capacity =
  engines of the class; identical engines make this exact: an interval set of depth <= K is K-colourable,
  and :func:`assign_engines` colours it).  Warm-started from the better heuristic with the horizon set to
  its makespan, so CP-SAT never returns worse; the status is OPTIMAL when proven within the time limit,
  FEASIBLE otherwise.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyflow.schedule.bounds import bottom_levels, lower_bounds, top_levels, topo_order

ALGOS: tuple[str, ...] = ("list", "hlfet", "cpsat")
#: Default CP-SAT wall-clock limit in seconds.
DEFAULT_TIME_LIMIT = 10.0
#: CP-SAT search workers (threads); 8 runs its full portfolio (LP, reduced-costs, symmetry, LNS), which
#: proves optimality on instances where 2 workers stall even on a 2-core machine.
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class Instance:
    """Ops (durations, predecessor lists, required engine class) and engines (class per engine)."""

    durations: list[int]
    preds: list[list[int]]
    op_class: list[str]
    engine_class: list[str]
    engine_names: list[str]

    def __post_init__(self) -> None:
        if not self.engine_class:
            raise ValueError("need at least one engine")
        if any(d < 0 for d in self.durations):
            raise ValueError("durations must be >= 0")
        missing = set(self.op_class) - set(self.engine_class)
        if missing:
            raise ValueError(f"no engine of class {sorted(missing)[0]!r}")
        topo_order(self.preds)

    @property
    def n(self) -> int:
        """Number of ops."""
        return len(self.durations)


@dataclass
class Schedule:
    """Start cycle and engine of every op."""

    algo: str
    start: list[int]
    engine: list[int]
    durations: list[int]
    status: str = "heuristic"
    seconds: float = 0.0
    info: dict[str, object] = field(default_factory=dict)

    @property
    def makespan(self) -> int:
        """Latest finish."""
        return max((s + d for s, d in zip(self.start, self.durations, strict=True)), default=0)

    def busy(self, n_engines: int) -> list[int]:
        """Busy cycles per engine."""
        out = [0] * n_engines
        for e, d in zip(self.engine, self.durations, strict=True):
            out[e] += d
        return out


def make_instance(durations: Sequence[int], preds: Sequence[Sequence[int]], is_mem: Sequence[bool],
                  engines: int, mem_engines: int = 0) -> Instance:
    """``engines`` compute engines, plus ``mem_engines`` memory/DMA engines that alone run the mem ops
    (with 0, every op runs on the compute engines)."""
    if engines < 1:
        raise ValueError(f"engines must be >= 1, got {engines}")
    if mem_engines < 0:
        raise ValueError(f"mem engines must be >= 0, got {mem_engines}")
    cls = ["mem" if (m and mem_engines) else "compute" for m in is_mem]
    names = [f"engine {i}" for i in range(engines)] + [f"dma {i}" for i in range(mem_engines)]
    return Instance(list(durations), [list(p) for p in preds], cls,
                    ["compute"] * engines + ["mem"] * mem_engines, names)


def _event_loop(inst: Instance, key: Callable[[int, int], tuple]) -> tuple[list[int], list[int]]:
    """Non-delay list scheduling; ``key(op, ready_time)`` orders the ready queue (smallest first)."""
    n = inst.n
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, ps in enumerate(inst.preds):
        for p in ps:
            succs[p].append(s)
    indeg = [len(p) for p in inst.preds]
    ready_at = [0] * n
    classes = sorted(set(inst.engine_class))
    free = {c: [e for e, ec in enumerate(inst.engine_class) if ec == c] for c in classes}
    for c in classes:
        heapq.heapify(free[c])
    queue: dict[str, list[tuple[tuple, int]]] = {c: [] for c in classes}
    for i in range(n):
        if indeg[i] == 0:
            heapq.heappush(queue[inst.op_class[i]], (key(i, 0), i))
    start, engine = [0] * n, [-1] * n
    running: list[tuple[int, int, int]] = []  # (finish, engine, op)
    now, done = 0, 0
    while done < n:
        for c in classes:
            while free[c] and queue[c]:
                _, i = heapq.heappop(queue[c])
                e = heapq.heappop(free[c])
                start[i], engine[i] = now, e
                heapq.heappush(running, (now + inst.durations[i], e, i))
        if not running:
            raise ValueError("scheduler stalled: graph has a cycle")
        now = running[0][0]
        while running and running[0][0] == now:
            _, e, i = heapq.heappop(running)
            done += 1
            heapq.heappush(free[inst.engine_class[e]], e)
            for s in succs[i]:
                indeg[s] -= 1
                ready_at[s] = max(ready_at[s], now)
                if indeg[s] == 0:
                    heapq.heappush(queue[inst.op_class[s]], (key(s, now), s))
    return start, engine


def list_schedule(inst: Instance) -> Schedule:
    """List scheduling in ready order (FIFO on the time an op became ready, ties by op id)."""
    t0 = time.perf_counter()
    start, engine = _event_loop(inst, lambda i, ready: (ready, i))
    return Schedule("list", start, engine, list(inst.durations), seconds=time.perf_counter() - t0)


def hlfet_schedule(inst: Instance) -> Schedule:
    """HLFET: ready op with the longest path to the exit first (ties: earlier ready, then op id)."""
    t0 = time.perf_counter()
    level = bottom_levels(inst.durations, inst.preds)
    start, engine = _event_loop(inst, lambda i, ready: (-level[i], ready, i))
    return Schedule("hlfet", start, engine, list(inst.durations), seconds=time.perf_counter() - t0)


def assign_engines(inst: Instance, start: Sequence[int]) -> list[int]:
    """Engines for given start times whose per-class overlap never exceeds the class's engine count."""
    engine = [-1] * inst.n
    free_at = [0] * len(inst.engine_class)
    for i in sorted(range(inst.n), key=lambda i: (start[i], inst.durations[i] == 0, i)):
        cands = [e for e, c in enumerate(inst.engine_class) if c == inst.op_class[i] and free_at[e] <= start[i]]
        if not cands:
            raise ValueError("start times overload an engine class")
        e = max(cands, key=lambda e: (free_at[e], -e))  # best fit: the engine freed last
        engine[i] = e
        free_at[e] = start[i] + inst.durations[i]
    return engine


def cpsat_schedule(inst: Instance, time_limit: float = DEFAULT_TIME_LIMIT, workers: int = DEFAULT_WORKERS,
                   hint: Schedule | None = None) -> Schedule:
    """Exact (OPTIMAL) or best-found (FEASIBLE) schedule from CP-SAT within ``time_limit`` seconds."""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    if hint is None:
        a, b = list_schedule(inst), hlfet_schedule(inst)
        hint = a if a.makespan <= b.makespan else b
    horizon = hint.makespan
    bounds = lower_bounds(inst.durations, inst.preds, inst.op_class, inst.engine_class)
    tail = bottom_levels(inst.durations, inst.preds)
    head = top_levels(inst.durations, inst.preds)
    m = cp_model.CpModel()
    # head/tail windows: op i cannot start before its longest predecessor chain, nor so late that its
    # longest successor chain overruns the horizon.
    starts = [m.NewIntVar(head[i], max(head[i], horizon - tail[i]), f"s{i}") for i in range(inst.n)]
    ivs = [m.NewFixedSizeIntervalVar(starts[i], d, f"i{i}") for i, d in enumerate(inst.durations)]
    for j, ps in enumerate(inst.preds):
        for p in ps:
            m.Add(starts[j] >= starts[p] + inst.durations[p])
    for c in sorted(set(inst.engine_class)):
        cap = sum(1 for e in inst.engine_class if e == c)
        mine = [ivs[i] for i in range(inst.n) if inst.op_class[i] == c and inst.durations[i] > 0]
        if mine:
            m.AddCumulative(mine, [1] * len(mine), cap)
    mk = m.NewIntVar(min(bounds.lower, horizon), horizon, "makespan")
    for i in range(inst.n):
        m.Add(mk >= starts[i] + tail[i])
    m.Minimize(mk)
    for s, v in zip(starts, hint.start, strict=True):
        m.AddHint(s, v)
    m.AddHint(mk, horizon)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = max(1, int(workers))
    code = _solve_interruptibly(solver, m)
    status = solver.StatusName(code)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        start = [int(solver.Value(s)) for s in starts]
        engine = assign_engines(inst, start)
        lb = int(solver.BestObjectiveBound())
    else:  # no solution within the limit: keep the heuristic (can only happen with no usable hint)
        start, engine, lb = list(hint.start), list(hint.engine), bounds.lower
        status = f"{status} (kept {hint.algo})"
    return Schedule("cpsat", start, engine, list(inst.durations), status=status,
                    seconds=time.perf_counter() - t0,
                    info={"time_limit_s": float(time_limit), "workers": int(workers),
                          "solver_bound": max(lb, bounds.lower),
                          "hint": hint.algo, "hint_makespan": horizon})


def _solve_interruptibly(solver: Any, model: Any) -> Any:  # noqa: ANN401 (OR-Tools objects)
    """``solver.Solve(model)`` in a thread, so that Ctrl-C reaches Python: CP-SAT's own SIGINT handler would
    swallow it (its ``catch_sigint_signal`` is turned off); the search is stopped and KeyboardInterrupt raised."""
    import threading

    solver.parameters.catch_sigint_signal = False
    result: dict[str, Any] = {}
    done = threading.Event()

    def solve() -> None:
        try:
            result["code"] = solver.Solve(model)
        except BaseException as exc:  # noqa: BLE001 (handed to the main thread)
            result["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=solve, name="cpsat", daemon=True)
    worker.start()
    try:
        # An Event, not Thread.join(timeout): a KeyboardInterrupt inside join leaves the thread's state lock
        # half-released, and the interpreter then aborts at exit.
        while not done.wait(0.05):
            pass
    except KeyboardInterrupt:
        solver.StopSearch()
        done.wait()
        worker.join()
        raise
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["code"]


def run_algo(inst: Instance, algo: str, time_limit: float = DEFAULT_TIME_LIMIT,
             hint: Schedule | None = None, workers: int = DEFAULT_WORKERS) -> Schedule:
    """Dispatch on ``algo`` (one of :data:`ALGOS`)."""
    if algo == "list":
        return list_schedule(inst)
    if algo == "hlfet":
        return hlfet_schedule(inst)
    if algo == "cpsat":
        return cpsat_schedule(inst, time_limit, workers=workers, hint=hint)
    raise ValueError(f"unknown algorithm {algo!r} (choose from {', '.join(ALGOS)})")
