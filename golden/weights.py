"""Weights of one LLaMA attention block: container, HF tensor names, shape checks, seeded random init."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from golden.config import LlamaConfig

#: LayerWeights field -> HF tensor name inside ``model.layers.{L}.`` (orientation (out, in) as nn.Linear).
HF_NAMES: dict[str, str] = {
    "wq": "self_attn.q_proj.weight",
    "wk": "self_attn.k_proj.weight",
    "wv": "self_attn.v_proj.weight",
    "wo": "self_attn.o_proj.weight",
    "norm": "input_layernorm.weight",
}

#: Standard deviation of the random projection weights (the order of trained LLaMA-3.2 attention weights).
RANDOM_WEIGHT_STD = 0.02
#: Standard deviation of the random RMSNorm weights around 1.
RANDOM_NORM_STD = 0.05


def expected_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Shape of every field for ``cfg``: projections (out, in) as in HF, norm (hidden,)."""
    h = cfg.hidden_size
    return {
        "wq": (cfg.q_dim, h),
        "wk": (cfg.kv_dim, h),
        "wv": (cfg.kv_dim, h),
        "wo": (h, cfg.q_dim),
        "norm": (h,),
    }


@dataclass(frozen=True)
class LayerWeights:
    """Attention weights of one decoder layer, HF orientation: ``y = W @ x``.

    ``wq`` (q_dim, hidden), ``wk``/``wv`` (kv_dim, hidden), ``wo`` (hidden, q_dim), ``norm`` (hidden,)
    is the ``input_layernorm`` weight.
    """

    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    norm: np.ndarray

    def check(self, cfg: LlamaConfig) -> None:
        """Raise ValueError naming the first field with a wrong shape or a non-finite value."""
        for name, shape in expected_shapes(cfg).items():
            arr = getattr(self, name)
            if tuple(arr.shape) != shape:
                raise ValueError(f"weight {name} ({HF_NAMES[name]}) has shape {tuple(arr.shape)}, "
                                 f"expected {shape} for this config")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"weight {name} ({HF_NAMES[name]}) contains NaN or Inf")

    def astype(self, dtype: np.dtype | type) -> LayerWeights:
        """A copy with every array cast to ``dtype``."""
        return LayerWeights(**{f.name: np.asarray(getattr(self, f.name), dtype=dtype) for f in fields(self)})


def random_weights(cfg: LlamaConfig, seed: int = 0) -> LayerWeights:
    """Seeded random weights at the config's shapes: N(0, 0.02) projections, N(1, 0.05) norm, float64."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in expected_shapes(cfg).items():
        if name == "norm":
            arrays[name] = 1.0 + RANDOM_NORM_STD * rng.standard_normal(shape)
        else:
            arrays[name] = RANDOM_WEIGHT_STD * rng.standard_normal(shape)
    return LayerWeights(**arrays)
