"""Bad input, interrupts and output integrity (README, "Errors and exit codes").

Property tests (hypothesis): arbitrary bytes and arbitrary well-formed-but-wrong documents given to every
reader at the flow's boundaries (project config, HF config.json, checkpoint index and shards, .npy / .npz /
.safetensors arrays, simulation reports, profiles) either load or raise a FlowError that names the input,
never another exception.  A CLI table runs bad inputs end to end: exit status, exactly one ``error:``
line, no traceback, nothing left in the output folder.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyflow.arrays import read_npy, read_npz, read_safetensors
from pyflow.cli import main
from pyflow.errors import FlowError
from pyflow.project.checkpoint import load_checkpoint
from pyflow.project.config import load_project_config
from pyflow.reports import atomic_write_bytes, write_all

REPO = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ----------------------------------------------------------------------------------- document strategies
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(1 << 70), max_value=1 << 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(1 << 40), 1 << 40),
                              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)),
                    lambda inner: st.one_of(st.lists(inner, max_size=4),
                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=12)
#: Keys a config may hold (and a few it may not), so that generated documents reach the validation paths.
CONFIG_KEYS = {
    "model": ["hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps",
              "rope_theta", "max_position_embeddings", "rope_scaling", "hf_config", "bogus"],
    "context": ["max_length", "length", "max_on_chip", "bogus"],
    "lanes": ["rmsnorm", "gemv", "rope", "qk", "softmax", "av", "kv_cache", "bogus"],
    "luts": ["invn_frac", "exp_lut_bits", "phase_bits", "sine_lut_bits", "bogus"],
    "clock": ["mhz", "fpga_mhz", "fpga_xls_factor"],
    "board": ["name"],
    "formats": ["act", "exp", "prob", "bogus"],
    "bogus": ["x"],
}
HF_KEYS = ["hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta",
           "max_position_embeddings", "rope_scaling", "rope_parameters", "bogus"]


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps("" if v is None else str(v))


def to_toml(doc: dict) -> str:
    """A small TOML writer for the generated documents (tables of scalars and inline tables)."""
    lines = []
    for sec, table in doc.items():
        if not isinstance(table, dict):
            lines.append(f"{sec} = {_toml_value(table)}")
            continue
        lines.append(f"[{sec}]")
        lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@st.composite
def config_docs(draw: st.DrawFn) -> dict:
    doc: dict = {}
    for sec in draw(st.lists(st.sampled_from(list(CONFIG_KEYS)), max_size=3, unique=True)):
        if draw(st.integers(0, 9)) == 0:
            doc[sec] = draw(SCALARS.filter(lambda v: v is not None))
            continue
        table = {}
        for key in draw(st.lists(st.sampled_from(CONFIG_KEYS[sec]), max_size=3, unique=True)):
            inner = st.dictionaries(st.sampled_from(["width", "frac", "rnd", "factor", "x"]), SCALARS.filter(
                lambda v: v is not None), max_size=2)
            table[key] = draw(st.one_of(SCALARS.filter(lambda v: v is not None), inner))
        doc[sec] = table
    return doc


def _expect_flow_error_or_ok(fn) -> None:  # noqa: ANN001
    try:
        fn()
    except FlowError as exc:
        assert str(exc) and "\n" not in str(exc)


# ------------------------------------------------------------------------------------------ properties
@FAST
@given(data=st.binary(max_size=200))
def test_config_loader_takes_any_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(data)
    _expect_flow_error_or_ok(lambda: load_project_config(path))


@FAST
@given(doc=config_docs())
def test_config_loader_takes_wrong_documents(tmp_path: Path, doc: dict) -> None:
    path = tmp_path / "c.toml"
    path.write_text(to_toml(doc))
    _expect_flow_error_or_ok(lambda: load_project_config(path))


@FAST
@given(doc=st.one_of(JSON, st.dictionaries(st.sampled_from(HF_KEYS), JSON, max_size=6)))
def test_hf_config_reader_takes_any_json(tmp_path: Path, doc: object) -> None:
    (tmp_path / "config.json").write_text(json.dumps(doc))
    path = tmp_path / "c.toml"
    path.write_text('[model]\nhf_config = "config.json"\n')
    _expect_flow_error_or_ok(lambda: load_project_config(path))


@FAST
@given(index=JSON, shard=st.binary(max_size=120))
def test_checkpoint_reader_takes_any_index_and_shard(tmp_path: Path, index: object, shard: bytes) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir(exist_ok=True)
    (ckpt / "config.json").write_text(json.dumps({"hidden_size": 64, "num_attention_heads": 4,
                                                  "num_key_value_heads": 2}))
    (ckpt / "model.safetensors.index.json").write_text(json.dumps({"weight_map": index}))
    (ckpt / "model-00001.safetensors").write_bytes(shard)
    _expect_flow_error_or_ok(lambda: load_checkpoint(ckpt, 0))


@FAST
@given(data=st.binary(max_size=300), header=JSON)
def test_array_readers_take_any_bytes(tmp_path: Path, data: bytes, header: object) -> None:
    for name, read in (("a.npy", lambda p: read_npy(p)), ("a.npz", lambda p: read_npz(p, ["q"])),
                       ("a.safetensors", lambda p: read_safetensors(p, ["q"]))):
        path = tmp_path / name
        path.write_bytes(data)
        _expect_flow_error_or_ok(lambda path=path, read=read: read(path))
    # a well-formed container around a wrong header: .npy magic + arbitrary dict, safetensors length + JSON
    text = repr(header).encode()[:200]
    npy = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
    (tmp_path / "h.npy").write_bytes(npy)
    _expect_flow_error_or_ok(lambda: read_npy(tmp_path / "h.npy"))
    body = json.dumps(header).encode()
    (tmp_path / "h.safetensors").write_bytes(len(body).to_bytes(8, "little") + body + data)
    _expect_flow_error_or_ok(lambda: read_safetensors(tmp_path / "h.safetensors", ["q"]))


@FAST
@given(doc=JSON)
def test_report_readers_take_any_json(tmp_path: Path, doc: object) -> None:
    from pyflow.schedule.durations import Hw, measured_durations, profile_durations
    from pyflow.schedule.graph import build_graph

    pc = load_project_config()
    graph = build_graph(pc.model, 1, 4, per_head=False)
    hw = Hw.from_config(pc)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    _expect_flow_error_or_ok(lambda: measured_durations(graph, hw, path))
    _expect_flow_error_or_ok(lambda: profile_durations(graph, hw, path))


# ------------------------------------------------------------------------------------- output integrity
@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_writer_never_replaces_a_device_or_fifo(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="not a regular file"):
        atomic_write_bytes("/dev/null", b"x")
    assert Path("/dev/null").is_char_device()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FlowError, match="not a regular file"):
        atomic_write_bytes(fifo, b"x")
    assert fifo.is_fifo()


def test_write_all_writes_all_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "c.bin").mkdir(parents=True)  # one target blocked by a folder
    with pytest.raises(FlowError, match="is a folder"):
        write_all({out / "a.bin": b"a", out / "b.bin": b"b", out / "c.bin": b"c"})
    assert sorted(p.name for p in out.iterdir()) == ["c.bin"]
    write_all({out / "a.bin": b"a", out / "b.bin": b"b"})
    assert sorted(p.name for p in out.iterdir()) == ["a.bin", "b.bin", "c.bin"]
    assert (out / "a.bin").read_bytes() == b"a"


# ------------------------------------------------------------------------------------------ CLI table
def _bad_files(d: Path) -> dict[str, Path]:
    """The bad inputs of the CLI table (issue #18's categories)."""
    files = {}

    def put(name: str, data: str | bytes) -> Path:
        path = d / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        files[name] = path
        return path

    put("heads0.toml", "[model]\nnum_attention_heads = 0\n")
    put("model5.toml", "model = 5\n")
    put("luts5.toml", "luts = 5\n")
    put("invn.toml", "[luts]\ninvn_frac = 100000\n")
    put("notutf8.toml", b"[model]\nhidden_size = 2048 # \xff\n")
    put("factor_null.json", json.dumps({"hidden_size": 256, "num_attention_heads": 4, "rope_scaling": {
        "rope_type": "llama3", "factor": None, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64}}))
    put("factor_null.toml", '[model]\nhf_config = "factor_null.json"\n')
    put("factor0.json", json.dumps({"hidden_size": 256, "num_attention_heads": 4, "rope_scaling": {
        "rope_type": "llama3", "factor": 0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64}}))
    put("factor0.toml", '[model]\nhf_config = "factor0.json"\n')
    put("empty.json", "{}")
    put("empty_hf.toml", '[model]\nhf_config = "empty.json"\n')
    (d / "adir").mkdir()
    put("dir_hf.toml", '[model]\nhf_config = "adir"\n')
    hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 2048), }"
    hdr += " " * (118 - len(hdr)) + "\n"
    put("huge.npy", b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr.encode())
    put("text.npy", "1 2 3\n")
    np.save(d / "ok.npy", np.ones((1, 2048)))
    (d / "qkv").mkdir()
    put("qkv/x.npz", b"PK\x03\x04garbage")
    put("profile_huge.json", json.dumps({"unit": "us", "ops": {k: 1e300 for k in (
        "rmsnorm", "q_proj", "k_proj", "v_proj", "rope_q", "rope_k", "mem_store_kv", "mem_load_kv", "qk",
        "softmax_max", "softmax_exp", "softmax_norm", "av", "o_proj")}}))
    return files


