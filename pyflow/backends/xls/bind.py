"""FPGA primitives in the XLS pipelines, binding step: move the pipeline registers XLS put around each
primitive (:mod:`pyflow.backends.xls.ffi`) into the primitive -- the DSP's input and output registers, the
synchronous read of a block RAM -- and drop the load enables of a pipeline that never stalls.

Cycle behaviour is unchanged (the same registers, now inside the primitives), and every simulation of the
kernels runs the bound Verilog.  The rewrite works on XLS's Verilog text; what it matched is checked with a
real parser (:mod:`pyflow.backends.xls.verilog_check`), so a change in XLS's output is an error, not a
silently unbound register.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


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

    The AXI4-Stream wrapper ties every output ready high (:mod:`pyflow.backends.xls.wrapper`) and all receives sit in
    stage 0 (a RAM's read response, in a later stage, arrives the cycle after its request by construction:
    pyflow/tools/xls.py), so a stage other than 0 never holds: a valid item moves on at the next edge, and what a
    register loads while its stage carries no item is never used (the valid bits travel separately and keep their
    logic).
    Without the enables, stage 0's "inputs present" signal no longer fans out to every clock enable (DSP
    CE pins included).  Registers with a reset (state, valid bits, skid buffers) are left alone, except the
    bookkeeping of XLS's RAM rewrite (:func:`ram_free_running`).
    """
    out: list[str] = []
    for block in re.split(r"(?=^  always @ \(posedge \w+\) begin\n)", verilog, flags=re.M):
        head = block.split("\n  end\n", 1)
        if block.startswith("  always @") and "if (!" not in head[0]:
            head[0] = re.sub(r"^(\s*)(\w+) <= [\w.]+ \? (.+) : \2;$", r"\1\2 <= \3;", head[0], flags=re.M)
            block = "\n  end\n".join(head)
        out.append(block)
    text = "".join(out)
    text = re.sub(r"\.(ce[ab]?)\((?!1'b0\))[^()]*\)", r".\1(1'b1)", text)
    return ram_free_running(text)


#: XLS's RAM rewrite (``ram_configurations``, pyflow/tools/xls.py), per RAM ``<r>``: the term "the read response
#: of this stage's activation is there" of the stage that receives it, ...
_RAM_RESP_VALID = re.compile(r"^(?P<lhs>\s*assign \w+ = )__(?P<r>\w+)_rd_en__1_delay_reg \| "
                             r"__(?P=r)_ram_zero_latency\d+_valid_skid_reg \| \w+;$", re.M)
#: ... and the flags "this stage's request was already sent" and "a response waits in the skid buffer".
_RAM_FLAGS = re.compile(r"^(?P<ind>\s*)(?P<r>__\w+_(?:rd|wr)_req_already_done_reg|"
                        r"__\w+_ram_zero_latency\d+_valid_skid_reg) <= (?!1'h0;)[^;]+;$", re.M)


def ram_free_running(verilog: str) -> str:
    """Fold the flow control that XLS's RAM rewrite adds, as :func:`free_running` folds the load enables.

    A RAM request goes out in one stage and its response is received in the next (pyflow/tools/xls.py).  When
    no stage but stage 0 holds, a request is never sent twice, its response is taken the cycle it arrives (never
    parked in the rewrite's skid buffer), and a stage that receives a response always holds one: so the
    "already sent" flags and the skid buffers' valid bits stay 0 and the "response there" term is 1.  Left as
    XLS writes them, those registers feed every stage's ready back through all the stages before it (the
    stall chain the tied-high output ready otherwise folds away), one LUT level per stage.
    """
    valid = list(_RAM_RESP_VALID.finditer(verilog))
    flags = list(_RAM_FLAGS.finditer(verilog))
    rams = set(re.findall(r"^\s*output wire (?:\[[^\]]*\] )?(\w+)_rd_en,?$", verilog, re.M))
    if not rams:
        return verilog
    if {m["r"] for m in valid} != rams or len(flags) != 3 * len(rams):
        from pyflow.errors import FlowError

        raise FlowError(f"rtl: the RAM flow control of the XLS core ({len(valid)} response terms and {len(flags)} "
                        f"flags for RAMs {sorted(rams)}) is not the one pyflow/backends/xls/bind.py folds: XLS's "
                        "output format changed")
    text = _RAM_RESP_VALID.sub(lambda m: f"{m['lhs']}1'b1;", verilog)
    return _RAM_FLAGS.sub(lambda m: f"{m['ind']}{m['r']} <= 1'h0;", text)


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


def _primitive_kind(module: str, kernel: str) -> str | None:
    """``mul`` / ``pipe`` / ``rom`` / ``rom_out`` for a module of ``kernel``'s primitives (bound or not)."""
    base = re.sub(r"_(reg|rr)$", "", module)
    if base == f"{kernel}_mul":
        return "mul"
    if base == f"{kernel}_pipe":
        return "pipe"
    if base.startswith(f"{kernel}_rom_"):
        return "rom_out" if base.endswith("_out") else "rom"
    return None


def bind_core(verilog: str, kernel: str, clk: str, prims: str) -> tuple[str, BindStats]:
    """Bind the primitives' registers (:func:`bind_registers`), drop the load enables (:func:`free_running`),
    and check both rewrites with a Verilog parser: every primitive instance of XLS's output is one the binder
    understood and is still there afterwards, as many are bound as the binder says, and the rewritten core
    elaborates against ``prims`` (the primitive modules) with no diagnostic the original did not have."""
    from pyflow.backends.xls.verilog_check import check_rewrite, instances
    from pyflow.errors import FlowError

    found = {i.name: i.module for i in instances(verilog) if _primitive_kind(i.module, kernel)}
    understood = {m["inst"] for m in _INST.finditer(verilog)}
    missed = sorted(set(found) - understood)
    if missed:
        raise FlowError(f"rtl: {kernel}: XLS emitted primitive instance(s) the register binder does not recognise "
                        f"({found[missed[0]]} {missed[0]}): its output format changed; update "
                        "pyflow/backends/xls/bind.py")
    text, stats = bind_registers(verilog, kernel, clk)
    text = free_running(text)
    after = {i.name: i.module for i in instances(text) if _primitive_kind(i.module, kernel)}
    invented = sorted(set(after) - set(found))
    # The only instances that may go are pipes that became a multiplier's input registers.
    lost = sorted(n for n in set(found) - set(after) if _primitive_kind(found[n], kernel) != "pipe")
    if invented or lost:
        raise FlowError(f"rtl: {kernel}: binding the registers lost or invented primitive instance "
                        f"{(invented or lost)[0]}")
    for kind in ("mul", "pipe", "rom", "rom_out"):
        gone = sum(1 for n, m in found.items() if n not in after and _primitive_kind(m, kernel) == kind)
        bound = gone + sum(1 for m in after.values()
                           if _primitive_kind(m, kernel) == kind and m.endswith(("_reg", "_rr")))
        total = sum(1 for m in found.values() if _primitive_kind(m, kernel) == kind)
        if bound != stats.bound.get(kind, 0) or total != stats.total.get(kind, 0):
            raise FlowError(f"rtl: {kernel}: the parsed netlist has {bound}/{total} {kind} primitives bound, the "
                            f"binder reports {stats.bound.get(kind, 0)}/{stats.total.get(kind, 0)}")
    check_rewrite(verilog, text, {"prims.v": prims}, f"{kernel}: binding the primitives' registers")
    return text, stats
