"""The sweep runner: for each point predict, check the fit, measure baseline and FLAT, write results."""

from __future__ import annotations

import gc
import os
import platform as py_platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from pyflow.errors import FlowError
from pyflow.flat_profile.config import SweepConfig
from pyflow.flat_profile.inputs import QkvFiles, random_bias, random_qkv
from pyflow.flat_profile.kernels import Backend, get_backend
from pyflow.flat_profile.measure import measure
from pyflow.flat_profile.memory import available_bytes, check_fit, predict
from pyflow.flat_profile.plots import plot_memory, plot_runtime, plot_traffic
from pyflow.flat_profile.summary import summarize
from pyflow.flat_profile.threads import blas_threads
from pyflow.flat_profile.traffic import traffic_model
from pyflow.flat_profile.writer import write_csv, write_json

VARIANTS: tuple[str, ...] = ("baseline", "flat")
#: Columns of results.csv (one row per point and variant); results.json holds the same rows.
COLUMNS: tuple[str, ...] = (
    "point", "swept", "value", "B", "L", "H", "d", "variant", "mode", "size", "backend", "platform",
    "dtype", "bias", "causal", "status", "loops", "time_median_s", "time_min_s", "peak_bytes",
    "peak_traced_bytes", "peak_cuda_bytes", "rss_increase_bytes", "predicted_working_bytes",
    "predicted_total_bytes", "available_bytes", "max_abs_diff_vs_baseline", "reason",
)
#: Which measured peak is the headline ``peak_bytes`` of a backend/platform.
PEAK_SOURCE = {("numpy", "cpu"): "tracemalloc", ("torch", "cpu"): "rss", ("torch", "gpu"): "cuda"}


def _environment() -> dict[str, Any]:
    import psutil

    return {
        "python": py_platform.python_version(),
        "numpy": np.__version__,
        "machine": py_platform.machine(),
        "cpu_count": os.cpu_count(),
        "total_memory_bytes": int(psutil.virtual_memory().total),
    }


def _run_point(cfg: SweepConfig, backend: Backend, files: QkvFiles | None, index: int,
               value: int) -> list[dict[str, Any]]:
    shape = cfg.shape_at(value)
    b, seq, h, d = shape
    itemsize = np.dtype(cfg.dtype).itemsize
    common = {"point": index, "swept": cfg.test, "value": value, "B": b, "L": seq, "H": h, "d": d,
              "mode": cfg.mode, "size": cfg.size, "backend": backend.name, "platform": cfg.platform,
              "dtype": cfg.dtype, "bias": cfg.bias, "causal": cfg.causal, "loops": cfg.loops}
    preds = {v: predict(v, shape, itemsize, cfg.mode, cfg.size, cfg.bias) for v in VARIANTS}
    avail = available_bytes(cfg.platform)
    out_bytes = b * seq * h * d * itemsize  # the other variant's output is held during each run
    fit_base = check_fit(preds["baseline"], avail, extra=out_bytes)
    fit_flat = check_fit(preds["flat"], avail, extra=out_bytes)
    rows = {v: {**common, "variant": v, "predicted_working_bytes": preds[v].working,
                "predicted_total_bytes": preds[v].total, "available_bytes": avail} for v in VARIANTS}
    if not fit_flat.fits:
        rows["flat"].update(status="skipped", reason=fit_flat.reason)
        rows["baseline"].update(status="skipped", reason=fit_base.reason or "FLAT does not fit")
        return [rows[v] for v in VARIANTS]
    if not fit_base.fits:
        rows["baseline"].update(status="skipped", reason=fit_base.reason)

    q, k, v_ = files.take(shape, cfg.dtype) if files else random_qkv(shape, cfg.dtype, cfg.seed)
    bias_np = random_bias(shape, cfg.dtype, cfg.seed) if cfg.bias else None
    qd, kd, vd = (backend.to_device(x) for x in (q, k, v_))
    bias = None if bias_np is None else backend.to_device(bias_np)
    del q, k, v_
    calls = {
        "baseline": lambda: backend.baseline(qd, kd, vd, bias=bias, causal=cfg.causal),
        "flat": lambda: backend.flat(qd, kd, vd, mode=cfg.mode, size=cfg.size, bias=bias, causal=cfg.causal),
    }
    if not fit_base.fits:
        del calls["baseline"]
    peak_key = {"tracemalloc": "peak_traced_bytes", "rss": "rss_increase_bytes",
                "cuda": "peak_cuda_bytes"}[PEAK_SOURCE[(backend.name, cfg.platform)]]
    results = measure(calls, cfg.loops, backend.sync, backend.name == "numpy", cfg.platform == "gpu")
    outs = {name: backend.to_numpy(m.output) for name, m in results.items()}
    for name, out in outs.items():
        if not np.all(np.isfinite(out)):
            raise FlowError(f"flat-profile: the {name} attention output at {shape} holds NaN or Inf in {cfg.dtype} "
                            "(inputs too large for the element type); scale the inputs or use --dtype float64")
    for name, m in results.items():
        row = rows[name]
        row.update(status="ok", reason="", time_median_s=m.median_s, time_min_s=min(m.times_s),
                   peak_traced_bytes=m.traced_peak, peak_cuda_bytes=m.cuda_peak, rss_increase_bytes=m.rss_increase)
        row["peak_bytes"] = row[peak_key]
    if "baseline" in outs:
        rows["flat"]["max_abs_diff_vs_baseline"] = float(np.max(np.abs(outs["flat"] - outs["baseline"])))
    return [rows[v] for v in VARIANTS]


