"""XLS backend, wrapper step: the AXI4-Stream wrapper around an XLS core (``hls/templates/rtl/axis_wrapper.v.j2``).

The wrapper buffers each input in LUT RAM, ties the core's output ready high behind a per-output FIFO with
input admission (the core never stalls from the back), and registers the outputs; docs/RTL.md explains the
flow control.  :data:`WRAPPER_LATENCY` is what it adds to the core's latency in the cycle model.  For each
RAM of the spec (:class:`~pyflow.specs.base.Ram`) it instantiates the kernel's RAM module
(``<kernel>_ram``, :mod:`pyflow.backends.xls.primitives`) on the core's RAM ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyflow.backends.templates import environment
from pyflow.backends.xls.dslx import chan, core_last, ram_channels
from pyflow.backends.xls.ffi import ECP5_DSP_DEFINE
from pyflow.errors import FlowError
from pyflow.specs.base import KernelSpec, Port
from pyflow.specs.common import index_bits

CLK = "clk"
#: Synchronous, active-low reset of every generated module (as Vitis' ap_rst_n).
RST = "rst_n"
#: Cycles the wrapper adds around the core: its input buffers (one, like a skid buffer), the register that
#: ends the core's last stage, and the output FIFO's output register.
WRAPPER_LATENCY = 3
#: Entries of each input buffer (the smallest that takes a beat every cycle behind a registered TREADY).
INPUT_BUFFER_DEPTH = 4


@dataclass(frozen=True)
class OutputFifo:
    """Per-output FIFO of the AXI4-Stream wrapper.

    The core's output ready is tied high, so once the wrapper stops admitting input the pipeline may still
    emit one beat per activation already inside it (``stages``, plus the register after the core), per beat
    waiting in an input buffer (:data:`INPUT_BUFFER_DEPTH` per input), plus one for the registered admission
    flag and one of slack: that is ``margin``.
    Input is admitted while at most ``depth - margin`` entries are used; ``depth`` leaves two more entries
    so a free-running sink never throttles the source.
    """

    depth: int
    margin: int

    @property
    def abits(self) -> int:
        """Address bits of the FIFO memory."""
        return index_bits(self.depth)

    @classmethod
    def for_core(cls, stages: int, n_inputs: int) -> OutputFifo:
        """The FIFO that cannot overflow behind a core of ``stages`` stages with ``n_inputs`` inputs."""
        margin = int(stages) + 1 + INPUT_BUFFER_DEPTH * int(n_inputs) + 3
        return cls(depth=max(4, 1 << index_bits(margin + 2)), margin=margin)


def _wrapper_port(p: Port, dslx_module: str) -> dict[str, Any]:
    if p.kind not in ("axis", "scalar"):
        raise FlowError(f"rtl: port {p.name} of kind {p.kind} is not supported by the AXI4-Stream wrapper")
    last = core_last(p)
    return {"name": p.name, "width": p.word_bits, "tlast_every": p.tlast_every,
            "count_bits": index_bits(p.tlast_every), "core_last": last, "fw": p.word_bits + int(last),
            "core": f"{dslx_module}__{chan(p)}"}


def render_wrapper(spec: KernelSpec, core: str, stages: int) -> str:
    """Verilog of the AXI4-Stream wrapper (module ``spec.name``) around core module ``core``."""
    streams = [p for p in spec.inputs if p.kind == "axis"]
    env = environment("rtl")
    return env.get_template("axis_wrapper.v.j2").render(
        module=spec.name, core=core, clk=CLK, rst=RST, core_rst=RST, stages=stages, ecp5_define=ECP5_DSP_DEFINE,
        fifo=OutputFifo.for_core(stages, len(streams)),
        ibuf={"depth": INPUT_BUFFER_DEPTH, "abits": index_bits(INPUT_BUFFER_DEPTH)},
        rams=[{"name": ram_channels(r).name, "depth": r.depth, "aw": r.addr_bits, "width": r.width,
               "segments": r.segments, "doc": r.doc} for r in spec.rams],
        scalars=[_wrapper_port(p, spec.name) for p in spec.inputs if p.kind == "scalar"],
        inputs=[_wrapper_port(p, spec.name) for p in streams],
        outputs=[_wrapper_port(p, spec.name) for p in spec.outputs],
    )
