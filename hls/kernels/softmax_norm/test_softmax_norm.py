"""softmax_norm at the small test dimensions: golden probabilities vs float64 softmax at run-time lengths, C-sim
bit-exact, RTL bit- and cycle-exact on Verilator and Icarus (positions, random garbage padding:
testbench.checks); padding exps as large as a real key's and larger in C-sim and RTL; lanes that divide neither
the capacity nor most lengths (P = 3 at N = 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hls.kernels.softmax_exp.padding_checks import csim_padded, odd_lanes_config, rtl_back_to_back, rtl_padded
from pyflow.backends.vitis.csim import run_csim
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec
from pyflow.specs.base import Arrays
from testbench.checks import SIMULATORS, check_csim, check_rtl, positions

KERNEL = "softmax_norm"
pytestmark = pytest.mark.xdist_group(f"kernel_{KERNEL}")
PC = small_config(load_project_config())


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim(KERNEL, tmp_path_factory.mktemp(f"csim_{KERNEL}"))


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_rtl(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    r = check_rtl(KERNEL, simulator, tmp_path_factory.getbasetemp() / "rtl_kernels")
    assert r["pipeline_depth"] >= 2  # at least the input buffer and the output registers


def test_golden_tracks_float64() -> None:
    s = PC.scheme
    for n in (1, 3, 7, 16):
        ins, out = get_spec("softmax_exp", PC).vectors(2, n)
        x = s.logit.to_float(ins["logit"])
        ref = np.exp(x - x.max())
        probs = get_spec(KERNEL, PC).expected({"n": np.array([n]), "sum": out["sum"], "exp": out["exp"]})["prob"]
        assert probs.size == n
        assert np.max(np.abs(s.prob.to_float(probs) - ref / ref.sum())) < 2e-3


def test_cycles_at_run_time_lengths() -> None:
    spec = get_spec(KERNEL, odd_lanes_config(PC))
    for n, beats in ((1, 1), (3, 1), (4, 2), (16, 6)):
        t = spec.timing(5, n)
        assert (t.first, t.last, t.busy) == (5, beats - 1 + 5, beats)


def padding_cases(spec=None) -> list[tuple[Arrays, int]]:  # noqa: ANN001 (KernelSpec)
    """Lengths with a part-filled last beat; padding exps of 1.0 (a real key's largest) and the format's
    largest: the padding probabilities must be 0."""
    s = PC.scheme
    spec = spec or get_spec(KERNEL, PC)
    p = int(spec.params["P"])
    cases = []
    for n in (n for n in (1, 6, 15, 16) if n % p):
        ins, _ = spec.vectors(5, n)
        cases += [(ins, 1 << s.exp.frac), (ins, s.exp.raw_max)]
    return cases


def test_csim_padding_gives_zero_probabilities(tmp_path: Path) -> None:
    assert csim_padded(get_spec(KERNEL, PC), PC, padding_cases(), tmp_path) == []


@pytest.mark.rtl
def test_rtl_padding_gives_zero_probabilities(tmp_path_factory: pytest.TempPathFactory) -> None:
    build_root = tmp_path_factory.getbasetemp() / "rtl_kernels"
    assert rtl_padded(get_spec(KERNEL, PC), padding_cases(), "verilator", build_root) == []


def test_csim_lanes_not_dividing(tmp_path: Path) -> None:
    pc = odd_lanes_config(PC)
    spec = get_spec(KERNEL, pc)
    assert spec.max_length % spec.params["P"]
    report = run_csim(pc, names=[KERNEL], out_root=tmp_path, report_path=None, progress=False,
                      positions=positions(spec))
    entry = report["kernels"][KERNEL]
    assert entry["status"] == "pass", entry["messages"]
    assert csim_padded(spec, pc, padding_cases(spec), tmp_path / "padded") == []


@pytest.mark.rtl
def test_rtl_lanes_not_dividing(tmp_path: Path) -> None:
    from pyflow.sim.kernel import run_positions

    spec = get_spec(KERNEL, odd_lanes_config(PC))
    for r in run_positions(spec, positions(spec), "verilator", stalls=True, build_root=tmp_path):
        where = f"{KERNEL} (P = 3) at pos {r['pos']}"
        assert r["errors"] == [], where
        assert r["outputs_match"] and r["stalls_ok"], where
        assert r["cycles_measured"] == r["cycles_predicted"], where
    assert rtl_padded(spec, padding_cases(spec), "verilator", tmp_path) == []


@pytest.mark.rtl
def test_rtl_back_to_back(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Three rows of n = 11 in one run, with and without stalls: each restarts the row state."""
    spec = get_spec(KERNEL, PC)
    invocations = [(ins, 1 << PC.scheme.exp.frac) for ins in (spec.vectors(seed, 11)[0] for seed in (7, 8, 9))]
    assert rtl_back_to_back(spec, invocations, "verilator", tmp_path_factory.getbasetemp() / "rtl_kernels") == []
