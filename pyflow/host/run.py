"""The host loop of the decode accelerator's Vitis kernel: weights and KV cache placed in the device's memory
areas, T consecutive tokens run, every output y and the KV cache after every token compared with the golden
fixed-point model, per-token verdicts and times.

The areas are built by the code the RTL testbench uses (hls/accel/spec.py ``AccelSpec.weights_image`` /
``kv_image`` / ``pack`` / ``unpack`` / ``cache_from_image``, pyflow/accel/sim.py ``memory_map`` /
``memory_image`` / ``golden_tokens``), so what the tests check is what runs on a board.

A device is anything with ``run(pos, areas) -> status`` (:class:`Device`): ``areas`` maps ``w_base``,
``kv_base``, ``x_base``, ``y_base`` to bytearrays of ``AccelSpec.area_words(area) * word_bytes`` bytes
(little-endian bus words); one call runs the token at ``pos``, updating ``kv_base`` and ``y_base`` in place;
the status has bit 0 set when the run was refused (pos >= capacity: nothing read or written).  Implementations:
:class:`XrtDevice` (an xclbin on an Alveo card through XRT's Python bindings) and, for the tests,
``pyflow.backends.vitis.decode_csim.DecodeCsim`` (the C++ top compiled with g++).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from golden import llama_fixed as lf
from golden.weights import LayerWeights, random_weights
from hls.accel.spec import AccelSpec
from pyflow.accel.sim import golden_tokens, memory_image, memory_map
from pyflow.errors import FlowError

#: The memory areas, in the order of the decode_step wrapper's pointer arguments.
AREAS = ("w_base", "kv_base", "x_base", "y_base")
#: Status bit 0: the run was refused.
REFUSED = 1


class Device(Protocol):
    """Runs one decode step on the areas (see the module docstring)."""

    def run(self, pos: int, areas: dict[str, bytearray]) -> int: ...


# ------------------------------------------------------------------------------------------------ areas
def area_images(a: AccelSpec, layer: lf.FixedLayer, cache: lf.FixedKVCache) -> dict[str, bytearray]:
    """The four areas before the first token: weights and KV cache in place (the testbench's memory image, cut
    at the areas' bases), x and y zero."""
    mm = memory_map(a)
    image = memory_image(a, mm, layer, cache)
    wb = a.word_bytes
    return {area: bytearray(image[mm.bases[area]:mm.bases[area] + a.area_words(area) * wb]) for area in AREAS}


def put_region(a: AccelSpec, areas: dict[str, bytearray], region: str, raw: np.ndarray) -> None:
    """Pack the raw codes ``raw`` into ``region`` of its area."""
    reg, wb = a.region(region), a.word_bytes
    words = a.pack(raw)
    if len(words) > reg.words:
        raise FlowError(f"host: {len(words)} words for region {region}, which holds {reg.words}")
    buf = areas[reg.area]
    for i, w in enumerate(words):
        buf[(reg.word + i) * wb:(reg.word + i + 1) * wb] = int(w).to_bytes(wb, "little")


def area_words(a: AccelSpec, buf: bytes | bytearray, first: int = 0, count: int | None = None) -> list[int]:
    """Bus words ``first .. first + count - 1`` of an area (little endian)."""
    wb = a.word_bytes
    count = len(buf) // wb - first if count is None else count
    return [int.from_bytes(buf[(first + i) * wb:(first + i + 1) * wb], "little") for i in range(count)]


def get_region(a: AccelSpec, areas: dict[str, bytearray], region: str, count: int) -> np.ndarray:
    """The first ``count`` raw codes (signed) of ``region``."""
    reg = a.region(region)
    return a.unpack(area_words(a, areas[reg.area], reg.word, reg.words), count)


def cache_of(a: AccelSpec, kv_area: bytes | bytearray) -> tuple[np.ndarray, np.ndarray]:
    """The (n_kv, N, d) raw K and V held in a KV area."""
    return a.cache_from_image(dict(enumerate(area_words(a, kv_area))))


# ------------------------------------------------------------------------------------------------ loop
def run_host(a: AccelSpec, device: Device, tokens: int, start: int = 0, seed: int = 0,
             weights: LayerWeights | None = None, xs: np.ndarray | None = None, check_refusal: bool = False,
             say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``tokens`` consecutive tokens from position ``start`` on ``device`` (the cache holding the golden
    model's positions 0..start-1, inputs and weights seeded as ``accel run``); compare each token's y and the
    whole KV cache with the golden model.  With ``check_refusal``, one more call at pos = capacity must be
    refused and change nothing.  Returns ``ok``, per token ``pos``, ``y_ok``, ``y_mismatches``, ``kv_ok``,
    ``status``, ``seconds``, and ``errors`` (one line each)."""
    cfg = a.model
    if tokens < 1 or start < 0 or start + tokens > a.capacity:
        raise FlowError(f"host: positions {start}..{start + tokens - 1} must lie in 0..{a.capacity - 1} "
                        "(context.max_length of the build); choose --start and --tokens inside it")
    weights = weights if weights is not None else random_weights(cfg, seed)
    if xs is None:
        xs = np.random.default_rng(seed + 1).normal(0, 1, (start + tokens, cfg.hidden_size))
    say(f"golden model: {start} earlier position(s), {tokens} token(s)")
    layer, cache, golden = golden_tokens(a, weights, xs, start)
    areas = area_images(a, layer, cache)
    out: list[dict[str, Any]] = []
    errors: list[str] = []
    for tok in golden:
        pos = int(tok["pos"])
        put_region(a, areas, "x", tok["x"])
        t0 = time.perf_counter()
        status = int(device.run(pos, areas))
        dt = time.perf_counter() - t0
        y = get_region(a, areas, "y", cfg.hidden_size)
        y_bad = int(np.count_nonzero(y != tok["y"]))
        k, v = cache_of(a, areas["kv_base"])
        kv_ok = bool(np.array_equal(k, tok["cache"].k) and np.array_equal(v, tok["cache"].v))
        ok = not status & REFUSED and y_bad == 0 and kv_ok
        out.append({"pos": pos, "status": status, "y_ok": y_bad == 0, "y_mismatches": y_bad, "kv_ok": kv_ok,
                    "seconds": dt})
        if not ok:
            why = "refused" if status & REFUSED else (f"{y_bad}/{cfg.hidden_size} y elements differ"
                                                     if y_bad else "KV cache differs")
            errors.append(f"token at pos {pos}: {why}")
        say(f"token pos {pos}: {'ok' if ok else 'FAIL'}  y {'bit-exact' if y_bad == 0 else f'{y_bad} differ'}, "
            f"KV cache {'equal' if kv_ok else 'differs'}, status {status:#x}, {dt * 1e3:.1f} ms")
    if check_refusal:
        before = {k: bytes(v) for k, v in areas.items()}
        status = int(device.run(a.capacity, areas))
        same = all(bytes(areas[k]) == before[k] for k in ("kv_base", "y_base"))
        ok = bool(status & REFUSED) and same
        if not ok:
            errors.append(f"pos {a.capacity} (= capacity): status {status:#x}, "
                          f"{'memory unchanged' if same else 'memory written'}; expected refused, nothing written")
        say(f"pos {a.capacity} (capacity): {'refused, nothing written' if ok else 'FAIL'}")
    return {"ok": not errors, "tokens": out, "errors": errors}


# ------------------------------------------------------------------------------------------------ XRT
def import_pyxrt() -> Any:  # noqa: ANN401 (module)
    """XRT's Python bindings, or FlowError naming the fix."""
    try:
        return importlib.import_module("pyxrt")
    except ImportError:
        raise FlowError("pyxrt (XRT's Python bindings) is not importable: on the machine with the card run "
                        "`source /opt/xilinx/xrt/setup.sh` (it puts pyxrt on PYTHONPATH), then retry") from None


class XrtDevice:
    """decode_step in an xclbin on an Alveo card: one buffer object per area in the memory bank its argument is
    linked to (``kernel.group_id``), the weights written once, x, KV and y synced around every run.

    The argument order (pos, w_base, kv_base, x_base, y_base, status) and the status register's offset come
    from the decode_step spec (pyflow/backends/vitis/regmap.py).  pyxrt has no register read on kernels
    (XRT's src/python/pybind11/src/pyxrt.cpp binds none), so where ``read_register`` is missing the status is
    inferred: the y buffer is filled with a sentinel before each run, and a run that leaves all of it is
    refused (a refused run writes nothing)."""

    SENTINEL = 0xA5

    def __init__(self, a: AccelSpec, xclbin: Path, kernel_name: str = "decode_step", index: int = 0,
                 spec: Any = None) -> None:  # noqa: ANN401 (KernelSpec)
        from pyflow.backends.vitis.regmap import s_axilite_map, spec_args
        from pyflow.specs import get_spec

        self.pyxrt = pyxrt = import_pyxrt()
        spec = spec if spec is not None else get_spec(kernel_name, a.pc)
        self.args = spec_args(spec)
        names = [r.name for r in self.args]
        missing = [n for n in ("pos", *AREAS) if n not in names]
        if missing:
            raise FlowError(f"host: the {kernel_name} spec has no argument(s) {', '.join(missing)}: this build's "
                            f"{kernel_name} is not the memory-mapped top decode_step(pos, w_base, kv_base, x_base, "
                            "y_base, status)")
        self.regs = s_axilite_map(self.args)
        self.a = a
        self.device = pyxrt.device(index)
        uuid = self.device.load_xclbin(str(xclbin))
        self.kernel = pyxrt.kernel(self.device, uuid, kernel_name, pyxrt.kernel.cu_access_mode.exclusive)
        self.bos = {area: pyxrt.bo(self.device, a.area_words(area) * a.word_bytes, pyxrt.bo.normal,
                                   self.kernel.group_id(names.index(area))) for area in AREAS}
        self._weights: bytes | None = None

    def _put(self, area: str, data: bytes | bytearray) -> None:
        bo = self.bos[area]
        bo.write(np.frombuffer(bytes(data), dtype=np.uint8), 0)
        bo.sync(self.pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE)

    def _get(self, area: str) -> bytes:
        bo = self.bos[area]
        bo.sync(self.pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_FROM_DEVICE)
        return bytes(bo.read(bo.size(), 0))

    def run(self, pos: int, areas: dict[str, bytearray]) -> int:
        """One decode step at ``pos`` on the card (see :class:`Device`)."""
        pyxrt = self.pyxrt
        if self._weights != bytes(areas["w_base"]):
            self._put("w_base", areas["w_base"])
            self._weights = bytes(areas["w_base"])
        self._put("kv_base", areas["kv_base"])
        self._put("x_base", areas["x_base"])
        sentinel = bytes([self.SENTINEL]) * len(areas["y_base"])
        self._put("y_base", sentinel)
        run = pyxrt.run(self.kernel)
        for i, arg in enumerate(self.args):
            if arg.kind == "pointer":
                run.set_arg(i, self.bos[arg.name])
            elif arg.direction == "in":
                run.set_arg(i, int(pos) if arg.name == "pos" else 0)
        run.start()
        state = run.wait()
        if state != pyxrt.ert_cmd_state.ERT_CMD_STATE_COMPLETED:
            raise FlowError(f"host: decode_step at pos {pos} ended in state {state} (XRT), not completed")
        y = self._get("y_base")
        if hasattr(self.kernel, "read_register"):
            status = int(self.kernel.read_register(self.regs["status"]))
        else:
            status = REFUSED if y == sentinel else 0
        if not status & REFUSED:
            areas["kv_base"][:] = self._get("kv_base")
            areas["y_base"][:] = y
        return status
