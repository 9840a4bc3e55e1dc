"""The project configuration (TOML): model, context length, fixed-point formats, lanes, clock, board.

``load_project_config(path | None)`` reads ``pyflow/project/configs/default.toml`` and, when ``path`` is given,
overlays the user's file on it.  Validation is strict: an unknown key or an impossible combination raises
:class:`pyflow.errors.FlowError` naming the key, e.g.
``config: lanes.gemv = 3 does not divide model.hidden_size = 2048``.  See docs/CONFIG.md.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from golden.config import LlamaConfig, RopeScaling
from golden.fixed import MAX_RAW_BITS, OVERFLOWS, ROUNDINGS, Fmt
from golden.llama_fixed import FixedScheme
from pyflow.errors import FlowError
from pyflow.project.boards import BOARDS, Board, get_board

DEFAULT_CONFIG = Path(__file__).with_name("configs") / "default.toml"

_MODEL_KEYS = {
    "hf_config": str,
    "hidden_size": int,
    "num_attention_heads": int,
    "num_key_value_heads": int,
    "head_dim": int,
    "rms_norm_eps": float,
    "rope_theta": float,
    "max_position_embeddings": int,
    "rope_scaling": (dict, str),
}
_ROPE_KEYS = {f.name: f.type for f in dataclasses.fields(RopeScaling)}
_CONTEXT_KEYS = {"max_length": int, "max_on_chip": int}
_CLOCK_KEYS = {"mhz": float, "fpga_mhz": float, "fpga_xls_factor": float}
_BOARD_KEYS = {"name": str}
_MEMORY_KEYS = {"data_bits": int, "ports": int, "read_latency": int, "write_latency": int}
_FMT_KEYS = {"width": int, "frac": int, "signed": bool, "rnd": str, "ovf": str}
#: lanes key -> human description of the dimension(s) it must divide (checked in :func:`_check_lanes`).
LANE_KEYS = ("rmsnorm", "gemv", "rope", "qk", "softmax", "av", "kv_cache")
_SECTIONS = ("model", "context", "formats", "luts", "lanes", "clock", "board", "memory")
#: Widest tensor format the config accepts (ap_fixed handles more; the golden int64 model does not).
MAX_FMT_WIDTH = 48
#: Largest fraction-bit count or table parameter of [luts] (constants are exact integers below 2**62).
MAX_CONST_FRAC = 48
#: Most lanes (elements per beat) of any kernel.
MAX_LANES = 1024
#: Largest model dimensions the flow accepts (far beyond today's LLaMA models; keeps sizes allocatable).
MODEL_LIMITS = {"hidden_size": 65536, "num_attention_heads": 1024, "num_key_value_heads": 1024, "head_dim": 4096,
                "max_position_embeddings": 1 << 31}


@dataclass(frozen=True, eq=False)
class ProjectConfig:
    """A validated project configuration.

    ``formats`` maps every tensor name of the golden fixed-point scheme to its ``golden.fixed.Fmt``;
    ``scheme`` is the golden scheme object built from them (what ``golden.llama_fixed`` ops take).
    """

    model: LlamaConfig
    #: Capacity N: the most keys a kernel holds (compile time); the number of keys n = pos + 1 of a decode
    #: step (1 <= n <= N) is a run-time input of the hardware.
    max_length: int
    max_on_chip: int
    formats: Mapping[str, Fmt]
    scheme: FixedScheme
    lanes: Mapping[str, int]
    clock_mhz: float
    board: Board
    source: str
    #: Place & route target of the open FPGA flow (ECP5/iCE40 with nextpnr) and the XLS over-drive there.
    fpga_mhz: float = 150.0
    fpga_xls_factor: float = 3.3
    #: The accelerator's external memory (docs/ACCEL.md): AXI4 data width, port count, latencies in cycles.
    memory: Mapping[str, int] = dataclasses.field(
        default_factory=lambda: {"data_bits": 128, "ports": 1, "read_latency": 2, "write_latency": 3})

    @property
    def positions(self) -> tuple[int, ...]:
        """The decode positions ``make sim`` checks by default: the first, one that is not a multiple of
        any kernel's lanes (the largest such below the capacity), and the last (capacity - 1)."""
        last = self.max_length - 1
        lanes = [int(v) for v in self.lanes.values() if int(v) > 1]
        mid = next((p for p in range(last // 2 + 1, 0, -1) if all((p + 1) % v for v in lanes)), last // 2)
        return tuple(sorted({0, mid, last}))

    @property
    def clock_period_ns(self) -> float:
        """Target clock period in ns."""
        return 1000.0 / self.clock_mhz

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (for reports)."""
        from pyflow.specs.base import fmt_key

        return {
            "model": self.model.to_dict(),
            "context": {"max_length": self.max_length, "max_on_chip": self.max_on_chip},
            "formats": {k: fmt_key(v) for k, v in self.formats.items()},
            "luts": {f.name: getattr(self.scheme, f.name) for f in dataclasses.fields(FixedScheme)
                     if f.name not in self.formats},
            "lanes": dict(self.lanes),
            "clock": {"mhz": self.clock_mhz, "fpga_mhz": self.fpga_mhz, "fpga_xls_factor": self.fpga_xls_factor},
            "board": self.board.name,
            "memory": dict(self.memory),
            "source": self.source,
        }


def load_project_config(path: str | Path | None = None) -> ProjectConfig:
    """Load the default config, overlay ``path`` (if any), validate, and return a :class:`ProjectConfig`."""
    base = _read_toml(DEFAULT_CONFIG)
    source = str(DEFAULT_CONFIG)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FlowError(f"config: file {p} not found")
        user = migrate(_read_toml(p), str(p))
        merge_tables(base, user)
        source = str(p)
    return from_dict(base, source=source, base_dir=Path(path).parent if path else Path.cwd())


def from_dict(raw: Mapping[str, Any], source: str = "<dict>", base_dir: Path | None = None) -> ProjectConfig:
    """Validate a fully merged raw dict (the default file overlaid with the user's)."""
    for sec in raw:
        if sec not in _SECTIONS:
            raise FlowError(f"config: unknown section [{sec}] (known: {', '.join(_SECTIONS)})")
        if not isinstance(raw[sec], Mapping):
            raise FlowError(f"config: {sec} = {raw[sec]!r} must be a table ([{sec}] with keys under it)")
    model = _model(dict(raw.get("model", {})), base_dir or Path.cwd())
    check_model_size(model)
    ctx = _typed(raw.get("context", {}), _CONTEXT_KEYS, "context")
    n, cap = ctx["max_length"], ctx["max_on_chip"]
    if n < 1:
        raise FlowError(f"config: context.max_length = {n} must be >= 1")
    if cap < 1:
        raise FlowError(f"config: context.max_on_chip = {cap} must be >= 1")
    if n > cap:
        raise FlowError(f"config: context.max_length = {n} exceeds context.max_on_chip = {cap}")
    if n > model.max_position_embeddings:
        raise FlowError(
            f"config: context.max_length = {n} exceeds model.max_position_embeddings = "
            f"{model.max_position_embeddings}"
        )
    lanes = _typed(raw.get("lanes", {}), dict.fromkeys(LANE_KEYS, int), "lanes")
    _check_lanes(lanes, model, n)
    clock = _typed(raw.get("clock", {}), _CLOCK_KEYS, "clock")
    if not 1.0 <= clock["mhz"] <= 1000.0:
        raise FlowError(f"config: clock.mhz = {clock['mhz']} must be between 1 and 1000")
    if not 1.0 <= clock["fpga_mhz"] <= 1000.0:
        raise FlowError(f"config: clock.fpga_mhz = {clock['fpga_mhz']} must be between 1 and 1000")
    if not 1.0 <= clock["fpga_xls_factor"] <= 10.0:
        raise FlowError(f"config: clock.fpga_xls_factor = {clock['fpga_xls_factor']} must be between 1 and 10")
    board_raw = _typed(raw.get("board", {}), _BOARD_KEYS, "board")
    memory = _memory(raw.get("memory", {}))
    if board_raw["name"].lower() not in BOARDS:
        raise FlowError(f"config: board.name = {board_raw['name']!r} is unknown (known: {', '.join(BOARDS)})")
    formats, scheme = _formats(raw.get("formats", {}), raw.get("luts", {}), model, n)
    return ProjectConfig(
        model=model,
        max_length=n,
        max_on_chip=cap,
        formats=formats,
        scheme=scheme,
        lanes=lanes,
        clock_mhz=clock["mhz"],
        board=get_board(board_raw["name"]),
        fpga_mhz=clock["fpga_mhz"],
        fpga_xls_factor=clock["fpga_xls_factor"],
        memory=memory,
        source=source,
    )


def _memory(raw: Any) -> dict[str, int]:
    mem = _typed(raw, _MEMORY_KEYS, "memory")
    bits = mem["data_bits"]
    if bits not in (32, 64, 128, 256, 512, 1024):
        raise FlowError(f"config: memory.data_bits = {bits} must be a power of two from 32 to 1024 (AXI4 data width)")
    if mem["ports"] != 1:
        raise FlowError(f"config: memory.ports = {mem['ports']}: the accelerator has one memory port (ports = 1)")
    for key in ("read_latency", "write_latency"):
        if not 2 <= mem[key] <= 4096:
            raise FlowError(f"config: memory.{key} = {mem[key]} must be in 2..4096 cycles")
    return mem


def migrate(user: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """A user's table with old keys renamed, each with a one-line note: ``context.length`` (the one context
    length the kernels were built for and verified at) is now ``context.max_length``, the capacity."""
    ctx = user.get("context")
    if isinstance(ctx, dict) and "length" in ctx:
        old = ctx.pop("length")
        if "max_length" in ctx and ctx["max_length"] != old:
            raise FlowError(f"config: {source}: context.length = {old} and context.max_length = "
                            f"{ctx['max_length']} disagree; keep max_length only (length is its old name)")
        ctx["max_length"] = old
        print(f"note: {source}: context.length is now context.max_length (the capacity; the decode position is "
              "a run-time input of the hardware)", file=sys.stderr)
    return user


def small_config(pc: ProjectConfig) -> ProjectConfig:
    """A copy of ``pc`` at small test dimensions (same formats, board and clock), for fast C-sim tests."""
    model = dataclasses.replace(
        pc.model, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16
    )
    lanes = {"rmsnorm": 4, "gemv": 4, "rope": 2, "qk": 4, "softmax": 4, "av": 4, "kv_cache": 4}
    n = 16
    _check_lanes(lanes, model, n)
    return dataclasses.replace(pc, model=model, max_length=n, lanes=lanes, source=pc.source + " (small)")


# --------------------------------------------------------------------------------------------- helpers


def _read_toml(path: Path) -> dict[str, Any]:
    data = read_text_file(path, "config")
    try:
        return tomllib.loads(data)
    except tomllib.TOMLDecodeError as exc:
        raise FlowError(f"config: {path} is not valid TOML ({exc})") from None


def read_text_file(path: Path, what: str, limit: int = 16 << 20) -> str:
    """The UTF-8 text of a small input file, or one FlowError naming it (missing, a folder, unreadable, too
    large, not UTF-8)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise FlowError(f"{what}: {path} is a folder, not a file; give the file's path")
        size = path.stat().st_size
        if size > limit:
            raise FlowError(f"{what}: {path} is {size} bytes, too large for a text input (at most {limit})")
        data = path.read_bytes()
    except FileNotFoundError:
        raise FlowError(f"{what}: file {path} not found") from None
    except OSError as exc:
        raise FlowError(f"{what}: cannot read {path} ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError(f"{what}: {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        "save it as UTF-8") from None


def merge_tables(dst: dict[str, Any], src: Mapping[str, Any]) -> None:
    """Overlay ``src`` onto ``dst`` recursively (tables merge, scalars replace)."""
    for k, v in src.items():
        if isinstance(v, Mapping) and isinstance(dst.get(k), dict):
            merge_tables(dst[k], v)
        else:
            dst[k] = v


def _typed(raw: Any, schema: Mapping[str, Any], section: str) -> dict[str, Any]:
    """Check keys and types of one table; every schema key must be present after the default overlay."""
    if not isinstance(raw, Mapping):
        raise FlowError(f"config: [{section}] must be a table")
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in schema:
            raise FlowError(f"config: unknown key {section}.{k} (known: {', '.join(schema)})")
        out[k] = _coerce(v, schema[k], f"{section}.{k}")
    missing = [k for k in schema if k not in out]
    if missing:
        raise FlowError(f"config: missing key {section}.{missing[0]}")
    return out


def _coerce(v: Any, typ: Any, key: str) -> Any:
    if typ is float or typ == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise FlowError(f"config: {key} = {v!r} must be a number")
        return float(v)
    if typ is int or typ == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise FlowError(f"config: {key} = {v!r} must be an integer")
        return v
    if typ is bool:
        if not isinstance(v, bool):
            raise FlowError(f"config: {key} = {v!r} must be true or false")
        return v
    if typ is str:
        if not isinstance(v, str):
            raise FlowError(f"config: {key} = {v!r} must be a string")
        return v
    if isinstance(typ, tuple):
        if not isinstance(v, typ):
            raise FlowError(f"config: {key} has the wrong type")
        return v
    return v


def _model(raw: dict[str, Any], base_dir: Path) -> LlamaConfig:
    for k in raw:
        if k not in _MODEL_KEYS:
            raise FlowError(f"config: unknown key model.{k} (known: {', '.join(_MODEL_KEYS)})")
    hf = raw.pop("hf_config", "")
    if hf:
        if not isinstance(hf, str):
            raise FlowError(f"config: model.hf_config = {hf!r} must be the path of a config.json")
        p = Path(hf) if Path(hf).is_absolute() else base_dir / hf
        text = read_text_file(p, f"config: model.hf_config = {hf!r}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FlowError(f"config: model.hf_config = {hf!r} is not valid JSON ({exc})") from None
        try:
            return LlamaConfig.from_dict(data)
        except ValueError as exc:
            raise FlowError(f"{exc} (from model.hf_config = {hf!r})") from None
    kw: dict[str, Any] = {}
    for k, v in raw.items():
        if k == "rope_scaling":
            continue
        kw[k] = _coerce(v, _MODEL_KEYS[k], f"model.{k}")
    rs = raw.get("rope_scaling")
    if isinstance(rs, str):
        if rs.lower() != "none":
            raise FlowError(f"config: model.rope_scaling = {rs!r}: use a table or \"none\"")
        kw["rope_scaling"] = None
    elif isinstance(rs, Mapping):
        rs = dict(rs)
        rs.pop("rope_type", None)
        for k in rs:
            if k not in _ROPE_KEYS:
                raise FlowError(
                    f"config: unknown key model.rope_scaling.{k} (known: {', '.join(_ROPE_KEYS)})"
                )
        try:
            kw["rope_scaling"] = RopeScaling(
                **{k: _coerce(v, _ROPE_KEYS[k], f"model.rope_scaling.{k}") for k, v in rs.items()}
            )
        except TypeError as exc:
            raise FlowError(f"config: model.rope_scaling: {exc}") from None
    elif rs is not None:
        raise FlowError("config: model.rope_scaling must be a table or \"none\"")
    try:
        return LlamaConfig(**kw)
    except ValueError as exc:
        raise FlowError(f"{exc}".replace("config: ", "config: model.", 1)) from None


def check_model_size(model: LlamaConfig, source: str = "config") -> None:
    """FlowError when a model dimension exceeds :data:`MODEL_LIMITS`."""
    for key, limit in MODEL_LIMITS.items():
        if getattr(model, key) > limit:
            raise FlowError(f"{source}: model.{key} = {getattr(model, key)} exceeds {limit}, the largest the flow "
                            "handles")


def _check_lanes(lanes: Mapping[str, int], model: LlamaConfig, n: int) -> None:
    """Each lane count must be >= 1 and divide every dimension its kernel unrolls."""
    dims: dict[str, list[tuple[str, int]]] = {
        "rmsnorm": [("model.hidden_size", model.hidden_size)],
        "gemv": [("model.hidden_size", model.hidden_size),
                 ("model.num_attention_heads * model.head_dim", model.q_dim)],
        "rope": [("model.head_dim / 2", model.head_dim // 2)],
        "qk": [("model.head_dim", model.head_dim)],
        "softmax": [],  # the run-time length: a part-filled last beat is masked
        "av": [],
        "kv_cache": [("model.head_dim", model.head_dim)],
    }
    for key, p in lanes.items():
        if not 1 <= p <= MAX_LANES:
            raise FlowError(f"config: lanes.{key} = {p} must be in 1..{MAX_LANES}")
        for label, d in dims[key]:
            if d % p:
                raise FlowError(f"config: lanes.{key} = {p} does not divide {label} = {d}")


def _formats(raw: Any, raw_luts: Any, model: LlamaConfig, n: int) -> tuple[dict[str, Fmt], FixedScheme]:
    """Overlay [formats] and [luts] on the golden scheme's defaults; check accumulator headroom."""
    if not isinstance(raw, Mapping):
        raise FlowError("config: [formats] must be a table of tables")
    default = FixedScheme()
    names = FixedScheme.tensor_names()
    fmts: dict[str, Fmt] = {name: getattr(default, name) for name in names}
    for name, table in raw.items():
        if name not in names:
            raise FlowError(f"config: unknown key formats.{name} (known: {', '.join(names)})")
        if not isinstance(table, Mapping):
            raise FlowError(f"config: formats.{name} must be a table with width/frac/signed/rnd/ovf")
        fields = dataclasses.asdict(fmts[name])
        for k, v in table.items():
            if k not in _FMT_KEYS:
                raise FlowError(f"config: unknown key formats.{name}.{k} (known: {', '.join(_FMT_KEYS)})")
            fields[k] = _coerce(v, _FMT_KEYS[k], f"formats.{name}.{k}")
        if fields["rnd"] not in ROUNDINGS:
            raise FlowError(
                f"config: formats.{name}.rnd = {fields['rnd']!r} must be one of {', '.join(ROUNDINGS)}"
            )
        if fields["ovf"] not in OVERFLOWS:
            raise FlowError(
                f"config: formats.{name}.ovf = {fields['ovf']!r} must be one of {', '.join(OVERFLOWS)}"
            )
        if not 2 <= fields["width"] <= MAX_FMT_WIDTH:
            raise FlowError(f"config: formats.{name}.width = {fields['width']} must be in 2..{MAX_FMT_WIDTH}")
        if not 0 <= fields["frac"] <= 2 * fields["width"]:
            raise FlowError(f"config: formats.{name}.frac = {fields['frac']} is out of range for width "
                            f"{fields['width']}")
        fmts[name] = Fmt(**fields)
    lut_keys = {f.name: int for f in dataclasses.fields(FixedScheme) if f.name not in names}
    if not isinstance(raw_luts or {}, Mapping):
        raise FlowError("config: [luts] must be a table")
    luts = _typed({**{k: getattr(default, k) for k in lut_keys}, **dict(raw_luts or {})}, lut_keys, "luts")
    for k, v in luts.items():
        if not 1 <= v <= MAX_CONST_FRAC:
            raise FlowError(f"config: luts.{k} = {v} must be in 1..{MAX_CONST_FRAC}")
    for k in ("exp_lut_bits", "recip_lut_bits", "rsqrt_lut_bits", "sine_lut_bits"):
        if luts[k] > 16:
            raise FlowError(f"config: luts.{k} = {luts[k]} is too large (at most 16 index bits)")
    scheme = FixedScheme(**fmts, **luts)
    _check_headroom(scheme, model, n)
    return fmts, scheme


def _check_headroom(s: FixedScheme, model: LlamaConfig, n: int) -> None:
    """Every exact accumulator of the integer algorithm must fit MAX_RAW_BITS; [0,1] values need 1 int bit."""
    h, d = model.hidden_size, model.head_dim
    def mag(f: Fmt) -> int:  # largest raw magnitude of a format
        return max(abs(f.raw_min), f.raw_max)

    def bits(bound: int) -> int:  # signed width holding +-bound
        return bound.bit_length() + 1

    need = {
        "formats.act (RMSNorm sum of squares x 1/N)": bits(h * mag(s.act) ** 2 * s.invn_raw(h)),
        "formats.weight x formats.act (GEMV accumulator)":
            bits(max(h, model.q_dim) * mag(s.weight) * mag(s.act)),
        "formats.act (q.k accumulator x scale)": bits(d * mag(s.act) ** 2 * s.qk_scale_raw(d)),
        "formats.prob x formats.act (A.V accumulator)": bits(n * mag(s.prob) * mag(s.act)),
        "formats.logit (exp argument x log2e)": bits(2 * mag(s.logit) * s.log2e_raw),
        "formats.exp (softmax sum)": bits(n * mag(s.exp)),
        "formats.exp (exp x reciprocal)": bits(mag(s.exp) * (2 << s.recip_lut_frac)),
    }
    for what, bits in need.items():
        if bits > MAX_RAW_BITS:
            raise FlowError(f"config: {what} needs {bits} bits, more than the {MAX_RAW_BITS}-bit limit; "
                            "narrow the formats")
    for name in ("exp", "prob"):
        f = getattr(s, name)
        if f.int_bits < (1 if not f.signed else 2):
            raise FlowError(f"config: formats.{name} = {f.describe()} cannot hold 1.0 (needs an integer bit)")
    if s.phase_bits > 40 or s.phase_bits < s.sine_lut_bits + 3:
        raise FlowError(f"config: luts.phase_bits = {s.phase_bits} must be in {s.sine_lut_bits + 3}..40")
    if s.exp_lut_bits > s.logit.frac + s.log2e_frac:
        raise FlowError("config: luts.exp_lut_bits exceeds formats.logit.frac + luts.log2e_frac")
