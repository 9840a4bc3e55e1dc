"""Shared runner for the YoWASP (WebAssembly) builds of Yosys and nextpnr.

YoWASP tools are PyPI packages whose console scripts run a WebAssembly binary under wasmtime.  The first
call of each tool compiles the WebAssembly to machine code (about 30 s for Yosys, a few seconds for
nextpnr) and caches it under ``$YOWASP_CACHE_DIR`` (default: the user cache, ``~/.cache/YoWASP`` on
Linux).  The runtime writes that cache non-atomically, so two first calls racing (parallel kernels) could
read a half-written file; :func:`run` therefore warms each tool once under a file lock before use.  When
the home cache is not writable (read-only CI home), the cache moves to ``build/yowasp-cache``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pyflow.errors import FlowError

#: Where the cache goes when neither YOWASP_CACHE_DIR is set nor the home cache is writable.
FALLBACK_CACHE = Path("build") / "yowasp-cache"


@dataclass(frozen=True)
class ToolRun:
    """Result of one tool invocation (output is the combined stdout + stderr)."""

    returncode: int
    output: str


def find_tool(script: str, pip_name: str, native: str | None = None) -> list[str]:
    """Command prefix for ``script`` (next to the running Python first, then PATH, then ``native``).

    Raises FlowError naming the fix when none is found.
    """
    here = Path(sys.executable).parent / script
    if here.is_file() and os.access(here, os.X_OK):
        return [str(here)]
    found = shutil.which(script)
    if found:
        return [found]
    if native and shutil.which(native):
        return [shutil.which(native) or native]
    raise FlowError(f"{script} is not installed (run `make setup`, or `pip install {pip_name}`)")


def cache_dir() -> Path:
    """The YoWASP compile cache in use (and export YOWASP_CACHE_DIR when falling back under build/)."""
    env = os.environ.get("YOWASP_CACHE_DIR")
    if env:
        return Path(env)
    try:
        import platformdirs

        home = Path(platformdirs.user_cache_dir("YoWASP", appauthor=False))
    except ImportError:  # pragma: no cover - platformdirs ships with yowasp-runtime
        home = Path.home() / ".cache" / "YoWASP"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return home
    except OSError:
        fallback = FALLBACK_CACHE.resolve()
        fallback.mkdir(parents=True, exist_ok=True)
        os.environ["YOWASP_CACHE_DIR"] = str(fallback)
        return fallback


def _is_yowasp(cmd: list[str]) -> bool:
    return Path(cmd[0]).name.startswith("yowasp-")


def warm(cmd: list[str], version_arg: str, timeout: float = 600.0) -> str:
    """Run ``cmd version_arg`` once per cache under a file lock (compiles the WASM); return its output."""
    cache = cache_dir()
    marker = cache / f".flatflow-warm-{Path(cmd[0]).name}-{_stamp(cmd)}"
    if not _is_yowasp(cmd) or marker.exists():
        return _version(cmd, version_arg, timeout)
    with open(cache / ".flatflow-warm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            text = _version(cmd, version_arg, timeout)
            marker.write_text(text)
            return text
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stamp(cmd: list[str]) -> str:
    """A string that changes when the tool's package is reinstalled (script mtime + size)."""
    st = Path(cmd[0]).stat()
    return f"{int(st.st_mtime)}-{st.st_size}"


def _version(cmd: list[str], version_arg: str, timeout: float) -> str:
    res = run(cmd + [version_arg], timeout=timeout, cwd=None)
    if res.returncode != 0:
        raise FlowError(f"{Path(cmd[0]).name} {version_arg} failed (exit {res.returncode}); "
                        f"reinstall it with `make setup`")
    lines = [ln for ln in res.output.splitlines() if ln.strip() and "Preparing to run" not in ln]
    return lines[-1].strip() if lines else ""


def run(cmd: list[str], *, cwd: Path | None, timeout: float, log: Path | None = None) -> ToolRun:
    """Run ``cmd``; return its exit code and output (also written to ``log``). FlowError on timeout."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, env=os.environ.copy())
        out = proc.stdout or ""
        code = proc.returncode
    except subprocess.TimeoutExpired as exc:
        text = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        if log is not None:
            log.write_text(text)
        raise FlowError(f"{Path(cmd[0]).name} took more than {timeout:.0f} s (log: {log}); "
                        f"raise the timeout or shrink the design") from None
    except FileNotFoundError:
        raise FlowError(f"{cmd[0]} is not installed (run `make setup`)") from None
    if log is not None:
        log.write_text(out)
    return ToolRun(code, out)


def first_error(output: str) -> str:
    """The first ``ERROR`` line of a Yosys / nextpnr log, else a WebAssembly trap (e.g. "wasm trap: call stack
    exhausted"), else the last non-empty line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for line in lines:
        if "ERROR" in line:
            return line
    for line in lines:
        if "wasm trap" in line:
            return f"{line} (YoWASP: the design is too deep for the WebAssembly stack)"
    return lines[-1] if lines else "(no output)"


def rel_path(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` when inside it, else absolute.

    YoWASP maps the host's /tmp to a private directory of its own, so absolute paths under /tmp never reach
    the tool; paths relative to the working directory always do.  Callers keep every file under ``cwd``.
    """
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path.resolve())
