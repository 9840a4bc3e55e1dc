"""attention_decode (Vitis DATAFLOW top of one GQA group) at the small test dimensions: C-sim bit-exact."""

from __future__ import annotations

import pytest

from testbench.checks import check_csim

pytestmark = pytest.mark.xdist_group("kernel_attention_decode")


def test_csim(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_csim("attention_decode", tmp_path_factory.mktemp("csim_attention_decode"))
