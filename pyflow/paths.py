"""Where the flow's sources and outputs live (one place for every path the stages share)."""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout (the folder holding golden/, hls/, pyflow/).
REPO = Path(__file__).resolve().parent.parent
#: One folder per hardware kernel: its spec, templates and focused tests (``hls/kernels/<name>/``).
KERNEL_SOURCES = REPO / "hls" / "kernels"
#: Templates shared by every kernel: per language (vitis/, dslx/, rtl/, tcl/, synth/).
TEMPLATES = REPO / "hls" / "templates"
#: Environment variable that moves the build root (``regress`` gives each config its own; docs/CLUSTER.md).
BUILD_ENV = "FLATFLOW_BUILD"
#: Generated files (never committed): ``build/`` of the checkout, or ``$FLATFLOW_BUILD`` when set.
BUILD = Path(os.environ[BUILD_ENV]).resolve() if os.environ.get(BUILD_ENV) else REPO / "build"
#: Rendered kernels at the config's dimensions (``build/kernels/<name>/``).
KERNELS_DIR = BUILD / "kernels"


def kernel_folder(name: str) -> Path:
    """The source folder of kernel ``name``."""
    return KERNEL_SOURCES / name
