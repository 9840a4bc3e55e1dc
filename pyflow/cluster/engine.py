"""Run a list of tasks on a Dask client: one result per task, in task order, never an exception per task.

Each :class:`Task` is submitted with ``Client.submit(run_task, fn, args, key=..., retries=...)``.  On the worker,
:func:`run_task` calls ``fn(*args)`` and returns an :class:`Outcome` naming the worker (``get_worker().address``)
and the seconds the call took; a :class:`~pyflow.errors.FlowError` (a bad input, a tool that failed) becomes the
outcome's one-line ``error`` at once, while any other exception propagates so that Dask retries the task
(``retries``) and, when it still fails, the client turns it into a one-line error too.  A worker that dies while
running a task needs no retry: the scheduler re-runs the task on another worker (Dask's ``allowed-failures``,
3 by default, bounds how many workers a task may kill; past that it is a ``KilledWorker`` error).

The client waits with ``as_completed`` behind a rich progress bar and hands every outcome to ``on_result`` as
it arrives (the callers persist complete rows there, so an interrupted run leaves only complete rows).
Ctrl-C cancels the outstanding futures and re-raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyflow.errors import FlowError
from pyflow.sources import flow_fingerprint

#: Times Dask re-runs a task whose function raised something other than FlowError (a crash, a lost file).
RETRIES = 2
#: Longest error text kept in a row.
MAX_ERROR = 400


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args)`` (both picklable; module-level functions), a unique Dask ``key`` and a
    short ``label`` for progress lines."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    label: str = ""


@dataclass(frozen=True)
class Outcome:
    """What a task produced: ``value`` or a one-line ``error``, the ``worker`` address that ran it (None when
    unknown) and the ``seconds`` its call took there."""

    value: Any = None
    error: str | None = None
    worker: str | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: its message with whitespace collapsed (the class name when that says more)."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, FlowError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 3] + "..."


def worker_address() -> str:
    """The address of the Dask worker running the caller (``local`` outside a worker)."""
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:
        return "local"


def run_task(fn: Callable[..., Any], args: tuple[Any, ...], sources: str | None = None) -> Outcome:
    """The worker side of a :class:`Task` (see the module doc); ``sources``: the client's
    :func:`~pyflow.sources.flow_fingerprint`, which this worker's must equal (a worker that joined later than
    the client's check)."""
    where = worker_address()
    t0 = time.perf_counter()
    try:
        if sources is not None and flow_fingerprint() != sources:
            raise FlowError(f"worker {where} runs other flow sources (fingerprint {flow_fingerprint()}, the client "
                            f"has {sources}); give every node the same checkout (docs/CLUSTER.md)")
        value, error = fn(*args), None
    except FlowError as exc:
        value, error = None, one_line(exc)
    return Outcome(value, error, where, round(time.perf_counter() - t0, 2))


def run_tasks(client: Any, tasks: Sequence[Task], title: str,  # noqa: ANN401
              on_result: Callable[[int, Outcome], str | None] | None = None, retries: int = RETRIES,
              console: Any = None) -> list[Outcome]:  # noqa: ANN401
    """Run ``tasks`` on ``client``; return their outcomes in task order.  ``on_result(index, outcome)`` is
    called on the client as each task completes (in completion order) and may return a line to print above
    the progress bar."""
    from distributed import as_completed
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    outcomes: dict[int, Outcome] = {}
    if not tasks:
        return []
    if len({t.key for t in tasks}) != len(tasks):
        raise FlowError(f"{title}: two tasks share a key; every task needs its own")
    console = console or Console()
    sources = flow_fingerprint()
    futures = [client.submit(run_task, t.fn, t.args, sources, key=t.key, retries=retries) for t in tasks]
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        with Progress(TextColumn(f"{title} {{task.description}}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as prog:
            bar = prog.add_task("", total=len(tasks))
            for fut in as_completed(futures, loop=client.loop):
                i = index[fut.key]
                outcomes[i] = _outcome(fut)
                line = on_result(i, outcomes[i]) if on_result else None
                if line:
                    prog.console.print(line, highlight=False, soft_wrap=True)
                prog.advance(bar)
                fut.release()
    except BaseException:
        client.cancel([f for f in futures if not f.done()])
        raise
    return [outcomes[i] for i in range(len(tasks))]


def _outcome(fut: Any) -> Outcome:  # noqa: ANN401
    """The outcome of a finished future; a task that raised (after its retries) or whose workers kept dying
    becomes a one-line error."""
    if fut.status == "finished":
        try:  # the result lives on a worker until fetched; Dask recomputes it if that worker died meanwhile
            res = fut.result()
        except Exception as exc:  # could not be fetched or recomputed: an error row, the next run retries it
            return Outcome(error=f"result lost: {one_line(exc)}")
        if isinstance(res, Outcome):
            return res
        return Outcome(error=f"task returned {type(res).__name__}, not an Outcome")
    if fut.status == "cancelled":
        return Outcome(error="cancelled (the scheduler or a worker went away)")
    exc = fut.exception()
    return Outcome(error=one_line(exc) if exc is not None else f"task {fut.status}")
