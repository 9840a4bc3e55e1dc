"""The fingerprint of the flow's sources: a hash of every file that decides what the flow computes.

Part of every cached result's key (DSE points, regress configs), and what the Dask engine compares between the
client and each worker (a worker running other sources would compute other results under the same keys).
"""

from __future__ import annotations

import functools
import hashlib

from pyflow.paths import REPO

#: Folders whose files (code, kernel specs and templates, testbench) decide the results; a change invalidates
#: every cached result.
SOURCES = ("golden", "pyflow", "hls", "testbench")


@functools.cache
def flow_fingerprint() -> str:
    """Hash of every file under :data:`SOURCES` (computed once per process)."""
    h = hashlib.sha256()
    for folder in SOURCES:
        for f in sorted((REPO / folder).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(f.relative_to(REPO).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
