"""Cross-check of the float64 golden decode attention against HF ``transformers`` (no download).

A small random ``LlamaForCausalLM`` (hidden 256, 8 heads, 2 KV heads, head_dim 32, llama3 RoPE scaling
with factor 16 and original context 64, so all three frequency bands occur) is saved with
``save_pretrained`` and read back through :mod:`pyflow.project.checkpoint`.  The reference is HF's
``input_layernorm`` followed by ``self_attn`` (eager) with a causal mask over T tokens.

HF in float64 is not pure float64: ``LlamaRMSNorm`` computes in float32, eager attention runs softmax
in float32 and ``LlamaRotaryEmbedding`` forms the angles in float32.  The tight (1e-12) comparison
therefore runs HF's projections, RoPE rotation, GQA and attention in float64 with softmax kept in
float64, a float64 RMSNorm written here, and float64 cos/sin; HF's own float32 inverse frequencies
are checked separately.  Run with ``-s`` to see the measured errors.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from golden.llama import decode_sequence  # noqa: E402
from golden.rope import inv_freq  # noqa: E402
from pyflow.project.checkpoint import load_checkpoint, load_layer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
T_LEN, P0 = 16, 1000
ROPE = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 16.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
LAYER = 1


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """Max abs difference relative to the reference's max magnitude."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


@pytest.fixture(scope="module")
def hf(tmp_path_factory: pytest.TempPathFactory) -> dict:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        hidden_size=256, num_attention_heads=8, num_key_value_heads=2, head_dim=32, intermediate_size=64,
        num_hidden_layers=2, vocab_size=16, rms_norm_eps=1e-5, max_position_embeddings=4096,
        rope_parameters=dict(ROPE), attn_implementation="eager")
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for layer in model.model.layers:  # HF initialises norms to 1; make them matter
            layer.input_layernorm.weight.copy_(1 + 0.1 * torch.randn(cfg.hidden_size))
    root = tmp_path_factory.mktemp("hf")
    model.save_pretrained(root / "f32")
    model.save_pretrained(root / "sharded", max_shard_size="200KB")
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(root / "bf16")
    x = torch.randn(1, T_LEN, cfg.hidden_size)
    return {"model": model, "model64": copy.deepcopy(model).double(), "root": root, "x": x}


def hf_attention(model, x, positions, cos_sin=None, norm: Callable | None = None) -> np.ndarray:
    """HF ``self_attn(input_layernorm(x))`` of layer LAYER with a causal mask over the T tokens."""
    layer = model.model.layers[LAYER]
    with torch.no_grad():
        h = layer.input_layernorm(x) if norm is None else norm(layer, x)
        if cos_sin is None:
            cos_sin = model.model.rotary_emb(h, positions[None])
        mask = torch.full((T_LEN, T_LEN), float("-inf"), dtype=x.dtype).triu(1)[None, None]
        out, _ = layer.self_attn(hidden_states=h, position_embeddings=cos_sin, attention_mask=mask)
    return out[0].double().numpy()


def float64_norm(layer, x):
    """RMSNorm in float64 (HF's LlamaRMSNorm computes in float32)."""
    return layer.input_layernorm.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True)
                                                          + layer.input_layernorm.variance_epsilon)


