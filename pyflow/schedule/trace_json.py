"""Chrome trace-event JSON of a schedule (opens in ui.perfetto.dev and chrome://tracing).

One process (pid 1) named after the run; one thread per engine (tid = engine + 1, named by ``M``
metadata events); one complete ``X`` slice per op (``ts``/``dur`` in microseconds at the clock, named by
the op kind, args: op label, token, head, cycles, start cycle, duration source); one flow (``s`` at the
producer, ``f`` with ``bp: "e"`` at the consumer, both at the slice's midpoint so each binds to its
enclosing slice) per dependency; a ``C`` counter "busy engines".
"""

from __future__ import annotations

from typing import Any

from pyflow.schedule.view import ScheduleView, busy_steps

PID = 1
COUNTER = "busy engines"


def chrome_trace(view: ScheduleView) -> dict[str, Any]:
    """The trace as a JSON-able dict (``{"traceEvents": [...], ...}``)."""
    ev: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": PID, "tid": 0, "args": {"name": view.title}},
    ]
    for e, name in enumerate(view.engine_names):
        ev.append({"ph": "M", "name": "thread_name", "pid": PID, "tid": e + 1, "args": {"name": name}})
        ev.append({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": e + 1, "args": {"sort_index": e}})
    for op in view.ops:
        ev.append({"name": op.kind, "cat": "op", "ph": "X", "ts": view.us(op.start), "dur": view.us(op.cycles),
                   "pid": PID, "tid": op.engine + 1, "args": op.args()})
    by_id = {op.id: op for op in view.ops}
    for k, (p, s) in enumerate(view.edges):
        a, b = by_id[p], by_id[s]
        common = {"name": "dep", "cat": "dep", "id": k, "pid": PID}
        ev.append({**common, "ph": "s", "tid": a.engine + 1, "ts": view.us(a.start + a.cycles / 2)})
        ev.append({**common, "ph": "f", "bp": "e", "tid": b.engine + 1, "ts": view.us(b.start + b.cycles / 2)})
    for t, busy in busy_steps(view):
        ev.append({"name": COUNTER, "ph": "C", "pid": PID, "tid": 0, "ts": view.us(t), "args": {"busy": busy}})
    return {
        "traceEvents": ev,
        "displayTimeUnit": "ns",
        "otherData": {"algo": view.algo, "status": view.status, "makespan_cycles": view.makespan,
                      "makespan_us": view.us(view.makespan), "clock_mhz": view.clock_mhz},
    }
