"""attention_decode (Vitis DATAFLOW top of one GQA group) at the small test dimensions: C-sim bit-exact."""

from __future__ import annotations

import re

import pytest

from testbench.checks import check_csim

pytestmark = pytest.mark.xdist_group("kernel_attention_decode")


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim("attention_decode", tmp_path_factory.mktemp("csim_attention_decode"))


def test_kv_loaded_once_per_kv_head(tmp_path) -> None:  # noqa: ANN001
    """kv_group loads the KV head's rows once (mem_load_kv outside the query-head loop) and serves each of the G
    query heads from the on-chip buffers (stream_k / stream_vt inside it); the top calls kv_group."""
    from pyflow.backends.vitis import rules
    from pyflow.backends.vitis.render import render_vitis
    from pyflow.project.config import load_project_config
    from pyflow.specs import get_spec

    pc = load_project_config(None)
    render_vitis(get_spec("attention_decode", pc), pc, tmp_path, with_vectors=False)
    code = (tmp_path / "attention_decode" / "attention_decode.cpp").read_text()
    funcs, _ = rules.scan(code)
    body = next(f for f in funcs if f.name == "kv_group").body
    at = re.search(r"(?<!kv_)heads:", body).start()  # the query-head loop (kv_heads: the KV-head loop)
    heads = body[at:]
    assert body.count("mem_load_kv(") == 1 and body.index("mem_load_kv(") < at
    assert "mem_load_kv(" not in heads and "stream_k(" in heads and "stream_vt(" in heads
    core = next(f for f in funcs if f.name == "attention_decode_core").body
    assert "kv_group<" in core and "kv_task<" not in core
