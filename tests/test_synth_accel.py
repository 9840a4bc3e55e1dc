"""The accelerator top's synthesis row: which kernel limits it, its closure loop and its progress line (the tools
faked; the real place and route is `make synth`)."""

from __future__ import annotations

from pathlib import Path

from pyflow.commands.synth import progress_line
from pyflow.synth import accel as sa
from pyflow.synth import run as sr
from pyflow.synth.run import SynthJob


def _row(start: str, end: str, fmax: float) -> dict:
    return {"name": sa.ACCEL_NAME, "status": "ok", "fmax_mhz": fmax, "meets_timing": fmax >= 150.0,
            "decode_step_us": 1000.0, "critical_path": {"from": start, "to": end}}


def test_limiting_kernel_reads_the_top_instance_names() -> None:
    # the names nextpnr reports: the harness's dut, the top's kernel instance, then the cell
    assert sa.limiting_kernel(_row("dut.u_rope_i.room_LUT4_B", "dut.hreg_TRELLIS_FF_Q_3", 48.6)) == "rope"
    assert sa.limiting_kernel(_row("dut.u_pk_lg.lane_FF", "dut.u_smax_i.best_FF", 46.1)) == "softmax_max"
    assert sa.limiting_kernel(_row("u_gemv_i.acc", "u_gemv_i.acc", 90.0)) == "gemv"
    assert sa.limiting_kernel(_row("dut.u_pk_lg.lane_FF", "dut.u_pk_lg.acc_FF", 46.1)) is None
    assert sa.limiting_kernel({"critical_path": None}) is None


def test_closure_repipelines_the_limiting_kernel_and_the_line_shows_each_attempt(monkeypatch, tmp_path) -> None:
    built: list[dict[str, float]] = []

    def accel_job(pc, xls_mhz, build_root, kernel_mhz):  # noqa: ANN001, ANN202
        mhz = {k: float((kernel_mhz or {}).get(k, xls_mhz)) for k in ("rmsnorm", "rope")}
        built.append(mhz)
        return SynthJob(sa.ACCEL_NAME, (), "flatflow_accel", 1000, extra={"kernel_xls_mhz": mhz})

    def synth_one(job, target, freq, root, harness, seed, force):  # noqa: ANN001, ANN202
        rope = job.extra["kernel_xls_mhz"]["rope"]
        # rope limits the top until it is pipelined for more than 600 MHz; then the packer (the top's own)
        if rope <= 600:
            return _row("dut.u_rope_i.x_icnt", "dut.hreg", 48.0)
        return _row("dut.u_pk_lg.lane", "dut.u_pk_lg.acc", 52.0)

    monkeypatch.setattr(sa, "accel_job", accel_job)
    monkeypatch.setattr(sr, "synth_one", synth_one)
    monkeypatch.setattr("pyflow.synth.kernels.rtl_root", lambda xls_mhz, default_mhz: Path(tmp_path))
    row = sa.synth_accel(None, None, 150.0, 495.0, tmp_path, default_mhz=150.0, kernel_mhz={"rope": 500.0},
                         closure=3)
    assert [b["rope"] for b in built][0] == 500.0 and built[1]["rope"] > 600 and len(built) == 2
    assert built[1]["rmsnorm"] == 495.0                       # only the limiting kernel moves
    assert [h["limited_by"] for h in row["closure"]] == ["rope", "top"]
    assert row["fmax_mhz"] == 52.0                            # the best attempt is the row
    line = progress_line(row)
    assert "Fmax 52.0 MHz" in line and "48 (rope), 52 (top)" in line


def test_progress_line_of_a_kernel_lists_its_xls_clocks() -> None:
    row = {"name": "av", "status": "ok", "fmax_mhz": 192.0, "cached": True,
           "closure": [{"xls_mhz": 495.0, "fmax_mhz": 118.1}, {"xls_mhz": 723.0, "fmax_mhz": None}]}
    line = progress_line(row)
    assert "XLS MHz:Fmax 495:118, 723:x" in line and line.endswith("(cached)")
    assert "XLS" not in progress_line({"name": "qk", "status": "failed", "closure": []})
