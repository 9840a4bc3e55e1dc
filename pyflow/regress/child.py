"""``python -m pyflow.regress.child``: one config's ``run_sim`` in its own process (started by
:mod:`pyflow.regress.task` with ``FLATFLOW_BUILD`` naming the config's build root).

It dies with the worker that started it: ``PR_SET_PDEATHSIG`` delivers SIGTERM when the parent goes (a worker
killed mid-run), and SIGTERM kills the child's whole process group (the XLS compiles, make and the simulator
it started), so a config re-run elsewhere never races an orphan in the same build folder.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

#: Environment variable carrying the parent's pid (checked after PR_SET_PDEATHSIG is armed).
PARENT_ENV = "FLATFLOW_REGRESS_PARENT"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Kill this process group when the parent exits (Linux; elsewhere nothing)."""
    def stop(*_: object) -> None:
        if os.getpgid(0) == os.getpid():  # leader of its own group (the task starts it in a new session)
            os.killpg(os.getpid(), signal.SIGKILL)
        os._exit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):  # the parent died before the signal was armed
        stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pyflow.regress.child")
    p.add_argument("--config", required=True, help="project config TOML (absolute path)")
    p.add_argument("--report", required=True, help="where run_sim writes its report")
    p.add_argument("--options", required=True, help="run_sim options as JSON (see pyflow.regress.matrix.SimOptions)")
    args = p.parse_args(argv)
    die_with_parent()
    from pyflow.errors import FlowError

    try:
        from pyflow.project.config import load_project_config
        from pyflow.sim.flow import run_sim

        o = json.loads(args.options)
        pc = load_project_config(args.config)
        run_sim(pc, simulator=o["simulator"], kernels=o["kernels"], chain=o["chain"], csim=o["csim"],
                stalls=o["stalls"], flat=o["flat"], positions=o["positions"], report_path=Path(args.report))
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
