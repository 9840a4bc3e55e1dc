"""The Dask client of a run: an embedded ``LocalCluster`` or an existing scheduler.

``open_client(scheduler, workers)`` is a context manager.  With no address (neither ``--scheduler`` nor
``DASK_SCHEDULER_ADDRESS`` / Dask's ``scheduler-address`` setting) it starts a ``LocalCluster`` on 127.0.0.1
with ``workers`` single-threaded worker processes (default: one per CPU core this process may use), no memory
limit (a synthesis may take what it needs, as before), no dashboard and no fixed HTTP port; otherwise it
connects to the scheduler with a short timeout and fails with one line when nobody answers.  Either way it
checks that every connected worker imports the same flow sources as the client (a worker running another
checkout would compute other results under the same cache keys).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from typing import Any

from pyflow.errors import FlowError

#: Dask's environment variable for the scheduler's address (its ``scheduler-address`` setting).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT_S = 5.0


def machine_workers() -> int:
    """Worker processes of the embedded cluster: the CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def scheduler_address(cli: str | None) -> str | None:
    """The scheduler to use: ``--scheduler``, else ``DASK_SCHEDULER_ADDRESS`` (Dask's ``scheduler-address``
    setting), else None (embedded cluster)."""
    if cli is not None:
        if not cli.strip():
            raise FlowError("cluster: --scheduler is empty; give tcp://HOST:PORT or leave it out for the "
                            "embedded cluster")
        return cli.strip()
    import dask

    addr = dask.config.get("scheduler-address", None) or os.environ.get(SCHEDULER_ENV)
    addr = str(addr).strip() if addr else ""
    return addr or None


@contextlib.contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None,
                timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A connected ``distributed.Client`` (see the module doc); closes it (and the embedded cluster) on exit,
    Ctrl-C included."""
    from distributed import Client, LocalCluster

    address = scheduler_address(scheduler)
    if address and workers is not None:
        raise FlowError(f"cluster: --jobs sizes the embedded cluster; the workers of {address} run the tasks "
                        "(drop --jobs, or drop --scheduler / DASK_SCHEDULER_ADDRESS)")
    if workers is not None and workers < 1:
        raise FlowError(f"cluster: --jobs must be >= 1, got {workers}")
    with contextlib.ExitStack() as stack:
        if address:
            client = stack.enter_context(_connect(Client, address, timeout_s))
        else:
            with _sigint_ignored():  # the worker processes inherit it: Ctrl-C is the client's to handle
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers or machine_workers(), threads_per_worker=1, processes=True,
                    host="127.0.0.1", memory_limit=0, dashboard_address=None, silence_logs=logging.CRITICAL,
                    # the scheduler's HTTP routes (health, metrics) on a free port, not 8787 (maybe taken)
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}))
            client = stack.enter_context(Client(cluster, set_as_default=False))
            stack.callback(_stop_tools, set(client.run(os.getpid).values()))
        check_workers(client)
        yield client


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    try:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _stop_tools(worker_pids: set[int]) -> None:
    """Kill what the embedded workers started and is still running (synthesis, simulators, compiles) before
    the cluster stops them: after an interrupt nothing the run started outlives it."""
    import psutil

    procs = []
    for pid in worker_pids:
        with contextlib.suppress(psutil.Error):
            procs += psutil.Process(pid).children(recursive=True)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)


@contextlib.contextmanager
def _connect(client_cls: Any, address: str, timeout_s: float) -> Iterator[Any]:
    if "://" not in address:
        raise FlowError(f"cluster: scheduler address {address!r} must look like tcp://HOST:PORT")
    try:
        client = client_cls(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise FlowError(f"cluster: cannot reach the Dask scheduler at {address} within {timeout_s:g} s ({reason}); "
                        "start it with `dask scheduler` (docs/CLUSTER.md) or drop --scheduler / "
                        f"{SCHEDULER_ENV} to use the embedded cluster") from None
    try:
        yield client
    finally:
        client.close()


def _worker_sources() -> tuple[str, str]:
    from pyflow.paths import REPO
    from pyflow.sources import flow_fingerprint

    return str(REPO), flow_fingerprint()


def check_workers(client: Any) -> None:  # noqa: ANN401
    """FlowError when a connected worker imports flow sources other than the client's (another checkout or
    version); a note when no worker is connected yet (tasks wait for one)."""
    from pyflow.sources import flow_fingerprint

    mine = flow_fingerprint()
    try:
        seen = client.run(_worker_sources)
    except Exception as exc:  # whatever a worker raised, as one line
        from pyflow.cluster.engine import one_line

        raise FlowError(f"cluster: a worker cannot import the flow ({one_line(exc)}); start the workers from the "
                        "checkout with its .venv and PYTHONPATH=<checkout> (docs/CLUSTER.md)") from None
    if not seen:
        print(f"note: cluster: no worker is connected to {client.scheduler.address} yet; the tasks wait for one "
              "(start one with `dask worker ADDRESS`)", flush=True)
    for addr, (repo, fp) in sorted(seen.items()):
        if fp != mine:
            raise FlowError(f"cluster: worker {addr} runs other flow sources ({repo}, fingerprint {fp}; this "
                            f"checkout has {mine}); give every node the same checkout and .venv (docs/CLUSTER.md)")


def describe(client: Any) -> str:  # noqa: ANN401
    """``the embedded cluster (2 workers)`` or ``tcp://head:8786 (32 workers)``."""
    n = len(client.scheduler_info().get("workers", {}))
    kind = "the embedded cluster" if getattr(client, "cluster", None) is not None else client.scheduler.address
    return f"{kind} ({n} worker{'s' if n != 1 else ''})"
