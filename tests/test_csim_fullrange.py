"""C simulation on full-range inputs: saturation, wrap-around, extreme shifts and every rounding mode.

The realistic vectors of ``make csim`` rarely reach the formats' limits; here every input takes random
raw values over its whole range (respecting each kernel's stream contract), the golden model gives the
expected outputs, and the already compiled testbenches must still match bit for bit.  A second config
switches formats to TRN / RND / WRAP to check the ap_fixed rounding and overflow modes against
golden.fixed.requant.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from golden.fixed import Fmt
from pyflow.backends.vitis.csim import compile_kernel, render_for_csim
from pyflow.backends.vitis.render import vectors_text
from pyflow.project.config import from_dict, load_project_config, small_config
from pyflow.specs import KERNELS, get_spec

pytestmark = pytest.mark.xdist_group("csim")


def _full(r: np.random.Generator, fmt: Fmt, size: int) -> np.ndarray:
    return r.integers(fmt.raw_min, fmt.raw_max + 1, size=size, dtype=np.int64)


def _ports(spec, n: int) -> dict:  # noqa: ANN001
    return {p.name: p for p in (spec.ports_at(n) if spec.runtime else spec.ports)}


def full_range_inputs(spec, pc, seed: int) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Full-range raw inputs that still satisfy the kernel's stream contract, at a random run-time length."""
    r = np.random.default_rng([seed, len(spec.name)])
    n = int(r.integers(1, spec.max_length + 1)) if spec.runtime else pc.max_length
    ports = _ports(spec, n)
    ins = {p.name: _full(r, p.fmt, ports[p.name].elements) for p in spec.inputs}
    if "n" in ins:
        ins["n"] = np.array([n])
    s = pc.scheme
    name = spec.name
    if name in ("gemv", "qk", "av"):
        rep = ports[{"gemv": "x", "qk": "q", "av": "p"}[name]]
        if rep.cols:  # a row layout: the vector re-streamed beside every row
            ins[rep.name] = np.tile(ins[rep.name][: rep.cols], rep.rows)
        else:
            rows = rep.elements // {"gemv": spec.params.get("N_IN", 0), "qk": spec.params.get("D", 0),
                                    "av": spec.params.get("N", 0)}[name]
            ins[rep.name] = np.tile(ins[rep.name][: rep.elements // rows], rows)
    elif name == "rmsnorm":
        ins["x"] = np.tile(ins["x"][: spec.params["H"]], 2)
    elif name == "softmax_exp":
        if seed % 2 == 0:  # +-16: most exps non-zero; odd seeds use the full range (most underflow to 0)
            lim = 1 << (s.logit.frac + 4)
            ins["logit"] = r.integers(-lim, lim, size=ins["logit"].size, dtype=np.int64)
        ins["max"] = np.array([ins["logit"].max()])
    elif name == "softmax_norm":
        # log-uniform sum: from far below the exps (probabilities saturate) to the format's maximum
        width = spec.port("sum").fmt.width
        ins["sum"] = np.array([max(1, int(2.0 ** r.uniform(0, width)) - 1)])
    elif name == "flat_attention":
        ins["l"] = np.array([ports["q"].rows])  # the query rows the port sizes at n were taken for
    elif name in ("kv_cache", "attention_decode", "decode_step"):
        ins["pos"] = np.array([n - 1])  # (n: the capacity unless the kernel takes a run-time length)
    if name == "rope":
        ins["pos"] = r.integers(0, 2**32, size=spec.port("pos").elements, dtype=np.int64)
    return ins


def _run_custom(spec, out_root: Path, ins: dict[str, np.ndarray], tmp: Path) -> subprocess.CompletedProcess:  # noqa: ANN001
    exp = spec.expected(ins)
    ports = _ports(spec, spec.length(ins))
    fill = np.random.default_rng(7)  # garbage in the padding lanes of the inputs
    vec = tmp / spec.name
    vec.mkdir(parents=True)
    for p in spec.inputs:
        (vec / f"{p.name}.in.txt").write_text(vectors_text(ports[p.name].padded(ins[p.name], fill)))
    for p in spec.outputs:
        (vec / f"{p.name}.exp.txt").write_text(vectors_text(ports[p.name].padded(exp[p.name])))
    exe = compile_kernel(spec, out_root).exe
    return subprocess.run([str(exe), str(vec)], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory: pytest.TempPathFactory):
    pc = small_config(load_project_config())
    out = tmp_path_factory.mktemp("fullrange")
    from pyflow.specs import all_specs

    render_for_csim(all_specs(pc), pc, out)
    return pc, out


@pytest.mark.parametrize("kernel", KERNELS)
def test_full_range_inputs_match_golden(small_build, kernel: str, tmp_path: Path) -> None:  # noqa: ANN001
    pc, out = small_build
    spec = get_spec(kernel, pc)
    for seed in (1, 2):
        res = _run_custom(spec, out, full_range_inputs(spec, pc, seed), tmp_path / str(seed))
        assert res.returncode == 0, res.stdout[-600:]


#: Formats switched to the other rounding / overflow modes (and narrower widths so they bite).
MODES_CONFIG = {
    "act": {"width": 12, "frac": 6, "rnd": "TRN", "ovf": "WRAP"},
    "logit": {"width": 20, "frac": 8, "rnd": "RND"},
    "exp": {"width": 16, "frac": 15, "rnd": "TRN"},
    "prob": {"width": 14, "frac": 13, "rnd": "RND", "ovf": "WRAP"},
    "inv_rms": {"rnd": "TRN"},
    "trig": {"width": 14, "frac": 12, "rnd": "RND"},
}


def test_rounding_and_overflow_modes(tmp_path: Path) -> None:
    import tomllib

    from pyflow.project.config import DEFAULT_CONFIG

    raw = tomllib.loads(DEFAULT_CONFIG.read_text())
    raw["formats"] = MODES_CONFIG
    pc = small_config(from_dict(raw))
    names = ("gemv", "rmsnorm", "rope", "softmax_exp", "softmax_norm")
    specs = [get_spec(k, pc) for k in names]
    out = tmp_path / "build"
    render_for_csim(specs, pc, out)
    for spec in specs:
        for seed in (0, 3):
            ins = spec.vectors(seed)[0] if seed == 0 else full_range_inputs(spec, pc, seed)
            res = _run_custom(spec, out, ins, tmp_path / f"{spec.name}_{seed}")
            assert res.returncode == 0, f"{spec.name} seed {seed}: {res.stdout[-600:]}"
