"""rope at the small test dimensions: its stream layout, golden vs the float64 rotation, C-sim bit-exact,
RTL bit- and cycle-exact on Verilator and Icarus."""

from __future__ import annotations

import numpy as np
import pytest

from hls.kernels.rope.spec import from_stream, to_stream
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec
from testbench.checks import SIMULATORS, check_csim, check_rtl

KERNEL = "rope"
pytestmark = pytest.mark.xdist_group(f"kernel_{KERNEL}")
PC = small_config(load_project_config())


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim(KERNEL, tmp_path_factory.mktemp(f"csim_{KERNEL}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    r = check_rtl(KERNEL, simulator, tmp_path_factory.getbasetemp() / "rtl_kernels")
    assert r["pipeline_depth"] >= 2  # at least the input buffer and the output registers


def test_layout_pairs_halves() -> None:
    d, p = 8, 2
    vecs = np.arange(2 * d).reshape(2, d)
    stream = to_stream(vecs, p)
    # beat 0 of vector 0: x[0..2) then x[d/2..d/2+2)
    assert list(stream[:4]) == [0, 1, 4, 5]
    assert np.array_equal(from_stream(stream, 2, d, p), vecs)


def test_golden_matches_float_rotation() -> None:
    from golden.rope import apply_rope, cos_sin

    s, m = PC.scheme, PC.model
    spec = get_spec(KERNEL, PC)
    ins, out = spec.vectors(6)
    n_vec, d, p = spec.params["N_VEC"], m.head_dim, spec.params["P"]
    x = s.act.to_float(from_stream(ins["x"], n_vec, d, p))
    y = s.act.to_float(from_stream(out["y"], n_vec, d, p))
    for v in range(n_vec):
        c, sn = cos_sin(m, int(ins["pos"][v]))
        assert np.max(np.abs(y[v] - apply_rope(x[v], c, sn))) < 5e-3
