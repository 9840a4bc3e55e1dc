"""Where the flow's sources and outputs live (one place for every path the stages share)."""

from __future__ import annotations

from pathlib import Path

#: The checkout (the folder holding golden/, hls/, pyflow/).
REPO = Path(__file__).resolve().parent.parent
#: One folder per hardware kernel: its spec, templates and focused tests (``hls/kernels/<name>/``).
KERNEL_SOURCES = REPO / "hls" / "kernels"
#: Templates shared by every kernel: per language (vitis/, dslx/, rtl/, tcl/, synth/).
TEMPLATES = REPO / "hls" / "templates"
#: Generated files (never committed).
BUILD = REPO / "build"
#: Rendered kernels at the config's dimensions (``build/kernels/<name>/``).
KERNELS_DIR = BUILD / "kernels"


def kernel_folder(name: str) -> Path:
    """The source folder of kernel ``name``."""
    return KERNEL_SOURCES / name