@pytest.fixture
def float64_softmax(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep softmax in float64 (eager attention asks for float32)."""
    orig = torch.nn.functional.softmax

    def softmax(x, dim=None, dtype=None, **kw):
        return orig(x, dim=dim, **kw) if x.dtype == torch.float64 else orig(x, dim=dim, dtype=dtype, **kw)

    monkeypatch.setattr(torch.nn.functional, "softmax", softmax)


def float64_cos_sin(cfg, positions: np.ndarray):
    ang = torch.from_numpy(np.multiply.outer(positions.astype(np.float64), inv_freq(cfg)))
    emb = torch.cat([ang, ang], dim=-1)[None]
    return emb.cos(), emb.sin()


def test_config_and_inv_freq(hf: dict) -> None:
    cfg, _ = load_checkpoint(hf["root"] / "f32", LAYER)
    hc = hf["model"].config
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (256, 8, 2, 32)
    assert cfg.rope_theta == ROPE["rope_theta"] and cfg.rms_norm_eps == hc.rms_norm_eps
    assert cfg.rope_scaling.factor == 16.0 and cfg.rope_scaling.original_max_position_embeddings == 64
    hf_inv = hf["model"].model.rotary_emb.inv_freq.double().numpy()  # HF computes it in float32
    ours = inv_freq(cfg)
    np.testing.assert_allclose(ours, hf_inv, rtol=1e-6)
    ratio = ours / (ROPE["rope_theta"] ** (-np.arange(0, 32, 2) / 32))
    assert np.any(ratio == 1) and np.any(np.isclose(ratio, 1 / 16)) and np.any((ratio < 0.99) & (ratio > 0.07))
    print(f"\nHF agreement: inv_freq (HF float32) max rel err {np.max(np.abs(ours / hf_inv - 1)):.2e}")


def test_float32_end_to_end(hf: dict) -> None:
    """HF in float32 with its own RMSNorm, rotary embedding and eager attention, positions 1000..1015."""
    cfg, w = load_checkpoint(hf["root"] / "f32", LAYER)
    ref = hf_attention(hf["model"], hf["x"], torch.arange(P0, P0 + T_LEN))
    gold = decode_sequence(cfg, w, hf["x"][0].double().numpy(), start_pos=P0)
    err = rel_err(gold, ref)
    print(f"\nHF agreement: float32 HF vs golden, positions {P0}..{P0 + T_LEN - 1}: max rel err {err:.2e}")
    assert err < 1e-5


@pytest.mark.usefixtures("float64_softmax")
def test_float64_attention(hf: dict) -> None:
    """HF projections, RoPE rotation, GQA and attention in float64: agreement to rounding."""
    cfg, w = load_checkpoint(hf["root"] / "f32", LAYER)
    x = hf["x"].double()
    positions = np.arange(P0, P0 + T_LEN)
    ref = hf_attention(hf["model64"], x, None, float64_cos_sin(cfg, positions), float64_norm)
    gold = decode_sequence(cfg, w, x[0].numpy(), start_pos=P0)
    err = rel_err(gold, ref)
    print(f"\nHF agreement: float64 HF vs golden, positions {P0}..{P0 + T_LEN - 1}: max rel err {err:.2e}")
    assert err < 1e-12


def test_sharded_and_bf16_checkpoints(hf: dict) -> None:
    root = hf["root"]
    assert (root / "sharded" / "model.safetensors.index.json").is_file()
    assert len(list((root / "sharded").glob("*.safetensors"))) > 1
    cfg, ref = load_checkpoint(root / "f32", LAYER)
    sharded = load_layer(root / "sharded", cfg, LAYER)
    bf16 = load_layer(root / "bf16", cfg, LAYER)
    attn = hf["model"].model.layers[LAYER].self_attn
    np.testing.assert_array_equal(ref.wq, attn.q_proj.weight.detach().double().numpy())
    np.testing.assert_array_equal(sharded.wv, ref.wv)
    np.testing.assert_array_equal(sharded.norm, ref.norm)
    np.testing.assert_array_equal(bf16.wo, attn.o_proj.weight.detach().bfloat16().double().numpy())
    assert not np.array_equal(bf16.wo, ref.wo)


@pytest.mark.usefixtures("float64_softmax")
def test_cli_llama_decode_against_hf(hf: dict, tmp_path: Path) -> None:
    """`golden llama-decode --checkpoint` (positions 0..T-1) against HF float32 and float64."""
    x = hf["x"][0].numpy()
    np.save(tmp_path / "x.npy", x)
    res = subprocess.run(
        [sys.executable, "-m", "pyflow", "golden", "llama-decode", "--checkpoint", str(hf["root"] / "f32"),
         "--layer", str(LAYER), "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy"),
         "--dtype", "float64"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    y = np.load(tmp_path / "y.npy")
    cfg, _ = load_checkpoint(hf["root"] / "f32", LAYER)
    ref64 = hf_attention(hf["model64"], hf["x"].double(), None, float64_cos_sin(cfg, np.arange(T_LEN)),
                         float64_norm)
    with torch.no_grad():
        ref32 = hf_attention(hf["model"], hf["x"], torch.arange(T_LEN))
    e64, e32 = rel_err(y, ref64), rel_err(y, ref32)
    print(f"\nHF agreement: CLI vs HF float64 {e64:.2e}, vs HF float32 {e32:.2e} (positions 0..{T_LEN - 1})")
    assert e64 < 1e-12
    assert e32 < 1e-5


@pytest.mark.rtl
@pytest.mark.xdist_group("accel")
def test_accel_decode_cli_against_hf(hf: dict, tmp_path: Path, float64_softmax: None) -> None:
    """`accel decode --checkpoint` runs the 16 tokens through the accelerator RTL: its output equals the
    golden fixed-point decode (dequantised) exactly, and is within the fixed-point error of HF float64."""
    from golden import llama_fixed as lf
    from pyflow.project.config import load_project_config

    x = hf["x"][0].numpy()
    np.save(tmp_path / "x.npy", x)
    res = subprocess.run(
        [sys.executable, "-m", "pyflow", "accel", "decode", "--checkpoint", str(hf["root"] / "f32"),
         "--layer", str(LAYER), "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")],
        cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-2000:]
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float32 and y.shape == x.shape
    cfg, weights = load_checkpoint(hf["root"] / "f32", LAYER)
    s = load_project_config().scheme
    layer = lf.FixedLayer.quantize(weights, s)
    cache = lf.FixedKVCache.empty(cfg, T_LEN)
    xq = s.act.quantize(x.astype(np.float64))
    fixed = np.stack([s.act.to_float(lf.decode_step(cfg, layer, xq[t], t, cache, s)) for t in range(T_LEN)])
    np.testing.assert_array_equal(y, fixed.astype(np.float32))  # the RTL is the golden fixed-point model
    ref64 = hf_attention(hf["model64"], hf["x"].double(), None, float64_cos_sin(cfg, np.arange(T_LEN)),
                         float64_norm)
    e_rtl = rel_err(y, ref64)
    print(f"\nHF agreement: accel decode (RTL) vs HF float64 {e_rtl:.2e} (positions 0..{T_LEN - 1})")
    assert e_rtl < 2e-2
