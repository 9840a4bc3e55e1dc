"""The host program's loop (pyflow/host/run.py) with decode_step C-simulated by g++ as the device
(pyflow/backends/vitis/decode_csim.py: DecodeCsim, the same run(pos, areas) -> status protocol as the XRT
device): T consecutive tokens at several start positions, every y and the KV cache after every token against the
golden model, a refused position, and a corrupted device that the loop must catch."""

from __future__ import annotations

from pathlib import Path

import pytest

from hls.accel.spec import AccelSpec, build
from pyflow.backends.vitis import decode_csim
from pyflow.host.run import REFUSED, run_host
from pyflow.project.config import load_project_config, small_config


@pytest.fixture(scope="module")
def accel() -> AccelSpec:
    return build(small_config(load_project_config()))


@pytest.fixture(scope="module")
def device(accel: AccelSpec, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return decode_csim.DecodeCsim(accel, tmp_path_factory.mktemp("decode_csim"))


@pytest.mark.parametrize("start", [0, 5, None], ids=["from0", "from5", "last"])
def test_host_loop_on_the_csim(accel: AccelSpec, device, start: int | None) -> None:  # noqa: ANN001
    tokens = 3
    first = accel.capacity - tokens if start is None else start
    r = run_host(accel, device, tokens, first, seed=3, check_refusal=start is None, say=lambda _s: None)
    assert r["ok"], r["errors"]
    assert [t["pos"] for t in r["tokens"]] == list(range(first, first + tokens))
    assert all(t["y_ok"] and t["kv_ok"] and t["status"] == 0 for t in r["tokens"])


class _Corrupting:
    """The C-sim with one bit of y flipped at one position, or the KV store skipped."""

    def __init__(self, inner, pos: int, what: str) -> None:  # noqa: ANN001
        self.inner, self.pos, self.what = inner, pos, what

    def run(self, pos: int, areas: dict[str, bytearray]) -> int:
        kv = bytes(areas["kv_base"])
        status = self.inner.run(pos, areas)
        if pos == self.pos and self.what == "y":
            areas["y_base"][0] ^= 1
        if pos == self.pos and self.what == "kv":
            areas["kv_base"][:] = kv
        return status


@pytest.mark.parametrize("what", ["y", "kv"])
def test_host_loop_catches_a_wrong_device(accel: AccelSpec, device, what: str) -> None:  # noqa: ANN001
    r = run_host(accel, _Corrupting(device, 1, what), 3, 0, say=lambda _s: None)
    assert not r["ok"] and len(r["errors"]) >= 1 and r["errors"][0].startswith("token at pos 1")
    assert r["tokens"][0]["y_ok"] and r["tokens"][0]["kv_ok"]


def test_csim_refuses_pos_at_capacity(accel: AccelSpec, device, tmp_path: Path) -> None:  # noqa: ANN001
    from pyflow.host.run import AREAS

    areas = {k: bytearray(accel.area_words(k) * accel.word_bytes) for k in AREAS}
    assert device.run(accel.capacity, areas) & REFUSED
