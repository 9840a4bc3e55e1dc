"""DSE machinery: grid, Pareto front, CSV, per-point cache and resume (toy hooks, real ECP5 synthesis)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from pathlib import Path

import pytest

from pyflow.errors import FlowError
from pyflow.synth import dse
from pyflow.synth.run import SynthJob

MAC = """
module mac #(parameter L = 1) (input clk, input [8*L-1:0] a, input [8*L-1:0] b, output reg [19:0] y);
  integer i; reg [19:0] s;
  always @(posedge clk) begin
    s = 0; for (i = 0; i < L; i = i + 1) s = s + a[8*i +: 8] * b[8*i +: 8];
    y <= s;
  end
endmodule
"""
N = 64


def toy_configure(ctx: dse.DseContext, p: dse.DsePoint) -> dict:
    if N % p.lanes:
        raise FlowError(f"lanes {p.lanes} does not divide {N}")
    return {"lanes": p.lanes}


def toy_job(cfg: dict, p: dse.DsePoint, ctx: dse.DseContext, work: Path) -> SynthJob:
    work.mkdir(parents=True, exist_ok=True)
    src = work / "mac.v"
    src.write_text(MAC.replace("parameter L = 1", f"parameter L = {cfg['lanes']}"))
    return SynthJob("mac", (src,), "mac", cycles=N // cfg["lanes"] + 1, extra={"xls_mhz": None})


def toy_error(cfg: dict, p: dse.DsePoint) -> dict:
    return {"max_abs": 0.5 / cfg["lanes"], "max_rel": 0.01}


def toy_sim(cfg: dict, p: dse.DsePoint, ctx: dse.DseContext, work: Path) -> int:
    return N // cfg["lanes"] + 1


HOOKS = dse.DseHooks(toy_configure, toy_job, toy_error, toy_sim, name="toy")


def test_parse_format_and_grid():
    assert dse.parse_format("default") == ()
    assert dse.parse_format("logit=16.8,act=12.8") == (("act", 12, 8), ("logit", 16, 8))
    with pytest.raises(FlowError, match="NAME=WIDTH.FRAC"):
        dse.parse_format("act=twelve")
    pts = dse.grid(["a", "b"], [4, 2, 4], [(), (("act", 12, 8),)], sim_sample=2)
    assert len(pts) == 2 * 2 * 2
    assert [(p.kernel, p.lanes) for p in pts[:4]] == [("a", 2), ("a", 2), ("a", 4), ("a", 4)]
    assert sum(p.simulate for p in pts) == 2 and pts[0].simulate
    with pytest.raises(FlowError):
        dse.grid(["a"], [0], [()])


def test_pareto_front_matches_brute_force():
    rnd = random.Random(3)
    for _ in range(50):
        pts = [(rnd.randint(0, 20), rnd.randint(0, 20)) for _ in range(rnd.randint(1, 15))]
        want = {i for i, p in enumerate(pts)
                if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pts)}
        # among duplicates of a non-dominated point, exactly one is kept
        got = dse.pareto_front(pts)
        assert {pts[i] for i in got} == {pts[i] for i in want}
        assert len(got) == len({pts[i] for i in want})


def test_csv_has_every_column_and_blank_unknowns():
    text = dse.csv_text([{"kernel": "qk", "lanes": 4, "formats": "default", "status": "ok", "fmax_mhz": 151.2,
                          "sim_cycles": None}])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0].keys()) == dse.CSV_COLUMNS
    assert rows[0]["fmax_mhz"] == "151.2" and rows[0]["sim_cycles"] == ""


@pytest.fixture(scope="module")
def client():
    from pyflow.cluster.client import open_client

    with open_client(workers=1) as c:
        yield c


def test_sweep_caches_and_resumes(tmp_path: Path, client):
    ctx = dse.DseContext(board="ecp5-85k", freq_mhz=100.0, xls_mhz=100.0, root=tmp_path / "dse", harness="always")
    pts = dse.grid(["mac"], [1, 2, 3], [()], sim_sample=1)
    rows = dse.run_sweep(pts, ctx, HOOKS, client)
    by = {r["lanes"]: r for r in rows}
    assert by[3]["status"] == "invalid" and "does not divide" in by[3]["error"]
    for p in (1, 2):
        r = by[p]
        assert r["status"] == "ok", r["error"]
        assert r["cycles"] == N // p + 1
        assert r["decode_us"] == pytest.approx(r["cycles"] / r["fmax_mhz"], rel=1e-3)
        assert r["max_abs_err"] == 0.5 / p
    assert by[1]["simulated"] and by[1]["cycles_match"] is True and "sim_cycles" not in by[2]
    assert by[2]["lut"] > by[1]["lut"]  # two 8x8 products and an adder vs one product
    assert all(r["worker"].startswith("tcp://127.0.0.1:") and r["seconds"] >= 0 for r in rows)
    # resume: every point cached; a deleted point is the only one recomputed
    again = dse.run_sweep(pts, ctx, HOOKS, client)
    assert all(r["cached"] for r in again)
    (ctx.root / "points" / f"{by[2]['key']}.json").unlink()
    third = dse.run_sweep(pts, ctx, HOOKS, client)
    assert [r["cached"] for r in third] == [True, False, True]
    assert third[1]["lut"] == by[2]["lut"]
    png = dse.pareto_png(third, tmp_path / "p.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((ctx.root / "points" / f"{by[1]['key']}.json").read_text())["lanes"] == 1
    assert len(list(itertools.chain((ctx.root / "points").glob("*.json")))) == 3


def test_project_configure_applies_lanes_and_formats(tmp_path: Path):
    from pyflow.project.config import load_project_config, small_config

    ctx = dse.DseContext(board="ecp5-85k", freq_mhz=150.0, xls_mhz=200.0, root=tmp_path, small=True)
    small = small_config(load_project_config())
    pc = dse.project_configure(ctx, dse.DsePoint("softmax_exp", 8, (("act", 12, 8),)))
    assert pc.lanes["softmax"] == 8 and pc.lanes["qk"] == small.lanes["qk"]
    assert pc.model.hidden_size == small.model.hidden_size and pc.max_length == small.max_length
    assert (pc.formats["act"].width, pc.formats["act"].frac) == (12, 8)
    with pytest.raises(FlowError, match="does not divide"):
        dse.project_configure(ctx, dse.DsePoint("qk", 3))
    full = dse.project_configure(dse.DseContext("ecp5-85k", 150.0, 200.0, tmp_path), dse.DsePoint("qk", 16))
    assert full.lanes["qk"] == 16 and full.model.hidden_size == load_project_config().model.hidden_size


def test_accelerator_points_set_the_memory_port(tmp_path: Path):
    """The accelerator's lanes are elements per memory word: the point's port is lanes x element width, and a
    width that makes no AXI4 port (not a power of two) is an invalid point, not a crash."""
    ctx = dse.DseContext(board="ecp5-85k", freq_mhz=150.0, xls_mhz=200.0, root=tmp_path, small=True)
    pc = dse.project_configure(ctx, dse.DsePoint("accelerator", 16))
    assert pc.memory["data_bits"] == 16 * pc.scheme.act.width
    narrow = (("act", 8, 4), ("norm_weight", 8, 6), ("weight", 8, 6))
    assert dse.project_configure(ctx, dse.DsePoint("accelerator", 8, narrow)).memory["data_bits"] == 64
    with pytest.raises(FlowError, match="data_bits"):
        dse.project_configure(ctx, dse.DsePoint("accelerator", 6))
    row = dse.compute_point(dse.DsePoint("accelerator", 6), ctx, dse.PROJECT_HOOKS)
    assert row["status"] == "invalid" and "data_bits" in row["error"]
