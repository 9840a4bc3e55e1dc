"""Native Perfetto trace (``.pftrace``: a serialized ``perfetto.protos.Trace``) of a schedule.

Built with ``perfetto.trace_builder.proto_builder.TraceProtoBuilder``: a process track named after the run
with one child track per engine (explicit order) and a "busy engines" counter track; each op is a
``TYPE_SLICE_BEGIN`` / ``TYPE_SLICE_END`` pair (``TYPE_INSTANT`` for a zero-cycle op) named by the op kind
with debug annotations (op label, token, head, cycles, source); each dependency is a flow id set on the
producer's begin event (``flow_ids``) and terminated on the consumer's (``terminating_flow_ids``).
Timestamps are nanoseconds at the configured clock.
"""

from __future__ import annotations

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket, TrackDescriptor, TrackEvent
from perfetto.trace_builder.proto_builder import TraceProtoBuilder

from pyflow.schedule.view import ScheduleView, busy_steps

SEQ_ID = 1
PROCESS_UUID = 1
COUNTER_UUID = 2
ENGINE_UUID0 = 100
PID = 1


def _annotate(event: TrackEvent, args: dict[str, object]) -> None:
    for key, value in args.items():
        ann = event.debug_annotations.add()
        ann.name = key
        if isinstance(value, int) and not isinstance(value, bool):
            ann.int_value = value
        else:
            ann.string_value = str(value)


def perfetto_trace(view: ScheduleView) -> bytes:
    """Serialized trace bytes."""
    b = TraceProtoBuilder()
    pkt = b.add_packet()
    pkt.trusted_packet_sequence_id = SEQ_ID
    pkt.sequence_flags = TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
    pkt.track_descriptor.uuid = PROCESS_UUID
    pkt.track_descriptor.process.pid = PID
    pkt.track_descriptor.process.process_name = view.title
    pkt.track_descriptor.child_ordering = TrackDescriptor.EXPLICIT
    for e, name in enumerate(view.engine_names):
        pkt = b.add_packet()
        pkt.trusted_packet_sequence_id = SEQ_ID
        td = pkt.track_descriptor
        td.uuid, td.parent_uuid, td.name, td.sibling_order_rank = ENGINE_UUID0 + e, PROCESS_UUID, name, e
    pkt = b.add_packet()
    pkt.trusted_packet_sequence_id = SEQ_ID
    td = pkt.track_descriptor
    td.uuid, td.parent_uuid, td.name = COUNTER_UUID, PROCESS_UUID, "busy engines"
    td.sibling_order_rank = len(view.engine_names)
    td.counter.unit_name = "engines"

    outgoing: dict[int, list[int]] = {}
    incoming: dict[int, list[int]] = {}
    for k, (p, s) in enumerate(view.edges):
        outgoing.setdefault(p, []).append(k + 1)
        incoming.setdefault(s, []).append(k + 1)

    # (ns, order, kind, payload): ends before begins at equal times keep each engine's slices nested right.
    events: list[tuple[int, int, str, object]] = []
    for op in view.ops:
        if op.cycles > 0:
            events.append((view.ns(op.start), 1, "begin", op))
            events.append((view.ns(op.end), 0, "end", op))
        else:
            events.append((view.ns(op.start), 2, "instant", op))
    for t, busy in busy_steps(view):
        events.append((view.ns(t), 3, "counter", busy))
    events.sort(key=lambda x: (x[0], x[1]))
    for ts, _, kind, payload in events:
        pkt = b.add_packet()
        pkt.timestamp = ts
        pkt.trusted_packet_sequence_id = SEQ_ID
        te = pkt.track_event
        if kind == "counter":
            te.type = TrackEvent.TYPE_COUNTER
            te.track_uuid = COUNTER_UUID
            te.counter_value = int(payload)  # type: ignore[arg-type]
            continue
        op = payload
        te.track_uuid = ENGINE_UUID0 + op.engine  # type: ignore[attr-defined]
        if kind == "end":
            te.type = TrackEvent.TYPE_SLICE_END
            continue
        te.type = TrackEvent.TYPE_SLICE_BEGIN if kind == "begin" else TrackEvent.TYPE_INSTANT
        te.name = op.kind  # type: ignore[attr-defined]
        te.categories.append("op")
        _annotate(te, op.args())  # type: ignore[attr-defined]
        te.flow_ids.extend(outgoing.get(op.id, []))  # type: ignore[attr-defined]
        te.terminating_flow_ids.extend(incoming.get(op.id, []))  # type: ignore[attr-defined]
    return b.serialize()
