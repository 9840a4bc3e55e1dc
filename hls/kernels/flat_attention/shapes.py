"""Project configs of the flat_attention tests beyond the small dimensions (test_flat_*.py beside this file)."""

from __future__ import annotations

import dataclasses
import tomllib

from pyflow.project.config import DEFAULT_CONFIG, ProjectConfig, from_dict, load_project_config, small_config

#: The other rounding / overflow modes on every format the kernel rounds into (narrow, so they bite).
MODES = {
    "act": {"width": 12, "frac": 6, "rnd": "TRN", "ovf": "WRAP"},
    "logit": {"width": 20, "frac": 8, "rnd": "RND"},
    "exp": {"width": 16, "frac": 15, "rnd": "TRN"},
    "prob": {"width": 14, "frac": 13, "rnd": "RND", "ovf": "WRAP"},
}


def small() -> ProjectConfig:
    """The small test dimensions (N = 16, d = 16, P = 4, R = 4, L = 16)."""
    return small_config(load_project_config())


def variant() -> ProjectConfig:
    """N = 8 keys, P = 2 lanes (a K row takes 8 beats, a V^T row 4), L = 8 rows = 2 tiles of R = 4."""
    pc = small()
    return dataclasses.replace(pc, max_length=8, lanes={**pc.lanes, "qk": 2, "softmax": 2, "av": 2})


def modes() -> ProjectConfig:
    """The small dimensions with the :data:`MODES` formats."""
    raw = tomllib.loads(DEFAULT_CONFIG.read_text())
    raw["formats"] = MODES
    return small_config(from_dict(raw))


SHAPES = {"small": small, "variant": variant, "modes": modes}
