"""g++ wrapper for C simulation: locate the compiler and hls4ml's ap_types headers, compile with a cache.

The ap_types headers (``ap_fixed.h``, ``ap_int.h``, ``hls_stream.h``) come from the hls4ml wheel
(``hls4ml/templates/vivado/ap_types``); they are used in place and never copied into the repository.
Executables are cached under ``build/csim/cache/<hash>/`` where the hash covers the compiler version,
the flags, the hls4ml version and the bytes of every source and header in the include folders, so an
unchanged kernel is never recompiled.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pyflow.errors import FlowError

CXXFLAGS: tuple[str, ...] = ("-O2", "-std=c++14", "-w")
CACHE_DIR = Path(__file__).resolve().parents[2] / "build" / "csim" / "cache"


@cache
def gxx_path() -> str:
    """Path of g++ (``$CXX`` when set); FlowError naming the fix when absent."""
    exe = shutil.which(os.environ.get("CXX", "g++"))
    if not exe:
        raise FlowError("g++ not found on PATH: install it (Debian/Ubuntu: sudo apt-get install g++) or set CXX")
    return exe


@cache
def gxx_version() -> str:
    """First line of ``g++ --version``."""
    out = subprocess.run([gxx_path(), "--version"], capture_output=True, text=True, check=False)
    return (out.stdout.splitlines() or ["unknown"])[0].strip()


@cache
def ap_types_dir() -> Path:
    """hls4ml's ap_types folder; FlowError naming the fix when hls4ml is not installed."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.origin:
        raise FlowError("hls4ml is not installed (it provides the ap_types headers for C-sim): "
                        "run `make setup` or `.venv/bin/pip install --no-deps hls4ml==1.3.0`")
    d = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_fixed.h").is_file():
        raise FlowError(f"hls4ml at {Path(spec.origin).parent} has no ap_types/ap_fixed.h; reinstall hls4ml==1.3.0")
    return d


@cache
def nnet_utils_dir() -> Path:
    """hls4ml's nnet_utils folder (its HLS layer library)."""
    return ap_types_dir().parent / "nnet_utils"


def hls4ml_version() -> str:
    """Installed hls4ml version (part of the cache key)."""
    try:
        return importlib.metadata.version("hls4ml")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Compiled:
    """A compiled executable and how it was obtained."""

    exe: Path
    cached: bool
    seconds: float
    key: str


def _digest(sources: Sequence[Path], includes: Sequence[Path], flags: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(gxx_version().encode())
    h.update(hls4ml_version().encode())
    h.update("\0".join(flags).encode())
    files: set[Path] = set()
    for src in sources:
        files.add(Path(src).resolve())
    for inc in includes:
        inc = Path(inc).resolve()
        if inc == ap_types_dir().resolve() or inc == nnet_utils_dir().resolve():
            continue  # covered by the hls4ml version
        files.update(p.resolve() for p in inc.glob("*") if p.suffix in (".h", ".hpp", ".cpp") and p.is_file())
    for f in sorted(files):
        h.update(str(f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def compile_exe(sources: Sequence[Path], includes: Sequence[Path], name: str,
                flags: Sequence[str] = CXXFLAGS, cache_dir: Path = CACHE_DIR, timeout_s: int = 600) -> Compiled:
    """Compile ``sources`` into an executable (cached by content); FlowError with the compiler's errors."""
    import time

    includes = [*includes, ap_types_dir()]
    key = _digest(sources, includes, flags)
    out_dir = Path(cache_dir) / key
    exe = out_dir / name
    if exe.is_file():
        return Compiled(exe, True, 0.0, key)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
    os.close(fd)
    cmd = [gxx_path(), *flags, *[f"-I{p}" for p in includes], *map(str, sources), "-o", tmp]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        Path(tmp).unlink(missing_ok=True)
        raise FlowError(f"g++: compiling {name} took longer than {timeout_s} s") from None
    secs = time.perf_counter() - t0
    if res.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        errors = [ln for ln in res.stderr.splitlines() if "error" in ln] or res.stderr.splitlines()[-5:]
        raise FlowError(f"g++ failed on {name}: {' | '.join(errors[:3])}")
    os.replace(tmp, exe)
    return Compiled(exe, False, secs, key)
