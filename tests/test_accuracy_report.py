"""The accuracy report measures each fixed-point op against float64 and stays within format-derived bounds."""

from __future__ import annotations

import subprocess
import sys

from golden import llama_fixed as lf
from golden.config import LlamaConfig
from pyflow.bench.accuracy import accuracy_report


def test_accuracy_report_small_config() -> None:
    cfg = LlamaConfig(hidden_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=32)
    s = lf.FixedScheme()
    rep = accuracy_report(cfg, s, ctx=8, seed=3)
    ops = rep["realistic"]["ops"]
    assert set(ops) == {"rmsnorm", "q_proj", "k_proj", "v_proj", "rope_q", "rope_k", "qk", "softmax_max",
                        "softmax_exp", "softmax_norm", "av", "o_proj"}
    # single-rounding ops are within half an LSB of their output format
    for op in ("q_proj", "k_proj", "v_proj", "av", "o_proj"):
        assert 0 < ops[op]["max_abs"] <= s.act.lsb / 2, op
    assert ops["qk"]["max_abs"] <= s.logit.lsb / 2
    assert ops["softmax_max"]["max_abs"] == 0
    assert rep["realistic"]["chain"]["max_rel"] < 0.02


def test_accuracy_cli_bad_ctx(tmp_path) -> None:
    out = tmp_path / "acc.json"
    r = subprocess.run([sys.executable, "-m", "pyflow", "golden", "accuracy", "--ctx", "0", "--json", str(out)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
