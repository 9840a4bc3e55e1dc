"""av at the small test dimensions: golden V^T p vs float64, C-sim bit-exact, RTL bit- and cycle-exact
on Verilator and Icarus, at several run-time lengths n; also at 3 lanes, which do not divide N = 16, so most
rows end in a part-filled beat whose padding lanes (random garbage in vt and p) the kernel must mask."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from golden import cycles
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec
from testbench.checks import SIMULATORS, check_csim, check_rtl, positions

KERNEL = "av"
pytestmark = pytest.mark.xdist_group(f"kernel_{KERNEL}")
PC = small_config(load_project_config())
#: A lane count that divides neither N = 16 nor most n.
ODD_LANES = 3


def odd_lanes_config(lanes: int = ODD_LANES):  # noqa: ANN201 (ProjectConfig)
    """The small config with av at ``lanes`` lanes."""
    return dataclasses.replace(PC, lanes={**PC.lanes, "av": lanes})


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim(KERNEL, tmp_path_factory.mktemp(f"csim_{KERNEL}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    r = check_rtl(KERNEL, simulator, tmp_path_factory.getbasetemp() / "rtl_kernels")
    assert r["pipeline_depth"] >= 2  # at least the input buffer and the output registers


def test_csim_lanes_not_dividing_n(tmp_path: Path) -> None:
    from pyflow.backends.vitis.csim import run_csim

    pc = odd_lanes_config()
    spec = get_spec(KERNEL, pc)
    pos = positions(spec)
    assert any((q + 1) % ODD_LANES for q in pos) and (pc.max_length % ODD_LANES)
    report = run_csim(pc, names=[KERNEL], out_root=tmp_path, report_path=None, progress=False, positions=pos)
    entry = report["kernels"][KERNEL]
    assert entry["status"] == "pass", entry["messages"]


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl_lanes_not_dividing_n(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from pyflow.sim.kernel import run_positions

    spec = get_spec(KERNEL, odd_lanes_config())
    root = tmp_path_factory.getbasetemp() / f"rtl_{KERNEL}_p{ODD_LANES}"
    for r in run_positions(spec, positions(spec), simulator, stalls=True, build_root=root):
        where = f"{KERNEL} at {ODD_LANES} lanes, pos {r['pos']}"
        assert r["errors"] == [], where
        assert r["outputs_match"] and r["stalls_ok"], where
        assert r["cycles_measured"] == r["cycles_predicted"], where


@pytest.mark.rtl
def test_rtl_back_to_back_invocations(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Invocations streamed back to back (as the chain does per head): the core reads n again at each start."""
    from pyflow.sim.chain import golden_executor
    from pyflow.sim.flow import rtl_executor

    pc = odd_lanes_config()
    spec = get_spec(KERNEL, pc)
    invocations = [spec.vectors(seed, n=7)[0] for seed in range(3)]
    run = rtl_executor(pc.clock_mhz, "verilator", build_root=tmp_path_factory.getbasetemp() / f"rtl_{KERNEL}_p3")
    got = run(spec, invocations)
    for g, want in zip(got, golden_executor(spec, invocations), strict=True):
        assert np.array_equal(g["out"], want["out"])


def test_golden_tracks_float64() -> None:
    s, d, n = PC.scheme, PC.model.head_dim, PC.max_length
    ins, out = get_spec(KERNEL, PC).vectors(4)
    pv = s.prob.to_float(ins["p"][:n])
    vt = s.act.to_float(ins["vt"]).reshape(d, n)
    assert np.max(np.abs(s.act.to_float(out["out"]) - vt @ pv)) < 4 * s.act.lsb


@pytest.mark.parametrize("n", [1, 2, 5, 11, 16])
def test_golden_at_n_is_the_first_n_keys(n: int) -> None:
    """The golden at run-time length n is V[:n]^T p[:n] (float64, within the output's rounding)."""
    s, d, cap = PC.scheme, PC.model.head_dim, PC.max_length
    spec = get_spec(KERNEL, PC)
    full, _ = spec.vectors(5)
    vt = full["vt"].reshape(d, cap)[:, :n]
    p = full["p"][:n]
    out = spec.expected({"n": np.array([n]), "vt": vt.reshape(-1), "p": np.tile(p, d)})["out"]
    want = s.act.to_float(vt) @ s.prob.to_float(p)
    assert out.size == d
    assert np.max(np.abs(s.act.to_float(out) - want)) <= s.act.lsb


def test_cycle_model_counts_part_filled_beats() -> None:
    d = PC.model.head_dim
    for n, p in ((1, 4), (4, 4), (5, 4), (16, 3), (7, 8)):
        t = cycles.av(n, d, p, depth=6)
        row = -(-n // p)
        assert (t.first, t.last, t.busy) == (row - 1 + 6, d * row - 1 + 6, d * row)
    spec = get_spec(KERNEL, odd_lanes_config())
    assert spec.timing(6, 5) == cycles.av(5, d, ODD_LANES, 6)
    assert spec.op_cycles("av", {"n": 5, "head_dim": d}, 6) == cycles.av(5, d, ODD_LANES, 6)
