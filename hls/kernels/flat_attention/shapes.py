"""Project configs of the flat_attention tests beyond the small dimensions, and their RTL runs at chosen run-time
lengths (test_flat_*.py beside this file)."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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


#: (n keys, l query rows) at the small dimensions (N = L = 16, P = R = 4): one key over all rows, one row over
#: all keys, partial last words with partial last tiles (the decode positions cover both lengths equal).
SMALL_LENGTHS = ((1, 16), (16, 1), (5, 7), (7, 13))


def vectors_at(spec: Any, n: int, l_rows: int, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:  # noqa: ANN401
    """(inputs, golden outputs) of ``spec`` at ``n`` keys and ``l_rows`` query rows."""
    ins = {k: np.asarray(v, dtype=np.int64).reshape(-1) for k, v in spec.make_vectors(seed, n, l_rows).items()}
    return ins, spec.expected(ins)


def full_range_at(spec: Any, n: int, l_rows: int, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:  # noqa: ANN401
    """Like :func:`vectors_at`, with the extremes of the activation range in q and K (random signs: many
    logits saturate, both ways, and the softmax is nearly one-hot) and V^T uniform over the whole range."""
    ins, _ = vectors_at(spec, n, l_rows, seed)
    g = np.random.default_rng([seed, n, l_rows])
    f = spec.port("q").fmt
    for name in ("q", "k"):
        ins[name] = g.choice(np.array([f.raw_min, f.raw_max]), size=ins[name].size)
    ins["vt"] = g.integers(f.raw_min, f.raw_max + 1, size=ins["vt"].size, dtype=np.int64)
    return ins, spec.expected(ins)


def run_lengths(spec: Any, simulator: str, lengths: Sequence[tuple[int, int]], build_root: Path,  # noqa: ANN401
                sim_dir: Path | None = None, seed: int = 0,
                vectors: Callable[..., tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = vectors_at
                ) -> list[dict[str, Any]]:
    """Simulate ``spec``'s RTL at each (n, l) of ``lengths`` (inputs from ``vectors(spec, n, l, seed)``),
    without and with stalls; assert bit- and cycle-exact at each; return the no-stall results.  One RTL build
    (XLS, cached in ``build_root``) and one simulator build, or with ``sim_dir`` the simulator an earlier run
    built there."""
    from pyflow.backends.xls.build import build_kernel, xls_options
    from pyflow.sim.kernel import make_job
    from testbench.runner import simulate

    rtl = build_kernel(spec, xls_options(200.0), build_root)
    bdir = sim_dir or Path(build_root) / "sim" / spec.name / f"{simulator}_lengths"
    out = []
    for i, (n, l_rows) in enumerate(lengths):
        job = make_job(spec, rtl.latency, seed, vectors=vectors(spec, n, l_rows, seed))
        res = simulate(simulator, rtl.sources, rtl.top, job, bdir, tests=("nostall", "stalls"),
                       build_root=build_root, rebuild=i == 0 and sim_dir is None)
        where = f"{spec.name} at n = {n}, l = {l_rows} on {simulator}"
        for test in ("nostall", "stalls"):
            assert res[test]["errors"] == [] and res[test]["outputs_match"], f"{where} ({test}): {res[test]['errors']}"
        ns = res["nostall"]
        assert [ns["first_output_cycle"], ns["last_output_cycle"]] == job["predicted"], where
        out.append(ns)
    return out
