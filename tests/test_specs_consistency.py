"""Kernel specs: port contract, stream layouts, and golden outputs against float64 references."""

from __future__ import annotations

import numpy as np
import pytest

from golden.cycles import Timing
from golden.fixed import Fmt
from pyflow.project.config import load_project_config, small_config
from pyflow.specs import KERNELS, all_specs, get_spec
from pyflow.specs.base import Port


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
            t = s.timing(4)
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


def test_digest_follows_lanes() -> None:
    pc = load_project_config()
    a = get_spec("gemv", pc, small=True).digest()
    b = get_spec("gemv", pc, small=True).digest()
    import dataclasses

    pc2 = dataclasses.replace(small_config(pc), lanes={**small_config(pc).lanes, "gemv": 8})
    assert a == b != get_spec("gemv", pc2).digest()
