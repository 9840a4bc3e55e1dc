"""Reports under ``build/report/`` and the one atomic writer every stage uses.

Output integrity: :func:`atomic_write_bytes` writes one file whole or not at all and never replaces
something that is not a regular file (a device such as ``/dev/null``, a FIFO, a folder); :func:`write_all`
writes a command's several outputs together: all of them, or (on any error or Ctrl-C) none.

Report files (each stage writes one; schemas documented in docs/REPORTS.md):
``accuracy.json`` (golden accuracy), ``csim_report.json`` (C simulation), ``sim_report.json`` (RTL
simulation, read by the scheduler), ``softmax_accuracy.json`` (peer bench), ``synth_<board>.json``
(synthesis, read by DSE), ``flat_hw.json`` (FLAT hardware comparison).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError

REPORT_DIR = Path("build/report")


def check_target(path: Path | str) -> Path:
    """``path`` as an output file: FlowError when it exists and is not a regular file (a device node, a FIFO, a
    socket, a folder: never replaced by an output), or when its folder cannot be made."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise FlowError(f"output {path}: cannot check it ({exc.strerror or exc})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise FlowError(f"output {path} exists and is {kind}; give the path of a regular file to write")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise FlowError(f"output {path}: {parent} is not a folder")
    return path


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``:
    readers see the old file or the new one, never half of it.  Never replaces what is not a regular file
    (:func:`check_target`)."""
    path = check_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FlowError(f"output {path}: cannot make its folder ({exc.strerror or exc})") from None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; generated files are ordinary readable files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block is done, then raise KeyboardInterrupt (main thread only)."""
    pending: list[bool] = []
    try:
        old = signal.signal(signal.SIGINT, lambda *_: pending.append(True))
    except ValueError:  # not the main thread: nothing to defer
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if pending:
            raise KeyboardInterrupt


def write_all(files: Mapping[Path | str, bytes]) -> None:
    """Write several outputs together: every target is checked first (:func:`check_target`), every file is
    staged in a temporary folder beside its target, and only when all are staged are they moved into place
    (``os.replace``, with Ctrl-C held back for those few renames).  On an error or an interrupt nothing is
    left behind: neither a staged file nor some of the outputs."""
    targets = {check_target(p): data for p, data in files.items()}
    stages: dict[Path, Path] = {}
    moves: list[tuple[Path, Path]] = []
    try:
        for target, data in targets.items():
            folder = target.parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if folder not in stages:
                    stages[folder] = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
                staged = stages[folder] / target.name
                staged.write_bytes(data)
                os.chmod(staged, 0o644)
            except OSError as exc:
                raise FlowError(f"output {target}: cannot write ({exc.strerror or exc})") from None
            moves.append((staged, target))
        with deferred_interrupt():
            for staged, target in moves:
                os.replace(staged, target)
    finally:
        for stage in stages.values():
            shutil.rmtree(stage, ignore_errors=True)


def atomic_write_text(path: Path | str, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json_atomic(path: Path | str, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
