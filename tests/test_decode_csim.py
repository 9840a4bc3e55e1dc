"""The Vitis decode accelerator (hls/kernels/decode_step/: the C++ twin of hls/accel/) C-simulated through
:class:`pyflow.backends.vitis.decode_csim.DecodeCsim`: T consecutive tokens from an empty cache at several start
positions and two port widths, every token's y and the whole KV area bit-exact against
:func:`pyflow.accel.sim.golden_tokens` (the golden the RTL accelerator test uses), on the memory images of
AccelSpec.weights_image / kv_image; pos >= capacity refused with nothing written."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from golden.weights import random_weights
from hls.accel.spec import AccelSpec, build
from pyflow.accel.sim import golden_tokens
from pyflow.backends.vitis.decode_csim import DecodeCsim
from pyflow.errors import FlowError
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import get_spec

pytestmark = pytest.mark.xdist_group("csim")

TOKENS = 3


def small(data_bits: int) -> AccelSpec:
    pc = small_config(load_project_config())
    return build(dataclasses.replace(pc, memory={**pc.memory, "data_bits": data_bits}))


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> dict[int, DecodeCsim]:
    root = tmp_path_factory.mktemp("decode_csim")
    return {bits: DecodeCsim(small(bits), root / f"{bits}b") for bits in (64, 128)}


def area_bytes(a: AccelSpec, area: str, img: dict[int, int]) -> bytearray:
    """An area's bytes (little-endian words) from a word image."""
    wb = a.word_bytes
    out = bytearray(a.area_words(area) * wb)
    for w, v in img.items():
        out[w * wb:(w + 1) * wb] = int(v).to_bytes(wb, "little")
    return out


def x_area(a: AccelSpec, x: np.ndarray) -> bytearray:
    """The x area holding the raw hidden state ``x``."""
    return area_bytes(a, "x_base", {a.region("x").word + i: w for i, w in enumerate(a.pack(x))})


def y_of(a: AccelSpec, y_area: bytearray) -> np.ndarray:
    """The raw output held in a y area."""
    words = words_of(a, y_area)
    return a.unpack([words[a.region("y").word + i] for i in range(a.region("y").words)], a.model.hidden_size)


