"""Read one layer's attention weights and the model config from a Hugging Face LLaMA checkpoint directory.

Reads ``config.json`` and ``*.safetensors`` (single file or sharded with ``model.safetensors.index.json``).
Tensor names are ``model.layers.{L}.<name>`` (``LlamaForCausalLM``) or ``layers.{L}.<name>``
(``LlamaModel``).  Every failure is a :class:`~pyflow.errors.FlowError` with one line.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from golden.config import LlamaConfig
from golden.weights import HF_NAMES, LayerWeights, expected_shapes
from pyflow.errors import FlowError

_INDEX = "model.safetensors.index.json"
_PREFIXES = ("model.layers.", "layers.")
_FLOAT_DTYPES = ("F16", "F32", "F64")
#: The one ``rope_parameters`` key (transformers >= 5) that is not part of ``rope_scaling``.
_ROPE_THETA = "rope_theta"


def _checkpoint_dir(path: str | Path) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise FlowError(f"checkpoint directory {root} does not exist")
    return root


def load_config(path: str | Path) -> LlamaConfig:
    """The :class:`LlamaConfig` of the checkpoint in ``path`` (from its ``config.json``)."""
    cfg_file = _checkpoint_dir(path) / "config.json"
    if not cfg_file.is_file():
        raise FlowError(f"checkpoint {path} has no config.json")
    try:
        raw = json.loads(cfg_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlowError(f"cannot read {cfg_file}: {exc}") from None
    if not isinstance(raw, dict):
        raise FlowError(f"{cfg_file}: expected a JSON object")
    try:
        cfg = LlamaConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise FlowError(f"{cfg_file}: {exc}") from None
    from pyflow.project.config import check_model_size

    check_model_size(cfg, str(cfg_file))
    return cfg


def _read_header(file: Path) -> dict[str, Any]:
    """The checked JSON header of a safetensors file (tensor name -> dtype, shape, data_offsets)."""
    from pyflow.arrays import safetensors_header

    return safetensors_header(file, f"checkpoint shard {file}")


def _shard_map(root: Path) -> dict[str, Path]:
    """Tensor name -> file holding it, from the index when present, else by reading every header."""
    index = root / _INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FlowError(f"cannot read {index}: {exc}") from None
        if not isinstance(weight_map, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and v and Path(v).name == v for k, v in weight_map.items()):
            raise FlowError(f"{index}: weight_map must be an object mapping tensor names to shard file names in "
                            "the checkpoint folder")
        return {name: root / file for name, file in weight_map.items()}
    files = sorted(root.glob("*.safetensors"))
    if not files:
        raise FlowError(f"checkpoint {root} has no *.safetensors files")
    found: dict[str, Path] = {}
    for file in files:
        for name in _read_header(file):
            found.setdefault(name, file)
    return found


def _bf16_tensor(file: Path, name: str) -> np.ndarray:
    """Read a BF16 tensor (numpy has no bfloat16) as float32 by widening the raw 16-bit words."""
    info = _read_header(file).get(name)
    try:
        start, end = (int(o) for o in info["data_offsets"])
        shape = tuple(int(n) for n in info["shape"])
    except (TypeError, KeyError, ValueError):
        raise FlowError(f"corrupt safetensors file {file}: the header entry of {name} is malformed") from None
    if not 0 <= start <= end <= file.stat().st_size or any(n < 0 for n in shape):
        raise FlowError(f"corrupt safetensors file {file}: {name} lies outside the file")
    with file.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        fh.seek(8 + size + start)
        raw = fh.read(end - start)
    if len(raw) != 2 * int(np.prod(shape)):
        raise FlowError(f"corrupt safetensors file {file}: {name} data is truncated")
    words = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return words.view(np.float32).reshape(shape)


def _read_tensor(file: Path, name: str) -> np.ndarray:
    from safetensors import safe_open

    if not file.is_file():
        raise FlowError(f"checkpoint shard {file} (holding {name}) is missing")
    try:
        with safe_open(str(file), framework="np") as fh:
            dtype = fh.get_slice(name).get_dtype()
            if dtype == "BF16":
                return _bf16_tensor(file, name)
            if dtype not in _FLOAT_DTYPES:
                raise FlowError(f"tensor {name} in {file} has dtype {dtype}; supported: BF16, "
                                f"{', '.join(_FLOAT_DTYPES)} (quantized checkpoints are not)")
            return fh.get_tensor(name)
    except FlowError:
        raise
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise FlowError(f"corrupt safetensors file {file}: cannot read {name} ({exc})") from None


def load_layer(path: str | Path, cfg: LlamaConfig, layer: int = 0) -> LayerWeights:
    """Attention weights of decoder layer ``layer`` as float64, checked against ``cfg``'s shapes."""
    root = _checkpoint_dir(path)
    if layer < 0:
        raise FlowError(f"layer must be >= 0, got {layer}")
    shards = _shard_map(root)
    shapes = expected_shapes(cfg)
    arrays: dict[str, np.ndarray] = {}
    for field, suffix in HF_NAMES.items():
        names = [f"{prefix}{layer}.{suffix}" for prefix in _PREFIXES]
        name = next((n for n in names if n in shards), None)
        if name is None:
            raise FlowError(f"checkpoint {root} has no tensor {names[0]} (is layer {layer} in the model?)")
        arr = np.asarray(_read_tensor(shards[name], name))
        if tuple(arr.shape) != shapes[field]:
            raise FlowError(f"tensor {name} has shape {tuple(arr.shape)}, expected {shapes[field]} "
                            "from config.json")
        if not np.issubdtype(arr.dtype, np.floating):
            raise FlowError(f"tensor {name} has dtype {arr.dtype}, expected a floating-point type")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise FlowError(f"tensor {name} contains NaN or Inf")
        arrays[field] = arr
    return LayerWeights(**arrays)


def load_checkpoint(path: str | Path, layer: int = 0) -> tuple[LlamaConfig, LayerWeights]:
    """Config and layer ``layer`` attention weights of the checkpoint in ``path``."""
    cfg = load_config(path)
    return cfg, load_layer(path, cfg, layer)
