"""Render stage: deterministic output, untouched files on a rerun, constants from the spec only."""

from __future__ import annotations

from pathlib import Path

from pyflow.backends.vitis.render import render_vitis
from pyflow.paths import TEMPLATES
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import all_specs, get_spec


def test_second_render_rewrites_nothing(tmp_path: Path) -> None:
    pc = small_config(load_project_config())
    specs = all_specs(pc, names=("softmax_exp", "rope", "kv_cache"))
    first = [render_vitis(s, pc, tmp_path) for s in specs]
    assert all(r.written for r in first)
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    second = [render_vitis(s, pc, tmp_path) for s in specs]
    assert all(not r.written for r in second)
    assert mtimes == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}


def test_lut_contents_come_from_the_spec(tmp_path: Path) -> None:
    pc = small_config(load_project_config())
    spec = get_spec("softmax_norm", pc)
    render_vitis(spec, pc, tmp_path, with_vectors=False)
    header = (tmp_path / "softmax_norm" / "softmax_norm.h").read_text()
    values = spec.luts["recip"].values
    assert ", ".join(map(str, values[:16])) in header
    # no template types a table entry itself
    needle = ", ".join(map(str, values[:4]))
    assert not any(needle in t.read_text() for t in TEMPLATES.rglob("*.j2"))


def test_vectors_are_the_golden_outputs(tmp_path: Path) -> None:
    pc = small_config(load_project_config())
    spec = get_spec("qk", pc)
    render_vitis(spec, pc, tmp_path)
    _, exp = spec.vectors(0)
    text = (tmp_path / "qk" / "vectors" / "logit.exp.txt").read_text().split()
    assert [int(t) for t in text] == exp["logit"].tolist()
