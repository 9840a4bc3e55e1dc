"""Per-point baseline/FLAT comparison and the target verdicts written into ``results.json``."""

from __future__ import annotations

from typing import Any

#: FLAT's measured peak must be at most 1/MEMORY_RATIO_TARGET of the baseline's (measured or predicted).
MEMORY_RATIO_TARGET = 50.0
#: FLAT's median runtime must be at most RUNTIME_RATIO_TARGET x the baseline's where both run.
RUNTIME_RATIO_TARGET = 1.2


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def compare_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per sweep point pairing the baseline and FLAT rows."""
    by_point: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_point.setdefault(row["point"], {})[row["variant"]] = row
    out = []
    for point in sorted(by_point):
        pair = by_point[point]
        base, flat = pair.get("baseline"), pair.get("flat")
        if base is None or flat is None:
            continue
        base_ok, flat_ok = base["status"] == "ok", flat["status"] == "ok"
        base_peak = base["peak_bytes"] if base_ok else base["predicted_working_bytes"]
        out.append({
            "value": flat["value"],
            "shape": [flat["B"], flat["L"], flat["H"], flat["d"]],
            "baseline_status": base["status"],
            "flat_status": flat["status"],
            "baseline_time_s": base["time_median_s"] if base_ok else None,
            "flat_time_s": flat["time_median_s"] if flat_ok else None,
            "time_ratio_flat_over_baseline": _ratio(flat["time_median_s"], base["time_median_s"])
            if base_ok and flat_ok else None,
            "min_time_ratio_flat_over_baseline": _ratio(flat["time_min_s"], base["time_min_s"])
            if base_ok and flat_ok else None,
            "baseline_peak_bytes": base_peak,
            "baseline_peak_is_prediction": not base_ok,
            "flat_peak_bytes": flat["peak_bytes"] if flat_ok else None,
            "memory_ratio_baseline_over_flat": _ratio(base_peak, flat["peak_bytes"]) if flat_ok else None,
        })
    return out


def summarize(rows: list[dict[str, Any]], mode: str, size: int) -> dict[str, Any]:
    """Comparison per point plus the memory verdict (largest measured FLAT point) and runtime verdict."""
    points = compare_points(rows)
    measured = [p for p in points if p["memory_ratio_baseline_over_flat"] is not None]
    both = [p for p in points if p["time_ratio_flat_over_baseline"] is not None]
    summary: dict[str, Any] = {"mode": mode, "size": size, "points": points}
    if measured:
        last = measured[-1]
        summary["memory_target"] = {
            "at_shape": last["shape"],
            "ratio_baseline_over_flat": last["memory_ratio_baseline_over_flat"],
            "baseline_is_prediction": last["baseline_peak_is_prediction"],
            "target_ratio": MEMORY_RATIO_TARGET,
            "met": last["memory_ratio_baseline_over_flat"] >= MEMORY_RATIO_TARGET,
        }
    if both:
        ratios = [p["time_ratio_flat_over_baseline"] for p in both]
        worst = max(both, key=lambda p: p["time_ratio_flat_over_baseline"])
        summary["runtime_target"] = {
            "points_compared": len(both),
            "max_ratio_flat_over_baseline": max(ratios),
            "max_ratio_at_shape": worst["shape"],
            "ratio_at_largest_common_point": both[-1]["time_ratio_flat_over_baseline"],
            "largest_common_shape": both[-1]["shape"],
            "points_over_target": sum(r > RUNTIME_RATIO_TARGET for r in ratios),
            "max_ratio_of_min_times": max(p["min_time_ratio_flat_over_baseline"] for p in both),
            "target_ratio": RUNTIME_RATIO_TARGET,
            "met": max(ratios) <= RUNTIME_RATIO_TARGET,
        }
    return summary
