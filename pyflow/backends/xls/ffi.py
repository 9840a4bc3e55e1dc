"""FPGA primitives in the XLS pipelines, DSLX side: the foreign-function (``#[extern_verilog]``) code the
kernel templates call instead of ``*`` and table indexing.

XLS knows neither DSP blocks nor block RAM: a ``*`` becomes a LUT/DSP multiply of any width and a table
read becomes a mux tree, and its delay models (made for ASICs) schedule both with logic around them.  On
an FPGA that leaves combinational paths through the multiplier and 2k-entry tables built from LUTs.
So the DSLX templates call FFI functions instead:

* :func:`mul_fn` -- a multiply split into pieces of at most :data:`DSP_BITS` x :data:`DSP_BITS` bits
  (one DSP multiplier each: MULT18X18D on ECP5), summed by shifts and adds that XLS schedules;
* :func:`rom_fn` -- one read of a spec :class:`~pyflow.specs.base.Lut`, whose contents are rendered into
  the Verilog module the FFI binds to (:mod:`pyflow.backends.xls.primitives`; the spec is the single source
  of the table);
* :func:`pipe_fn` / :func:`shl_fn` -- pipeline registers XLS must keep, and variable shifts split into stages.

The DSLX body of each FFI function is the reference XLS uses for IR evaluation; the Verilog module is
what the pipeline instantiates.  The compile gives every FFI call a full clock period
(``ffi_fallback_delay_ps``), so XLS puts it alone in its stage: operands straight from pipeline registers
and the result straight into one.  :mod:`pyflow.backends.xls.bind` then moves that result register into
the primitive.
"""

from __future__ import annotations

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


