"""C simulation of the Vitis decode accelerator (hls/kernels/decode_step/) on its four memory areas.

:class:`DecodeCsim` renders the ``decode_step`` top at an :class:`~hls.accel.spec.AccelSpec`'s dimensions and port
width with a small driver (``decode_step_main.cpp.j2``), compiles it once with g++ (cached by content, as the
C-sim stage does) and runs one ``decode_step`` per :meth:`DecodeCsim.run` on the areas' bytes: the same little-endian
bus words, regions and packing as ``AccelSpec.weights_image`` / ``kv_image`` and the RTL testbench use.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hls.accel.spec import AccelSpec
from hls.kernels.decode_step.spec import AREAS
from hls.kernels.decode_step.spec import build as build_spec
from pyflow.backends.templates import environment, render, write_if_changed
from pyflow.backends.vitis.csim import kernel_dir
from pyflow.backends.vitis.render import render_vitis
from pyflow.errors import FlowError
from pyflow.tools import gxx

NAME = "decode_step"


class DecodeCsim:
    """The decode_step C-sim of accelerator ``a``, built in ``workdir``; :meth:`run` runs one token."""

    def __init__(self, a: AccelSpec, workdir: Path) -> None:
        self.a = a
        self.workdir = Path(workdir)
        self.spec = build_spec(a.pc)
        render_vitis(self.spec, a.pc, self.workdir, with_vectors=False)
        d = kernel_dir(self.spec, self.workdir)
        main = d / f"{NAME}_main.cpp"
        write_if_changed(main, render(self.spec, "vitis", f"{NAME}_main.cpp.j2", env=environment("vitis", NAME)))
        includes = [d, self.workdir / "_shim", *[d / "deps" / dep for dep in self.spec.deps]]
        comp = gxx.compile_exe([d / f"{NAME}.cpp", main], includes, f"{NAME}_main")
        self.exe, self.cached, self.compile_s = comp.exe, comp.cached, comp.seconds

    def run(self, pos: int, areas: dict[str, bytearray], timeout_s: int = 3600) -> int:
        """One decode_step at ``pos`` on ``areas`` (``w_base``, ``kv_base``, ``x_base``, ``y_base``: each
        ``area_words * word_bytes`` bytes of little-endian words); kv_base and y_base are updated in place.
        Returns the status register (bit 0: refused, pos >= capacity)."""
        if not 0 <= int(pos) < 1 << 32:
            raise FlowError(f"decode csim: pos = {pos} does not fit the 32-bit pos register; give 0 .. 2**32 - 1")
        for area in AREAS:
            want = self.a.area_words(area) * self.a.word_bytes
            if area not in areas or len(areas[area]) != want:
                got = "missing" if area not in areas else f"{len(areas[area])} bytes"
                raise FlowError(f"decode csim: area {area} is {got}; it must be {want} bytes "
                                "(AccelSpec.area_words x word_bytes)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="run_", dir=self.workdir) as tmp:
            for area in AREAS:
                (Path(tmp) / f"{area}.bin").write_bytes(bytes(areas[area]))
            res = subprocess.run([str(self.exe), tmp, str(int(pos))], capture_output=True, text=True,
                                 timeout=timeout_s, check=False)
            status = [ln for ln in res.stdout.splitlines() if ln.startswith("STATUS ")]
            if res.returncode != 0 or not status:
                raise FlowError(f"decode csim: {self.exe.name} failed (exit {res.returncode}): "
                                f"{(res.stdout + res.stderr).strip()[-400:]}")
            for area in ("kv_base", "y_base"):
                areas[area][:] = (Path(tmp) / f"{area}.bin").read_bytes()
        return int(status[0].split()[1])
