"""Numeric arrays read from user files (.npy, .npz, .safetensors), checked before anything is allocated.

Every reader returns plain NumPy arrays or raises one :class:`~pyflow.errors.FlowError` that names the file
and says what is wrong: not the format it claims, a pickled object array, a header that claims more data
than the file holds or than the machine's free memory, a damaged archive.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from pyflow.errors import FlowError

#: Fraction of the currently free memory one input may take.
MEMORY_SHARE = 0.8
_SAFETENSORS_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8, "I16": np.int16,
                       "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def human(nbytes: float) -> str:
    """``nbytes`` as a short human-readable size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"


def free_memory() -> int:
    """Bytes of memory available now."""
    import psutil

    return int(psutil.virtual_memory().available)


def check_allocation(nbytes: int, what: str, fix: str = "use a smaller input") -> None:
    """FlowError when ``nbytes`` exceed :data:`MEMORY_SHARE` of the free memory."""
    avail = free_memory()
    if nbytes > MEMORY_SHARE * avail:
        raise FlowError(f"{what} needs {human(nbytes)}, more than {MEMORY_SHARE:.0%} of the {human(avail)} of free "
                        f"memory; {fix}")


def _npy_header(fh: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data bytes) of the .npy stream ``fh`` positioned at its start."""
    try:
        version = np.lib.format.read_magic(fh)
    except (ValueError, EOFError):
        raise FlowError(f"{where} is not a .npy file (it does not start with the NUMPY magic); write it with "
                        "numpy.save") from None
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, _fortran, dtype = read(fh)
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, TokenError... on garbage
        raise FlowError(f"{where}: damaged .npy header ({exc})") from None
    if dtype.hasobject:
        raise FlowError(f"{where} holds Python objects (pickled data), which are not read; save a numeric array")
    if any(int(n) < 0 for n in shape):
        raise FlowError(f"{where}: damaged .npy header (negative dimension in shape {shape})")
    count = 1
    for n in shape:
        count *= int(n)
    return tuple(int(n) for n in shape), dtype, count * dtype.itemsize


def read_npy(path: Path | str, what: str | None = None) -> np.ndarray:
    """The array in the .npy file ``path``."""
    path = Path(path)
    where = f"{what} {path}" if what else str(path)
    if not path.is_file():
        raise FlowError(f"{where}: file not found" if not path.exists() else f"{where} is not a file")
    try:
        with path.open("rb") as fh:
            shape, dtype, nbytes = _npy_header(fh, where)
            have = path.stat().st_size - fh.tell()
    except OSError as exc:
        raise FlowError(f"{where}: cannot read ({exc.strerror or exc})") from None
    if nbytes > have:
        raise FlowError(f"{where}: its header claims shape {shape} of {dtype} ({human(nbytes)}) but the file holds "
                        f"{human(have)} of data; the file is truncated or damaged")
    check_allocation(nbytes, where)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise FlowError(f"{where}: cannot read ({exc})") from None


def read_npz(path: Path | str, names: Sequence[str], what: str | None = None) -> dict[str, np.ndarray] | None:
    """Arrays ``names`` of the .npz archive ``path`` (None when one of them is absent)."""
    path = Path(path)
    where = f"{what} {path}" if what else str(path)
    try:
        if not zipfile.is_zipfile(path):
            raise FlowError(f"{where} is not an .npz file (not a zip archive); write it with numpy.savez")
        with zipfile.ZipFile(path) as zf:
            members = {Path(m).stem: m for m in zf.namelist() if m.endswith(".npy")}
            if not all(n in members for n in names):
                return None
            out: dict[str, np.ndarray] = {}
            total = 0
            for n in names:
                with zf.open(members[n]) as fh:
                    _shape, _dtype, nbytes = _npy_header(fh, f"{where} [{n}]")
                total += nbytes
            check_allocation(total, where)
            for n in names:
                with zf.open(members[n]) as fh:
                    out[n] = np.lib.format.read_array(fh, allow_pickle=False)
            return out
    except FlowError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise FlowError(f"{where}: damaged .npz archive ({exc})") from None


def safetensors_header(path: Path, where: str) -> dict[str, dict]:
    """The checked JSON header of a safetensors file: tensor name -> {dtype, shape, data_offsets}."""
    try:
        size_on_disk = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise ValueError("file shorter than its header length")
            (size,) = struct.unpack("<Q", head)
            if size > size_on_disk - 8:
                raise ValueError("header length beyond end of file")
            header = json.loads(fh.read(size))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise FlowError(f"{where}: corrupt safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise FlowError(f"{where}: corrupt safetensors file (header is not a JSON object)")
    header.pop("__metadata__", None)
    data = size_on_disk - 8 - size
    for name, info in header.items():
        try:
            start, end = (int(o) for o in info["data_offsets"])
            shape = [int(n) for n in info["shape"]]
            dtype = str(info["dtype"])
        except (TypeError, KeyError, ValueError):
            raise FlowError(f"{where}: corrupt safetensors file (malformed entry {name!r})") from None
        if not 0 <= start <= end <= data or any(n < 0 for n in shape):
            raise FlowError(f"{where}: corrupt safetensors file ({name} lies outside the file)")
        if dtype in _SAFETENSORS_DTYPES:
            want = int(np.prod(shape, dtype=np.float64)) * np.dtype(_SAFETENSORS_DTYPES[dtype]).itemsize
            if want != end - start:
                raise FlowError(f"{where}: corrupt safetensors file ({name}: shape {shape} needs {want} bytes, "
                                f"its offsets give {end - start})")
    return header


def read_safetensors(path: Path | str, names: Sequence[str], what: str | None = None
                     ) -> dict[str, np.ndarray] | None:
    """Tensors ``names`` of the safetensors file ``path`` (None when one of them is absent)."""
    path = Path(path)
    where = f"{what} {path}" if what else str(path)
    header = safetensors_header(path, where)
    if not all(n in header for n in names):
        return None
    total = sum(int(header[n]["data_offsets"][1]) - int(header[n]["data_offsets"][0]) for n in names)
    check_allocation(total, where)
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            return {n: fh.get_tensor(n) for n in names}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise FlowError(f"{where}: cannot read ({exc})") from None
