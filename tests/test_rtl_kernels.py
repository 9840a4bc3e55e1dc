"""Every stream kernel has RTL (its focused tests in hls/kernels/<name>/ run it on Verilator and Icarus)."""

from __future__ import annotations

from pyflow.backends.xls.build import has_template
from pyflow.paths import KERNEL_SOURCES
from pyflow.specs import KERNELS


def test_every_stream_kernel_has_rtl_and_a_test_folder():
    assert {k for k in KERNELS if has_template(k)} >= {"rmsnorm", "gemv", "rope", "kv_cache", "qk", "softmax_max",
                                                       "softmax_exp", "softmax_norm", "av", "flat_attention"}
    for k in KERNELS:
        folder = KERNEL_SOURCES / k
        assert (folder / "spec.py").is_file() and (folder / f"{k}.cpp.j2").is_file(), k
        assert list(folder.glob("test_*.py")), f"{k} has no focused tests beside it"
    assert sorted(p.name for p in KERNEL_SOURCES.iterdir() if (p / "spec.py").is_file()) == sorted(KERNELS)
