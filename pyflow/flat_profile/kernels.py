"""The two attention variants for a backend/platform, plus moving data to and from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyflow.errors import FlowError


@dataclass(frozen=True)
class Backend:
    """Baseline and FLAT callables over one array type, and how to feed/sync them."""

    name: str
    platform: str
    baseline: Callable[..., Any]
    flat: Callable[..., Any]
    to_device: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]
    sync: Callable[[], None]


def _noop() -> None:
    return None


def get_backend(name: str, platform: str) -> Backend:
    """NumPy (the golden model itself) or torch on ``cpu`` / ``gpu``; FlowError when unavailable."""
    if name == "numpy":
        if platform != "cpu":
            raise FlowError("the numpy backend runs on --platform cpu only; use --backend torch for gpu")
        from golden.flat import attention_baseline, flat_attention

        return Backend("numpy", platform, attention_baseline, flat_attention, lambda a: a, np.asarray, _noop)
    if name != "torch":
        raise FlowError(f"unknown backend {name!r}")
    try:
        import torch
    except ImportError:
        raise FlowError("--backend torch needs PyTorch (pip install torch)") from None
    from pyflow.flat_profile import torch_attention as ta

    if platform == "gpu":
        if not torch.cuda.is_available():
            raise FlowError("--platform gpu: no CUDA device available (torch.cuda.is_available() is False); "
                            "use --platform cpu")
        device = torch.device("cuda")
        sync: Callable[[], None] = torch.cuda.synchronize
    else:
        device = torch.device("cpu")
        sync = _noop

    def to_device(a: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    def to_numpy(t: Any) -> np.ndarray:
        return t.detach().cpu().numpy()

    return Backend("torch", platform, ta.attention_baseline, ta.flat_attention, to_device, to_numpy, sync)
