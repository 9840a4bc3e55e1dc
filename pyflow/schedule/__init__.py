"""Scheduling the LLaMA decode chain of one transformer block on K engines.

Pipeline: :mod:`graph` builds the op DAG from ``golden.llama.CHAIN_OPS`` for T tokens (per head or
whole-layer), :mod:`durations` gives every op a cycle count (golden cycle model, measured RTL cycles or a
user profile), :mod:`algorithms` places the ops on engines (list scheduling, HLFET, CP-SAT),
:mod:`bounds` gives the lower bounds, and :mod:`trace_json` / :mod:`trace_perfetto` / :mod:`gantt` write
the Chrome trace-event JSON, the native Perfetto trace and the Gantt chart.
"""
