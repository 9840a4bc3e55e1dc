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


def wide() -> ProjectConfig:
    """N = 20 keys, P = 8 lanes (P does not divide N: the last of the 3 words of a row has 4 padding lanes)."""
    pc = small()
    return dataclasses.replace(pc, max_length=20, lanes={**pc.lanes, "qk": 8, "softmax": 8, "av": 8})


def odd() -> ProjectConfig:
    """d = 12, P = 3 lanes (not a power of two), N = L = 10 (the last tile of 10 rows has 2), a 1/sqrt(d) scale
    that is not a power of two."""
    pc = small()
    return dataclasses.replace(pc, model=dataclasses.replace(pc.model, head_dim=12), max_length=10,
                               lanes={**pc.lanes, "qk": 3, "softmax": 3, "av": 3})


def modes() -> ProjectConfig:
    """The small dimensions with the :data:`MODES` formats."""
    raw = tomllib.loads(DEFAULT_CONFIG.read_text())
    raw["formats"] = MODES
    return small_config(from_dict(raw))


SHAPES = {"small": small, "variant": variant, "wide": wide, "odd": odd, "modes": modes}