def _release(platform: str) -> None:
    """Free the finished point's arrays before the next point measures available memory."""
    gc.collect()
    if platform == "gpu":
        import torch

        torch.cuda.empty_cache()  # cached blocks would otherwise not count as free in mem_get_info


def _write(cfg: SweepConfig, rows: list[dict[str, Any]], model: dict[str, Any], complete: bool,
           wall_s: float, env: dict[str, Any]) -> None:
    store = Path(cfg.store_path)
    write_csv(store / "results.csv", rows, COLUMNS)
    write_json(store / "results.json", {
        "config": cfg.to_dict(),
        "environment": env,
        "peak_source": PEAK_SOURCE[(cfg.backend or "numpy", cfg.platform)],
        "complete": complete,
        "sweep_wall_s": wall_s,
        "columns": list(COLUMNS),
        "rows": rows,
        "summary": summarize(rows, cfg.mode, cfg.size),
        "traffic_model": model,
    })


def _plot(cfg: SweepConfig, rows: list[dict[str, Any]], model: dict[str, Any]) -> None:
    store = Path(cfg.store_path)
    label = f"{cfg.mode} x{cfg.size}"
    plot_runtime(rows, cfg.test, label, store / "runtime.png")
    plot_memory(rows, cfg.test, label, store / "memory.png")
    plot_traffic(model, cfg.points(), cfg.test, store / "traffic.png")


def run_sweep(cfg: SweepConfig, progress: bool = True, plots: bool = True) -> dict[str, Any]:
    """Run the whole sweep; results.csv / results.json are rewritten after every point, plots at the end."""
    cfg = cfg.validated()
    backend = get_backend(cfg.backend or "numpy", cfg.platform)
    files = QkvFiles(cfg.qkv_dir, cfg.max_shape()) if cfg.qkv_dir is not None else None
    values = cfg.points()
    model = traffic_model([cfg.shape_at(v) for v in values], np.dtype(cfg.dtype).itemsize, cfg.size)
    env = _environment()
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(values), desc=f"flat-profile {cfg.test}", unit="pt")
    threads = cfg.threads if cfg.platform == "cpu" else 0
    try:
        with blas_threads(threads, backend.name):
            for i, value in enumerate(values):
                if bar is not None:
                    bar.set_postfix_str(f"{cfg.test}={value}")
                rows.extend(_run_point(cfg, backend, files, i, value))
                _release(cfg.platform)
                _write(cfg, rows, model, i == len(values) - 1, time.perf_counter() - t0, env)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if rows and plots:
            _plot(cfg, rows, model)
    return {"config": cfg, "rows": rows, "summary": summarize(rows, cfg.mode, cfg.size),
            "sweep_wall_s": time.perf_counter() - t0}
