"""Wall time and measured peak memory of one call: tracemalloc, CUDA allocator, process RSS."""

from __future__ import annotations

import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class Measurement:
    """Result of measuring one variant at one point; peaks are bytes above the level before the call."""

    times_s: list[float]
    traced_peak: int | None
    cuda_peak: int | None
    rss_increase: int
    output: Any

    @property
    def median_s(self) -> float:
        """Median wall time over the timed loops."""
        return statistics.median(self.times_s)


class RssPeak:
    """Peak resident set size over a region, as an increase over the RSS at its start.

    On Linux the kernel's high-water mark (``VmHWM``) is reset through ``/proc/self/clear_refs``;
    elsewhere a background thread samples RSS every few milliseconds.
    """

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self._start = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hwm = False

    def __enter__(self) -> RssPeak:
        self._start = self._proc.memory_info().rss
        self._peak = self._start
        try:
            _CLEAR_REFS.write_text("5")
            self._hwm = _read_hwm() is not None
        except OSError:
            self._hwm = False
        if not self._hwm:
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        hwm = _read_hwm() if self._hwm else None
        self._peak = max(self._peak, hwm or 0, self._proc.memory_info().rss)

    @property
    def increase(self) -> int:
        """Bytes by which the peak RSS exceeded the RSS at entry."""
        return max(self._peak - self._start, 0)


def _read_hwm() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def traced_peak(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Run ``fn`` under tracemalloc; return (peak bytes allocated above the start, result)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(peak - base, 0), result


def measure(calls: dict[str, Callable[[], Any]], loops: int, sync: Callable[[], None], use_tracemalloc: bool,
            cuda: bool) -> dict[str, Measurement]:
    """Measure several variants of one point.

    Each variant first gets one untimed warm-up run (under tracemalloc when ``use_tracemalloc``: it
    slows Python code, so it never overlaps a timed run).  Then ``loops`` rounds time every variant
    once per round, interleaved, so that load from other processes hits all variants alike.  RSS and
    the CUDA allocator peak are the maxima over a variant's timed runs, each above the level just
    before that run.  The result of each variant's last run is kept in ``output``.
    """
    traced: dict[str, int | None] = {}
    for name, fn in calls.items():
        if use_tracemalloc:
            traced[name], out = traced_peak(fn)
        else:
            traced[name], out = None, fn()
        sync()
        del out
    times: dict[str, list[float]] = {name: [] for name in calls}
    rss_inc = dict.fromkeys(calls, 0)
    cuda_peak: dict[str, int | None] = dict.fromkeys(calls)
    outputs: dict[str, Any] = dict.fromkeys(calls)
    for _ in range(loops):
        for name, fn in calls.items():
            outputs[name] = None
            if cuda:
                import torch

                sync()
                torch.cuda.reset_peak_memory_stats()
                cuda_base = torch.cuda.memory_allocated()
            sync()
            with RssPeak() as rss:
                t0 = time.perf_counter()
                outputs[name] = fn()
                sync()
                times[name].append(time.perf_counter() - t0)
            rss_inc[name] = max(rss_inc[name], rss.increase)
            if cuda:
                peak = int(torch.cuda.max_memory_allocated() - cuda_base)
                cuda_peak[name] = max(cuda_peak[name] or 0, peak)
    return {name: Measurement(times[name], traced[name], cuda_peak[name], rss_inc[name], outputs[name])
            for name in calls}
