"""Chrome trace-event JSON of a schedule (opens in ui.perfetto.dev and chrome://tracing).

One process (pid 1) named after the run; one thread per engine (tid = engine + 1, named by ``M``
metadata events); one complete ``X`` slice per op (``ts``/``dur`` in microseconds at the clock, named by
the op kind, args: op label, token, head, cycles, start cycle, duration source); one flow (``s`` at the
producer, ``f`` with ``bp: "e"`` at the consumer, both at the slice's midpoint so each binds to its
enclosing slice) per dependency; a ``C`` counter "busy engines".  Written by the shared writer
(:mod:`pyflow.traces`) from :func:`timeline`.
"""

from __future__ import annotations

from typing import Any

from pyflow import traces
from pyflow.schedule.view import ScheduleView, busy_steps

PID = traces.PID
COUNTER = "busy engines"


def timeline(view: ScheduleView) -> traces.Timeline:
    """The schedule as a :class:`pyflow.traces.Timeline`: an engine track per engine, a slice per op (in op id
    order, so flows index them by op id), a flow per dependency, the "busy engines" counter."""
    slices = [traces.Slice(op.engine, op.kind, op.start, op.cycles, op.args()) for op in view.ops]
    return traces.Timeline(
        view.title, view.clock_mhz, list(view.engine_names), slices,
        [traces.Counter(COUNTER, "busy", "engines", [(t, busy) for t, busy in busy_steps(view)])],
        list(view.edges),
        {"algo": view.algo, "status": view.status, "makespan_cycles": view.makespan,
         "makespan_us": view.us(view.makespan), "clock_mhz": view.clock_mhz})


def chrome_trace(view: ScheduleView) -> dict[str, Any]:
    """The trace as a JSON-able dict (``{"traceEvents": [...], ...}``)."""
    return traces.chrome_trace(timeline(view))
