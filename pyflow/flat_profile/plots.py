"""PNG figures of a sweep: runtime.png, memory.png, traffic.png (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from golden.flat import MODES  # noqa: E402
from pyflow.reports import atomic_write_bytes  # noqa: E402

_MIB = 2**20


def _save(fig: Any, path: Path) -> None:
    """Save atomically (temp file + replace)."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _series(rows: list[dict[str, Any]], variant: str, key: str, status: str = "ok") -> tuple[list, list]:
    pts = [(r["value"], r[key]) for r in rows
           if r["variant"] == variant and r["status"] == status and r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def _log_axes(ax: Any, xs: list[float]) -> None:
    if xs and max(xs) / max(min(xs), 1) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)


def plot_runtime(rows: list[dict[str, Any]], swept: str, label: str, path: Path) -> None:
    """Median wall time vs the swept dimension, baseline vs FLAT."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for variant, style in (("baseline", "o-"), ("flat", "s-")):
        xs, ys = _series(rows, variant, "time_median_s")
        ax.plot(xs, ys, style, label=f"{variant}" if variant == "baseline" else f"FLAT {label}")
    xs_all = [r["value"] for r in rows]
    _log_axes(ax, xs_all)
    ax.set_xlabel(swept)
    ax.set_ylabel("median wall time (s)")
    ax.set_title("Attention runtime: unfused baseline vs FLAT")
    ax.legend()
    _save(fig, path)


def plot_memory(rows: list[dict[str, Any]], swept: str, label: str, path: Path) -> None:
    """Measured peak memory (and predictions; skipped baseline points as predictions) vs the swept dim."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xs, ys = _series(rows, "baseline", "peak_bytes")
    ax.plot(xs, [y / _MIB for y in ys], "o-", color="C0", label="baseline measured")
    xs, ys = _series(rows, "baseline", "predicted_working_bytes", status="skipped")
    if xs:
        ax.plot(xs, [y / _MIB for y in ys], "o", mfc="none", color="C0", label="baseline predicted (skipped)")
    xs, ys = _series(rows, "flat", "peak_bytes")
    ax.plot(xs, [y / _MIB for y in ys], "s-", color="C1", label=f"FLAT {label} measured")
    xs, ys = _series(rows, "flat", "predicted_working_bytes")
    ax.plot(xs, [y / _MIB for y in ys], ":", color="C1", label=f"FLAT {label} predicted")
    _log_axes(ax, [r["value"] for r in rows])
    ax.set_xlabel(swept)
    ax.set_ylabel("peak memory of the call (MiB)")
    ax.set_title("Attention peak memory: unfused baseline vs FLAT")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_traffic(model: dict[str, Any], values: list[int], swept: str, path: Path) -> None:
    """Analytic off-chip traffic (left) and FLAT on-chip buffer per granularity (right)."""
    pts = model["points"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(values, [p["baseline_offchip_bytes"] / _MIB for p in pts], "o-", label="baseline (logits round trip)")
    ax1.plot(values, [p["baseline_unfused_softmax_bytes"] / _MIB for p in pts], "^--",
             label="baseline, softmax unfused")
    ax1.plot(values, [p["flat_offchip_bytes"] / _MIB for p in pts], "s-", label="FLAT (any granularity)")
    ax1.set_ylabel("off-chip traffic (MiB)")
    ax1.set_title("Off-chip traffic")
    for mode in MODES:
        ax2.plot(values, [p["flat_onchip_buffer_bytes"][mode] / _MIB for p in pts], "o-", label=f"FLAT {mode}")
    ax2.set_ylabel("on-chip buffer for one fused tile (MiB)")
    ax2.set_title(f"FLAT on-chip buffer, tile size {model['tile_size']}")
    for ax in (ax1, ax2):
        _log_axes(ax, values)
        ax.set_xlabel(swept)
        ax.legend(fontsize=8)
    _save(fig, path)