def words_of(a: AccelSpec, data: bytearray) -> dict[int, int]:
    wb = a.word_bytes
    return {i: int.from_bytes(data[i * wb:(i + 1) * wb], "little") for i in range(len(data) // wb)}


def run_tokens(sim: DecodeCsim, start: int, tokens: int = TOKENS, seed: int = 0) -> list[str]:
    """Tokens start .. start + tokens - 1 in one memory (the cache filled by the golden model up to start);
    the differences from the golden model, one line each."""
    a = sim.a
    xs = np.random.default_rng(seed).normal(0, 1, (start + tokens, a.model.hidden_size))
    layer, cache, golden = golden_tokens(a, random_weights(a.model, seed), xs, start)
    areas = {"w_base": area_bytes(a, "w_base", a.weights_image(layer)),
             "kv_base": area_bytes(a, "kv_base", a.kv_image(cache)),
             "x_base": bytearray(a.area_words("x_base") * a.word_bytes),
             "y_base": bytearray(a.area_words("y_base") * a.word_bytes)}
    errors = []
    for tok in golden:
        pos = tok["pos"]
        areas["x_base"][:] = x_area(a, tok["x"])
        status = sim.run(pos, areas)
        y = y_of(a, areas["y_base"])
        if status != 0:
            errors.append(f"pos {pos}: status {status}")
        if not np.array_equal(y, tok["y"]):
            bad = np.flatnonzero(y != tok["y"])
            errors.append(f"pos {pos}: y differs in {bad.size} of {y.size} elements (first {bad[0]})")
        want = area_bytes(a, "kv_base", a.kv_image(tok["cache"]))
        if areas["kv_base"] != want:
            got, exp = words_of(a, areas["kv_base"]), words_of(a, want)
            bad = [w for w in exp if got[w] != exp[w]]
            errors.append(f"pos {pos}: kv area differs in {len(bad)} words (first word {bad[0]})")
    return errors


@pytest.mark.parametrize("bits", [64, 128])
def test_consecutive_tokens_bit_exact(sims: dict[int, DecodeCsim], bits: int) -> None:
    """From an empty cache (pos 0), from a position that is not a multiple of E (n crosses a word of keys), and
    up to the last position the capacity allows."""
    a = sims[bits].a
    for start in (0, a.per_word + 1, a.capacity - TOKENS):
        assert not run_tokens(sims[bits], start), (bits, start, run_tokens(sims[bits], start))


def test_pos_beyond_capacity_is_refused(sims: dict[int, DecodeCsim]) -> None:
    """pos = capacity and a huge pos: status 1, no area changes (every byte random beforehand)."""
    sim = sims[128]
    a = sim.a
    r = np.random.default_rng(5)
    areas = {k: bytearray(r.integers(0, 256, a.area_words(k) * a.word_bytes, dtype=np.uint8).tobytes())
             for k in ("w_base", "kv_base", "x_base", "y_base")}
    before = {k: bytes(v) for k, v in areas.items()}
    for pos in (a.capacity, 2**32 - 1):
        assert sim.run(pos, areas) == 1
        assert all(bytes(areas[k]) == before[k] for k in areas)
    assert sim.run(a.capacity - 1, areas) == 0 and bytes(areas["y_base"]) != before["y_base"]


def test_checks_can_fail(sims: dict[int, DecodeCsim]) -> None:
    """A cache entry of an earlier token changed behind the golden model's back changes y (the KV head's rows
    are read), and a wrong area size is one clear error."""
    sim = sims[64]
    a = sim.a
    xs = np.random.default_rng(2).normal(0, 1, (4, a.model.hidden_size))
    layer, cache, golden = golden_tokens(a, random_weights(a.model, 2), xs, 3)
    cache.k[1, 1] = -cache.k[1, 1] + 100
    areas = {"w_base": area_bytes(a, "w_base", a.weights_image(layer)),
             "kv_base": area_bytes(a, "kv_base", a.kv_image(cache)),
             "x_base": x_area(a, golden[0]["x"]),
             "y_base": bytearray(a.area_words("y_base") * a.word_bytes)}
    assert sim.run(3, areas) == 0
    assert not np.array_equal(y_of(a, areas["y_base"]), golden[0]["y"])
    with pytest.raises(FlowError, match="area y_base is 8 bytes"):
        sim.run(0, {**areas, "y_base": bytearray(8)})


def test_spec_vectors_use_the_accelerator_layout() -> None:
    """decode_step's own vectors (the generic C-sim testbench's) are AccelSpec.weights_image / kv_image of their
    tensors, word for word, and zero elsewhere."""
    from golden import llama_fixed as lf

    a = small(128)
    spec = get_spec("decode_step", small_config(load_project_config()))
    ins, exp = spec.vectors(3, 6)
    m, e = a.model, a.per_word

    def tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
        at = a.region(name).word * e
        return ins["w_base"][at: at + int(np.prod(shape))].reshape(shape)

    h, qd, kvd = m.hidden_size, m.q_dim, m.kv_dim
    layer = lf.FixedLayer(tensor("wq", (qd, h)), tensor("wk", (kvd, h)), tensor("wv", (kvd, h)), tensor("wo", (h, qd)),
                          tensor("gamma", (h,)))
    w_img = a.weights_image(layer)
    assert a.pack(ins["w_base"]) == [w_img.get(i, 0) for i in range(a.area_words("w_base"))]
    k, v = a.cache_from_image(dict(enumerate(a.pack(ins["kv_base"]))))
    kv_img = a.kv_image(lf.FixedKVCache(k, v, 0))
    assert a.pack(ins["kv_base"]) == [kv_img.get(i, 0) for i in range(a.area_words("kv_base"))]
    assert exp["status"][0] == 0 and len(ins["w_base"]) == a.area_words("w_base") * e


@pytest.mark.slow
def test_default_dimensions_tokens(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The default config (hidden 2048, 32 heads, 8 KV heads, 128-bit port): tokens 0 and 1 bit-exact (about 6 s
    of C-sim a token, plus a compile)."""
    a = build(load_project_config())
    sim = DecodeCsim(a, tmp_path_factory.mktemp("decode_csim_default"))
    assert not run_tokens(sim, 0, tokens=2)
