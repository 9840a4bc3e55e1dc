"""FLAT profiler: memory prediction vs tracemalloc, skipped points, outputs, Q/K/V files, CLI errors."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from golden.flat import attention_baseline, flat_attention
from pyflow.cli import main
from pyflow.flat_profile import memory
from pyflow.flat_profile import sweep as sweep_mod
from pyflow.flat_profile.config import SweepConfig
from pyflow.flat_profile.measure import traced_peak
from pyflow.flat_profile.memory import predict
from pyflow.flat_profile.traffic import flat_buffer, traffic_point

TINY = dict(test="length", start=16, end=48, step=16, shape=(1, 16, 2, 8), loops=1)
REQUIRED_COLUMNS = {
    "point", "value", "B", "L", "H", "d", "variant", "status", "time_median_s", "peak_bytes",
    "peak_traced_bytes", "rss_increase_bytes", "predicted_working_bytes", "available_bytes", "reason",
}


def _run(tmp_path, plots=False, **kw):
    cfg = SweepConfig(**{**TINY, "store_path": tmp_path / "out", **kw})
    return sweep_mod.run_sweep(cfg, progress=False, plots=plots), tmp_path / "out"


@pytest.mark.parametrize(("variant", "mode", "size"), [
    ("baseline", "row", 64), ("flat", "row", 64), ("flat", "row", 100), ("flat", "head", 2), ("flat", "batch", 1),
])
def test_prediction_close_to_tracemalloc(variant, mode, size):
    shape = (2, 384, 4, 32)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(shape, dtype=np.float32) for _ in range(3))
    fn = (lambda: attention_baseline(q, k, v)) if variant == "baseline" else \
        (lambda: flat_attention(q, k, v, mode=mode, size=size))
    measured, _ = traced_peak(fn)
    predicted = predict(variant, shape, 4, mode, size).working
    assert 0.7 <= predicted / measured <= 1.5, (predicted, measured)


def test_prediction_scales_as_expected():
    shape = (1, 16384, 16, 64)
    base = predict("baseline", shape, 4).working
    flat = predict("flat", shape, 4, "row", 64).working
    assert base >= 2 * 16 * 16384**2 * 4  # S and P, 16 GiB each
    assert flat < 80 * 2**20  # O (64 MiB) + one 64 x 16384 tile


def test_skipped_points_when_memory_is_short(tmp_path, monkeypatch):
    # Enough for FLAT at every point and the baseline at L = 16, not for the baseline beyond.
    lengths = (16, 112, 208)

    def need(variant, L):
        out_bytes = 16 * L * 4  # the other variant's output, held during each run
        return predict(variant, (1, L, 2, 8), 4).total + out_bytes + memory.FIXED_OVERHEAD

    budget = max(need("baseline", 16), need("flat", 208))
    assert budget < need("baseline", 112)
    monkeypatch.setattr(sweep_mod, "available_bytes", lambda platform: math.ceil(budget / memory.SAFETY_FRACTION))
    result, _ = _run(tmp_path, start=16, end=208, step=96)
    rows = {(r["value"], r["variant"]): r for r in result["rows"]}
    assert rows[(16, "baseline")]["status"] == "ok"
    for L in lengths[1:]:
        skipped = rows[(L, "baseline")]
        assert skipped["status"] == "skipped" and "predicted" in skipped["reason"]
        assert skipped["predicted_working_bytes"] == predict("baseline", (1, L, 2, 8), 4).working
        assert skipped.get("time_median_s") is None
        assert rows[(L, "flat")]["status"] == "ok"
    assert result["summary"]["points"][-1]["baseline_peak_is_prediction"] is True

    monkeypatch.setattr(sweep_mod, "available_bytes", lambda platform: 1024)
    result, _ = _run(tmp_path)
    assert {r["status"] for r in result["rows"]} == {"skipped"}


def test_outputs_written_and_parseable(tmp_path):
    result, out = _run(tmp_path, plots=True, bias=True, causal=True)
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) >= REQUIRED_COLUMNS
    assert len(rows) == 6 and {r["variant"] for r in rows} == {"baseline", "flat"}
    for r in rows:
        assert r["status"] == "ok" and float(r["time_median_s"]) > 0 and int(r["peak_bytes"]) > 0
    data = json.loads((out / "results.json").read_text())
    assert data["complete"] is True and len(data["rows"]) == 6
    flat_rows = [r for r in data["rows"] if r["variant"] == "flat"]
    assert all(r["max_abs_diff_vs_baseline"] < 1e-5 for r in flat_rows)
    assert len(data["traffic_model"]["points"]) == 3
    assert "memory_target" in data["summary"] and "runtime_target" in data["summary"]
    for name in ("runtime.png", "memory.png", "traffic.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*")), "temporary files left behind"


def test_interrupted_sweep_keeps_complete_rows(tmp_path, monkeypatch):
    real = sweep_mod._run_point

    def flaky(cfg, backend, files, index, value):
        if index == 1:
            raise KeyboardInterrupt
        return real(cfg, backend, files, index, value)

    monkeypatch.setattr(sweep_mod, "_run_point", flaky)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path)
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["complete"] is False and [r["value"] for r in data["rows"]] == [16, 16]
    with open(tmp_path / "out" / "results.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2


def test_traffic_model_by_hand():
    shape, item = (2, 1024, 8, 64), 2
    p = traffic_point(shape, item, 64)
    qkvo = 4 * 2 * 1024 * 8 * 64 * 2
    assert p["flat_offchip_bytes"] == qkvo
    assert p["baseline_offchip_bytes"] == qkvo + 2 * (2 * 8 * 1024 * 1024 * 2)
    # row tile: 64 q rows + K, V of one head + 64 x 1024 logits + 2 x 64 stats + 64 output rows
    assert flat_buffer("row", 64, shape, item) == (64 * 64 + 2 * 1024 * 64 + 64 * 1024 + 128 + 64 * 64) * 2
    assert p["flat_onchip_buffer_bytes"]["row"] < p["flat_onchip_buffer_bytes"]["head"] \
        < p["flat_onchip_buffer_bytes"]["batch"]


def test_qkv_files_are_sliced_per_point(tmp_path):
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((1, 48, 2, 8)) for _ in range(3))
    (tmp_path / "qkv").mkdir()
    np.savez(tmp_path / "qkv" / "x.npz", q=q, k=k, v=v)
    result, _ = _run(tmp_path, qkv_dir=tmp_path / "qkv", dtype="float64")
    assert all(r["status"] == "ok" for r in result["rows"])
    flat = [r for r in result["rows"] if r["variant"] == "flat"]
    assert all(r["max_abs_diff_vs_baseline"] < 1e-12 for r in flat)


def test_torch_cpu_backend_matches_golden():
    torch = pytest.importorskip("torch")
    from pyflow.flat_profile import torch_attention as ta

    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((2, 11, 3, 8)) for _ in range(3))
    bias = rng.standard_normal((1, 3, 1, 11))
    tq, tk, tv, tb = (torch.from_numpy(x) for x in (q, k, v, bias))
    ref = attention_baseline(q, k, v, bias=bias, causal=True)
    np.testing.assert_allclose(ta.attention_baseline(tq, tk, tv, tb, True).numpy(), ref, atol=1e-10)
    for mode, size in (("row", 4), ("head", 2), ("batch", 1)):
        got = ta.flat_attention(tq, tk, tv, mode, size, tb, True).numpy()
        np.testing.assert_allclose(got, ref, atol=1e-10)


def _cli_error(capsys, argv):
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("error:"), err
    return err[0]


@pytest.mark.parametrize(("extra", "needle"), [
    (["--mode", "column"], "--mode"),
    (["--shape", "1", "2", "3"], "--shape"),
    (["--shape", "1", "0", "3", "4"], "--shape"),
    (["--size", "abc"], "--size"),
    (["--test", "width"], "--test"),
    (["--qkv-dir", "/nonexistent/flat-qkv"], "no such directory"),
])
def test_cli_errors(capsys, tmp_path, extra, needle):
    line = _cli_error(capsys, ["flat-profile", "--store-path", str(tmp_path / "o"), *extra])
    assert needle in line
    assert not (tmp_path / "o").exists()


def test_cli_gpu_without_cuda(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    line = _cli_error(capsys, ["flat-profile", "--platform", "gpu", "--store-path", str(tmp_path / "o")])
    assert "CUDA" in line


@pytest.mark.parametrize("problem", ["small", "nan", "rank", "missing"])
def test_cli_bad_qkv_files(capsys, tmp_path, problem):
    d = tmp_path / "qkv"
    d.mkdir()
    shape = (1, 32 if problem == "small" else 64, 2, 8)
    arrays = {n: np.ones(shape) for n in "qkv"}
    if problem == "nan":
        arrays["k"][0, 3, 1, 2] = math.nan
    if problem == "rank":
        arrays = {n: np.ones((64, 2, 8)) for n in "qkv"}
    if problem == "missing":
        del arrays["v"]
    for n, a in arrays.items():
        np.save(d / f"{n}.npy", a)
    line = _cli_error(capsys, ["flat-profile", "--qkv-dir", str(d), "--shape", "1", "16", "2", "8",
                               "--end-size", "64", "--step", "16", "--start-size", "16",
                               "--store-path", str(tmp_path / "o")])
    assert {"small": "smaller", "nan": "NaN", "rank": "rank", "missing": "neither"}[problem] in line


def test_cli_runs_tiny_sweep(capsys, tmp_path):
    rc = main(["flat-profile", "--shape", "1", "16", "2", "8", "--start-size", "16", "--end-size", "32",
               "--step", "16", "--loops", "1", "--no-progress", "--store-path", str(tmp_path / "o")])
    assert rc == 0
    assert "memory_target" in capsys.readouterr().out
    assert (tmp_path / "o" / "results.csv").is_file()


def test_blas_threads_can_be_set_and_restored():
    from pyflow.flat_profile.threads import blas_threads, get_blas_threads

    before = get_blas_threads()
    if before is None:
        pytest.skip("NumPy is not linked to OpenBLAS here")
    with blas_threads(1, "numpy"):
        assert get_blas_threads() == 1
    assert get_blas_threads() == before


def test_rss_peak_sees_a_touched_allocation():
    from pyflow.flat_profile.measure import RssPeak

    with RssPeak() as rss:
        block = np.ones(48 * 2**20 // 8)  # 48 MiB, every page written
        del block
    assert rss.increase >= 40 * 2**20
