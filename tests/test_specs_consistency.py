"""Kernel specs: port contract, stream layouts, and golden outputs against float64 references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from golden.cycles import Timing
from golden.fixed import Fmt
from pyflow.project_config import load_project_config, small_config
from pyflow.specs import KERNELS, all_specs, get_spec
from pyflow.specs.base import Port
from pyflow.specs.rope import from_stream, to_stream


@pytest.fixture(scope="module")
def pc():
    return small_config(load_project_config())


def test_every_kernel_builds_with_consistent_ports(pc) -> None:
    specs = all_specs(pc)
    assert [s.name for s in specs] == list(KERNELS)
    for s in specs:
        ins, exp = s.vectors(3)
        for p in s.inputs:
            assert ins[p.name].size == p.elements
            p.fmt.check_raw(ins[p.name], f"{s.name}.{p.name}")
        for p in s.outputs:
            assert exp[p.name].size == p.elements
            p.fmt.check_raw(exp[p.name], f"{s.name}.{p.name}")
            if p.kind == "axis":
                assert p.tlast_every == p.beats  # TLAST on the final beat of each transfer
        if s.cycles is not None:
            t = s.cycles(4)
            assert isinstance(t, Timing) and 0 <= t.first <= t.last
        ins2, _ = s.vectors(3)
        assert all(np.array_equal(ins[k], ins2[k]) for k in ins)  # deterministic


def test_port_word_packing_roundtrip() -> None:
    p = Port("x", "in", Fmt(12, 4), lanes=3, beats=2, tlast_every=2)
    raw = np.array([-2048, 2047, -1, 0, 5, -7])
    words = p.to_words(raw)
    assert words[0] & 0xFFF == 0x800 and (words[0] >> 24) & 0xFFF == 0xFFF  # lane 0 in the LSBs
    assert np.array_equal(p.from_words(words), raw)
    assert (p.word_bits, p.tdata_bits) == (36, 40)
    assert list(p.tlast_array()) == [False, True]


def test_rope_layout_pairs_halves() -> None:
    d, p = 8, 2
    vecs = np.arange(2 * d).reshape(2, d)
    stream = to_stream(vecs, p)
    # beat 0 of vector 0: x[0..2) then x[d/2..d/2+2)
    assert list(stream[:4]) == [0, 1, 4, 5]
    assert np.array_equal(from_stream(stream, 2, d, p), vecs)


def _float(fmt: Fmt, raw: np.ndarray) -> np.ndarray:
    return fmt.to_float(raw)


def test_golden_outputs_track_float64(pc) -> None:
    s, m, n = pc.scheme, pc.model, pc.context_length
    d = m.head_dim
    # qk: logits vs float q.k / sqrt(d)
    spec = get_spec("qk", pc)
    ins, out = spec.vectors(1)
    q = _float(s.act, ins["q"][:d])
    k = _float(s.act, ins["k"]).reshape(n, d)
    assert np.max(np.abs(_float(s.logit, out["logit"]) - k @ q / math.sqrt(d))) < 1e-2
    # softmax chain: probabilities vs float softmax of the same logits
    e_spec, n_spec = get_spec("softmax_exp", pc), get_spec("softmax_norm", pc)
    ins, out = e_spec.vectors(2)
    x = _float(s.logit, ins["logit"])
    ref = np.exp(x - x.max())
    assert np.max(np.abs(_float(s.exp, out["exp"]) - ref)) < 1e-3
    probs = n_spec.expected({"sum": out["sum"], "exp": out["exp"]})["prob"]
    assert np.max(np.abs(_float(s.prob, probs) - ref / ref.sum())) < 2e-3
    # av against float
    spec = get_spec("av", pc)
    ins, out = spec.vectors(4)
    pv = _float(s.prob, ins["p"][:n])
    vt = _float(s.act, ins["vt"]).reshape(d, n)
    assert np.max(np.abs(_float(s.act, out["out"]) - vt @ pv)) < 4 * s.act.lsb
    # rmsnorm against float
    spec = get_spec("rmsnorm", pc)
    ins, out = spec.vectors(5)
    h = m.hidden_size
    x = _float(s.act, ins["x"][:h])
    g = _float(s.norm_weight, ins["gamma"])
    ref = x / np.sqrt(np.mean(x * x) + m.rms_norm_eps) * g
    assert np.max(np.abs(_float(s.act, out["y"]) - ref)) < 5e-3


def test_rope_golden_matches_float_rotation(pc) -> None:
    from golden.rope import apply_rope, cos_sin

    s, m = pc.scheme, pc.model
    spec = get_spec("rope", pc)
    ins, out = spec.vectors(6)
    n_vec, d, p = spec.params["N_VEC"], m.head_dim, spec.params["P"]
    x = _float(s.act, from_stream(ins["x"], n_vec, d, p))
    y = _float(s.act, from_stream(out["y"], n_vec, d, p))
    for v in range(n_vec):
        c, sn = cos_sin(m, int(ins["pos"][v]))
        assert np.max(np.abs(y[v] - apply_rope(x[v], c, sn))) < 5e-3


def test_kv_cache_golden_moves_data(pc) -> None:
    spec = get_spec("kv_cache", pc)
    ins, out = spec.vectors(0)
    n, d = pc.context_length, pc.model.head_dim
    kmem = out["kmem"].reshape(n, d)
    assert np.array_equal(kmem[n - 1], ins["k_new"])
    assert np.array_equal(kmem[: n - 1], ins["kmem"].reshape(n, d)[: n - 1])
    assert np.array_equal(out["vt"].reshape(d, n)[:, n - 1], ins["v_new"])


def test_digest_follows_lanes() -> None:
    pc = load_project_config()
    a = get_spec("gemv", pc, small=True).digest()
    b = get_spec("gemv", pc, small=True).digest()
    import dataclasses

    pc2 = dataclasses.replace(small_config(pc), lanes={**small_config(pc).lanes, "gemv": 8})
    assert a == b != get_spec("gemv", pc2).digest()
