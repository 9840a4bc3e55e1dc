"""Timelines in cycles written as a Chrome trace-event JSON and as a native Perfetto trace (``.pftrace``): the
one writer behind the scheduler's traces (pyflow/schedule/trace_json.py, trace_perfetto.py) and the
accelerator's RTL trace (pyflow/accel/trace.py), so both open alike in ui.perfetto.dev.

A :class:`Timeline` is one process (named by its title) with named tracks in order, slices on them (start and
length in cycles, a name, a category, args), flows between slices and counter tracks (a value from each point
on).  Times become microseconds (JSON ``ts``/``dur``) or integer nanoseconds (``.pftrace``) at the clock.

* JSON: ``M`` metadata events name the process and the threads (tid = track + 1, ``thread_sort_index`` =
  track), one complete ``X`` event per slice, a flow as ``s`` at the producer and ``f`` with ``bp: "e"`` at the
  consumer (both at the slice's midpoint, so each binds to its enclosing slice), a ``C`` event per counter
  point (``args: {key: value}``).
* ``.pftrace``: built with ``perfetto.trace_builder.proto_builder.TraceProtoBuilder``: a process track with
  one child track per track (explicit order) and one counter track per counter after them; a slice is a
  ``TYPE_SLICE_BEGIN`` / ``TYPE_SLICE_END`` pair (``TYPE_INSTANT`` when it lasts 0 cycles) with its args as
  debug annotations; flows are ``flow_ids`` on the producer's begin and ``terminating_flow_ids`` on the
  consumer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PID = 1
SEQ_ID = 1
PROCESS_UUID = 1
COUNTER_UUID0 = 2
TRACK_UUID0 = 100


@dataclass(frozen=True)
class Slice:
    """``cycles`` cycles from cycle ``start`` on track ``track``."""

    track: int
    name: str
    start: int
    cycles: int
    args: dict[str, Any] = field(default_factory=dict)
    cat: str = "op"

    @property
    def end(self) -> int:
        """One past the last cycle."""
        return self.start + self.cycles


@dataclass(frozen=True)
class Counter:
    """A counter track: ``points`` are (cycle, value from then on); ``key`` names the JSON series."""

    name: str
    key: str
    unit: str
    points: list[tuple[int, float]]


@dataclass(frozen=True)
class Timeline:
    """Everything one trace shows."""

    title: str
    clock_mhz: float
    tracks: list[str]
    slices: list[Slice]
    counters: list[Counter] = field(default_factory=list)
    flows: list[tuple[int, int]] = field(default_factory=list)   # (producer slice, consumer slice) indices
    other: dict[str, Any] = field(default_factory=dict)          # JSON ``otherData``

    def us(self, cycles: float) -> float:
        """Cycles -> microseconds at the clock."""
        return cycles / self.clock_mhz

    def ns(self, cycles: float) -> int:
        """Cycles -> integer nanoseconds at the clock."""
        return round(cycles * 1000.0 / self.clock_mhz)


def chrome_trace(t: Timeline) -> dict[str, Any]:
    """The trace as a JSON-able dict (``{"traceEvents": [...], ...}``)."""
    ev: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": PID, "tid": 0, "args": {"name": t.title}},
    ]
    for i, name in enumerate(t.tracks):
        ev.append({"ph": "M", "name": "thread_name", "pid": PID, "tid": i + 1, "args": {"name": name}})
        ev.append({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": i + 1, "args": {"sort_index": i}})
    for s in t.slices:
        ev.append({"name": s.name, "cat": s.cat, "ph": "X", "ts": t.us(s.start), "dur": t.us(s.cycles),
                   "pid": PID, "tid": s.track + 1, "args": s.args})
    for k, (p, c) in enumerate(t.flows):
        a, b = t.slices[p], t.slices[c]
        common = {"name": "dep", "cat": "dep", "id": k, "pid": PID}
        ev.append({**common, "ph": "s", "tid": a.track + 1, "ts": t.us(a.start + a.cycles / 2)})
        ev.append({**common, "ph": "f", "bp": "e", "tid": b.track + 1, "ts": t.us(b.start + b.cycles / 2)})
    for c in t.counters:
        for cyc, value in c.points:
            ev.append({"name": c.name, "ph": "C", "pid": PID, "tid": 0, "ts": t.us(cyc), "args": {c.key: value}})
    return {"traceEvents": ev, "displayTimeUnit": "ns", "otherData": t.other}


def _annotate(event: Any, args: dict[str, Any]) -> None:  # noqa: ANN401 (TrackEvent)
    for key, value in args.items():
        ann = event.debug_annotations.add()
        ann.name = key
        if isinstance(value, int) and not isinstance(value, bool):
            ann.int_value = value
        elif isinstance(value, float):
            ann.double_value = value
        else:
            ann.string_value = str(value)


def perfetto_trace(t: Timeline) -> bytes:
    """Serialized ``perfetto.protos.Trace`` bytes."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket, TrackDescriptor, TrackEvent
    from perfetto.trace_builder.proto_builder import TraceProtoBuilder

    b = TraceProtoBuilder()
    pkt = b.add_packet()
    pkt.trusted_packet_sequence_id = SEQ_ID
    pkt.sequence_flags = TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
    pkt.track_descriptor.uuid = PROCESS_UUID
    pkt.track_descriptor.process.pid = PID
    pkt.track_descriptor.process.process_name = t.title
    pkt.track_descriptor.child_ordering = TrackDescriptor.EXPLICIT
    for i, name in enumerate(t.tracks):
        pkt = b.add_packet()
        pkt.trusted_packet_sequence_id = SEQ_ID
        td = pkt.track_descriptor
        td.uuid, td.parent_uuid, td.name, td.sibling_order_rank = TRACK_UUID0 + i, PROCESS_UUID, name, i
    for i, c in enumerate(t.counters):
        pkt = b.add_packet()
        pkt.trusted_packet_sequence_id = SEQ_ID
        td = pkt.track_descriptor
        td.uuid, td.parent_uuid, td.name = COUNTER_UUID0 + i, PROCESS_UUID, c.name
        td.sibling_order_rank = len(t.tracks) + i
        td.counter.unit_name = c.unit

    outgoing: dict[int, list[int]] = {}
    incoming: dict[int, list[int]] = {}
    for k, (p, c) in enumerate(t.flows):
        outgoing.setdefault(p, []).append(k + 1)
        incoming.setdefault(c, []).append(k + 1)

    # (ns, order, kind, index): ends before begins at equal times keep each track's slices nested right.
    events: list[tuple[int, int, str, int, float]] = []
    for i, s in enumerate(t.slices):
        if s.cycles > 0:
            events.append((t.ns(s.start), 1, "begin", i, 0.0))
            events.append((t.ns(s.end), 0, "end", i, 0.0))
        else:
            events.append((t.ns(s.start), 2, "instant", i, 0.0))
    for ci, c in enumerate(t.counters):
        for cyc, value in c.points:
            events.append((t.ns(cyc), 3, "counter", ci, value))
    events.sort(key=lambda x: (x[0], x[1]))
    for ts, _, kind, i, value in events:
        pkt = b.add_packet()
        pkt.timestamp = ts
        pkt.trusted_packet_sequence_id = SEQ_ID
        te = pkt.track_event
        if kind == "counter":
            te.type = TrackEvent.TYPE_COUNTER
            te.track_uuid = COUNTER_UUID0 + i
            if isinstance(value, int) and not isinstance(value, bool):
                te.counter_value = value
            else:
                te.double_counter_value = float(value)
            continue
        s = t.slices[i]
        te.track_uuid = TRACK_UUID0 + s.track
        if kind == "end":
            te.type = TrackEvent.TYPE_SLICE_END
            continue
        te.type = TrackEvent.TYPE_SLICE_BEGIN if kind == "begin" else TrackEvent.TYPE_INSTANT
        te.name = s.name
        te.categories.append(s.cat)
        _annotate(te, s.args)
        te.flow_ids.extend(outgoing.get(i, []))
        te.terminating_flow_ids.extend(incoming.get(i, []))
    return b.serialize()
