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
#: Verilog define that selects the ECP5 implementations: MULT18X18D multipliers and DP16KD tables whose
#: output register is used (see :data:`ECP5_POST_SYNTH`).
ECP5_DSP_DEFINE = "FLATFLOW_ECP5_DSP"
#: Tables of at least this many bits are block RAM (``ram_style = "block"``); smaller ones stay in logic.
BRAM_MIN_BITS = 4096
#: Name of the memory of a block-RAM table; the ECP5 synthesis script selects its DP16KD cells by it.
BRAM_MEM = "outreg_mem"
#: Yosys commands run after ``synth_ecp5``: turn on the output register of every table's DP16KD (the
#: data then arrives about 5 ns earlier in the cycle).  Under :data:`ECP5_DSP_DEFINE` the table's
#: ``_out_reg`` module is a wire, so that output register takes the place of the pipeline register.
ECP5_POST_SYNTH = (f'setparam -set REGMODE_A "OUTREG" -set REGMODE_B "OUTREG" t:DP16KD n:*{BRAM_MEM}* %i',)


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
           out_bits: int | None = None, b_const: bool = False) -> str:
    """DSLX ``fn name(a, b)``: the exact product of an ``a_bits`` and a ``b_bits`` operand.

    Returns ``sN[a_bits + b_bits]`` (``uN`` when both are unsigned) or, with ``out_bits``, the product's
    low ``out_bits`` bits (same signedness).  Operands wider than :data:`DSP_BITS` are split; each piece
    product is one FFI call to the kernel's multiplier module (``<kernel>_mul``), and each operand first goes
    through a :func:`pipe_fn` register (the DSP input register after :func:`bind_registers`).
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
    # Each operand passes a register of its own first: bind_registers moves it into every DSP it feeds (their
    # input registers), while whatever logic computed the operand still ends in an ordinary pipeline register.
    # (``b_const``: b is a constant at every call, which needs no register and gets a constant one.)
    lines += [pipe_fn(f"{name}_ra", kernel, a_bits, a_signed)]
    lines += [] if b_const else [pipe_fn(f"{name}_rb", kernel, b_bits, b_signed)]
    lines += [f"fn {name}(a_in: {_ty(a_signed, a_bits)}, b_in: {_ty(b_signed, b_bits)}) -> {_ty(signed, r)} {{",
              f"    let a = {name}_ra(a_in);", "    let b = b_in;" if b_const else f"    let b = {name}_rb(b_in);",
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


#: Shift-amount bits one stage of :func:`shl_fn` handles (a 4:1 mux level per bit of the value).
SHIFT_BITS_PER_STAGE = 2


def shl_fn(name: str, kernel: str, bits: int, signed: bool, max_shift: int) -> str:
    """DSLX ``fn name(v, s: u32) -> v << s`` for ``0 <= s <= max_shift``, one stage per
    :data:`SHIFT_BITS_PER_STAGE` bits of ``s`` (each ends in a :func:`pipe_fn` register).

    A barrel shifter is one XLS op that XLS cannot split, and an FPGA builds it from LUT mux levels that
    XLS's ASIC delay models price far too low; split, it no longer caps the clock XLS can pipeline for.
    The shift is exact: the caller sizes ``bits`` so that nothing is shifted out.
    """
    t = _ty(signed, bits)
    amount = max(1, int(max_shift).bit_length())
    lines, expr = [], "v"
    for k, lo in enumerate(range(0, amount, SHIFT_BITS_PER_STAGE)):
        mask = ((1 << SHIFT_BITS_PER_STAGE) - 1) << lo
        lines.append(pipe_fn(f"{name}_q{k}", kernel, bits, signed))
        expr = f"{name}_q{k}(({expr}) << (s & u32:{mask}))"
    lines.append(f"fn {name}(v: {t}, s: u32) -> {t} {{ {expr} }}")
    return "\n".join(lines)


def rom_module(kernel: str, table: str) -> str:
    """Verilog module name of table ``table`` of ``kernel``."""
    return f"{kernel}_rom_{table.lower()}"


def rom_fn(name: str, kernel: str, table: str, const: str, lut: object) -> str:
    """DSLX ``fn name(idx: uN[index_bits]) -> <lut raw type>``: one read of DSLX constant ``const``
    (the spec Lut ``table``), bound to the ROM module :func:`rom_module` rendered from the same Lut.

    The read is followed by a stage of its own (module ``<rom>_out``): a block RAM's data output arrives
    late in the cycle (ECP5 DP16KD: about 5.6 ns after the clock), so nothing but a register may follow
    it; on ECP5 that register is the DP16KD's own output register (:data:`ECP5_POST_SYNTH`).  One more
    :func:`pipe_fn` register follows, which the placer can put next to the logic that uses the value: the
    block RAM columns can be 3-4 ns of routing away from it.
    """
    fmt = lut.fmt  # type: ignore[attr-defined]
    rt = _ty(fmt.signed, fmt.width)
    mod = rom_module(kernel, table)
    read = f"{mod} {{fn}} (.addr({{idx}}), .data({{return}}))"
    out = f"{mod}_out {{fn}} (.x({{x}}), .y({{return}}))"
    return "\n".join([f'#[extern_verilog("{read}")]',
                      f"fn {name}_read(idx: uN[{lut.index_bits}]) -> {rt} {{ {const}[idx] }}",  # type: ignore[attr-defined]
                      f'#[extern_verilog("{out}")]',
                      f"fn {name}_q(x: {rt}) -> {rt} {{ x }}",
                      pipe_fn(f"{name}_near", kernel, int(fmt.width), bool(fmt.signed)),
                      f"fn {name}(idx: uN[{lut.index_bits}]) -> {rt} {{ {name}_near({name}_q({name}_read(idx))) }}"])  # type: ignore[attr-defined]


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
                     "words": [f"{v:x}" for v in vals], "table": tname,
                     "bram": len(vals) * int(fmt.width) >= BRAM_MIN_BITS})
    return environment("rtl").get_template("prims.v.j2").render(
        kernel=kernel, roms=roms, dsp_bits=DSP_BITS, ecp5_define=ECP5_DSP_DEFINE, bram_mem=BRAM_MEM)


@dataclass
class BindStats:
    """How many primitive instances had their result register moved inside (per kind)."""

    bound: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        """``{"mul": "24/24", "rom": "1/1"}``."""
        return {k: f"{self.bound.get(k, 0)}/{n}" for k, n in sorted(self.total.items())}

    def unbound(self, kinds: tuple[str, ...] = ("rom", "rom_out")) -> list[str]:
        """Kinds among ``kinds`` with an instance whose register could not be moved inside."""
        return [k for k in kinds if self.bound.get(k, 0) != self.total.get(k, 0)]


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
        table = mod.startswith(f"{kernel}_rom_") and not mod.endswith("_reg")
        kind = ("mul" if mod == f"{kernel}_mul" else "pipe" if mod == f"{kernel}_pipe"
                else "rom_out" if table and mod.endswith("_out") else "rom" if table else None)
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
    text = _bind_operand_registers(text, kernel, stats)
    text = re.sub(r"^\s*always @ \(posedge \w+\) begin\n\s*end\n", "", text, flags=re.M)
    return text, stats


def free_running(verilog: str) -> str:
    """Drop the load enables of the core's pipeline data registers and of its bound primitives.

    The AXI4-Stream wrapper ties every output ready high (:mod:`pyflow.rtl`) and all receives sit in stage 0,
    so a stage other than 0 never holds: a valid item moves on at the next edge, and what a register loads
    while its stage carries no item is never used (the valid bits travel separately and keep their logic).
    Without the enables, stage 0's "inputs present" signal no longer fans out to every clock enable (DSP
    CE pins included).  Registers with a reset (state, valid bits, skid buffers) are left alone.
    """
    out: list[str] = []
    for block in re.split(r"(?=^  always @ \(posedge \w+\) begin\n)", verilog, flags=re.M):
        head = block.split("\n  end\n", 1)
        if block.startswith("  always @") and "if (!" not in head[0]:
            head[0] = re.sub(r"^(\s*)(\w+) <= [\w.]+ \? (.+) : \2;$", r"\1\2 <= \3;", head[0], flags=re.M)
            block = "\n  end\n".join(head)
        out.append(block)
    text = "".join(out)
    return re.sub(r"\.(ce[ab]?)\((?!1'b0\))[^()]*\)", r".\1(1'b1)", text)


_MUL_REG = r"^(?P<ind>\s*){mod} #\((?P<params>[^;]*?)\) (?P<inst>\w+) " \
           r"\(\.clk\((?P<clk>\w+)\), \.ce\((?P<ce>[^)]*)\), " \
           r"\.a\((?P<a>\w+)\), \.b\((?P<b>\w+)\), \.p\((?P<p>\w+)\)\);$"


def _is_literal(text: str, sig: str) -> bool:
    """True when ``sig`` is a sized constant or a wire XLS assigns one to."""
    lit = r"\d+'[hdb][0-9a-fA-F_]+"
    return bool(re.fullmatch(lit, sig) or re.search(rf"^\s*assign {re.escape(sig)} = {lit};$", text, re.M))


def _bind_operand_registers(text: str, kernel: str, stats: BindStats) -> str:
    """Move the pipeline registers that feed only multiplier operands into the multipliers (``m_mul_rr``:
    the DSP's input registers), one copy per multiplier.

    A register ``r <= en ? e : r;`` (no reset, loaded nowhere else), or the output of a bound pipe
    (``<kernel>_pipe_reg``, enable ``en``, input ``e``), whose every use is the ``a`` or ``b`` port of a bound
    ``<kernel>_mul_reg`` becomes the input register of each of those multipliers (enable ``en``, data ``e``).
    On ECP5 that register sits inside the MULT18X18D, so the operand's route to the DSP (up to
    3 ns when one register fans out to several DSPs) and the DSP's 3.5 ns input setup leave the clock path.
    """
    mul = re.compile(_MUL_REG.format(mod=re.escape(f"{kernel}_mul_reg")), re.M)
    insts = {m["inst"]: m.groupdict() for m in mul.finditer(text)}
    if not insts:
        return text
    ports: dict[str, list[tuple[str, str]]] = {}
    for name, m in insts.items():
        for port in ("a", "b"):
            ports.setdefault(m[port], []).append((name, port))
    bound: dict[str, dict[str, tuple[str, str]]] = {}  # inst -> port -> (enable, data)
    removals: list[tuple[str, str]] = []
    pipe = re.compile(rf"^\s*{re.escape(kernel)}_pipe_reg #\(\.W\(\d+\)\) \w+ \(\.clk\(\w+\), "
                      r"\.ce\((?P<en>[^()]*)\), \.x\((?P<e>[^()]*)\), \.y\((?P<y>\w+)\)\);\n", re.M)
    # Sources: the operand wires themselves, and what an operand is a zero-delay slice of.
    slice_of = {a["s"]: (a["base"], a["sl"] or "", a.group(0))
                for a in re.finditer(r"^\s*assign (?P<s>\w+) = (?P<base>\w+)(?P<sl>\[\d+(?::\d+)?\])?;\n", text, re.M)
                if a["s"] in ports}
    sources = dict.fromkeys(list(ports) + [b for b, _, _ in slice_of.values()])
    for sig in sources:
        loads = list(re.finditer(rf"^\s*{sig} <= (?:(?P<en>[\w.]+) \? (?P<e>[^;]+?) : {sig}|(?P<e2>[^;]+?));\n",
                                 text, re.M))
        decl = re.search(rf"^\s*reg(?: \[[^\]]+\])? {sig};\n", text, re.M)
        piped = [m for m in pipe.finditer(text) if m["y"] == sig]
        if len(loads) == 1 and decl is not None:  # a pipeline register
            load = loads[0]
            uses = _uses(text, sig) - 1 - (2 if load["en"] else 1)  # minus the declaration and the load line
            en, expr = load["en"] or "1'b1", load["e"] or load["e2"]
        elif len(piped) == 1 and not loads:  # the register inside a bound pipe (pipe_fn) primitive
            load = piped[0]
            decl = re.search(rf"^\s*wire(?: \[[^\]]+\])? {sig};\n", text, re.M)
            if decl is None:
                continue
            uses = _uses(text, sig) - 2  # minus the declaration and the pipe's output port
            en, expr = load["en"], load["e"]
        else:
            continue
        feeds = [(u, expr) for u in ports.get(sig, [])]
        dropped: list[str] = []  # the slice assigns and their wires' declarations
        for s_, (base, sl, line) in slice_of.items():
            wire = re.search(rf"^\s*wire(?: \[[^\]]+\])? {s_};\n", text, re.M)
            if base != sig or wire is None or _uses(text, s_) != 2 + len(ports[s_]):  # decl, assign, ports
                continue
            if sl and not re.fullmatch(r"\w+", expr):  # only a name can be sliced
                feeds = []
                break
            feeds += [(u, expr + sl) for u in ports[s_]]
            dropped += [line, wire.group(0)]
        if not feeds or uses != len(ports.get(sig, [])) + len(dropped) // 2:  # some use is not an operand
            continue
        for (inst, port), data in feeds:
            bound.setdefault(inst, {})[port] = (en, data)
        removals.append((load.group(0), decl.group(0)))
        removals += [(line, "") for line in dropped]
        stats.total["mul_in"] = stats.total.get("mul_in", 0) + len(feeds)
        stats.bound["mul_in"] = stats.bound.get("mul_in", 0) + len(feeds)
    for load_line, decl_line in removals:
        text = text.replace(load_line, "", 1)
        if decl_line:
            text = text.replace(decl_line, "", 1)
    for name, regs in bound.items():
        m = insts[name]
        ra, rb = regs.get("a"), regs.get("b")
        # A constant operand is registered too: nextpnr times a MULT18X18D with one registered input like one
        # with none (3.5 ns setup on the registered side), and a register of a constant changes nothing.
        const_b = bool(ra) and not rb and _is_literal(text, m["b"])
        const_a = bool(rb) and not ra and _is_literal(text, m["a"])
        rb = ("1'b1", m["b"]) if const_b else rb
        ra = ("1'b1", m["a"]) if const_a else ra
        if const_a or const_b:
            stats.total["mul_in"] = stats.total.get("mul_in", 0) + 1
            stats.bound["mul_in"] = stats.bound.get("mul_in", 0) + 1
        a = f"({ra[1]})" if ra else m["a"]
        b = f"({rb[1]})" if rb else m["b"]
        cea, ceb = ra[0] if ra else "1'b0", rb[0] if rb else "1'b0"
        old = re.search(rf"^\s*{re.escape(kernel)}_mul_reg #\([^;]*?\) {name} \(.*\);$", text, re.M)
        assert old is not None
        new = (f"{m['ind']}{kernel}_mul_rr #({m['params']}, .RA({int(bool(ra))}), .RB({int(bool(rb))})) {name} "
               f"(.clk({m['clk']}), .ce({m['ce']}), .cea({cea}), .ceb({ceb}), .a({a}), .b({b}), .p({m['p']}));")
        text = text.replace(old.group(0), new, 1)
    return text
