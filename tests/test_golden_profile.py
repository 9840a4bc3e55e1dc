"""`golden profile`: the PyTorch op chain against the float64 golden model, the CLI end to end through the
scheduler's profile reader and the `schedule` command, and its refusals.

Agreement bounds (max |torch - golden| over an op's output, relative to the golden output's max magnitude):

* float64 chain: 1e-12.  Same mathematics in the same precision; only summation order differs (observed
  ~6e-16).
* float32 chain: 32 * eps32 = 3.8e-6.  Every op output is a few float32 roundings deep (dot products of at
  most hidden = 128 terms, softmax, RoPE); random-sign rounding grows like sqrt(n) ulps, so errors of a few
  eps32 are expected (observed ~2e-7 = 2 eps32) and 32 eps32 leaves margin while staying far below any
  mathematical mistake: dropping the llama3 RoPE scaling, the smallest one tested, gives > 1e-2.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from golden.config import LlamaConfig, RopeScaling  # noqa: E402
from golden.llama import CHAIN_OPS, decode_step, fill_cache  # noqa: E402
from golden.weights import random_weights  # noqa: E402
from pyflow.cli import main as cli_main  # noqa: E402
from pyflow.errors import FlowError  # noqa: E402
from pyflow.schedule.durations import read_profile  # noqa: E402
from pyflow.torch_profile import step  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)
BOUND32 = 32 * EPS32
BOUND64 = 1e-12
# llama3 scaling with original context 64 and head_dim 16: RoPE pairs in all three frequency bands
SCALING = RopeScaling(factor=16.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64)
CFG = LlamaConfig(hidden_size=128, num_attention_heads=8, num_key_value_heads=2, head_dim=16, rope_theta=10000.0,
                  rope_scaling=SCALING, max_position_embeddings=4096)
PREFILL, TOKENS = 20, 3
OP_KEYS = ("rmsnorm", "q_proj", "k_proj", "v_proj", "rope_q", "rope_k", "mem_store_kv.k", "mem_store_kv.v",
           "mem_load_kv.k", "mem_load_kv.v", "qk", "softmax_max", "softmax_exp", "softmax_exp.sum", "softmax_norm",
           "av", "o_proj")

# small project config for the CLI: 4 query heads, 2 KV heads, head_dim 16, 8 keys, 200 MHz (default clock)
SMALL_TOML = """[model]
hidden_size = 64
num_attention_heads = 4
num_key_value_heads = 2
head_dim = 16
[context]
max_length = 8
[clock]
mhz = 200.0
"""


def rel_err(a: torch.Tensor, ref: np.ndarray) -> float:
    """Max abs difference relative to the reference's max magnitude."""
    return float(np.max(np.abs(a.double().cpu().numpy() - ref)) / np.max(np.abs(ref)))


def _errors(dtype: torch.dtype, per_head: bool, o_proj_blocks: int, ref_cfg: LlamaConfig = CFG) -> dict[str, float]:
    """Worst relative error per op over TOKENS decode steps after a PREFILL-token cache."""
    weights = random_weights(CFG, seed=3)
    rng = np.random.default_rng(11)
    prefill = rng.standard_normal((PREFILL, CFG.hidden_size))
    xs = rng.standard_normal((TOKENS, CFG.hidden_size))
    cache = fill_cache(ref_cfg, weights, prefill)
    chain = step.build_chain(CFG, weights, capacity=PREFILL + TOKENS, dtype=dtype, per_head=per_head,
                             o_proj_blocks=o_proj_blocks, prefill=prefill)
    worst = dict.fromkeys(OP_KEYS, 0.0)
    for t in range(TOKENS):
        ref: dict[str, np.ndarray] = {}
        got: dict[str, torch.Tensor] = {}
        y_ref, cache = decode_step(ref_cfg, weights, xs[t], PREFILL + t, cache, trace=ref)
        y = step.decode_step(chain, torch.as_tensor(xs[t], dtype=dtype), PREFILL + t, trace=got)
        assert torch.equal(y, got["o_proj"])
        for key in OP_KEYS:
            assert tuple(got[key].shape) == ref[key].shape, key
            worst[key] = max(worst[key], rel_err(got[key], ref[key]))
    return worst


@pytest.mark.parametrize("per_head,o_proj_blocks", [(True, 1), (True, 4), (False, 1), (False, 2)])
def test_chain_matches_golden(per_head: bool, o_proj_blocks: int) -> None:
    e64 = _errors(torch.float64, per_head, o_proj_blocks)
    assert max(e64.values()) < BOUND64, e64
    e32 = _errors(torch.float32, per_head, o_proj_blocks)
    assert max(e32.values()) < BOUND32, e32
    print(f"per_head={per_head} blocks={o_proj_blocks}: max rel error float64 {max(e64.values()):.2g}, "
          f"float32 {max(e32.values()):.2g} (bound {BOUND32:.2g})")


def test_bound_catches_a_wrong_rope() -> None:
    """The float32 bound is tight enough to see the chain against golden without llama3 scaling."""
    unscaled = dataclasses.replace(CFG, rope_scaling=None)
    e = _errors(torch.float32, True, 1, ref_cfg=unscaled)
    assert e["rope_q"] > 1e-2 and e["o_proj"] > 1e3 * BOUND32


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL_TOML)
    return path


