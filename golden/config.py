"""Model configuration of one LLaMA attention block, as read from an HF ``config.json``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: HF's rope_theta when a config.json does not give one.
HF_DEFAULT_ROPE_THETA = 10000.0

#: Keys of an HF LLaMA ``config.json`` that the golden model uses.
_USED_KEYS = (
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "max_position_embeddings",
)


@dataclass(frozen=True)
class RopeScaling:
    """llama3 RoPE frequency scaling (``rope_scaling`` with ``rope_type: llama3``)."""

    factor: float = 32.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192

    def __post_init__(self) -> None:
        for name in ("factor", "low_freq_factor", "high_freq_factor"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"config: rope_scaling.{name} must be a positive number, got {v}")
        if self.high_freq_factor <= self.low_freq_factor:
            raise ValueError(f"config: rope_scaling.high_freq_factor ({self.high_freq_factor}) must exceed "
                             f"low_freq_factor ({self.low_freq_factor})")
        if self.original_max_position_embeddings <= 0:
            raise ValueError("config: rope_scaling.original_max_position_embeddings must be a positive integer, "
                             f"got {self.original_max_position_embeddings}")


@dataclass(frozen=True)
class LlamaConfig:
    """Dimensions and constants of one LLaMA decoder block's attention.

    The defaults are LLaMA-3.2-1B.  ``rope_scaling`` is None for plain RoPE.
    """

    hidden_size: int = 2048
    num_attention_heads: int = 32
    num_key_value_heads: int = 8
    head_dim: int = 64
    rms_norm_eps: float = 1e-5
    rope_theta: float = 500000.0
    rope_scaling: RopeScaling | None = field(default_factory=RopeScaling)
    max_position_embeddings: int = 131072

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"config: {name} must be a positive integer, got {getattr(self, name)}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"config: num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_key_value_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(f"config: head_dim must be even for RoPE, got {self.head_dim}")
        if not (self.rms_norm_eps > 0 and math.isfinite(self.rms_norm_eps)):
            raise ValueError(f"config: rms_norm_eps must be positive, got {self.rms_norm_eps}")
        if not (self.rope_theta > 0 and math.isfinite(self.rope_theta)):
            raise ValueError(f"config: rope_theta must be positive, got {self.rope_theta}")
        if int(self.max_position_embeddings) <= 0:
            raise ValueError(f"config: max_position_embeddings must be a positive integer, got "
                             f"{self.max_position_embeddings}")

    @property
    def q_dim(self) -> int:
        """Width of the query projection output (heads x head_dim)."""
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the key / value projection outputs (KV heads x head_dim)."""
        return self.num_key_value_heads * self.head_dim

    @property
    def group_size(self) -> int:
        """Query heads sharing one KV head (GQA)."""
        return self.num_attention_heads // self.num_key_value_heads

    def kv_head_of(self, q_head: int) -> int:
        """The KV head that query head ``q_head`` reads (HF ``repeat_kv`` order)."""
        return q_head // self.group_size

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict with HF key names (``from_dict(to_dict())`` round-trips)."""
        out = asdict(self)
        if out["rope_scaling"] is not None:
            out["rope_scaling"] = {"rope_type": "llama3", **out["rope_scaling"]}
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LlamaConfig:
        """Build from an HF ``config.json`` dict; unknown HF keys are ignored, missing ones default.

        Both config generations are read: transformers < 5 (``rope_theta`` + ``rope_scaling``) and >= 5
        (``rope_parameters`` holding both).  ``head_dim`` defaults to hidden_size / num_attention_heads and
        ``rope_theta`` to 10000, as in HF.  A ``rope_scaling``
        whose type is not ``llama3`` (or absent) raises ValueError.
        """
        if not isinstance(raw, dict):
            raise ValueError("config: expected a JSON object")
        missing = [k for k in ("hidden_size", "num_attention_heads") if raw.get(k) is None]
        if missing:
            raise ValueError(f"config: no {missing[0]}: not an HF LLaMA config.json (it needs at least "
                             "hidden_size and num_attention_heads)")
        raw = _normalize_rope_keys(raw)
        kw: dict[str, Any] = {"rope_theta": HF_DEFAULT_ROPE_THETA}
        for key in _USED_KEYS:
            if key in raw and raw[key] is not None:
                kw[key] = raw[key]
        if "head_dim" not in kw and "hidden_size" in kw and "num_attention_heads" in kw:
            try:
                kw["head_dim"] = int(kw["hidden_size"]) // int(kw["num_attention_heads"])
            except (TypeError, ValueError, ZeroDivisionError):
                raise ValueError("config: num_attention_heads must be a positive integer, got "
                                 f"{kw['num_attention_heads']!r}") from None
        if "num_key_value_heads" not in kw and "num_attention_heads" in kw:
            kw["num_key_value_heads"] = kw["num_attention_heads"]
        kw["rope_scaling"] = _parse_rope_scaling(raw.get("rope_scaling"))
        try:
            for key in ("hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
                        "max_position_embeddings"):
                if key in kw:
                    if isinstance(kw[key], bool) or not isinstance(kw[key], (int, float)) or kw[key] != int(kw[key]):
                        raise ValueError(f"{key} = {kw[key]!r} is not an integer")
                    kw[key] = int(kw[key])
            for key in ("rms_norm_eps", "rope_theta"):
                if key in kw:
                    kw[key] = float(kw[key])
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"config: bad value ({exc})") from None
        return cls(**kw)


def _normalize_rope_keys(raw: dict[str, Any]) -> dict[str, Any]:
    """Map a transformers >= 5 ``rope_parameters`` block onto ``rope_theta`` / ``rope_scaling``."""
    params = raw.get("rope_parameters")
    if not isinstance(params, dict) or raw.get("rope_scaling") is not None:
        return raw
    out = dict(raw)
    if "rope_theta" in params and out.get("rope_theta") is None:
        out["rope_theta"] = params["rope_theta"]
    out["rope_scaling"] = {key: val for key, val in params.items() if key != "rope_theta"}
    return out


def _parse_rope_scaling(raw: Any) -> RopeScaling | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("config: rope_scaling must be an object or null")
    kind = raw.get("rope_type", raw.get("type"))
    if kind in (None, "default"):
        return None
    if kind != "llama3":
        raise ValueError(f"config: rope_scaling type {kind!r} is not supported (only 'llama3')")
    for key in ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"):
        if key not in raw:
            raise ValueError(f"config: rope_scaling of type llama3 is missing {key}")
        v = raw[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"config: rope_scaling.{key} must be a number, got {v!r}")
    if raw["original_max_position_embeddings"] != int(raw["original_max_position_embeddings"]):
        raise ValueError("config: rope_scaling.original_max_position_embeddings must be an integer")
    return RopeScaling(
        factor=float(raw["factor"]),
        low_freq_factor=float(raw["low_freq_factor"]),
        high_freq_factor=float(raw["high_freq_factor"]),
        original_max_position_embeddings=int(raw["original_max_position_embeddings"]),
    )