CASES = [
    (["golden", "summary", "--config", "heads0.toml"], "num_attention_heads"),
    (["golden", "summary", "--config", "model5.toml"], "must be a table"),
    (["golden", "summary", "--config", "luts5.toml"], "must be a table"),
    (["golden", "summary", "--config", "invn.toml"], "luts.invn_frac"),
    (["golden", "summary", "--config", "notutf8.toml"], "not UTF-8"),
    (["golden", "summary", "--config", "factor_null.toml"], "rope_scaling.factor"),
    (["golden", "summary", "--config", "factor0.toml"], "rope_scaling.factor"),
    (["golden", "summary", "--config", "empty_hf.toml"], "hidden_size"),
    (["golden", "summary", "--config", "dir_hf.toml"], "folder"),
    (["golden", "summary", "--ctx", "1000000000000"], "--ctx"),
    (["golden", "llama-decode", "--inputs", "huge.npy", "--out", "OUT/y.npy"], "huge.npy"),
    (["golden", "llama-decode", "--inputs", "text.npy", "--out", "OUT/y.npy"], "not a .npy file"),
    (["golden", "llama-decode", "--inputs", "ok.npy", "--out", "/dev/null"], "not a regular file"),
    (["flat-profile", "--qkv-dir", "qkv", "--store-path", "OUT"], "x.npz"),
    (["schedule", "--engines", "100000000", "--out", "OUT"], "--engines"),
    (["schedule", "--depth", "1000000000000000", "--out", "OUT"], "--depth"),
    (["schedule", "--durations", "profile", "--profile", "profile_huge.json", "--heads", "1", "--out", "OUT"],
     "cycles"),
]


