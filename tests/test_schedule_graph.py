"""The decode-chain DAG and the three duration sources, against counts and cycle formulas written out here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden.config import LlamaConfig
from pyflow.errors import FlowError
from pyflow.project.config import load_project_config
from pyflow.schedule.durations import Hw, golden_durations, measured_durations, profile_durations
from pyflow.schedule.graph import build_graph

CFG = LlamaConfig()  # LLaMA-3.2-1B: 32 query heads, 8 KV heads, d = 64, H = 2048
# The default config's lanes: rmsnorm 8, gemv 8, rope 4, qk 8, softmax 4, av 8, kv_cache 4 (written out below).
HW = Hw.from_config(load_project_config(), depth=4)


def by_label(g):  # noqa: ANN001, ANN202
    return {op.label: op for op in g.ops}


@pytest.mark.parametrize("tokens", [1, 3])
def test_op_counts(tokens: int) -> None:
    g = build_graph(CFG, tokens, 128, per_head=True)
    per_token = 1 + 5 * 8 + 7 * 32 + 1  # rmsnorm, 5 per KV head, 7 per query head, o_proj
    assert len(g.ops) == tokens * per_token
    assert len(build_graph(CFG, tokens, 128, per_head=False).ops) == tokens * 14
    assert len(build_graph(CFG, tokens, 128, per_head=True, o_proj_blocks=4).ops) == tokens * (per_token + 3)
    assert len({op.label for op in g.ops}) == len(g.ops)
    assert all(p < i for i, ps in enumerate(g.preds) for p in ps)


def test_gqa_and_token_dependencies() -> None:
    g = build_graph(CFG, 2, 16, per_head=True, mode="autoregressive")
    ops = by_label(g)
    for h in range(32):
        qk = ops[f"qk[t0,h{h}]"]
        pred_labels = {g.ops[p].label for p in g.preds[qk.id]}
        assert pred_labels == {f"rope_q[t0,h{h}]", f"mem_load_kv[t0,kv{h // 4}]"}
    assert {g.ops[p].label for p in g.preds[ops["o_proj[t0]"].id]} == {f"av[t0,h{h}]" for h in range(32)}
    assert [g.ops[p].label for p in g.preds[ops["rmsnorm[t1]"].id]] == ["o_proj[t0]"]
    kv = build_graph(CFG, 2, 16, per_head=True, mode="kv-only")
    ops = by_label(kv)
    assert kv.preds[ops["rmsnorm[t1]"].id] == []
    for j in range(8):
        preds = {kv.ops[p].label for p in kv.preds[ops[f"mem_load_kv[t1,kv{j}]"].id]}
        assert preds == {f"mem_store_kv[t1,kv{j}]", f"mem_store_kv[t0,kv{j}]"}


def test_golden_durations_match_hand_formulas() -> None:
    g = build_graph(CFG, 2, 128, per_head=True)
    d = golden_durations(g, HW)
    cyc = {op.label: d.cycles[op.id] for op in g.ops}
    depth, H, dh = 4, 2048, 64
    assert cyc["q_proj[t0,h3]"] == dh * H // 8 + depth      # d rows of H/8 beats
    assert cyc["o_proj[t0]"] == H * H // 8 + depth
    assert cyc["rmsnorm[t0]"] == 2 * H // 8 + depth
    assert cyc["qk[t0,h0]"] == 128 * dh // 8 + depth
    assert cyc["av[t1,h0]"] == dh * 136 // 8 + depth         # 129 keys padded to 136 (av lanes 8)
    assert cyc["softmax_max[t1,h0]"] == 33 + depth           # 129 keys -> 33 beats of 4
    assert cyc["rope_q[t0,h0]"] == 32 // 4 + depth
    # KV load over AXI4 (8 elements a 128-bit word = 2 stream beats of 4, bursts of 256 words = one 4 KB page,
    # 2 cycles of read latency per burst, no pipeline): 128 K rows of 8 words streamed (2 cycles a word, 4
    # bursts) while 128 V rows enter the V bank (a word a cycle, 4 bursts), a cycle, then 64 V^T rows of 32 beats
    assert cyc["mem_load_kv[t0,kv0]"] == max(128 * 8 * 2 + 4 * 2, 128 * 8 + 4 * 2) + 1 + 64 * 32
    # store: 16 beats of k_new/v_new + 1, the K row in one burst (8 + 3), a cycle, the V row in one burst (8 + 3)
    assert cyc["mem_store_kv[t0,kv0]"] == 16 + 1 + (8 + 3) + 1 + (8 + 3)
    whole = golden_durations(build_graph(CFG, 1, 128, per_head=False), HW)
    q_whole = whole.cycles[[op.kind for op in build_graph(CFG, 1, 128, per_head=False).ops].index("q_proj")]
    per_head = sum(c for op, c in zip(g.ops, d.cycles, strict=True) if op.kind == "q_proj" and op.token == 0)
    assert per_head - q_whole == 31 * depth                 # 32 pipeline fills instead of one


def _entry(kernel: str, pred: int, meas: int, **kw: object) -> dict[str, object]:
    return {"kernel": kernel, "simulator": "verilator", "outputs_match": True, "cycles_predicted": pred,
            "cycles_measured": meas, **kw}


def test_measured_durations_scale(tmp_path: Path) -> None:
    g = build_graph(CFG, 1, 128, per_head=True)
    kernels = ["rmsnorm", "gemv", "rope", "kv_cache", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av"]
    rows = [_entry(k, 100, 100, pipeline_depth=4) for k in kernels]
    rows[1] = _entry("gemv", 100, 200, pipeline_depth=6)      # gemv measured twice as slow at depth 6
    path = tmp_path / "sim_report.json"
    path.write_text(json.dumps({"kernels": rows}))
    d = measured_durations(g, HW, path)
    ops = by_label(g)
    assert d.cycles[ops["q_proj[t0,h0]"].id] == 2 * (64 * 2048 // 8 + 6)
    assert d.cycles[ops["qk[t0,h0]"].id] == 128 * 64 // 8 + 4
    assert d.cycles[ops["mem_load_kv[t0,kv0]"].id] == (128 * 8 * 2 + 4 * 2) + 1 + 64 * 32  # no pipeline depth
    assert "measured" in d.sources[ops["q_proj[t0,h0]"].id]
    path.write_text(json.dumps([r for r in rows if r["kernel"] != "av"]))
    with pytest.raises(FlowError, match="kernel av is absent"):
        measured_durations(g, HW, path)
    rows[0] = dict(rows[0], outputs_match=False)
    path.write_text(json.dumps(rows))
    with pytest.raises(FlowError, match="rmsnorm failed"):
        measured_durations(g, HW, path)
    with pytest.raises(FlowError, match="not found"):
        measured_durations(g, HW, tmp_path / "nope.json")


def test_profile_durations(tmp_path: Path) -> None:
    g = build_graph(CFG, 1, 16, per_head=False)
    kinds = [op.kind for op in g.ops]
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"unit": "us", "ops": {k: 0.5 + i for i, k in enumerate(kinds)}}))
    d = profile_durations(g, HW, path)
    assert d.cycles == [round((0.5 + i) * 200) for i in range(len(kinds))]
    path.write_text(json.dumps({"unit": "cycles", **{k: 7 for k in kinds}}))
    assert profile_durations(g, HW, path).cycles == [7] * len(kinds)
    for bad, msg in [({"ops": {"qk": 1}}, "no time for op"), ({"ops": {"bogus": 1}}, "unknown op"),
                     ({"ops": dict.fromkeys(kinds, -1)}, "positive"), ({"unit": "ms", "qk": 1}, "unit")]:
        path.write_text(json.dumps(bad))
        with pytest.raises(FlowError, match=msg):
            profile_durations(g, HW, path)
    path.write_text(json.dumps({"ops": dict.fromkeys(kinds, 1.0), "granularity": {"heads": "all"}}))
    with pytest.raises(FlowError, match="timed with --heads all, the schedule uses --heads 1"):
        profile_durations(g, HW, path)  # g is a whole-layer graph
    path.write_text("{not json")
    with pytest.raises(FlowError, match="not valid JSON"):
        profile_durations(g, HW, path)
