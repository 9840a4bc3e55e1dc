"""`python -m pyflow schedule`: trace files (Chrome JSON, native Perfetto proto, PNG), summary, bad inputs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

from pyflow.cli import main as cli_main

PER_TOKEN_ALL_HEADS = 1 + 5 * 8 + 7 * 32 + 1  # default config: 8 KV heads, 32 query heads


def _run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "sched"
    rc = cli_main(["schedule", "--out", str(out), *extra])
    assert rc == 0
    return json.loads((out / "summary.json").read_text())


def _check_chrome(path: Path, n_ops: int, n_edges: int, n_engines: int) -> None:
    doc = json.loads(path.read_text())
    ev = doc["traceEvents"]
    slices = [e for e in ev if e["ph"] == "X"]
    assert len(slices) == n_ops
    for e in slices:
        assert {"ph", "ts", "dur", "pid", "tid", "name", "args"} <= e.keys()
        assert e["dur"] > 0 and e["ts"] >= 0
        assert {"token", "cycles", "source"} <= e["args"].keys()
    names = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    assert len(names) == n_engines and {e["tid"] for e in slices} <= names.keys()
    # no overlap per engine track
    for tid in names:
        mine = sorted((e["ts"], e["ts"] + e["dur"]) for e in slices if e["tid"] == tid)
        assert all(b[0] >= a[1] - 1e-9 for a, b in zip(mine, mine[1:], strict=False))
    flows = [e for e in ev if e["ph"] in ("s", "f")]
    by_id = Counter((e["id"], e["ph"]) for e in flows)
    ids = {e["id"] for e in flows}
    assert len(ids) == n_edges and all(by_id[(i, "s")] == 1 and by_id[(i, "f")] == 1 for i in ids)
    for e in flows:  # each flow end binds to a slice on its thread that encloses its timestamp
        assert any(s["tid"] == e["tid"] and s["ts"] <= e["ts"] <= s["ts"] + s["dur"] for s in slices)
        if e["ph"] == "f":
            assert e["bp"] == "e"
    s_ts = {e["id"]: e["ts"] for e in flows if e["ph"] == "s"}
    f_ts = {e["id"]: e["ts"] for e in flows if e["ph"] == "f"}
    assert all(s_ts[i] <= f_ts[i] for i in ids)
    counters = [e for e in ev if e["ph"] == "C"]
    assert counters and max(c["args"]["busy"] for c in counters) <= n_engines


def _check_pftrace(path: Path, n_ops: int, n_edges: int, n_engines: int) -> None:
    trace = Trace()
    trace.ParseFromString(path.read_bytes())
    events = [p.track_event for p in trace.packet if p.HasField("track_event")]
    begins = [e for e in events if e.type == TrackEvent.TYPE_SLICE_BEGIN]
    ends = [e for e in events if e.type == TrackEvent.TYPE_SLICE_END]
    assert len(begins) == n_ops and len(ends) == n_ops
    out_ids = Counter(f for e in begins for f in e.flow_ids)
    in_ids = Counter(f for e in begins for f in e.terminating_flow_ids)
    assert len(out_ids) == n_edges and set(out_ids) == set(in_ids) and set(in_ids.values()) == {1}
    tracks = [p.track_descriptor for p in trace.packet if p.HasField("track_descriptor")]
    engine_tracks = {t.uuid for t in tracks if t.name.startswith(("engine", "dma"))}
    assert len(engine_tracks) == n_engines and {e.track_uuid for e in begins} <= engine_tracks
    # slices on one track never overlap: begin/end strictly alternate in timestamp order
    depth: Counter = Counter()
    for p in trace.packet:
        if p.HasField("track_event") and p.track_event.type in (TrackEvent.TYPE_SLICE_BEGIN,
                                                                TrackEvent.TYPE_SLICE_END):
            depth[p.track_event.track_uuid] += 1 if p.track_event.type == TrackEvent.TYPE_SLICE_BEGIN else -1
            assert depth[p.track_event.track_uuid] in (0, 1)


def test_default_shape_all_heads_list(tmp_path: Path) -> None:
    s = _run(tmp_path, "--algo", "list", "--engines", "3", "--mem-engines", "1", "--mode", "kv-only")
    n = 2 * PER_TOKEN_ALL_HEADS
    assert s["ops"] == n and s["tokens"] == 2
    r = s["algorithms"]["list"]
    assert r["makespan_cycles"] >= s["bounds"]["lower"] >= s["bounds"]["critical_path"]
    assert abs(r["makespan_us"] - r["makespan_cycles"] / s["clock_mhz"]) < 1e-9
    out = tmp_path / "sched"
    _check_chrome(out / "list.trace.json", n, s["edges"], 4)
    _check_pftrace(out / "list.pftrace", n, s["edges"], 4)
    assert (out / "list_gantt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_whole_layer_all_algorithms(tmp_path: Path) -> None:
    s = _run(tmp_path, "--heads", "1", "--tokens", "3", "--engines", "2", "--algo", "all", "--time-limit", "5")
    assert s["ops"] == 3 * 14
    ms = {a: r["makespan_cycles"] for a, r in s["algorithms"].items()}
    assert set(ms) == {"list", "hlfet", "cpsat"}
    assert ms["cpsat"] <= min(ms["list"], ms["hlfet"])
    assert all(m >= s["bounds"]["lower"] for m in ms.values())
    if s["algorithms"]["cpsat"]["status"] == "OPTIMAL":
        assert ms["cpsat"] == s["algorithms"]["cpsat"]["solver_bound"]
    for algo in ms:
        _check_chrome(tmp_path / "sched" / f"{algo}.trace.json", s["ops"], s["edges"], 2)
        _check_pftrace(tmp_path / "sched" / f"{algo}.pftrace", s["ops"], s["edges"], 2)


def test_profile_source(tmp_path: Path) -> None:
    from golden.llama import CHAIN_OPS

    prof = tmp_path / "prof.json"
    prof.write_text(json.dumps({"unit": "cycles", "ops": dict.fromkeys(CHAIN_OPS, 10)}))
    s = _run(tmp_path, "--heads", "1", "--tokens", "1", "--engines", "1", "--algo", "list",
             "--durations", "profile", "--profile", str(prof))
    # one engine, 14 ops of 10 cycles each: exactly 140
    assert s["algorithms"]["list"]["makespan_cycles"] == 140
    assert all(v.startswith("profile") for v in s["durations"]["source_by_op"].values())


@pytest.mark.parametrize("argv,msg", [
    (["--durations", "profile", "--profile", "MISSING.json"], "not found"),
    (["--durations", "profile"], "needs --profile"),
    (["--engines", "0"], "--engines"),
    (["--mem-engines", "-1"], "--mem-engines"),
    (["--tokens", "0"], "--tokens"),
    (["--durations", "profile", "--profile", "BAD"], "not valid JSON"),
    (["--durations", "measured", "--sim-report", "MISSING.json"], "not found"),
    (["--o-proj-blocks", "3"], "divide"),
])
def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], msg: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    argv = [str(bad) if a == "BAD" else str(tmp_path / a) if a.endswith(".json") else a for a in argv]
    out = tmp_path / "o"
    rc = cli_main(["schedule", "--heads", "1", "--tokens", "1", "--algo", "list", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("error:") and msg in err[0]
    assert not out.exists()  # nothing half-written


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["schedule", "--help"])
    assert exc.value.code == 0
    assert "--mem-engines" in capsys.readouterr().out
