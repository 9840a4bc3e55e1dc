"""The decode accelerator's whole-step cycle model (docs/ACCEL.md, "Cycle model")."""

from __future__ import annotations

from hls.accel.spec import AccelSpec


def token_cycles(a: AccelSpec, latencies: dict[str, int], pos: int, memory: str = "axiram") -> int | None:
    """Cycles of one token at ``pos`` (the cycles register: ap_start accepted to done)."""
    return None