def _user_spans(trace_path: Path) -> dict[str, list[float]]:
    """record_function spans of torch.profiler's Chrome trace: op name -> durations (us)."""
    doc = json.loads(trace_path.read_text())
    spans: dict[str, list[float]] = {}
    for e in doc["traceEvents"]:
        if e.get("cat") == "user_annotation" and e.get("ph") == "X":
            spans.setdefault(e["name"], []).append(float(e["dur"]))
    return spans


def test_cli_profile_drives_schedule(tmp_path: Path) -> None:
    cfg_file, out = _config(tmp_path), tmp_path / "prof"
    repeats, tokens, blocks = 3, 2, 2
    rc = cli_main(["golden", "profile", "--config", str(cfg_file), "--tokens", str(tokens), "--repeats",
                   str(repeats), "--warmup", "1", "--o-proj-blocks", str(blocks), "--out", str(out)])
    assert rc == 0
    prof_path = out / "profile.json"
    times, unit = read_profile(prof_path)  # the scheduler's reader, unchanged
    assert unit == "us" and set(times) == set(CHAIN_OPS)
    raw = json.loads(prof_path.read_text())
    assert raw["granularity"]["heads"] == "all" and raw["granularity"]["o_proj_blocks"] == blocks
    # nodes per token of `schedule --heads all` for 4 query heads / 2 KV heads and 2 o_proj blocks
    per_token = {"rmsnorm": 1, "o_proj": blocks, **dict.fromkeys(("k_proj", "v_proj", "rope_k", "mem_store_kv",
                                                                   "mem_load_kv"), 2),
                 **dict.fromkeys(("q_proj", "rope_q", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av"), 4)}
    assert raw["samples"] == {op: repeats * tokens * per_token[op] for op in CHAIN_OPS}
    # the Chrome trace holds one record_function span per timed op (warm-up is outside the profiler), and each
    # span encloses the op's timed interval, so the spans' median is at least the profile's median
    spans = _user_spans(out / "torch_trace.json")
    for op in CHAIN_OPS:
        assert len(spans[op]) == raw["samples"][op], op
        assert statistics.median(spans[op]) >= times[op] * 0.99 - 0.05, op

    sched = tmp_path / "sched"
    rc = cli_main(["schedule", "--config", str(cfg_file), "--durations", "profile", "--profile", str(prof_path),
                   "--tokens", str(tokens), "--o-proj-blocks", str(blocks), "--engines", "2", "--algo", "list",
                   "--out", str(sched)])
    assert rc == 0
    summary = json.loads((sched / "summary.json").read_text())
    assert summary["durations"]["method"] == "profile"
    slices = [e for e in json.loads((sched / "list.trace.json").read_text())["traceEvents"] if e["ph"] == "X"]
    assert len(slices) == summary["ops"] == tokens * sum(per_token.values())
    clock_mhz = 200.0
    for e in slices:  # every scheduled op lasts its profiled time at the config's clock
        assert e["args"]["cycles"] == max(1, round(raw["ops"][e["name"]] * clock_mhz)), e["args"]["op"]


def test_cli_whole_layer(tmp_path: Path) -> None:
    out = tmp_path / "prof"
    rc = cli_main(["golden", "profile", "--config", str(_config(tmp_path)), "--heads", "1", "--ctx", "5",
                   "--tokens", "1", "--repeats", "2", "--warmup", "0", "--out", str(out)])
    assert rc == 0
    raw = json.loads((out / "profile.json").read_text())
    assert raw["samples"] == dict.fromkeys(CHAIN_OPS, 2)
    assert set(raw["granularity"]["node"].values()) == {"token"}
    assert raw["settings"]["ctx"] == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_refused_without_gpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prof"
    rc = cli_main(["golden", "profile", "--config", str(_config(tmp_path)), "--device", "cuda", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("error: --device cuda: no CUDA device")
    assert not out.exists()


@pytest.mark.parametrize("argv,msg", [
    (["--repeats", "0"], "--repeats must be >= 1"),
    (["--tokens", "0"], "--tokens must be >= 1"),
    (["--ctx", "0"], "--ctx must be >= 1"),
    (["--warmup", "-1"], "--warmup must be >= 0"),
    (["--o-proj-blocks", "3"], "must divide hidden_size 64"),
    (["--checkpoint", "MISSING"], "does not exist"),
])
def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], msg: str) -> None:
    out = tmp_path / "prof"
    argv = [str(tmp_path / a) if a == "MISSING" else a for a in argv]
    rc = cli_main(["golden", "profile", "--config", str(_config(tmp_path)), "--out", str(out), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("error:") and msg in err[0]
    assert not out.exists()


def test_bfloat16_refused_where_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyflow.torch_profile import run

    def no_bf16(*args: object, **kwargs: object) -> None:
        raise RuntimeError("\"exp\" not implemented for 'BFloat16'")

    monkeypatch.setattr(run.torch, "exp", no_bf16)
    with pytest.raises(FlowError, match="--dtype bfloat16"):
        run.check_device("cpu", "bfloat16")
