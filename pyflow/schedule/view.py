"""One schedule joined with its graph and durations: what the trace writers and the Gantt chart read."""

from __future__ import annotations

from dataclasses import dataclass

from pyflow.schedule.algorithms import Instance, Schedule
from pyflow.schedule.durations import Durations
from pyflow.schedule.graph import Graph


@dataclass(frozen=True)
class ScheduledOp:
    """A placed op (times in cycles)."""

    id: int
    label: str
    kind: str
    token: int
    unit: str
    index: int | None
    start: int
    cycles: int
    engine: int
    source: str

    @property
    def end(self) -> int:
        """Finish cycle (exclusive)."""
        return self.start + self.cycles

    def args(self) -> dict[str, object]:
        """Slice arguments shown in Perfetto."""
        out: dict[str, object] = {"op": self.label, "token": self.token}
        if self.unit == "q":
            out["head"] = self.index
        elif self.unit == "kv":
            out["kv_head"] = self.index
        elif self.unit == "block":
            out["block"] = self.index
        out.update({"cycles": self.cycles, "start_cycle": self.start, "source": self.source})
        return out


@dataclass(frozen=True)
class ScheduleView:
    """Everything a trace needs."""

    title: str
    algo: str
    status: str
    clock_mhz: float
    engine_names: list[str]
    ops: list[ScheduledOp]
    edges: list[tuple[int, int]]
    makespan: int

    def us(self, cycles: float) -> float:
        """Cycles -> microseconds at the clock."""
        return cycles / self.clock_mhz

    def ns(self, cycles: int) -> int:
        """Cycles -> integer nanoseconds at the clock."""
        return round(cycles * 1000.0 / self.clock_mhz)


def make_view(graph: Graph, durations: Durations, inst: Instance, sched: Schedule, clock_mhz: float,
              title: str) -> ScheduleView:
    """Join ``graph``, ``durations`` and ``sched``."""
    ops = [ScheduledOp(op.id, op.label, op.kind, op.token, op.unit, op.index, sched.start[op.id],
                       durations.cycles[op.id], sched.engine[op.id], durations.sources[op.id])
           for op in graph.ops]
    return ScheduleView(title, sched.algo, sched.status, float(clock_mhz), list(inst.engine_names), ops,
                        graph.edges, sched.makespan)


def busy_steps(view: ScheduleView) -> list[tuple[int, int]]:
    """(cycle, engines busy from that cycle on) at every change, starting at cycle 0."""
    delta: dict[int, int] = {0: 0}
    for op in view.ops:
        if op.cycles > 0:
            delta[op.start] = delta.get(op.start, 0) + 1
            delta[op.end] = delta.get(op.end, 0) - 1
    out, busy = [], 0
    for t in sorted(delta):
        busy += delta[t]
        out.append((t, busy))
    return out
