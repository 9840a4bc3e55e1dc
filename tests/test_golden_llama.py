"""Float64 golden LLaMA decode attention: every op against an independent formula, the decode chain
against one-shot causal attention, checkpoint loading and the ``golden llama-decode`` CLI contract."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from golden import llama as gl
from golden.config import LlamaConfig, RopeScaling
from golden.rope import cos_sin, inv_freq
from golden.weights import LayerWeights, random_weights
from pyflow.cli import main as cli_main
from pyflow.errors import FlowError
from pyflow.project.checkpoint import load_checkpoint, load_config, load_layer

REPO = Path(__file__).resolve().parents[1]

# Small config whose llama3 scaling puts RoPE pairs in all three bands (head_dim 16, theta 1e4,
# original context 64: wavelengths 6.3 | 19.9, 62.8 | 199, ...) with a factor other than 8.
SCALING = RopeScaling(factor=16.0, low_freq_factor=1.0, high_freq_factor=4.0,
                      original_max_position_embeddings=64)
CFG = LlamaConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                  rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=SCALING, max_position_embeddings=4096)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """Max abs difference relative to the reference's max magnitude."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


# ------------------------------------------------------------------ independent reference formulas
def ref_inv_freq(cfg: LlamaConfig) -> list[float]:
    """Scalar re-statement of the llama3 rule: keep high freqs, divide low ones, interpolate between."""
    out = []
    for i in range(cfg.head_dim // 2):
        f = cfg.rope_theta ** (-2.0 * i / cfg.head_dim)
        s = cfg.rope_scaling
        if s is not None:
            wavelen = 2 * math.pi / f
            if wavelen < s.original_max_position_embeddings / s.high_freq_factor:
                pass
            elif wavelen > s.original_max_position_embeddings / s.low_freq_factor:
                f = f / s.factor
            else:
                t = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (
                    s.high_freq_factor - s.low_freq_factor)
                f = (1 - t) * f / s.factor + t * f
        out.append(f)
    return out


def ref_rotate(x: np.ndarray, pos: int, cfg: LlamaConfig) -> np.ndarray:
    """RoPE as a complex rotation of the pairs (x[i], x[i + d/2])."""
    half = cfg.head_dim // 2
    z = x[..., :half] + 1j * x[..., half:]
    z = z * np.exp(1j * pos * np.array(ref_inv_freq(cfg)))
    return np.concatenate([z.real, z.imag], axis=-1)


def ref_attention(cfg: LlamaConfig, w: LayerWeights, x: np.ndarray, start_pos: int) -> np.ndarray:
    """Causal GQA attention of all T rows in one shot (prefill form)."""
    t_len = x.shape[0]
    nh, nk, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    rms = np.linalg.norm(x, axis=1, keepdims=True) / math.sqrt(cfg.hidden_size)
    h = w.norm * x / np.sqrt(rms**2 + cfg.rms_norm_eps)
    q = np.einsum("oi,ti->to", w.wq, h).reshape(t_len, nh, d)
    k = np.einsum("oi,ti->to", w.wk, h).reshape(t_len, nk, d)
    v = np.einsum("oi,ti->to", w.wv, h).reshape(t_len, nk, d)
    q = np.stack([ref_rotate(q[t], start_pos + t, cfg) for t in range(t_len)])
    k = np.stack([ref_rotate(k[t], start_pos + t, cfg) for t in range(t_len)])
    k = np.repeat(k, nh // nk, axis=1)  # query head h -> kv head h // group
    v = np.repeat(v, nh // nk, axis=1)
    s = np.einsum("thd,shd->hts", q, k) / math.sqrt(d)
    s = np.where(np.tril(np.ones((t_len, t_len), bool))[None], s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = np.einsum("hts,shd->thd", p, v).reshape(t_len, nh * d)
    return np.einsum("oi,ti->to", w.wo, o)


# ------------------------------------------------------------------------------------------ ops
def test_chain_ops_order_and_names() -> None:
    assert gl.CHAIN_OPS == ("rmsnorm", "q_proj", "k_proj", "v_proj", "rope_q", "rope_k", "mem_store_kv",
                            "mem_load_kv", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av", "o_proj")
    for name in gl.CHAIN_OPS:
        assert callable(getattr(gl, name))
    for key in gl.TRACE_KEYS:
        assert key in ("x", "cos", "sin") or key.split(".")[0] in gl.CHAIN_OPS


def test_rmsnorm() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(64) * 3, rng.standard_normal(64)
    expected = [w[i] * x[i] / math.sqrt(sum(v * v for v in x) / 64 + 1e-5) for i in range(64)]
    np.testing.assert_allclose(gl.rmsnorm(x, w, 1e-5), expected, rtol=1e-13)


def test_projections() -> None:
    rng = np.random.default_rng(2)
    w = random_weights(CFG, 3)
    x = rng.standard_normal(CFG.hidden_size)
    for fn, mat in ((gl.q_proj, w.wq), (gl.k_proj, w.wk), (gl.v_proj, w.wv)):
        np.testing.assert_allclose(fn(x, mat), np.einsum("oi,i->o", mat, x), rtol=1e-12, atol=1e-15)
    a = rng.standard_normal(CFG.q_dim)
    np.testing.assert_allclose(gl.o_proj(a, w.wo), np.einsum("oi,i->o", w.wo, a), rtol=1e-12, atol=1e-15)
    assert w.wq.shape == (CFG.q_dim, CFG.hidden_size) and w.wo.shape == (CFG.hidden_size, CFG.q_dim)


def test_llama3_scaling_bands_factor_16() -> None:
    got = inv_freq(CFG)
    np.testing.assert_allclose(got, ref_inv_freq(CFG), rtol=1e-14)
    base = CFG.rope_theta ** (-np.arange(0, CFG.head_dim, 2) / CFG.head_dim)
    ratio = got / base
    assert ratio[0] == 1.0  # high-frequency band untouched
    assert np.allclose(ratio[-1], 1 / 16)  # low-frequency band divided by the config's factor
    medium = (ratio < 1) & (ratio > 1 / 16 + 1e-12)
    assert medium.sum() >= 2  # interpolated band present
    plain = dataclasses.replace(CFG, rope_scaling=None)
    np.testing.assert_allclose(inv_freq(plain), base, rtol=1e-15)


def test_rope_matches_complex_rotation() -> None:
    rng = np.random.default_rng(4)
    q = rng.standard_normal((CFG.num_attention_heads, CFG.head_dim))
    k = rng.standard_normal((CFG.num_key_value_heads, CFG.head_dim))
    for pos in (0, 1, 37, 5000):
        cos, sin = cos_sin(CFG, pos)
        np.testing.assert_allclose(gl.rope_q(q, cos, sin), ref_rotate(q, pos, CFG), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gl.rope_k(k, cos, sin), ref_rotate(k, pos, CFG), rtol=1e-12, atol=1e-12)


def test_qk_softmax_av() -> None:
    rng = np.random.default_rng(5)
    q, keys, vals = rng.standard_normal(16), rng.standard_normal((9, 16)) * 2, rng.standard_normal((9, 16))
    s = gl.qk(q, keys)
    np.testing.assert_allclose(s, np.einsum("d,ld->l", q, keys) / 4.0, rtol=1e-13)
    m = gl.softmax_max(s)
    e, total = gl.softmax_exp(s, m)
    p = gl.softmax_norm(e, total)
    direct = np.exp(s) / np.sum(np.exp(s))
    assert m == max(s)
    np.testing.assert_allclose(e, np.exp(s) / np.exp(max(s)), rtol=1e-13)
    np.testing.assert_allclose(total, sum(np.exp(s - max(s))), rtol=1e-13)
    np.testing.assert_allclose(p, direct, rtol=1e-13)
    np.testing.assert_allclose(gl.av(p, vals), np.einsum("l,ld->d", direct, vals), rtol=1e-12)


def test_kv_cache_store_load_and_growth() -> None:
    cache = gl.KVCache.empty(CFG, capacity=1)
    rows = [np.random.default_rng(i).standard_normal((2, CFG.num_key_value_heads, CFG.head_dim))
            for i in range(5)]
    for k, v in rows:
        cache = gl.mem_store_kv(cache, k, v)
    assert cache.length == 5 and cache.capacity >= 5
    for head in range(CFG.num_key_value_heads):
        keys, vals = gl.mem_load_kv(cache, head)
        np.testing.assert_array_equal(keys, np.stack([r[0][head] for r in rows]))
        np.testing.assert_array_equal(vals, np.stack([r[1][head] for r in rows]))


def test_gqa_mapping() -> None:
    """Query head h must read KV head h // (n_heads / n_kv): make each KV head's values equal its index."""
    cfg = dataclasses.replace(CFG, num_attention_heads=8, num_key_value_heads=2)
    w = random_weights(cfg, 6)
    cache = gl.KVCache.empty(cfg)
    for t in range(3):
        vals = np.repeat(np.arange(2.0)[:, None], cfg.head_dim, axis=1) + 10 * t
        cache = gl.mem_store_kv(cache, np.random.default_rng(t).standard_normal((2, cfg.head_dim)), vals)
    trace: dict[str, np.ndarray] = {}
    gl.decode_step(cfg, w, np.random.default_rng(9).standard_normal(cfg.hidden_size), 3, cache, trace)
    p = trace["softmax_norm"]
    vals_new = trace["v_proj"].reshape(2, cfg.head_dim)
    for head in range(8):
        kv = head // 4
        expected = sum(p[head, t] * (kv + 10 * t) for t in range(3)) + p[head, 3] * vals_new[kv]
        np.testing.assert_allclose(trace["av"][head], expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------- chain
@pytest.mark.parametrize("start_pos", [0, 1000])
def test_decode_sequence_equals_one_shot_causal_attention(start_pos: int) -> None:
    w = random_weights(CFG, 7)
    x = np.random.default_rng(8).standard_normal((11, CFG.hidden_size)) * 2
    got = gl.decode_sequence(CFG, w, x, start_pos=start_pos)
    assert rel_err(got, ref_attention(CFG, w, x, start_pos)) < 1e-12


def test_decode_step_with_growing_cache_and_fill_cache() -> None:
    w = random_weights(CFG, 10)
    x = np.random.default_rng(11).standard_normal((6, CFG.hidden_size))
    ref = ref_attention(CFG, w, x, 3)
    cache = gl.KVCache.empty(CFG, capacity=1)
    for t in range(6):
        out, cache = gl.decode_step(CFG, w, x[t], 3 + t, cache)
        assert rel_err(out, ref[t]) < 1e-12
    prefilled = gl.fill_cache(CFG, w, x[:5], start_pos=3)
    out, _ = gl.decode_step(CFG, w, x[5], 8, prefilled)
    assert rel_err(out, ref[5]) < 1e-12


def test_trace_shapes_match_chain_costs() -> None:
    w = random_weights(CFG, 12)
    ctx = 5
    cache = gl.fill_cache(CFG, w, np.random.default_rng(13).standard_normal((ctx - 1, CFG.hidden_size)))
    trace: dict[str, np.ndarray] = {}
    gl.decode_step(CFG, w, np.ones(CFG.hidden_size), ctx - 1, cache, trace)
    assert set(trace) == set(gl.TRACE_KEYS)
    costs = {c.op: c for c in gl.chain_costs(CFG, ctx)}
    assert list(costs) == list(gl.CHAIN_OPS)
    single = {"rmsnorm", "q_proj", "k_proj", "v_proj", "rope_q", "rope_k", "qk", "softmax_max",
              "softmax_norm", "av", "o_proj"}
    for op in single:
        assert costs[op].out_shapes == (trace[op].shape,), op
    assert costs["mem_load_kv"].out_shapes == (trace["mem_load_kv.k"].shape, trace["mem_load_kv.v"].shape)
    assert costs["softmax_exp"].out_shapes == (trace["softmax_exp"].shape, trace["softmax_exp.sum"].shape)
    for op, mat in (("q_proj", w.wq), ("k_proj", w.wk), ("v_proj", w.wv), ("o_proj", w.wo)):
        assert costs[op].macs == mat.size and costs[op].weight_elems == mat.size
    assert costs["av"].macs == trace["softmax_norm"].size * CFG.head_dim


def test_bad_decode_inputs() -> None:
    w = random_weights(CFG)
    with pytest.raises(ValueError, match="shape"):
        gl.decode_sequence(CFG, w, np.zeros((3, CFG.hidden_size + 1)))
    with pytest.raises(ValueError, match="shape"):
        gl.decode_step(CFG, w, np.zeros(CFG.hidden_size - 1), 0)


# ----------------------------------------------------------------------------------- checkpoint
def hf_config_dict(cfg: LlamaConfig, new_style: bool = False) -> dict:
    """An HF config.json for ``cfg`` (transformers 4 style, or 5 style with rope_parameters)."""
    raw = {"model_type": "llama", "hidden_size": cfg.hidden_size,
           "num_attention_heads": cfg.num_attention_heads,
           "num_key_value_heads": cfg.num_key_value_heads, "head_dim": cfg.head_dim,
           "rms_norm_eps": cfg.rms_norm_eps, "max_position_embeddings": cfg.max_position_embeddings,
           "num_hidden_layers": 2}
    scaling = {"rope_type": "llama3", **dataclasses.asdict(cfg.rope_scaling)}
    if new_style:
        raw["rope_parameters"] = {**scaling, "rope_theta": cfg.rope_theta}
    else:
        raw.update(rope_theta=cfg.rope_theta, rope_scaling=scaling)
    return raw


def hf_tensors(w: LayerWeights, layer: int, dtype: type = np.float32) -> dict[str, np.ndarray]:
    """HF tensor names of layer ``layer`` -> arrays (written by hand, not from golden.weights.HF_NAMES)."""
    p = f"model.layers.{layer}."
    return {p + "self_attn.q_proj.weight": w.wq.astype(dtype),
            p + "self_attn.k_proj.weight": w.wk.astype(dtype),
            p + "self_attn.v_proj.weight": w.wv.astype(dtype),
            p + "self_attn.o_proj.weight": w.wo.astype(dtype),
            p + "input_layernorm.weight": w.norm.astype(dtype)}


def write_checkpoint(root: Path, cfg: LlamaConfig, layers: list[LayerWeights], sharded: bool = False,
                     new_style: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(hf_config_dict(cfg, new_style)))
    if sharded:  # one shard per layer plus an index
        weight_map = {}
        for i, w in enumerate(layers):
            name = f"model-{i + 1:05d}-of-{len(layers):05d}.safetensors"
            tensors = hf_tensors(w, i)
            save_file(tensors, str(root / name))
            weight_map.update(dict.fromkeys(tensors, name))
        (root / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    else:
        tensors = {}
        for i, w in enumerate(layers):
            tensors.update(hf_tensors(w, i))
        save_file(tensors, str(root / "model.safetensors"))
    return root


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LayerWeights]]:
    layers = [random_weights(CFG, 20).astype(np.float32).astype(np.float64),
              random_weights(CFG, 21).astype(np.float32).astype(np.float64)]
    return write_checkpoint(tmp_path_factory.mktemp("ck"), CFG, layers), layers


@pytest.mark.parametrize("sharded", [False, True])
@pytest.mark.parametrize("new_style", [False, True])
def test_load_checkpoint(tmp_path: Path, sharded: bool, new_style: bool) -> None:
    layers = [random_weights(CFG, 30).astype(np.float32).astype(np.float64),
              random_weights(CFG, 31).astype(np.float32).astype(np.float64)]
    root = write_checkpoint(tmp_path / "ck", CFG, layers, sharded=sharded, new_style=new_style)
    if sharded:  # also without the index: every shard's header is scanned
        cfg, w1 = load_checkpoint(root, layer=1)
        assert cfg == CFG
        np.testing.assert_array_equal(w1.wo, layers[1].wo)
        (root / "model.safetensors.index.json").unlink()
    assert load_config(root) == CFG
    for layer in (0, 1):
        w = load_layer(root, CFG, layer)
        for f in dataclasses.fields(LayerWeights):
            np.testing.assert_array_equal(getattr(w, f.name), getattr(layers[layer], f.name))
            assert getattr(w, f.name).dtype == np.float64


def test_checkpoint_errors(tmp_path: Path, ckpt: tuple[Path, list[LayerWeights]]) -> None:
    root, layers = ckpt
    with pytest.raises(FlowError, match="does not exist"):
        load_config(tmp_path / "nope")
    with pytest.raises(FlowError, match="model.layers.2.self_attn.q_proj.weight"):
        load_layer(root, CFG, 2)
    wrong = dataclasses.replace(CFG, num_key_value_heads=4)
    with pytest.raises(FlowError, match="k_proj.weight has shape"):
        load_layer(root, wrong, 0)
    bad = [dataclasses.replace(layers[0], wv=np.where(np.arange(layers[0].wv.size).reshape(layers[0].wv.shape)
                                                       == 7, np.nan, layers[0].wv))]
    with pytest.raises(FlowError, match="v_proj.weight contains NaN"):
        load_layer(write_checkpoint(tmp_path / "nan", CFG, bad), CFG, 0)
    corrupt = write_checkpoint(tmp_path / "corrupt", CFG, layers[:1])
    data = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(FlowError, match="corrupt"):
        load_layer(corrupt, CFG, 0)
    (corrupt / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(FlowError, match="corrupt"):
        load_layer(corrupt, CFG, 0)
    int8 = tmp_path / "int8"
    int8.mkdir()
    save_file({k: v.astype(np.int8) for k, v in hf_tensors(layers[0], 0).items()}, str(int8 / "model.safetensors"))
    with pytest.raises(FlowError, match="dtype I8"):
        load_layer(int8, CFG, 0)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{not json")
    with pytest.raises(FlowError, match="config.json"):
        load_config(tmp_path / "empty")
    with pytest.raises(FlowError, match="no \\*.safetensors"):
        load_layer(tmp_path / "empty", CFG, 0)


# ------------------------------------------------------------------------------------------- CLI
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyflow", "golden", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cli_llama_decode_checkpoint(tmp_path: Path, ckpt: tuple[Path, list[LayerWeights]],
                                     dtype: str) -> None:
    root, layers = ckpt
    x = np.random.default_rng(40).standard_normal((7, CFG.hidden_size)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "sub" / "y.npy"
    res = run_cli("llama-decode", "--checkpoint", str(root), "--layer", "1",
                  "--inputs", str(tmp_path / "x.npy"), "--out", str(out), "--dtype", dtype)
    assert res.returncode == 0, res.stderr
    y = np.load(out)
    assert y.dtype == np.dtype(dtype) and y.shape == x.shape
    err = rel_err(y, ref_attention(CFG, layers[1], x.astype(np.float64), 0))
    assert err < (1e-6 if dtype == "float32" else 1e-12)
    assert list(tmp_path.glob("sub/.*")) == []  # no temp file left behind


def test_cli_llama_decode_random_default_config(tmp_path: Path) -> None:
    hidden = LlamaConfig().hidden_size
    x = np.random.default_rng(41).standard_normal((3, hidden))
    np.save(tmp_path / "x.npy", x)
    res = run_cli("llama-decode", "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy"),
                  "--seed", "5")
    assert res.returncode == 0, res.stderr
    ref = ref_attention(LlamaConfig(), random_weights(LlamaConfig(), 5), x, 0)
    assert rel_err(np.load(tmp_path / "y.npy"), ref) < 1e-12


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    cases = {}
    np.save(tmp / "shape.npy", np.zeros((4, CFG.hidden_size + 1)))
    np.save(tmp / "ndim.npy", np.zeros(CFG.hidden_size))
    nan = np.zeros((4, CFG.hidden_size))
    nan[2, 3] = np.nan
    np.save(tmp / "nan.npy", nan)
    (tmp / "garbage.npy").write_bytes(b"not a npy file at all")
    for name in ("shape", "ndim", "nan", "garbage"):
        cases[name] = tmp / f"{name}.npy"
    cases["missing"] = tmp / "missing.npy"
    return cases


@pytest.mark.parametrize("case", ["shape", "ndim", "nan", "garbage", "missing", "bad_ckpt", "bad_layer"])
def test_cli_bad_inputs(tmp_path: Path, ckpt: tuple[Path, list[LayerWeights]], case: str) -> None:
    inputs = _bad_inputs(tmp_path)
    extra = ["--checkpoint", str(ckpt[0])]
    if case == "bad_ckpt":
        extra = ["--checkpoint", str(tmp_path / "no_such_dir")]
    if case == "bad_layer":
        extra += ["--layer", "9"]
    x = inputs.get(case)
    if x is None:
        x = tmp_path / "ok.npy"
        np.save(x, np.zeros((2, CFG.hidden_size)))
    out = tmp_path / "y.npy"
    res = run_cli("llama-decode", *extra, "--inputs", str(x), "--out", str(out))
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert not out.exists()
    assert list(tmp_path.glob(".y.npy*")) == []


def test_cli_structure_summary_help(capsys: pytest.CaptureFixture[str], ckpt: tuple[Path, list]) -> None:
    for sub in ("llama-decode", "structure", "summary", "accuracy"):
        with pytest.raises(SystemExit) as exc:
            cli_main(["golden", sub, "--help"])
        assert exc.value.code == 0
    capsys.readouterr()
    assert cli_main(["golden", "structure", "--checkpoint", str(ckpt[0]), "--ctx", "10"]) == 0
    text = capsys.readouterr().out
    positions = [text.index(f" {op} ") for op in gl.CHAIN_OPS]
    assert positions == sorted(positions)
    total_macs = sum(c.macs for c in gl.chain_costs(CFG, 10))
    assert f"MACs: {total_macs}" in text
    assert (CFG.hidden_size * CFG.q_dim * 2 + 2 * CFG.hidden_size * CFG.kv_dim) <= total_macs
    assert cli_main(["golden", "summary", "--ctx", "4"]) == 0
    text = capsys.readouterr().out
    for key in gl.TRACE_KEYS:
        assert f"\n{key} " in text
    assert "(32,4)" in text  # qk scores: 32 heads x 4 keys at the default config
