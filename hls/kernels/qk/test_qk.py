"""qk at the small test dimensions: golden logits vs float64, C-sim bit-exact, RTL bit- and cycle-exact on
Verilator and Icarus, at several run-time lengths n (one logit per key, TLAST on the n-th); also at 16 lanes
(one beat per key: every beat ends a key)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from golden import cycles
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec
from testbench.checks import SIMULATORS, check_csim, check_rtl, positions

KERNEL = "qk"
pytestmark = pytest.mark.xdist_group(f"kernel_{KERNEL}")
PC = small_config(load_project_config())
#: head_dim lanes: one beat per key row.
WIDE_LANES = 16


def wide_config(lanes: int = WIDE_LANES):  # noqa: ANN201 (ProjectConfig)
    """The small config with qk at ``lanes`` lanes."""
    return dataclasses.replace(PC, lanes={**PC.lanes, "qk": lanes})


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim(KERNEL, tmp_path_factory.mktemp(f"csim_{KERNEL}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    r = check_rtl(KERNEL, simulator, tmp_path_factory.getbasetemp() / "rtl_kernels")
    assert r["pipeline_depth"] >= 2  # at least the input buffer and the output registers


def test_csim_one_beat_per_key(tmp_path: Path) -> None:
    from pyflow.backends.vitis.csim import run_csim

    pc = wide_config()
    spec = get_spec(KERNEL, pc)
    assert spec.consts["ROW_BEATS"] == 1
    report = run_csim(pc, names=[KERNEL], out_root=tmp_path, report_path=None, progress=False,
                      positions=positions(spec))
    entry = report["kernels"][KERNEL]
    assert entry["status"] == "pass", entry["messages"]


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl_one_beat_per_key(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from pyflow.sim.kernel import run_positions

    spec = get_spec(KERNEL, wide_config())
    root = tmp_path_factory.getbasetemp() / f"rtl_{KERNEL}_p{WIDE_LANES}"
    for r in run_positions(spec, positions(spec), simulator, stalls=True, build_root=root):
        where = f"{KERNEL} at {WIDE_LANES} lanes, pos {r['pos']}"
        assert r["errors"] == [], where
        assert r["outputs_match"] and r["stalls_ok"], where
        assert r["cycles_measured"] == r["cycles_predicted"], where


@pytest.mark.rtl
def test_rtl_back_to_back_invocations(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Invocations streamed back to back (as the chain does per head): the core reads n again at each start
    and sets TLAST on the n-th logit of each."""
    from pyflow.sim.chain import golden_executor
    from pyflow.sim.flow import rtl_executor

    spec = get_spec(KERNEL, PC)
    invocations = [spec.vectors(seed, n=6)[0] for seed in range(3)]
    run = rtl_executor(PC.clock_mhz, "verilator", build_root=tmp_path_factory.getbasetemp() / "rtl_kernels")
    got = run(spec, invocations)
    for g, want in zip(got, golden_executor(spec, invocations), strict=True):
        assert np.array_equal(g["logit"], want["logit"])


def test_golden_tracks_float64() -> None:
    s, d, n = PC.scheme, PC.model.head_dim, PC.max_length
    ins, out = get_spec(KERNEL, PC).vectors(1)
    q = s.act.to_float(ins["q"][:d])
    k = s.act.to_float(ins["k"]).reshape(n, d)
    assert np.max(np.abs(s.logit.to_float(out["logit"]) - k @ q / math.sqrt(d))) < 1e-2


@pytest.mark.parametrize("n", [1, 3, 16])
def test_vectors_at_n_are_the_first_n_keys(n: int) -> None:
    """At run-time length n the logits are those of the first n keys of the full cache."""
    d = PC.model.head_dim
    spec = get_spec(KERNEL, PC)
    full_in, full_out = spec.vectors(2)
    ins, out = spec.vectors(2, n)
    assert int(ins["n"][0]) == n and ins["k"].size == ins["q"].size == n * d
    assert np.array_equal(ins["k"], full_in["k"][: n * d])
    assert np.array_equal(out["logit"], full_out["logit"][:n])


def test_cycle_model_at_n() -> None:
    d, p = PC.model.head_dim, PC.lanes["qk"]
    spec = get_spec(KERNEL, PC)
    for n in (1, 5, 16):
        t = spec.timing(7, n)
        assert (t.first, t.last, t.busy) == (d // p - 1 + 7, n * d // p - 1 + 7, n * d // p)
        assert spec.op_cycles("qk", {"n": n, "head_dim": d}, 7) == cycles.qk(n, d, p, 7)
