"""The DSLX fixed-point helpers (pyflow.backends.xls.dslx) against golden.fixed.requant, through the XLS interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from golden.fixed import Fmt, requant
from pyflow.backends.xls.dslx import requant_fn

xls = pytest.importorskip("xls")

SHAPES = [  # (input bits, shift = frac_in - fmt.frac, output format width/frac/signed)
    (32, 14, (16, 10, True)),
    (20, 3, (18, 17, False)),
    (12, -3, (16, 4, True)),
    (16, 0, (8, 0, True)),
    (41, 20, (24, 14, False)),
]


@pytest.mark.parametrize("sat_bits", [False, True])
@pytest.mark.parametrize("rnd", ["TRN", "RND", "RND_CONV"])
@pytest.mark.parametrize("ovf", ["SAT", "WRAP"])
def test_requant_fn_matches_golden(rnd, ovf, sat_bits):
    cases = [(a, s, Fmt(w, f, sg, rnd, ovf)) for a, s, (w, f, sg) in SHAPES]
    src = "\n\n".join(requant_fn(f"rq{i}", a, s, f, sat_bits=sat_bits) for i, (a, s, f) in enumerate(cases))
    pkg = xls.parse_ir_package(xls.convert_dslx_to_ir(src, "rq.x", "rq"))
    rng = np.random.default_rng(7)
    for i, (a, s, f) in enumerate(cases):
        fn = pkg.get_function(xls.mangle_dslx_name("rq", f"rq{i}"))
        h = 1 << max(s - 1, 0)
        edge = [-(1 << (a - 1)), (1 << (a - 1)) - 1, 0, 1, -1, h, -h, 3 * h, -3 * h, 5 * h]
        vals = np.array(list(rng.integers(-(1 << (a - 1)), 1 << (a - 1), 150)) + edge, dtype=np.int64)
        want = requant(vals, s + f.frac, f)
        for v, e in zip(vals.tolist(), want.tolist(), strict=True):
            u = fn.interpret([xls.Value.make_sbits(a, v)]).get_bits().to_uint64()
            got = u - (1 << f.width) if f.signed and u >> (f.width - 1) else u
            assert got == e, f"{f.describe()} in {a} bits shift {s}: requant({v}) = {got}, golden {e}"
