"""Fixed-point FLAT (golden/flat_fixed.py), its spec and its models against independent computations."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from golden import cycles
from golden import flat_fixed as ff
from golden import llama_fixed as lf
from hls.kernels.flat_attention.spec import from_out_stream, to_out_stream
from pyflow.project.config import load_project_config, small_config
from pyflow.sim.flat_hw import flat_hw_report
from pyflow.specs import get_spec

S = lf.FixedScheme()


def _qkv(seed: int, l_rows: int, n: int, d: int, std: float = 1.2) -> tuple[np.ndarray, ...]:
    g = np.random.default_rng(seed)
    return (S.act.quantize(g.standard_normal((l_rows, d)) * std), S.act.quantize(g.standard_normal((n, d)) * std),
            S.act.quantize(g.standard_normal((n, d))))


@pytest.mark.parametrize("rows", [1, 2, 4, 12])
@pytest.mark.parametrize("seed", [0, 1])
def test_flat_equals_unfused_chain_bit_for_bit(rows: int, seed: int) -> None:
    q, k, v = _qkv(seed, 12, 20, 8)
    assert np.array_equal(ff.flat_attention(q, k, v, rows, S), ff.unfused_attention(q, k, v, S))


def test_flat_equals_unfused_at_saturation_and_ties() -> None:
    q, k, v = _qkv(5, 8, 16, 16, std=30.0)  # act saturates, logits hit the logit format's limits
    k[3] = k[4]  # tied logits in every row
    q[2] = 0  # a row of all-zero logits (uniform softmax)
    q[0], k[0] = S.act.raw_max, S.act.raw_max  # q.k / sqrt(d) = 4096 > the logit range: saturates
    logits = lf.qk(q, k, 16, S)
    assert logits.max() == S.logit.raw_max or logits.min() == S.logit.raw_min
    assert np.array_equal(ff.flat_attention(q, k, v, 4, S), ff.unfused_attention(q, k, v, S))


def test_flat_fixed_tracks_float64_attention() -> None:
    q, k, v = _qkv(2, 8, 16, 16)
    qf, kf, vf = (S.act.to_float(x) for x in (q, k, v))
    s = qf @ kf.T / math.sqrt(16)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    ref = (e / e.sum(axis=1, keepdims=True)) @ vf
    got = S.act.to_float(ff.flat_attention(q, k, v, 4, S))
    assert np.max(np.abs(got - ref)) < 8 * S.act.lsb


def test_flat_rejects_bad_tiles() -> None:
    q, k, v = _qkv(0, 6, 8, 8)
    with pytest.raises(ValueError, match="divide"):
        ff.flat_attention(q, k, v, 4, S)


@pytest.fixture(scope="module")
def pc():
    return small_config(load_project_config())


def test_spec_golden_and_out_layout(pc) -> None:
    spec = get_spec("flat_attention", pc)
    r, n, d, l_rows = (spec.params[x] for x in ("R", "N", "D", "L"))
    ins, exp = spec.vectors(3)
    q = ins["q"].reshape(l_rows, d)
    keys = ins["k"][: n * d].reshape(n, d)
    values = ins["vt"][: d * n].reshape(d, n).T
    rows = np.stack([lf.av(lf.softmax_norm(*lf.softmax_exp(lg, lf.softmax_max(lg), S), S), values, S)
                     for lg in (lf.qk(qr, keys, d, S) for qr in q)])
    # out layout: beat t*d + i, lane r = row t*R + r, dimension i
    for t in range(l_rows // r):
        for i in range(d):
            for lane in range(r):
                assert exp["out"][(t * d + i) * r + lane] == rows[t * r + lane, i]
    assert np.array_equal(from_out_stream(to_out_stream(rows, r), l_rows, d, r), rows)
    # each tile attends over the K streamed for it: changing the last tile's K changes only its rows
    other = dict(ins, k=ins["k"].copy())
    other["k"][-n * d:] = np.roll(keys, 1, axis=0).reshape(-1)
    got = from_out_stream(spec.expected(other)["out"], l_rows, d, r)
    assert np.array_equal(got[:-r], rows[:-r])
    last = np.stack([lf.av(lf.softmax_norm(*lf.softmax_exp(lg, lf.softmax_max(lg), S), S), values, S)
                     for lg in (lf.qk(qr, np.roll(keys, 1, axis=0), d, S) for qr in q[-r:])])
    assert np.array_equal(got[-r:], last) and not np.array_equal(last, rows[-r:])


def _schedule(l_rows: int, n: int, d: int, r: int, p: int, depth: int) -> tuple[int, int, int]:
    """Walk the kernel's activations one by one (phases of hls/kernels/flat_attention/flat_attention.x.j2)."""
    cyc, outs = 0, []
    words = -(-n // p)  # a row of n keys in words of P lanes, the last one part-filled
    for t0 in range(0, l_rows, r):
        rows = min(r, l_rows - t0)  # the last tile holds what is left
        cyc += rows * d // p  # load the tile's query rows
        cyc += n * d // p  # stream K
        cyc += 2 * words * rows  # exp and normalise passes, word by word
        for _i in range(d):
            cyc += words
            outs.append(cyc - 1 + depth)
    return outs[0], outs[-1], cyc


@pytest.mark.parametrize(("l_rows", "n", "d", "r", "p"), [(16, 16, 16, 4, 4), (8, 8, 16, 4, 2), (6, 12, 8, 3, 4),
                                                          (7, 5, 16, 4, 4), (1, 1, 16, 4, 4), (13, 20, 16, 4, 8),
                                                          (10, 10, 12, 4, 3)])
def test_cycle_model_matches_activation_walk(l_rows, n, d, r, p) -> None:
    t = cycles.flat_attention(l_rows, n, d, r, p, 7)
    first, last, busy = _schedule(l_rows, n, d, r, p, 7)
    assert (t.first, t.last, t.busy) == (first, last, busy)


def test_spec_runtime_lengths_and_partial_tiles(pc) -> None:
    """n keys and l query rows at run time: the port sizes follow both, a partial last tile's missing rows are
    0 in the output stream, and every tile equals the unfused chain over the n keys."""
    spec = get_spec("flat_attention", pc)
    r, d = spec.params["R"], spec.params["D"]
    for n, l_rows in ((5, 7), (16, 1), (1, 16), (11, 13)):
        ins = {k: np.asarray(v).reshape(-1) for k, v in spec.make_vectors(2, n, l_rows).items()}
        assert spec.length(ins) == {"n": n, "l": l_rows}
        ports = {p.name: p for p in spec.ports_at(spec.length(ins))}
        tiles = -(-l_rows // r)
        assert (ports["q"].beats, ports["k"].beats) == (l_rows * d // 4, tiles * n * d // 4)
        assert (ports["vt"].beats, ports["out"].beats) == (tiles * d * -(-n // 4), tiles * d)
        out = spec.expected(ins)["out"]
        assert out.size == tiles * d * r
        assert not out.reshape(tiles, d, r)[-1, :, l_rows - (tiles - 1) * r:].any()  # rows beyond l
        keys, values = ins["k"][: n * d].reshape(n, d), ins["vt"][: d * n].reshape(d, n).T
        want = ff.unfused_attention(ins["q"].reshape(l_rows, d), keys, values, S)
        assert np.array_equal(from_out_stream(out, l_rows, d, r), want)
        assert spec.timing(9, spec.length(ins)) == cycles.flat_attention(l_rows, n, d, r, 4, 9)
    # a plain n means l = min(n, L): the prefill of n tokens (what the decode positions of the tests use)
    assert spec.timing(9, 7) == cycles.flat_attention(7, 7, d, r, 4, 9)
    assert spec.vectors(0, 7)[0]["l"].tolist() == [7]


def _counting_ops(monkeypatch) -> dict[str, int]:
    """Count external-memory bytes of the unfused chain: every op reads its array inputs from memory and
    writes its array output there (q and p re-streams come from on-chip row buffers, counted once)."""
    moved = {"bytes": 0}
    fmts = {"qk": (S.act, S.act, S.logit), "softmax_max": (S.logit, None), "softmax_exp": (S.logit, None, S.exp),
            "softmax_norm": (S.exp, None, S.prob), "av": (S.prob, S.act, S.act)}
    for name, fm in fmts.items():
        orig = getattr(lf, name)

        def wrapped(*args, _orig=orig, _fm=fm, **kw):
            out = _orig(*args, **kw)
            for a, f in zip(args, _fm[:-1] if len(_fm) == 3 else _fm[:1], strict=False):
                if f is not None and isinstance(a, np.ndarray) and a.ndim >= 1:
                    moved["bytes"] += a.size * -(-f.width // 8)
            res = out[0] if isinstance(out, tuple) else out
            if len(_fm) == 3 and np.ndim(res) >= 1:
                moved["bytes"] += np.size(res) * -(-_fm[2].width // 8)
            return out

        monkeypatch.setattr(lf, name, wrapped)
    return moved


def test_offchip_models_match_counted_traffic(monkeypatch) -> None:
    l_rows, n, d, r = 8, 16, 16, 4
    q, k, v = _qkv(4, l_rows, n, d)
    moved = _counting_ops(monkeypatch)
    ff.unfused_attention(q, k, v, S)
    assert ff.unfused_offchip(l_rows, n, d, S)["total"] == moved["bytes"]
    # FLAT: exactly what its ports carry (K and V^T once per tile), 2-byte act words
    spec = get_spec("flat_attention", dataclasses.replace(small_config(load_project_config()), max_length=n))
    words = sum(p.elements for p in spec.ports if p.kind == "axis")  # (n and l: scalar registers)
    l_spec, r_spec = spec.params["L"], spec.params["R"]
    assert ff.flat_offchip(l_spec, n, spec.params["D"], r_spec, S)["total"] == words * 2
    assert ff.flat_offchip(l_rows, n, d, r, S)["logit"] == 0


def test_onchip_model_matches_tile_arrays() -> None:
    n, d, r = 16, 16, 4
    q, k, v = _qkv(6, r, n, d)
    tile = ff.flat_tile(q, k, v, S)
    model = ff.flat_onchip(n, d, r, S)
    assert model["q_tile"] == q.size * S.act.width / 8
    assert model["logit"] == tile["logit"].size * S.logit.width / 8
    assert model["exp"] == tile["exp"].size * S.exp.width / 8
    assert model["prob"] == tile["prob"].size * S.prob.width / 8
    assert model["total"] > ff.unfused_onchip(n, d, S)["total"]


def test_report_writes_json_and_favours_flat_traffic(tmp_path) -> None:
    path = tmp_path / "flat_hw.json"
    rep = flat_hw_report(load_project_config(), report_path=path, progress=False)
    disk = json.loads(path.read_text())
    assert disk["model"]["dims"] == rep["model"]["dims"]
    m = disk["model"]
    assert m["flat"]["offchip_bytes"]["logit"] == 0 < m["unfused"]["offchip_bytes"]["logit"]
    assert m["flat"]["offchip_bytes"]["total"] < m["unfused"]["offchip_bytes"]["total"]
    sweep = disk["sweep"]
    assert [x["R"] for x in sweep][:3] == [1, 2, 4]
    assert all(a["offchip_bytes"] > b["offchip_bytes"] and a["onchip_bytes"] < b["onchip_bytes"]
               for a, b in zip(sweep, sweep[1:], strict=False))
    assert disk["small"]["measured"] is None
