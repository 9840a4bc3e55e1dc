"""Tool wrappers and CLI edges of the C-sim / Vitis / bench stages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pyflow.cli import main
from pyflow.errors import FlowError
from pyflow.tools import gxx


def test_missing_hls4ml_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    gxx.ap_types_dir.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    try:
        with pytest.raises(FlowError, match="hls4ml is not installed"):
            gxx.ap_types_dir()
    finally:
        gxx.ap_types_dir.cache_clear()


def test_missing_gxx_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    gxx.gxx_path.cache_clear()
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    try:
        with pytest.raises(FlowError, match="g\\+\\+ not found"):
            gxx.gxx_path()
    finally:
        gxx.gxx_path.cache_clear()


def test_compile_error_names_the_kernel(tmp_path: Path) -> None:
    src = tmp_path / "bad.cpp"
    src.write_text("int main() { return undefined_symbol; }\n")
    with pytest.raises(FlowError, match="g\\+\\+ failed on bad"):
        gxx.compile_exe([src], [], "bad", cache_dir=tmp_path / "cache")


def test_synth_vitis_without_vitis_prints_commands(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from pyflow.tools import vitis

    monkeypatch.setattr(vitis, "find_vitis_hls", lambda: None)
    rc = main(["synth-vitis", "--board", "zcu104", "--kernel", "qk", "--small"])
    out, err = capsys.readouterr()
    assert rc == 1 and "vitis_hls not found" in err
    assert "vitis_hls -f run_hls.tcl" in out and "xczu7ev-ffvc1156-2-e" in out
    tcl = (Path(__file__).resolve().parents[1] / "build" / "vitis" / "zcu104" / "qk" / "run_hls.tcl").read_text()
    for line in ("set_top qk", "set_part xczu7ev-ffvc1156-2-e", "create_clock -period 5.000", "add_files -tb qk_tb.cpp",
                 "csim_design", "csynth_design", "cosim_design", "export_design"):
        assert line in tcl


def test_synth_vitis_rejects_open_board() -> None:
    assert main(["synth-vitis", "--board", "ice40-up5k"]) == 1


@pytest.mark.xdist_group("csim")
def test_softmax_bench_beats_hls4ml_small(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pyflow.bench import softmax_accuracy as sa
    from pyflow.project.config import load_project_config, small_config

    monkeypatch.setattr(sa, "OUT_DIR", tmp_path / "bench")
    monkeypatch.setattr(sa, "REPORT", tmp_path / "softmax_accuracy.json")
    rep = sa.run(small_config(load_project_config()), random_rows=64, decode_steps=1, progress=False)
    for entry in rep["results"].values():
        ours = entry["flatflow"]
        assert ours["argmax_flip_rate"] == 0.0
        assert ours["max_abs_err"] < 2e-3  # table resolution 2^-10, probabilities <= 1
        assert ours["max_abs_err"] * 4 <= entry["hls4ml_default"]["max_abs_err"]
    assert (tmp_path / "softmax_accuracy.json").is_file()
