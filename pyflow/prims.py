"""FPGA primitives bound into the XLS pipelines: DSP multipliers and block-RAM tables.

XLS knows neither DSP blocks nor block RAM: a ``*`` becomes a LUT/DSP multiply of any width and a table
read becomes a mux tree, and its delay models (made for ASICs) schedule both with logic around them.  On
an FPGA that leaves combinational paths through the multiplier and 2k-entry tables built from LUTs.
So the DSLX templates call two kinds of FFI functions (``#[extern_verilog]``) instead:

* :func:`mul_fn` -- a multiply split into pieces of at most :data:`DSP_BITS` x :data:`DSP_BITS` bits
  (one DSP multiplier each: MULT18X18D on ECP5), summed by shifts and adds that XLS schedules;
* :func:`rom_fn` -- one read of a spec :class:`~pyflow.specs.base.Lut`, whose contents are rendered into
  the Verilog module the FFI binds to (the spec is the single source of the table).

The DSLX body of each FFI function is the reference XLS uses for IR evaluation; the Verilog module is
what the pipeline instantiates.  The compile gives every FFI call a full clock period
(``ffi_fallback_delay_ps``), so XLS puts it alone in its stage: operands straight from pipeline registers
and the result straight into one.  :func:`bind_registers` then moves that result register into the
primitive (module ``<name>_reg``): the DSP's output register, or the synchronous read of a block RAM.
Cycle behaviour is unchanged (the same register, now inside the primitive), and every simulation of the
kernels runs the bound Verilog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pyflow.render import environment

#: Operand width of one DSP multiplier (ECP5 MULT18X18D: 18 x 18, each operand signed or unsigned).
DSP_BITS = 18
#: Verilog define that selects the ECP5 MULT18X18D implementation of the multiplier modules.
ECP5_DSP_DEFINE = "FLATFLOW_ECP5_DSP"


def _ty(signed: bool, bits: int) -> str:
    return f"{'s' if signed else 'u'}N[{bits}]"


def _pieces(bits: int, signed: bool) -> list[tuple[int, int, bool]]:
    """(offset, width, signed) pieces of an operand: unsigned low pieces of DSP_BITS, the top one signed
    when the operand is."""
    out, off = [], 0
    while bits - off > DSP_BITS:
        out.append((off, DSP_BITS, False))
        off += DSP_BITS
    out.append((off, bits - off, signed))
    return out


def mul_fn(name: str, kernel: str, a_bits: int, a_signed: bool, b_bits: int, b_signed: bool,
           out_bits: int | None = None) -> str:
    """DSLX ``fn name(a, b)``: the exact product of an ``a_bits`` and a ``b_bits`` operand.

    Returns ``sN[a_bits + b_bits]`` (``uN`` when both are unsigned) or, with ``out_bits``, the product's
    low ``out_bits`` bits (same signedness).  Operands wider than :data:`DSP_BITS` are split; each piece
    product is one FFI call to the kernel's multiplier module (``<kernel>_mul``).
    """
    signed = a_signed or b_signed
    full = a_bits + b_bits
    r = full if out_bits is None else int(out_bits)
    pa, pb = _pieces(a_bits, a_signed), _pieces(b_bits, b_signed)
    lines: list[str] = []
    terms: list[str] = []
    k = 0
    for oa, wa, sa in pa:
        for ob, wb, sb in pb:
            if oa + ob >= r:
                continue  # only bits above the kept result
            pw, ps = wa + wb, sa or sb
            fn = f"{name}_p{k}"
            k += 1
            verilog = (f"{kernel}_mul #(.AW({wa}), .AS({int(sa)}), .BW({wb}), .BS({int(sb)})) "
                       "{fn} (.a({a}), .b({b}), .p({return}))")
            lines += [f'#[extern_verilog("{verilog}")]',
                      f"fn {fn}(a: {_ty(sa, wa)}, b: {_ty(sb, wb)}) -> {_ty(ps, pw)} {{",
                      f"    (a as {_ty(ps, pw)}) * (b as {_ty(ps, pw)})", "}"]
            xa = f"(a >> u32:{oa}) as {_ty(sa, wa)}" if oa or wa < a_bits else "a"
            xb = f"(b >> u32:{ob}) as {_ty(sb, wb)}" if ob or wb < b_bits else "b"
            term = f"({fn}({xa}, {xb}) as {_ty(ps, r)} as uN[{r}])"  # sign/zero-extend or truncate to r
            terms.append(f"({term} << u32:{oa + ob})" if oa + ob else term)
    body = " + ".join(terms) if terms else f"uN[{r}]:0"
    lines += [f"fn {name}(a: {_ty(a_signed, a_bits)}, b: {_ty(b_signed, b_bits)}) -> {_ty(signed, r)} {{",
              f"    ({body}) as {_ty(signed, r)}", "}"]
    return "\n".join(lines)


def pipe_fn(name: str, kernel: str, bits: int, signed: bool) -> str:
    """DSLX ``fn name(x) -> x``: a pipeline register XLS must keep (module ``<kernel>_pipe``).

    XLS's optimiser re-associates adder chains across stage boundaries (part of a dot product's adder tree
    lands in the accumulator's state-update stage); the opaque identity stops that and, costing a full
    period, gets a stage of its own.
    """
    t = _ty(signed, bits)
    verilog = f"{kernel}_pipe #(.W({bits})) {{fn}} (.x({{x}}), .y({{return}}))"
    return "\n".join([f'#[extern_verilog("{verilog}")]', f"fn {name}(x: {t}) -> {t} {{ x }}"])


def rom_module(kernel: str, table: str) -> str:
    """Verilog module name of table ``table`` of ``kernel``."""
    return f"{kernel}_rom_{table.lower()}"


def rom_fn(name: str, kernel: str, table: str, const: str, lut: object) -> str:
    """DSLX ``fn name(idx: uN[index_bits]) -> <lut raw type>``: one read of DSLX constant ``const``
    (the spec Lut ``table``), bound to the ROM module :func:`rom_module` rendered from the same Lut.

    The read is followed by a :func:`pipe_fn` stage: a block RAM's data output arrives late in the cycle
    (ECP5 DP16KD: about 5.6 ns after the clock), so nothing but a register may follow it.
    """
    fmt = lut.fmt  # type: ignore[attr-defined]
    rt = _ty(fmt.signed, fmt.width)
    verilog = f"{rom_module(kernel, table)} {{fn}} (.addr({{idx}}), .data({{return}}))"
    return "\n".join([f'#[extern_verilog("{verilog}")]',
                      f"fn {name}_read(idx: uN[{lut.index_bits}]) -> {rt} {{ {const}[idx] }}",  # type: ignore[attr-defined]
                      pipe_fn(f"{name}_q", kernel, int(fmt.width), bool(fmt.signed)),
                      f"fn {name}(idx: uN[{lut.index_bits}]) -> {rt} {{ {name}_q({name}_read(idx)) }}"])  # type: ignore[attr-defined]


def render_prims(kernel: str, luts: dict[str, object]) -> str:
    """Verilog of ``kernel``'s primitive modules: the multiplier pair and one ROM pair per table in ``luts``
    (each pair: combinational ``m`` and registered ``m_reg``)."""
    roms = []
    for tname, lut in luts.items():
        fmt = lut.fmt  # type: ignore[attr-defined]
        bits = lut.index_bits  # type: ignore[attr-defined]
        mask = (1 << fmt.width) - 1
        vals = [int(v) & mask for v in lut.values]  # type: ignore[attr-defined]
        vals += [vals[-1]] * ((1 << bits) - len(vals))  # DSLX clamps an out-of-range index to the last entry
        roms.append({"module": rom_module(kernel, tname), "aw": bits, "dw": int(fmt.width),
                     "words": [f"{v:x}" for v in vals], "table": tname})
    return environment("rtl").get_template("prims.v.j2").render(
        kernel=kernel, roms=roms, dsp_bits=DSP_BITS, ecp5_define=ECP5_DSP_DEFINE)


@dataclass
class BindStats:
    """How many primitive instances had their result register moved inside (per kind)."""

    bound: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        """``{"mul": "24/24", "rom": "1/1"}``."""
        return {k: f"{self.bound.get(k, 0)}/{n}" for k, n in sorted(self.total.items())}


_INST = re.compile(r"^(?P<ind>\s*)(?P<mod>\w+)(?P<params> #\([^;]*?\))? (?P<inst>\w+) \((?P<ports>.*)"
                   r"\.(?P<out>p|data|y)\((?P<wire>\w+)\)\);$", re.M)


def _ids(expr: str) -> set[str]:
    """Identifiers in a Verilog expression (not the base letters of sized literals such as 16'h0)."""
    return set(re.findall(r"(?<![\w'])[A-Za-z_]\w*", expr))


def _register_of(text: str, sig: str) -> re.Match[str] | None:
    """The pipeline-register line ``r <= en ? sig : r;`` (or ``r <= sig;``) that loads ``sig``."""
    return re.search(rf"^\s*(?P<r>\w+) <= (?:(?P<en>[\w.]+) \? {sig} : (?P=r)|{sig});\n", text, re.M)


def _uses(text: str, sig: str) -> int:
    return len(re.findall(rf"\b{sig}\b", text))


def bind_registers(verilog: str, kernel: str, clk: str = "clk") -> tuple[str, BindStats]:
    """Move each primitive's result register into the primitive (module ``m`` -> ``m_reg``).

    An instance qualifies when everything its result wire ``w`` feeds is registered in one stage: either
    ``r <= en ? w : r;`` directly, or through zero-delay assigns of ``w`` alone (bit slices, extensions:
    ``assign s = w[22:0]; ... r <= en ? s : r;``), all with the same enable.  The result becomes the
    ``m_reg`` instance's registered output (clock ``clk``, enable ``en``) and each register a wire
    (``r = w`` or ``r = <the assign's expression>``).  Anything else is left combinational.
    """
    stats = BindStats()
    text = verilog
    for m in list(_INST.finditer(verilog)):
        mod = m["mod"]
        kind = ("mul" if mod == f"{kernel}_mul" else "pipe" if mod == f"{kernel}_pipe"
                else "rom" if mod.startswith(f"{kernel}_rom_") and not mod.endswith("_reg") else None)
        if kind is None:
            continue
        stats.total[kind] = stats.total.get(kind, 0) + 1
        wire = m["wire"]
        # (register line, register name, expression of the wire it becomes, assign line to drop or None)
        plan: list[tuple[re.Match[str], str, str, re.Match[str] | None]] = []
        reg = _register_of(text, wire)
        if reg is not None and _uses(text, wire) == 3:  # declaration, instance, register
            plan.append((reg, reg["r"], wire, None))
        else:
            assigns = list(re.finditer(rf"^\s*assign (?P<s>\w+) = (?P<e>[^;]*\b{wire}\b[^;]*);\n", text, re.M))
            if _uses(text, wire) != 2 + len(assigns) or not assigns:
                continue
            for a in assigns:
                r = _register_of(text, a["s"])
                if _ids(a["e"]) != {wire} or r is None or _uses(text, a["s"]) != 3:
                    plan = []
                    break
                plan.append((r, r["r"], a["e"], a))
        ens = {p[0]["en"] or "1'b1" for p in plan}
        if not plan or len(ens) != 1:
            continue
        en = ens.pop()
        inst = m.group(0)
        new_inst = (f"{m['ind']}{mod}_reg{m['params'] or ''} {m['inst']} (.clk({clk}), .ce({en}), {m['ports']}"
                    f".{m['out']}({wire}));")
        text = text.replace(inst, new_inst, 1)
        for reg_line, r, expr, assign in plan:
            text = text.replace(reg_line.group(0), "", 1)
            if assign is not None:  # the register becomes the assign's expression of the registered result
                text = text.replace(assign.group(0), f"{assign.group(0).split('assign')[0]}assign {r} = {expr};\n", 1)
                text = re.sub(rf"^\s*wire(?: \[[^\]]+\])? {assign['s']};\n", "", text, count=1, flags=re.M)
        for _reg_line, r, _expr, assign in plan:
            if assign is None:  # the register is the primitive's output itself
                text = re.sub(rf"^\s*wire(?: \[[^\]]+\])? {wire};\n", "", text, count=1, flags=re.M)
                text = text.replace(f".{m['out']}({wire}));", f".{m['out']}({r}));", 1)
            text = re.sub(rf"^(\s*)reg( \[[^\]]+\])? {r};$", rf"\1wire\2 {r};", text, count=1, flags=re.M)
        stats.bound[kind] = stats.bound.get(kind, 0) + 1
    text = re.sub(r"^\s*always @ \(posedge \w+\) begin\n\s*end\n", "", text, flags=re.M)
    return text, stats
