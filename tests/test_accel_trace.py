"""The accelerator's RTL trace (`accel trace`, pyflow/accel/trace.py) at small dimensions: two tokens with the
top's trace monitor on Verilator (Verilog memory) and Icarus (AxiRam); the Chrome JSON against the trace-event
format and the .pftrace through the perfetto protos (as tests/test_schedule_cli.py checks the scheduler's);
every token's phases add up to its cycles register; each unit's busy cycles equal the testbench's own count;
the beats per stream equal what the spec says must move; the memory counter adds up to the roofline bytes;
`schedule --durations measured --accel-trace` reproduces the measured cycles.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

from golden.cycles import row_beats
from golden.llama import CHAIN_OPS
from hls.accel.spec import build
from pyflow.cli import main as cli_main
from pyflow.errors import FlowError
from pyflow.project.config import load_project_config, small_config

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("accel")]
UNITS = ["rmsnorm", "gemv", "rope", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av", "axi read",
         "axi write"]


def small():  # noqa: ANN201 (AccelSpec)
    return build(small_config(load_project_config()))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return tmp_path_factory.getbasetemp() / "accel"  # the kernels test_accel.py builds, when it ran first


def expected_beats(a, pos: int) -> dict[str, int]:  # noqa: ANN001
    """Handshakes per stream one token must make, from the spec's shapes alone."""
    m, e = a.model, a.per_word
    hw, rw, n = m.hidden_size // e, m.head_dim // e, pos + 1
    nb, nh, nk, d = row_beats(n, e), m.num_attention_heads, m.num_key_value_heads, m.head_dim
    b = a.bytes_per_token(n)
    writes = (b["kv_write"] + b["x_y"] // 2) // a.word_bytes
    reads = b["total"] // a.word_bytes - writes
    rows = 2 * m.kv_dim + m.q_dim
    return {"rmsnorm.x": 2 * hw, "rmsnorm.gamma": hw, "rmsnorm.y": hw,
            "gemv.w": rows * hw + m.hidden_size * m.q_dim // e, "gemv.x": rows * hw + m.hidden_size * m.q_dim // e,
            "gemv.y": rows + m.hidden_size,
            "rope.x": (nk + nh) * rw, "rope.pos": nk + nh, "rope.y": (nk + nh) * rw,
            "qk.k": nh * n * rw, "qk.q": nh * n * rw, "qk.logit": nh * n,
            "softmax_max.logit": nh * nb, "softmax_max.max": nh, "softmax_exp.logit": nh * nb,
            "softmax_exp.max": nh, "softmax_exp.exp": nh * nb, "softmax_exp.sum": nh,
            "softmax_norm.exp": nh * nb, "softmax_norm.sum": nh, "softmax_norm.prob": nh * nb,
            "av.vt": nh * d * nb, "av.p": nh * d * nb, "av.out": nh * d,
            "axi read.r": reads, "axi read.out": reads, "axi write.in": writes, "axi write.w": writes}


def check_chrome(path: Path, clock_mhz: float) -> dict:
    doc = json.loads(path.read_text())
    ev = doc["traceEvents"]
    assert doc["displayTimeUnit"] == "ns" and all("ph" in e and "pid" in e for e in ev)
    names = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    assert list(names.values()) == ["engine 0", *UNITS]
    slices = [e for e in ev if e["ph"] == "X"]
    for e in slices:
        assert {"ph", "ts", "dur", "pid", "tid", "name", "args", "cat"} <= e.keys()
        assert e["dur"] > 0 and e["ts"] >= 0 and e["tid"] in names
    for tid in names:  # no overlap per track
        mine = sorted((e["ts"], e["ts"] + e["dur"]) for e in slices if e["tid"] == tid)
        assert mine and all(b[0] >= a[1] - 1e-9 for a, b in zip(mine, mine[1:], strict=False))
    ops = {e["name"] for e in slices if e["tid"] == 1}
    assert set(CHAIN_OPS) <= ops
    assert {e["name"] for e in slices if e["tid"] > 1} <= {"busy", "starved", "stalled", "back-pressured"}
    counters = {e["name"] for e in ev if e["ph"] == "C"}
    assert counters == {"memory bytes per cycle", "memory roofline (port bytes per cycle)"}
    assert doc["otherData"]["clock_mhz"] == clock_mhz
    return doc


def check_pftrace(path: Path, n_slices: int) -> None:
    trace = Trace()
    trace.ParseFromString(path.read_bytes())
    events = [p.track_event for p in trace.packet if p.HasField("track_event")]
    begins = [e for e in events if e.type == TrackEvent.TYPE_SLICE_BEGIN]
    ends = [e for e in events if e.type == TrackEvent.TYPE_SLICE_END]
    assert len(begins) == len(ends) == n_slices
    tracks = {t.uuid: t.name for t in (p.track_descriptor for p in trace.packet if p.HasField("track_descriptor"))}
    assert {"engine 0", *UNITS, "memory bytes per cycle"} <= set(tracks.values())
    assert any(e.type == TrackEvent.TYPE_COUNTER for e in events)
    depth: Counter = Counter()
    for e in events:
        if e.type in (TrackEvent.TYPE_SLICE_BEGIN, TrackEvent.TYPE_SLICE_END):
            depth[e.track_uuid] += 1 if e.type == TrackEvent.TYPE_SLICE_BEGIN else -1
            assert depth[e.track_uuid] in (0, 1)


@pytest.mark.parametrize("simulator,memory", [("verilator", "verilog"), ("icarus", "axiram")])
def test_trace_of_two_tokens(simulator: str, memory: str, root: Path, tmp_path: Path) -> None:
    from pyflow.accel.trace import run_trace

    a = small()
    s = run_trace(a, range(6, 8), simulator, memory, window=64, out=tmp_path, build_root=root, count_busy=True)
    doc = check_chrome(tmp_path / "accel_trace.json", a.pc.clock_mhz)
    check_pftrace(tmp_path / "accel_trace.pftrace", sum(1 for e in doc["traceEvents"] if e["ph"] == "X"))
    assert (tmp_path / "accel_trace.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the picture beside them
    assert json.loads((tmp_path / "accel_trace_summary.json").read_text())["tokens"] == json.loads(
        json.dumps(s["tokens"]))
    us = 1 / a.pc.clock_mhz
    for t, tok in enumerate(s["tokens"]):
        # the phases of a token add up to its cycles register (and to the cycles the test measured)
        assert sum(tok["phases"].values()) == sum(tok["ops"].values()) == tok["cycles"] == tok["cycles_register"]
        phase_us = sum(e["dur"] for e in doc["traceEvents"] if e["ph"] == "X" and e["tid"] == 1
                       and e["args"]["token"] == t)
        assert abs(phase_us - tok["cycles"] * us) < 1e-6 * tok["cycles"]
        assert tok["beats"] == expected_beats(a, tok["pos"])
        assert tok["bytes_moved"] == a.bytes_per_token(tok["pos"] + 1)["total"] == tok["bytes_roofline"]
        assert all(c["busy"] + c["starved"] + c["stalled"] + c["back-pressured"] <= tok["cycles"]
                   for c in tok["units"].values())
    # busy cycles per unit: the monitor's log equals the testbench's own count
    assert {k: v["busy"] for k, v in s["units"].items()} == s["busy_cycles_test"]
    assert s["units"]["gemv"]["busy"] >= 2 * expected_beats(a, 6)["gemv.w"]  # a beat a cycle at most
    # the memory counter (bytes per cycle x window length) adds up to the tokens' bytes
    pts = sorted((e["ts"], e["args"]["bytes_per_cycle"]) for e in doc["traceEvents"]
                 if e["ph"] == "C" and e["name"] == "memory bytes per cycle")
    total = sum(v * (b[0] - a_[0]) / us for a_, b in zip(pts, pts[1:], strict=False) for v in [a_[1]])
    want = sum(t["bytes_roofline"] for t in s["tokens"])
    assert abs(total - want) < 1e-3 * want
    if simulator == "verilator":
        _schedule_from_trace(a, s, tmp_path)


def _schedule_from_trace(a, s: dict, tmp_path: Path) -> None:  # noqa: ANN001
    """One engine, per-head ops of one token at the measured key count: the makespan is the measured cycles
    of the chain ops (x, y and done are no ops), up to rounding per op."""
    m = a.model
    cfg = tmp_path / "small.toml"
    cfg.write_text(f"[model]\nhidden_size = {m.hidden_size}\nnum_attention_heads = {m.num_attention_heads}\n"
                   f"num_key_value_heads = {m.num_key_value_heads}\nhead_dim = {m.head_dim}\n"
                   f"[context]\nmax_length = {a.capacity}\n[lanes]\n"
                   + "".join(f"{k} = {v}\n" for k, v in small_config(load_project_config()).lanes.items()))
    tok = s["tokens"][-1]
    out = tmp_path / "sched"
    rc = cli_main(["schedule", "--config", str(cfg), "--tokens", "1", "--ctx", str(tok["keys"]), "--engines", "1",
                   "--algo", "list", "--durations", "measured", "--accel-trace",
                   str(tmp_path / "accel_trace_summary.json"), "--out", str(out)])
    assert rc == 0
    summ = json.loads((out / "summary.json").read_text())
    want = sum(tok["ops"][k] for k in CHAIN_OPS)
    assert abs(summ["algorithms"]["list"]["makespan_cycles"] - want) <= summ["ops"]
    assert all(v.startswith("accel trace") for v in summ["durations"]["source_by_op"].values())


def test_bad_logs_and_summaries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pyflow.accel.trace import monitor_names, read_log

    a = small()
    units, streams = monitor_names(a)
    log = tmp_path / "x.log"
    with pytest.raises(FlowError, match="no trace log"):
        read_log(log, units, streams)
    log.write_text("# flatflow accel trace v1 window 8 units a,b streams a.x states S_IDLE\n")
    with pytest.raises(FlowError, match="another version"):
        read_log(log, units, streams)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tokens": [{"keys": 4}]}))
    for arg, msg in ((str(tmp_path / "missing.json"), "not found"), (str(bad), "not an accelerator trace")):
        rc = cli_main(["schedule", "--heads", "1", "--tokens", "1", "--algo", "list", "--out", str(tmp_path / "o"),
                       "--durations", "measured", "--accel-trace", arg])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 1 and len(err) == 1 and err[0].startswith("error:") and msg in err[0], err
    rc = cli_main(["accel", "trace", "--window", "0", "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err == [err[0]] and "--window" in err[0]
    assert not (tmp_path / "t").exists() and not (tmp_path / "o").exists()

