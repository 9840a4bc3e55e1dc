"""Google XLS wrapper: DSLX text -> IR -> optimised IR -> pipelined Verilog.

Every compile runs in a child Python process (``python -m pyflow.tools.xls``) because a bad
option set can abort the XLS library and take the whole process with it.  Results are cached
under ``build/rtl/<kernel>/`` by a content hash of (DSLX text, options, XLS version).

Latency convention (used by the cycle model): XLS numbers its pipeline stages 0..S-1 and puts one
register level between consecutive stages, so an input accepted at edge ``t`` leaves the core at
edge ``t + S - 1``; each I/O flop level (skid buffer) adds one more cycle.  :attr:`XlsResult.latency` is
that sum, parsed from the generated Verilog.  By default no I/O is flopped here: the AXI4-Stream wrapper
(:mod:`pyflow.backends.xls.build`) buffers the inputs, registers the outputs in its output FIFO and ties the core's
output ready high, so XLS's stage-to-stage stall chain folds away in synthesis.

RAMs (:class:`RamChannels`): a proc may talk to on-chip RAMs through XLS RAM channels, which codegen rewrites
into RAM ports (``ram_configurations``).  A RAM's response follows its request by the read latency, so XLS
cannot put every receive in the first stage and every send in the last (``receives_first_sends_last``).
Such a core is scheduled twice instead: once to learn the number of stages S, then with S stages and I/O
constraints that put every stream receive in stage 0 and every stream send in stage S - 1 (the same
placement, so the latency convention above holds).  Each RAM's read requests are constrained to the stage of
its write requests: an activation's read then follows every write of the activations before it and
precedes those after it, as with proc state, whatever the RAM's read-during-write behaviour.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyflow.errors import FlowError
from pyflow.reports import atomic_write_text

#: Delay models the bundled XLS knows.
DELAY_MODELS = ("unit", "asap7", "sky130")
#: Suffixes of the core's streaming-channel ports: ``<module>__<channel><suffix>``.
DATA_SUFFIX, VALID_SUFFIX, READY_SUFFIX = "_data", "_valid", "_ready"
_REPO = Path(__file__).resolve().parents[2]
#: Codegen/scheduling settings every compile uses (part of the cache key).  ``receives_first_sends_last``
#: gives every channel the same latency (otherwise XLS may send one output a stage before another).
FIXED_CODEGEN: dict[str, Any] = {
    "receives_first_sends_last": True,
    "reset_data_path": False,
    "streaming_channel_data_suffix": DATA_SUFFIX,
    "streaming_channel_valid_suffix": VALID_SUFFIX,
    "streaming_channel_ready_suffix": READY_SUFFIX,
}
#: Seconds one compile may take before it is treated as failed.
COMPILE_TIMEOUT_S = 600


@dataclass(frozen=True)
class RamChannels:
    """One RAM of a proc (1 read + 1 write port): the codegen name of its ports (``<name>_rd_addr`` ...) and the
    DSLX names of its four channels (read request / response, write request / completion)."""

    name: str
    rd_req: str
    rd_resp: str
    wr_req: str
    wr_comp: str


def ram_constraints(dslx_module: str, rams: Sequence[RamChannels]) -> tuple[list[str], list[str]]:
    """(``ram_configurations``, ordering ``io_constraints``) of ``rams`` in module ``dslx_module``."""
    def ir(chan: str) -> str:
        return f"{dslx_module}__{chan}"

    configs = [f"{r.name}:1R1W:{ir(r.rd_req)}:{ir(r.rd_resp)}:{ir(r.wr_req)}:{ir(r.wr_comp)}" for r in rams]
    order = [f"{ir(r.wr_req)}:send:{ir(r.rd_req)}:send:0:0" for r in rams]
    return configs, order


def stage_pins(dslx_module: str, inputs: Sequence[str], outputs: Sequence[str], stages: int) -> list[str]:
    """I/O constraints that put every receive of ``inputs`` in stage 0 and every send of ``outputs`` in
    stage ``stages - 1`` (DSLX channel names)."""
    if not outputs:
        raise FlowError("xls: a proc with RAMs needs an output channel to pin its stages to")
    ref = f"{dslx_module}__{outputs[0]}"
    pins = [f"{dslx_module}__{c}:recv:{ref}:send:{stages - 1}:{stages - 1}" for c in inputs]
    return pins + [f"{ref}:send:{dslx_module}__{c}:send:0:0" for c in outputs[1:]]


@dataclass(frozen=True)
class XlsOptions:
    """Scheduling and codegen options of one compile.

    ``reset`` is synchronous; ``reset_active_low`` selects its polarity.  ``input_flops`` puts a skid
    buffer on every input channel; off by default, because the AXI4-Stream wrapper buffers the inputs
    itself (in LUT RAM, so stage 0's accept drives no clock enables) and registers the outputs.  Without
    ``worst_case_throughput=1`` the scheduler may place a state update a stage after its read, which
    halves the throughput of every accumulating proc.  Receives are forced into the first stage and sends
    into the last, so every channel sees the same latency (otherwise XLS may send one output channel a
    stage earlier than another and no single depth describes the kernel).
    """

    delay_model: str = "sky130"
    clock_period_ps: int = 5000
    pipeline_stages: int | None = None
    reset: str = "rst_n"
    reset_active_low: bool = True
    input_flops: bool = False
    #: Initiation interval every proc must reach (1: one activation per cycle in steady state).
    worst_case_throughput: int = 1
    #: Delay XLS assumes for an FFI call (``#[extern_verilog]``: the DSP and ROM primitives of
    #: pyflow.backends.xls.ffi); None = one clock period, which gives every primitive a pipeline stage of its own.
    ffi_delay_ps: int | None = None

    def __post_init__(self) -> None:
        if self.delay_model not in DELAY_MODELS:
            raise FlowError(f"xls: unknown delay model {self.delay_model!r} (choose from {', '.join(DELAY_MODELS)})")
        if int(self.clock_period_ps) <= 0:
            raise FlowError(f"xls: clock period must be positive, got {self.clock_period_ps} ps")

    @classmethod
    def from_clock_mhz(cls, mhz: float, **kw: Any) -> XlsOptions:
        """Options for a target clock frequency in MHz."""
        if not mhz > 0:
            raise FlowError(f"xls: clock target must be positive, got {mhz} MHz")
        return cls(clock_period_ps=round(1e6 / mhz), **kw)


@dataclass(frozen=True)
class XlsResult:
    """One compiled core."""

    module: str
    verilog_path: Path
    stages: int
    io_flops: int
    latency: int
    cached: bool
    seconds: float
    key: str


def xls_version() -> str:
    """Version of the installed ``xls-python`` package, or a FlowError naming the fix."""
    try:
        return importlib.metadata.version("xls-python")
    except importlib.metadata.PackageNotFoundError:
        raise FlowError("xls: package xls-python is not installed (run `make setup`)") from None


def proc_top_name(dslx_module: str, proc: str) -> str:
    """IR name XLS gives the ``next`` function of top proc ``proc`` in ``dslx_module``."""
    return f"__{dslx_module}__{proc}_0_next"


def core_port(dslx_module: str, channel: str, suffix: str) -> str:
    """Verilog port name of a streaming channel of a compiled proc."""
    return f"{dslx_module}__{channel}{suffix}"


def parse_pipeline(verilog: str) -> tuple[int, int]:
    """(number of pipeline stages, number of I/O flop levels) of XLS pipeline Verilog."""
    idx = [int(m) for m in re.findall(r"\bp(\d+)_inputs_valid\b", verilog)]
    stages = max(idx) + 1 if idx else 1
    # XLS names each skid buffer after its channel port; count the directions that have one.
    ports_in = set(re.findall(r"input wire (?:\[[^\]]*\] )?(\w+?)_data\b", verilog))
    ports_out = set(re.findall(r"output wire (?:\[[^\]]*\] )?(\w+?)_data\b", verilog))
    skids = set(re.findall(r"\b__(\w+?)_skid_reg\b", verilog))
    levels = int(bool(skids & ports_in)) + int(bool(skids & ports_out))
    return stages, levels


def compile_dslx(
    kernel: str,
    dslx_text: str,
    dslx_module: str,
    proc: str,
    module_name: str,
    options: XlsOptions,
    build_root: Path | str = "build",
    rams: Sequence[RamChannels] = (),
    streams: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> XlsResult:
    """Compile top proc ``proc`` of DSLX ``dslx_text`` to Verilog module ``module_name``.

    ``rams``: the proc's RAMs (module docstring); ``streams``: the DSLX names of its other input and output
    channels (pinned to the first and last stage when there are RAMs).  Reuses ``build/rtl/<kernel>/`` when
    the content hash matches; raises FlowError with the first useful line of the XLS message on failure.
    """
    out_dir = Path(build_root) / "rtl" / kernel
    request = {
        "dslx": dslx_text,
        "dslx_module": dslx_module,
        "top": proc_top_name(dslx_module, proc),
        "module_name": module_name,
        "options": asdict(options),
        "fixed": FIXED_CODEGEN,
    }
    if rams:
        configs, order = ram_constraints(dslx_module, rams)
        request["rams"] = {"configurations": configs, "order": order,
                           "inputs": list(streams[0]), "outputs": list(streams[1])}
    key = hashlib.sha256(json.dumps([request, xls_version()], sort_keys=True).encode()).hexdigest()[:20]
    vpath = out_dir / f"{module_name}.xls.v"
    meta_path = out_dir / "xls_meta.json"
    if vpath.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}
        if meta.get("key") == key:
            return XlsResult(module_name, vpath, meta["stages"], meta["io_flops"], meta["latency"], True,
                             0.0, key)
    t0 = time.perf_counter()
    try:
        proc_run = subprocess.run(
            [sys.executable, "-m", "pyflow.tools.xls"],
            input=json.dumps(request), capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")]))},
        )
    except subprocess.TimeoutExpired:
        raise FlowError(f"xls: compile of {kernel} took more than {COMPILE_TIMEOUT_S} s") from None
    seconds = time.perf_counter() - t0
    try:
        reply = json.loads(proc_run.stdout)
    except ValueError:
        reply = {"error": _first_useful_line(proc_run.stderr) or f"XLS aborted (exit {proc_run.returncode})"}
    if "error" in reply:
        hint = ""
        if "clock period" in reply["error"]:
            hint = (f" ({1e6 / options.clock_period_ps:.0f} MHz is too fast for delay model {options.delay_model}: "
                    "lower [clock] mhz or pick another delay model)")
        raise FlowError(f"xls: {kernel}: {reply['error']}{hint}")
    verilog = reply["verilog"]
    stages, io_flops = parse_pipeline(verilog)
    meta = {"key": key, "stages": stages, "io_flops": io_flops, "latency": stages - 1 + io_flops,
            "xls_version": xls_version(), "options": asdict(options), "seconds": round(seconds, 3)}
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / f"{dslx_module}.x", dslx_text)
    atomic_write_text(out_dir / f"{dslx_module}.opt.ir", reply["opt_ir"])
    atomic_write_text(vpath, verilog)
    atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    return XlsResult(module_name, vpath, stages, io_flops, meta["latency"], False, seconds, key)




def _first_useful_line(message: str) -> str:
    """The first line of an XLS error that says what went wrong (not a stack or pass trace)."""
    for raw in message.splitlines():
        line = raw.strip()
        if not line or line.startswith(("Traceback", "File ", "^", "~")):
            continue
        line = re.sub(r"^(RuntimeError|[A-Z_]+Error): ", "", line)
        return line.split("; Running pass")[0][:300]
    return ""


def _worker() -> None:
    """Child-process entry: read a request on stdin, print {"verilog", "opt_ir"} or {"error"}."""
    req = json.loads(sys.stdin.read())
    opts = req["options"]
    try:
        import xls

        ir = xls.convert_dslx_to_ir(req["dslx"], f"{req['dslx_module']}.x", req["dslx_module"])
        opt_ir = xls.optimize_ir(ir, req["top"])
        flops: dict[str, Any] = {"flop_inputs": bool(opts["input_flops"]), "flop_outputs": False}
        if opts["input_flops"]:
            flops["flop_inputs_kind"] = "skid_buffer"

        def schedule(stages: int | None, **extra: Any) -> Any:
            pkg = xls.parse_ir_package(opt_ir)  # codegen rewrites the package (RAM channels): parse it afresh
            return pkg.schedule_and_codegen(
                generator="pipeline", top=req["top"], module_name=req["module_name"],
                delay_model=opts["delay_model"], clock_period_ps=int(opts["clock_period_ps"]),
                pipeline_stages=stages, with_delay_model=True,
                worst_case_throughput=int(opts["worst_case_throughput"]),
                ffi_fallback_delay_ps=int(opts.get("ffi_delay_ps") or opts["clock_period_ps"]),
                reset=opts["reset"], reset_active_low=bool(opts["reset_active_low"]), **{**req["fixed"], **extra},
                **flops,
            )

        rams = req.get("rams")
        if not rams:
            result = schedule(opts["pipeline_stages"])
        else:
            ram_kw = {"ram_configurations": rams["configurations"], "receives_first_sends_last": False}
            stages = opts["pipeline_stages"]
            if stages is None:  # the first schedule only counts the stages
                first = schedule(None, io_constraints=rams["order"], **ram_kw)
                stages = parse_pipeline(first.get_verilog_text())[0]
            result, error = None, None
            for extra in range(3):  # pinning the streams rarely needs a stage more; never more than two
                pins = stage_pins(req["dslx_module"], rams["inputs"], rams["outputs"], stages + extra)
                try:
                    result = schedule(stages + extra, io_constraints=rams["order"] + pins, **ram_kw)
                    break
                except RuntimeError as exc:
                    error = exc
            if result is None:
                raise error  # type: ignore[misc]
        print(json.dumps({"verilog": result.get_verilog_text(), "opt_ir": opt_ir}))
    except Exception as exc:  # noqa: BLE001 - every XLS failure becomes one message for the parent
        print(json.dumps({"error": _first_useful_line(str(exc)) or type(exc).__name__}))


if __name__ == "__main__":
    _worker()
