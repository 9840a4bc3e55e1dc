"""Native Perfetto trace (``.pftrace``: a serialized ``perfetto.protos.Trace``) of a schedule.

Built with ``perfetto.trace_builder.proto_builder.TraceProtoBuilder`` (the shared writer,
:func:`pyflow.traces.perfetto_trace`): a process track named after the run with one child track per engine
(explicit order) and a "busy engines" counter track; each op is a ``TYPE_SLICE_BEGIN`` / ``TYPE_SLICE_END``
pair (``TYPE_INSTANT`` for a zero-cycle op) named by the op kind with debug annotations (op label, token,
head, cycles, source); each dependency is a flow id set on the producer's begin event (``flow_ids``) and
terminated on the consumer's (``terminating_flow_ids``).  Timestamps are nanoseconds at the configured clock.
"""

from __future__ import annotations

from pyflow import traces
from pyflow.schedule.trace_json import timeline
from pyflow.schedule.view import ScheduleView


def perfetto_trace(view: ScheduleView) -> bytes:
    """Serialized trace bytes."""
    return traces.perfetto_trace(timeline(view))
