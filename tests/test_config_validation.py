"""Project config: defaults, overrides, and one clear FlowError per impossible combination."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden.config import LlamaConfig
from golden.llama_fixed import FixedScheme
from pyflow.errors import FlowError
from pyflow.project.config import DEFAULT_CONFIG, load_project_config


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cfg.toml"
    p.write_text(text)
    return p


def test_defaults_are_llama_3_2_1b() -> None:
    pc = load_project_config()
    assert pc.model == LlamaConfig()  # golden's defaults are LLaMA-3.2-1B
    assert (pc.max_length, pc.clock_mhz, pc.board.name) == (128, 200.0, "u280")
    assert pc.scheme == FixedScheme()
    assert set(pc.formats) == set(FixedScheme.tensor_names())
    assert pc.clock_period_ns == pytest.approx(5.0)


def test_overrides_reach_scheme_and_lanes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pc = load_project_config(_write(tmp_path, """
[context]
length = 256
[lanes]
gemv = 16
[formats.logit]
width = 20
frac = 10
rnd = "TRN"
[luts]
exp_lut_bits = 8
"""))
    assert pc.max_length == 256 and pc.lanes["gemv"] == 16
    assert (pc.scheme.logit.width, pc.scheme.logit.frac, pc.scheme.logit.rnd) == (20, 10, "TRN")
    assert pc.scheme.logit.ovf == "SAT"  # untouched field keeps the default
    assert len(pc.scheme.exp_lut) == 256
    # context.length is the old name of context.max_length: read as it, with one note
    assert "context.length is now context.max_length" in capsys.readouterr().err


def test_lanes_need_not_divide_the_context(tmp_path: Path) -> None:
    """Partial last beats are masked, so lanes that do not divide the capacity are fine."""
    pc = load_project_config(_write(tmp_path, "[context]\nmax_length = 100\n[lanes]\nsoftmax = 8\nav = 16\n"))
    assert (pc.max_length, pc.lanes["softmax"], pc.lanes["av"]) == (100, 8, 16)


@pytest.mark.parametrize(("text", "message"), [
    ("[lanes]\ngemv = 3\n", "config: lanes.gemv = 3 does not divide model.hidden_size = 2048"),
    ("[lanes]\nkv_cache = 3\n", "config: lanes.kv_cache = 3 does not divide model.head_dim = 64"),
    ("[lanes]\nrope = 0\n", "config: lanes.rope = 0 must be in 1..1024"),
    ("[lanes]\nfoo = 2\n", "config: unknown key lanes.foo"),
    ("[modell]\n", "config: unknown section [modell]"),
    ("[context]\nmax_length = 8192\n", "config: context.max_length = 8192 exceeds context.max_on_chip = 4096"),
    ("[context]\nmax_length = \"x\"\n", "config: context.max_length = 'x' must be an integer"),
    ("[context]\nlength = 64\nmax_length = 32\n", "config: "),
    ("[formats.act]\nrnd = \"UP\"\n", "config: formats.act.rnd = 'UP' must be one of"),
    ("[formats.bogus]\nwidth = 8\n", "config: unknown key formats.bogus"),
    ("[formats.act]\nwidth = 30\nfrac = 20\n", "config: formats.act (RMSNorm sum of squares x 1/N) needs"),
    ("[formats.exp]\nwidth = 17\nfrac = 17\n", "config: formats.exp = u17.17 RND_CONV/SAT cannot hold 1.0"),
    ("[board]\nname = \"vu9p\"\n", "config: board.name = 'vu9p' is unknown"),
    ("[model]\nnum_key_value_heads = 5\n", "config: model.num_attention_heads (32) must be a multiple"),
    ("[model.rope_scaling]\nfactorr = 2.0\n", "config: unknown key model.rope_scaling.factorr"),
    ("[clock]\nmhz = 0\n", "config: clock.mhz = 0.0 must be between 1 and 1000"),
])
def test_invalid_configs_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FlowError) as exc:
        load_project_config(_write(tmp_path, text))
    assert str(exc.value).startswith(message), str(exc.value)


def test_hf_config_json_and_rope_none(tmp_path: Path) -> None:
    hf = {"hidden_size": 256, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
          "rope_theta": 10000.0, "rope_scaling": None, "max_position_embeddings": 2048}
    (tmp_path / "config.json").write_text(json.dumps(hf))
    pc = load_project_config(_write(tmp_path, "[model]\nhf_config = \"config.json\"\n[lanes]\nrope = 2\n"))
    assert (pc.model.hidden_size, pc.model.head_dim, pc.model.rope_scaling) == (256, 64, None)
    with pytest.raises(FlowError, match="model.hf_config = 'missing.json': file"):
        load_project_config(_write(tmp_path, "[model]\nhf_config = \"missing.json\"\n"))
    pc = load_project_config(_write(tmp_path, "[model]\nrope_scaling = \"none\"\n"))
    assert pc.model.rope_scaling is None


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="is not valid TOML"):
        load_project_config(_write(tmp_path, "[lanes\n"))
    with pytest.raises(FlowError, match="not found"):
        load_project_config(tmp_path / "nope.toml")


def test_documented_default_file_matches_shipped_one() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "CONFIG.md").read_text()
    assert DEFAULT_CONFIG.read_text().strip() in doc