@pytest.mark.parametrize(("argv", "needle"), CASES, ids=[" ".join(a[:3]) + f" {i}" for i, (a, _) in enumerate(CASES)])
def test_cli_bad_input_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    _bad_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    rc = main([a.replace("OUT", str(out)) for a in argv])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert rc == 1, err
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_llama_decode_is_scale_invariant(tmp_path: Path) -> None:
    """Finite but huge inputs (1e200): RMSNorm divides the scale out, so the output equals that of the same
    rows at 1e10 (where x * x does not overflow and eps is as negligible), not zero as when x * x overflowed."""
    x = np.random.default_rng(0).standard_normal((2, 2048))
    np.save(tmp_path / "x.npy", x * 1e10)
    np.save(tmp_path / "big.npy", x * 1e200)
    assert main(["golden", "llama-decode", "--inputs", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")]) == 0
    assert main(["golden", "llama-decode", "--inputs", str(tmp_path / "big.npy"),
                 "--out", str(tmp_path / "yb.npy")]) == 0
    y, yb = np.load(tmp_path / "y.npy"), np.load(tmp_path / "yb.npy")
    assert np.all(np.isfinite(yb)) and np.max(np.abs(y)) > 0
    np.testing.assert_allclose(yb, y, rtol=1e-12, atol=1e-15)


def test_usage_error_is_usage_line_plus_one_error_line() -> None:
    p = subprocess.run([sys.executable, "-m", "pyflow", "schedule", "--engines", "x"], capture_output=True,
                       text=True, cwd=REPO)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2
    assert len(lines) == 2 and lines[0].startswith("usage: flatflow schedule") and lines[1].startswith("error:")


def test_ctrl_c_during_cpsat_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    """OR-Tools catches SIGINT itself; the solve must still stop, exit 130, and leave no output."""
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGINT, "
                          "signal.default_int_handler); from pyflow.cli import main; sys.exit(main(sys.argv[1:]))",
                          "schedule", "--mem-engines", "1", "--algo", "cpsat", "--time-limit", "60", "--out",
                          str(out)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # the graph is built and CP-SAT is searching (the instance needs the whole limit)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == ["error: interrupted"]
    assert not out.exists()
