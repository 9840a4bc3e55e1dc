"""Vitis HLS coding rules checked on the rendered C++ (no compiler): what UG1399 requires of a kernel that a
careful reader checks by eye, as functions over source text that return their violations (empty: clean).

* :func:`interface_violations` -- ``#pragma HLS INTERFACE`` only in the top-level wrapper (the global function
  named after the kernel); a DATAFLOW top never calls another kernel's wrapper (:func:`wrapper_calls`).
* :func:`axis_type_violations` -- ``ap_axiu`` / ``ap_axis`` / ``hls::axis`` and every typedef of them (the
  ``<port>_beat_t`` types) only in namespace-scope typedefs, the wrapper's prototype and signature, and the
  wrapper's local beat variables: never in a core's signature, another function, or a ``hls::stream`` declared
  inside a function (a DATAFLOW channel).
* :func:`unroll_partition_violations` -- every loop with an explicit ``#pragma HLS UNROLL`` (``factor=F``, or
  complete with a trip count that resolves to a number F), and every loop nested in a ``#pragma HLS PIPELINE``
  loop (Vitis unrolls those completely, pragma or not): each array indexed in its body by the loop variable is
  partitioned in that dimension (``ARRAY_PARTITION ... dim=d`` or ``dim=0``) completely, or cyclically by a
  factor that is a multiple of F.  Factors and bounds resolve through integer literals and ``constexpr int`` /
  ``const int`` constants of the file; a symbolic factor equal to the unroll's symbol (a template parameter) is
  accepted, any other unresolved one is a violation.  A function's own partition pragmas apply to the arrays it
  declares; tables and array parameters take the file's (a caller's partition propagates).
* :func:`port_violations` -- II=1 by construction: in each pipelined loop, one iteration's accesses of each
  memory (nested loops unrolled with their variables' values, the file's helper functions inlined with array
  parameters mapped to the caller's argument, e.g. a lane pair's copy ``TAB_ROM[l / 2]`` of a replicated table)
  fall into banks (``complete`` / ``cyclic`` partitions); no bank takes more accesses than its ports (2 for
  block RAM and ``rom_2p``, 1 for ``*_1p``).  So a table read R times a cycle needs ceil(R / 2) copies.
* :func:`long_long_violations` -- no ``const long long`` (constants are ``constexpr int``).
* :func:`control_violations` -- the wrapper is a kernel XRT and a Zynq driver can run: ``s_axilite port=return
  bundle=control`` and the block protocol ``ap_ctrl_chain``; every scalar argument and every pointer an
  ``s_axilite ... bundle=control`` register (no ``ap_none``); every ``m_axi`` pragma names a pointer argument, a
  ``bundle`` and ``offset=slave`` (the base address from the control registers, as the Vitis kernel flow
  requires).  :func:`wrapper_args` and :func:`interface_pragmas` read the signature and the pragmas (the v++ link
  configuration reads its m_axi bundles from the same place, pyflow/backends/vitis/link.py).

Parsing is a small scanner over the code with comments and literals blanked: functions are the brace blocks at
namespace scope whose header ends in a parameter list; brace matching finds their bodies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

AXIS_TYPES = ("ap_axiu", "ap_axis", "hls::axis")
_KEYWORDS = {"if", "for", "while", "switch", "do", "else", "return", "case", "catch", "sizeof"}


def strip_comments(code: str) -> str:
    """``code`` with comments, string and character literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            j = code.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif code.startswith("/*", i):
            j = code.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", code[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and code[j] != c:
                j += 2 if code[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def match_brace(code: str, i: int) -> int:
    """Index of the bracket closing the one at ``code[i]`` (``{``, ``(`` or ``[``)."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    open_, close = code[i], pairs[code[i]]
    depth = 0
    for j in range(i, len(code)):
        if code[j] == open_:
            depth += 1
        elif code[j] == close:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced {open_!r} at offset {i}")


@dataclass(frozen=True)
class Function:
    """A function definition: unqualified name, enclosing namespaces, header (signature) and body text."""

    name: str
    namespaces: tuple[str, ...]
    header: str
    body: str

    @property
    def is_global(self) -> bool:
        return not self.namespaces


def _function_name(header: str) -> str | None:
    """The name of the function whose definition header is ``header`` (None: not a function header)."""
    h = re.sub(r"\b(const|noexcept|override)\s*$", "", header.strip()).rstrip()
    if not h.endswith(")") or "=" in h.split("(")[0]:
        return None
    depth = 0
    for j in range(len(h) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(h[j], 0)
        if depth == 0:
            m = re.search(r"([A-Za-z_]\w*(?:::[A-Za-z_]\w*)*)\s*$", h[:j])
            if not m:
                return None
            name = m.group(1).split("::")[-1]
            return None if name in _KEYWORDS else name
    return None


def scan(code: str) -> tuple[list[Function], str]:
    """Function definitions of ``code`` (comments stripped) and its namespace-scope declarations (function
    definitions and namespace braces left out, other brace blocks such as table initialisers as ``{}``)."""
    code = strip_comments(code)
    funcs: list[Function] = []
    scope: list[str] = []
    outside: list[str] = []
    stmt = 0
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c == "#" and code[code.rfind("\n", 0, i) + 1:i].strip() == "":
            j = code.find("\n", i)
            j = n if j < 0 else j
            outside.append(code[i:j + 1])
            i = j + 1
            stmt = i
            continue
        if c == ";":
            outside.append(code[stmt:i + 1])
            stmt = i + 1
        elif c == "{":
            header = code[stmt:i].strip()
            m = re.match(r"(?:inline\s+)?namespace\s+(\w*)\s*$", header)
            if m:
                scope.append(m.group(1))
                outside.append(";\n")
                stmt = i + 1
            else:
                end = match_brace(code, i)
                name = _function_name(header)
                if name is not None:
                    funcs.append(Function(name, tuple(scope), header, code[i + 1:end]))
                outside.append(";\n" if name is not None else header + " {}")
                i = end
                # a braced initialiser or class body ends at its ';'
                stmt = end + 1
                if name is None:
                    k = end + 1
                    while k < n and code[k] in " \t\n":
                        k += 1
                    if k < n and code[k] == ";":
                        i = k
                        stmt = k + 1
        elif c == "}":
            if scope:
                scope.pop()
            outside.append(";\n")
            stmt = i + 1
        i += 1
    return funcs, "".join(outside)


def _axis_aliases(code: str) -> set[str]:
    """Type names that are AXI4-Stream beat types: the Vitis ones and every typedef / using of them."""
    names = set(AXIS_TYPES)
    text = strip_comments(code)
    changed = True
    while changed:
        changed = False
        for m in re.finditer(r"\btypedef\s+([^;]+?)\s+(\w+)\s*;|\busing\s+(\w+)\s*=\s*([^;]+);", text):
            target, alias = (m.group(1), m.group(2)) if m.group(2) else (m.group(4), m.group(3))
            if alias not in names and _mentions(target, names):
                names.add(alias)
                changed = True
    return names


def _mentions(text: str, names: set[str]) -> bool:
    return any(re.search(r"(?<![\w])" + re.escape(t) + r"\b", text) for t in names)


def _code_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]


def interface_violations(code: str, kernel: str) -> list[str]:
    """``#pragma HLS INTERFACE`` outside the top-level wrapper ``kernel`` (a global function)."""
    funcs, outside = scan(code)
    bad = []
    for f in funcs:
        if re.search(r"#pragma\s+HLS\s+INTERFACE\b", f.body, re.I) and not (f.is_global and f.name == kernel):
            where = "::".join((*f.namespaces, f.name))
            bad.append(f"{kernel}: #pragma HLS INTERFACE in {where}(), not the top-level wrapper {kernel}()")
    if re.search(r"#pragma\s+HLS\s+INTERFACE\b", outside, re.I):
        bad.append(f"{kernel}: #pragma HLS INTERFACE outside any function")
    return bad


def wrapper_calls(code: str, kernel: str, wrappers: list[str]) -> list[str]:
    """Calls of another kernel's top-level wrapper (an unqualified ``name(`` of one of ``wrappers``)."""
    funcs, _ = scan(code)
    bad = []
    for f in funcs:
        for w in wrappers:
            if w != kernel and re.search(r"(?<![\w:.])" + re.escape(w) + r"\s*\(", "\n".join(_code_lines(f.body))):
                bad.append(f"{kernel}: {f.name}() calls the wrapper {w}() instead of {w}_ns::{w}_core()")
    return bad


def axis_type_violations(code: str, kernel: str, header: str = "") -> list[str]:
    """AXI4-Stream beat types outside namespace-scope typedefs, the wrapper's prototype / signature and the
    wrapper's local beat variables.  ``header``: the kernel's header (where the beat typedefs live)."""
    names = _axis_aliases(header + "\n" + code)
    bad = []
    for text in (code, header):
        if not text:
            continue
        funcs, outside = scan(text)
        for f in funcs:
            wrapper = f.is_global and f.name == kernel
            where = "::".join((*f.namespaces, f.name))
            if not wrapper and _mentions(f.header, names):
                bad.append(f"{kernel}: AXI4-Stream type in the signature of {where}()")
            for ln in _code_lines(f.body):
                if not _mentions(ln, names):
                    continue
                if "hls::stream" in ln:
                    bad.append(f"{kernel}: hls::stream of AXI4-Stream beats inside {where}(): {ln.strip()}")
                elif not wrapper:
                    bad.append(f"{kernel}: AXI4-Stream type inside {where}(): {ln.strip()}")
                elif not re.match(r"\s*(?:const\s+)?(?:\w+::)*\w+\s+\w+\s*(?:=[^;]*)?;\s*$", ln):
                    bad.append(f"{kernel}: AXI4-Stream type in {where}() outside a local beat variable: {ln.strip()}")
        for st in re.split(r";", "\n".join(_code_lines(outside))):
            if not _mentions(st, names):
                continue
            s = st.strip()
            if s.startswith(("typedef", "using", "template")):
                continue
            if _function_name(s) == kernel and not re.search(r"\b\w+::\w+\s*\($", s.split("(")[0] + "("):
                continue  # the wrapper's prototype
            bad.append(f"{kernel}: AXI4-Stream type at namespace scope: {s[:120]}")
    return bad


def _constants(code: str) -> dict[str, int]:
    """``constexpr int`` / ``const int`` constants of ``code`` whose value is an integer literal or an
    arithmetic expression of earlier ones."""
    consts: dict[str, int] = {}
    for m in re.finditer(r"\b(?:constexpr|const)\s+(?:int|long long|unsigned)\s+(\w+)\s*=\s*([^;]+);", code):
        v = _resolve(m.group(2), consts)
        if v is not None:
            consts[m.group(1)] = v
    return consts


def _resolve(expr: str, consts: dict[str, int]) -> int | None:
    e = re.sub(r"\b(\d+)(?:LL|L|U)\b", r"\1", expr.strip())
    e = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: str(consts[m.group(0)]) if m.group(0) in consts else m.group(0), e)
    if not re.fullmatch(r"[\d\s+\-*/%()]+", e):
        return None
    try:
        return int(eval(e.replace("/", "//"), {"__builtins__": {}}))  # digits and operators only
    except (SyntaxError, ZeroDivisionError):
        return None


def _angle_close(text: str, start: int) -> int:
    """The index just past the ``>`` that closes the ``<`` before ``start``."""
    depth, j = 1, start
    while j < len(text) and depth:
        depth += {"<": 1, ">": -1}.get(text[j], 0)
        j += 1
    return j


def _template_bindings(f: Function, text: str, consts: dict[str, int]) -> dict[str, int]:
    """The ``int`` template parameters of ``f`` bound to the value every call site of the file gives them
    (``f<4, W, 8>(...)``); a parameter whose calls disagree or do not resolve stays unbound."""
    t = re.search(r"\btemplate\s*<", f.header)
    if not t:
        return {}
    params = [pm.group(1) if (pm := re.fullmatch(r"\s*(?:int|unsigned)\s+(\w+)\s*", p)) else None
              for p in _split_params(f.header[t.end():_angle_close(f.header, t.end()) - 1])]
    seen: dict[str, set[int | None]] = {}
    for call in re.finditer(r"(?<![\w:])" + re.escape(f.name) + r"\s*<", text):
        j = _angle_close(text, call.end())
        if not re.match(r"\s*\(", text[j:]):
            continue  # the definition's own template header, or a use that is not a call
        args = _split_params(text[call.end():j - 1])
        for name, arg in zip(params, args, strict=False):
            if name:
                seen.setdefault(name, set()).add(_resolve(arg, consts))
    return {n: next(iter(v)) for n, v in seen.items() if len(v) == 1 and None not in v}


@dataclass(frozen=True)
class _Partition:
    kind: str
    factor: str
    dim: int


def _partitions(code: str) -> dict[str, list[_Partition]]:
    parts: dict[str, list[_Partition]] = {}
    for m in re.finditer(r"#pragma\s+HLS\s+ARRAY_PARTITION\b([^\n]*)", code, re.I):
        args = m.group(1)
        var = re.search(r"\bvariable\s*=\s*(\w+)", args)
        if not var:
            continue
        kind = re.search(r"\b(complete|cyclic|block)\b", args)
        factor = re.search(r"\bfactor\s*=\s*(\S+)", args)
        dim = re.search(r"\bdim\s*=\s*(\d+)", args)
        parts.setdefault(var.group(1), []).append(_Partition(
            kind.group(1).lower() if kind else "complete", factor.group(1) if factor else "",
            int(dim.group(1)) if dim else 1))
    return parts


def _arrays(code: str) -> set[str]:
    """Names declared as arrays (locals, parameters, tables) in ``code``."""
    names = set()
    code = "\n".join(_code_lines(code))  # pragma lines out: "UNROLL\n buf[i] = ..." is no declaration
    for m in re.finditer(r"\b([A-Za-z_][\w:]*)(?:<[^;{}()]*?>)?[\s&*]+(\w+)((?:\s*\[[^\]]+\])+)\s*(?=[;=,)])",
                         code):
        if m.group(1) not in _KEYWORDS:
            names.add(m.group(2))
    return names - _KEYWORDS


def _loops(body: str):
    """(loop variable, init expr, bound expr, loop body) of every ``for`` loop in ``body``, nested ones too."""
    for m in re.finditer(r"\bfor\s*\(", body):
        close = match_brace(body, m.end() - 1)
        head = body[m.end():close]
        parts = head.split(";")
        if len(parts) != 3:
            continue
        init = re.match(r"\s*(?:int|unsigned|long|ap_u?int<\d+>)?\s*(\w+)\s*=\s*(.+)", parts[0])
        cond = re.match(r"\s*(\w+)\s*<\s*(.+)", parts[1])
        k = close + 1
        while k < len(body) and body[k] in " \t\n":
            k += 1
        braced = k < len(body) and body[k] == "{"
        inner = body[k + 1:match_brace(body, k)] if braced else body[k:body.find(";", k) + 1]
        if init and cond and init.group(1) == cond.group(1):
            yield init.group(1), init.group(2).strip(), cond.group(2).strip(), inner


def _direct_pragmas(loop_body: str) -> list[str]:
    """The pragma lines of a loop body at its own level (not inside nested blocks)."""
    out, depth = [], 0
    for ln in loop_body.splitlines():
        s = ln.strip()
        if depth == 0 and s.startswith("#pragma"):
            out.append(s)
        depth += s.count("{") - s.count("}") if not s.startswith("#") else 0
    return out


def _accesses(text: str):
    """(array, [index expression per dimension]) of every subscript chain in ``text``."""
    for array, dims, _op in _accesses_ops(text):
        yield array, dims


def _functions_in_context(code: str, text: str) -> Iterator[tuple[Function, dict[str, int], dict, list[Function]]]:
    """Each function of ``code`` with the constants it sees (the file's, ``text`` = header + code without
    comments, plus its template arguments from the call sites), the partitions that apply in it, and all the
    file's functions."""
    file_consts, parts = _constants(text), _partitions(text)
    funcs, _ = scan(code)
    for f in funcs:
        yield f, {**file_consts, **_template_bindings(f, text, file_consts)}, _local_partitions(f, parts), funcs


def unroll_partition_violations(code: str, kernel: str, header: str = "") -> list[str]:
    """Arrays read or written in an explicitly unrolled loop (factor F) without a partition of a multiple of F in
    the dimension the loop variable indexes."""
    text = strip_comments(header + "\n" + code)
    arrays = _arrays(text)
    bad = []
    for f, consts, mine, _funcs in _functions_in_context(code, text):
        for var, start, bound, inner in _loops(f.body):
            unroll = [p for p in _direct_pragmas(inner) if re.match(r"#pragma\s+HLS\s+UNROLL\b", p, re.I)]
            how = "unrolled"
            if not unroll:
                why = next((w for w, i in _implicitly_unrolled(f.body) if i == inner), None)
                if why is None:
                    continue
                unroll, how = ["#pragma HLS UNROLL"], f"implicitly unrolled ({why})"
            fm = re.search(r"\bfactor\s*=\s*(\S+)", unroll[0])
            if fm:
                factor_sym = fm.group(1)
                factor = _resolve(factor_sym, consts)
            else:
                factor_sym = bound
                b, s = _resolve(bound, consts), _resolve(start, consts)
                factor = None if b is None or s is None else b - s
            if factor == 1:
                continue
            for arr, dims in _accesses(inner):
                if arr not in arrays:
                    continue
                for d, idx in enumerate(dims, 1):
                    if not re.search(r"(?<![\w.])" + re.escape(var) + r"\b", idx):
                        continue
                    ok, why = _partition_ok(mine.get(arr, []), d, factor, factor_sym, consts)
                    if not ok:
                        bad.append(f"{kernel}: {f.name}(): {arr}[...] dimension {d} indexed by the {how} "
                                   f"'{var}' (factor {factor if factor is not None else factor_sym}): {why}")
    return sorted(set(bad))


def _local_partitions(f: Function, parts: dict[str, list[_Partition]]) -> dict[str, list[_Partition]]:
    """The partitions that apply in ``f``: its own pragmas for the arrays it declares (locals, parameters), the
    file's (``parts``) for the others (namespace-scope tables partitioned where they are used)."""
    local = _arrays(strip_comments(f.body))
    own = _partitions(f.body)
    params = _arrays(strip_comments(f.header + ";")) - local
    out = {a: v for a, v in parts.items() if a not in local}
    out.update({a: own.get(a, []) for a in local})
    out.update({a: own[a] for a in params if a in own})  # else the partition of the caller's array (propagated)
    return out


def _is_pipelined(loop_body: str) -> bool:
    """A loop body whose own pragmas pipeline the loop (``#pragma HLS PIPELINE`` without ``off``)."""
    return any(re.match(r"#pragma\s+HLS\s+PIPELINE\b(?!.*\boff\b)", p, re.I) for p in _direct_pragmas(loop_body))


def _implicitly_unrolled(body: str) -> list[tuple[str, str]]:
    """(why, loop body) of every loop nested in a pipelined loop of ``body`` (Vitis unrolls them completely)."""
    out = []
    for var, _, _, inner in _loops(body):
        if _is_pipelined(inner):
            out += [(f"inside the PIPELINE loop '{var}'", sub_inner) for _, _, _, sub_inner in _loops(inner)]
    return out


def _partition_ok(parts: list[_Partition], dim: int, factor: int | None, factor_sym: str,
                  consts: dict[str, int]) -> tuple[bool, str]:
    mine = [p for p in parts if p.dim in (dim, 0)]
    if not mine:
        return False, f"no ARRAY_PARTITION of dimension {dim}"
    for p in mine:
        if p.kind == "complete":
            return True, ""
        if p.kind != "cyclic":
            continue
        g = _resolve(p.factor, consts)
        if g is not None and factor is not None and g % factor == 0:
            return True, ""
        if g is None and p.factor == factor_sym:
            return True, ""
    got = ", ".join(f"{p.kind} factor={p.factor or '-'}" for p in mine)
    return False, f"partitioned {got}, not complete or cyclic by a multiple of the unroll factor"


def long_long_violations(code: str, kernel: str) -> list[str]:
    """``const long long`` declarations (constants are ``constexpr int``)."""
    return [f"{kernel}: const long long: {ln.strip()}" for ln in strip_comments(code).splitlines()
            if re.search(r"\bconst\s+long\s+long\b", ln)]


# --- II=1: accesses per cycle vs memory ports ------------------------------------------------------------

#: Values a run-time identifier takes when an index is evaluated (a bank that is the same for all of them is
#: known; one that differs is any bank).
_SAMPLES = ((0, 1), (1, 2), (2, 7), (3, 12), (5, 3), (6, 9), (11, 5), (13, 16))
_PORTS = {"rom_1p": 1, "ram_1p": 1, "rom_2p": 2, "ram_2p": 2, "ram_s2p": 2, "ram_t2p": 2}


@dataclass(frozen=True)
class _Access:
    """One access of ``array`` in one iteration of a pipelined loop: per dimension, the index's value for
    each run-time sample (None: not an integer expression)."""

    array: str
    dims: tuple[tuple[int | None, ...], ...]
    write: bool = False


def _eval_index(expr: str, env: dict[str, int], consts: dict[str, int], defs: dict[str, str],
                salts: dict[str, int]) -> tuple:
    """``expr`` evaluated once per run-time sample: unrolled loop variables from ``env``, constants, local
    ``int`` definitions (``defs``) substituted; other identifiers are run-time values, a variable declared in
    one unrolled copy or inlined call (``salts``: name -> copy) taking other values than in another copy."""
    e = expr
    for _ in range(4):  # local definitions of local definitions
        e = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: f"({defs[m.group(0)]})" if m.group(0) in defs else m.group(0), e)
    e = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: str(env[m.group(0)]) if m.group(0) in env else m.group(0), e)
    names = sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", e)) - set(consts))
    out = []
    for k, (a, step) in enumerate(_SAMPLES):
        e_k = e
        for i, n in enumerate(names):
            e_k = re.sub(r"\b" + n + r"\b", str(a + step * i + k + 1009 * salts.get(n, 0)), e_k)
        out.append(_resolve(e_k, consts))
    return tuple(out)


def _top_loops(text: str) -> list[tuple[int, int, str, str, str, str]]:
    """(start, end, variable, init, bound, body) of the ``for`` loops of ``text`` not nested in another."""
    out, pos = [], 0
    for m in re.finditer(r"\bfor\s*\(", text):
        if m.start() < pos:
            continue
        close = match_brace(text, m.end() - 1)
        parts = text[m.end():close].split(";")
        k = close + 1
        while k < len(text) and text[k] in " \t\n":
            k += 1
        if k < len(text) and text[k] == "{":
            end = match_brace(text, k)
            body = text[k + 1:end]
        else:
            end = text.find(";", k)
            body = text[k:end + 1]
        pos = end + 1
        init = re.match(r"\s*(?:int|unsigned|long|ap_u?int<\d+>)?\s*(\w+)\s*=\s*(.+)", parts[0]) if len(parts) == 3 \
            else None
        cond = re.match(r"\s*(\w+)\s*<\s*(.+)", parts[1]) if len(parts) == 3 else None
        if init and cond and init.group(1) == cond.group(1):
            out.append((m.start(), end + 1, init.group(1), init.group(2).strip(), cond.group(2).strip(), body))
        else:
            out.append((m.start(), end + 1, "", "", "", body))
    return out


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated parts of an argument or parameter list."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur))
    return out


class _Unrolled:
    """The accesses of one iteration of a pipelined loop, with every nested loop unrolled (Vitis unrolls
    them) and every call of a function of the file inlined (array parameters map to the caller's argument)."""

    def __init__(self, funcs: list[Function], consts: dict[str, int], ranks: dict[str, int]) -> None:
        self.funcs = {f.name: f for f in funcs}
        self.consts = consts
        self.ranks = ranks
        self.problems: list[str] = []
        self.copies = 0

    def _salted(self, flat: str, salts: dict[str, int], extra: tuple[str, ...] = ()) -> dict[str, int]:
        """``salts`` with a fresh copy number for every variable declared in ``flat`` (and ``extra``)."""
        self.copies += 1
        declared = re.findall(r"\b[A-Za-z_][\w:]*(?:<[^;{}()]*>)?[\s&*]+(\w+)\s*(?:=(?!=)|;|\[|,|\))", flat)
        return {**salts, **{n: self.copies for n in (*declared, *extra)}}

    def accesses(self, text: str, env: dict[str, int], depth: int = 0, salts: dict[str, int] | None = None,
                 params: tuple[str, ...] = ()) -> list[_Access]:
        out: list[_Access] = []
        salts = salts or {}
        loops = _top_loops(text)
        rest, last = [], 0
        for start, end, var, init, bound, _body in loops:
            rest.append(text[last:start])
            last = end
            lo, hi = (_resolve(x, {**self.consts, **env}) if x else None for x in (init, bound))
            if lo is None or hi is None:
                self.problems.append(f"inner loop '{var or '?'}' up to {bound or '?'}: not a constant of the file "
                                     "(a run-time trip count cannot be unrolled by the PIPELINE; a template "
                                     "parameter is not resolved by this check)")
        rest.append(text[last:])
        flat = "".join(rest)
        salts = self._salted(flat, salts, params)
        for _start, _end, var, init, bound, body in loops:
            lo, hi = (_resolve(x, {**self.consts, **env}) if x else None for x in (init, bound))
            for v in range(lo, hi) if lo is not None and hi is not None else ():
                out += self.accesses(body, {**env, var: v}, depth, salts)
        defs = {m.group(1): m.group(2) for m in re.finditer(r"\b(?:const\s+)?int\s+(\w+)\s*=\s*([^;]+);", flat)}
        out += self._direct(flat, env, defs, salts)
        if depth < 4:
            out += self._calls(flat, env, defs, depth, salts)
        return out

    def _direct(self, flat: str, env: dict[str, int], defs: dict[str, str], salts: dict[str, int]) -> list[_Access]:
        out = []
        for arr, dims, op in _accesses_ops(flat):
            if arr in self.ranks and len(dims) == self.ranks[arr]:  # fewer subscripts: a row passed on
                idx = tuple(_eval_index(d, env, self.consts, defs, salts) for d in dims)
                if op != "=":
                    out.append(_Access(arr, idx))
                if op:
                    out.append(_Access(arr, idx, write=True))
        return out

    def _calls(self, flat: str, env: dict[str, int], defs: dict[str, str], depth: int,
               salts: dict[str, int]) -> list[_Access]:
        out = []
        for m in re.finditer(r"(?<![\w.:])(\w+)\s*(?:<[^;(){}]*>)?\s*\(", flat):
            f = self.funcs.get(m.group(1))
            if f is None:
                continue
            args = _split_args(flat[m.end():match_brace(flat, m.end() - 1)])
            params = _split_args(f.header[f.header.rfind("(", 0, len(f.header) - 1) + 1:-1])
            rows = {}
            for prm, arg in zip(params, args, strict=False):  # defaults: fewer args
                pm = re.search(r"(\w+)\s*(\[[^\]]*\])+\s*$", prm.strip())
                am = re.match(r"\s*(\w+)\s*((?:\[[^\]]+\]\s*)*)$", arg)
                if pm and am and am.group(1) in self.ranks:
                    prefix = re.findall(r"\[([^\]]+)\]", am.group(2))
                    rows[pm.group(1)] = (am.group(1), [_eval_index(d, env, self.consts, defs, salts) for d in prefix])
            inner = _Unrolled(list(self.funcs.values()), self.consts,
                              {**self.ranks, **{p: self.ranks[a] - len(pre) for p, (a, pre) in rows.items()}})
            inner.copies = self.copies + 1000 * (depth + 1)
            names = tuple(m2.group(1) for prm in params if (m2 := re.search(r"(\w+)\s*(?:\[[^\]]*\]\s*)*$", prm)))
            for acc in inner.accesses(f.body, {}, depth + 1, {}, names):
                if acc.array in rows:
                    arr, pre = rows[acc.array]
                    out.append(_Access(arr, (*pre, *acc.dims)))
                elif acc.array not in _arrays(strip_comments(f.body)):
                    out.append(acc)
            self.problems += inner.problems
            self.copies = inner.copies
        return out


def _accesses_ops(text: str):
    """(array, [index per dimension], op) of every subscript chain in ``text``; op: "=" (written), "op=" / "++"
    (read and written) or "" (read)."""
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\[", text):
        dims, k = [], m.end() - 1
        while k < len(text) and text[k] == "[":
            e = match_brace(text, k)
            dims.append(text[k + 1:e])
            k = e + 1
            while k < len(text) and text[k] in " \t\n":
                k += 1
        after = re.match(r"(=(?!=)|[-+*/%&|^]=|<<=|>>=|\+\+|--)", text[k:k + 3])
        before = text[:m.start()].rstrip().endswith(("++", "--"))
        yield m.group(1), dims, (after.group(1) if after else ("++" if before else ""))


def _ranks(code: str) -> dict[str, int]:
    """Array name -> number of dimensions, of every array declared in ``code``."""
    code = "\n".join(_code_lines(code))
    out = {}
    for m in re.finditer(r"\b([A-Za-z_][\w:]*)(?:<[^;{}()]*?>)?[\s&*]+(\w+)((?:\s*\[[^\]]+\])+)\s*(?=[;=,)])", code):
        if m.group(1) not in _KEYWORDS:
            out[m.group(2)] = m.group(3).count("[")
    return out


def _storage_ports(code: str, array: str) -> int | None:
    """Ports of each bank of ``array`` from its BIND_STORAGE (2 by default: block RAM / ROM is dual-port;
    None: rom_np / registers, no limit)."""
    m = re.search(r"#pragma\s+HLS\s+BIND_STORAGE\b[^\n]*\bvariable\s*=\s*" + re.escape(array) +
                  r"\b[^\n]*\btype\s*=\s*(\w+)", code, re.I)
    if not m:
        return 2
    return _PORTS.get(m.group(1).lower())


def _bank(values: tuple, part: _Partition | None, consts: dict[str, int]) -> int | None | str:
    """The bank coordinate of one dimension: "-" (not partitioned), a number, or None (any bank)."""
    if part is None:
        return "-"
    if part.kind == "complete":
        banks = set(values)
    elif part.kind == "cyclic":
        f = _resolve(part.factor, consts)
        if f is None:
            return None
        banks = {None if v is None else v % f for v in values}
    else:
        return None
    return banks.pop() if len(banks) == 1 and None not in banks else None


def port_violations(code: str, kernel: str, header: str = "") -> list[str]:
    """Pipelined loops (II=1) whose iteration accesses one memory bank more often than it has ports.

    Every loop nested in a ``#pragma HLS PIPELINE`` loop is unrolled (explicitly or by the pipeline), and calls
    of the file's own functions are inlined (an array parameter maps to the caller's argument, e.g. one copy
    ``TAB_ROM[l / 2]`` of a replicated table), so one iteration's accesses of each array are enumerated with
    the unrolled loop variables' values.  Each access lands in a bank: per dimension, the index value for a
    ``complete`` partition, the value modulo the factor for a ``cyclic`` one, one bank for an unpartitioned
    dimension; a run-time index whose bank is not the same for every sample value may hit any bank.  A bank has
    2 ports (dual-port block RAM / ``rom_2p``; 1 for ``rom_1p`` / ``ram_1p``; no limit for ``rom_np`` and for
    arrays partitioned completely in every dimension, i.e. registers); reads and writes both take one (two
    accesses whose indices are the same function of the run-time values count once).  So a
    table read R times a cycle needs ceil(R / 2) copies, each lane pair reading its own.  An inner loop with a
    run-time trip count inside a pipelined loop is a violation too (it cannot be unrolled)."""
    text = strip_comments(header + "\n" + code)
    ranks = _ranks(text)
    bad = []
    for f, consts, mine, funcs in _functions_in_context(code, text):
        local_ranks = {**ranks, **_ranks(strip_comments(f.header + ";\n" + f.body))}
        for var, _, _, inner in _loops(f.body):
            if not _is_pipelined(inner):
                continue
            walker = _Unrolled(funcs, consts, local_ranks)
            accs = walker.accesses(inner, {})
            var = _loop_label(f.body, inner) or var
            bad += [f"{kernel}: {f.name}(): PIPELINE loop '{var}': {p}" for p in walker.problems]
            by_array: dict[str, list[_Access]] = {}
            for a in accs:
                by_array.setdefault(a.array, [])
                known = all(v is not None for d in a.dims for v in d)
                if a.write or not (known and a in by_array[a.array]):  # the same address read twice: one read
                    by_array[a.array].append(a)
            for arr, group in sorted(by_array.items()):
                rank = len(group[0].dims)
                dim_parts = []
                for d in range(1, rank + 1):
                    ps = [p for p in mine.get(arr, []) if p.dim in (d, 0)]
                    dim_parts.append(ps[0] if ps else None)
                if all(p is not None and p.kind == "complete" for p in dim_parts):
                    continue  # registers
                ports = _storage_ports(text, arr)
                if ports is None:
                    continue
                coords = [tuple(_bank(v, p, consts) for v, p in zip(a.dims, dim_parts, strict=True)) for a in group]
                axes = []
                for d in range(rank):
                    known = {c[d] for c in coords if c[d] is not None}
                    axes.append(sorted(known, key=str) or ["*"])
                worst, where = 0, None
                for bank in _product(axes):
                    n = sum(all(c is None or c == b for c, b in zip(co, bank, strict=True)) for co in coords)
                    if n > worst:
                        worst, where = n, bank
                if worst > ports:
                    bad.append(f"{kernel}: {f.name}(): PIPELINE loop '{var}': {len(group)} accesses of {arr} per "
                               f"iteration, {worst} of them in one bank ({arr}{''.join(f'[{b}]' for b in where)}) "
                               f"with {ports} ports: II=1 needs {arr} replicated or partitioned so that each bank "
                               f"takes at most {ports}")
    return sorted(set(bad))


def _loop_label(body: str, inner: str) -> str | None:
    """The label of the loop whose body is ``inner`` (``label: for (...)``), if it has one."""
    at = body.find(inner)
    head = body.rfind("for", 0, at) if at >= 0 else -1
    m = re.search(r"(\w+)\s*:\s*$", body[:head]) if head >= 0 else None
    return m.group(1) if m and m.group(1) not in _KEYWORDS | {"default", "public", "private"} else None


def _product(axes: list[list]) -> list[tuple]:
    out: list[tuple] = [()]
    for ax in axes:
        out = [(*o, v) for o in out for v in ax]
    return out


@dataclass(frozen=True)
class Arg:
    """One argument of a top-level wrapper: ``kind`` is ``"axis"`` (hls::stream), ``"pointer"`` or ``"scalar"``."""

    name: str
    kind: str
    type: str


def _split_params(params: str) -> list[str]:
    """The parameters of a parameter list (or template arguments), stripped; ``void`` dropped."""
    return [p.strip() for p in _split_args(params) if p.strip() and p.strip() != "void"]


def wrapper(code: str, kernel: str) -> Function | None:
    """The top-level wrapper ``kernel`` (the global function of that name) in ``code``, or None."""
    funcs, _ = scan(code)
    found = [f for f in funcs if f.is_global and f.name == kernel]
    return found[0] if found else None


def wrapper_args(code: str, kernel: str) -> list[Arg]:
    """The arguments of the wrapper ``kernel``, in order (empty when there is no wrapper)."""
    f = wrapper(code, kernel)
    if f is None:
        return []
    header = f.header.rstrip()
    params = header[header.index("(", header.index(kernel)) + 1:header.rindex(")")]
    args = []
    for p in _split_params(params):
        m = re.search(r"(\w+)\s*(?:\[[^\]]*\])?$", p)
        name = m.group(1) if m else p
        typ = p[:m.start()].strip() if m else ""
        kind = "axis" if "hls::stream" in typ else "pointer" if ("*" in typ or "[" in p) else "scalar"
        args.append(Arg(name, kind, typ))
    return args


def interface_pragmas(text: str) -> list[dict[str, str]]:
    """Every ``#pragma HLS INTERFACE`` of ``text`` as a dict: ``mode`` and each ``key=value`` option (a bare
    word after the mode is kept as a key with value ``""``)."""
    out = []
    for m in re.finditer(r"#pragma\s+HLS\s+INTERFACE\b([^\n]*)", text, re.I):
        words = m.group(1).split()
        d: dict[str, str] = {}
        for w in words:
            k, eq, v = w.partition("=")
            if not eq:
                d.setdefault("mode", k) if k in _MODES else d.setdefault(k, "")
            else:
                d[k.lower()] = v
        out.append(d)
    return out


_MODES = {"ap_none", "ap_vld", "ap_ack", "ap_hs", "ap_ovld", "ap_memory", "bram", "ap_fifo", "axis", "m_axi",
          "s_axilite", "ap_ctrl_none", "ap_ctrl_hs", "ap_ctrl_chain", "ap_stable"}


def control_violations(code: str, kernel: str) -> list[str]:
    """What keeps the wrapper ``kernel`` from being a Vitis (XRT) kernel or a Zynq IP driven over AXI4-Lite:
    see the module docstring."""
    f = wrapper(code, kernel)
    if f is None:
        return [f"{kernel}: no top-level wrapper {kernel}()"]
    args = {a.name: a for a in wrapper_args(code, kernel)}
    prag = interface_pragmas(f.body)
    by_port: dict[str, list[dict[str, str]]] = {}
    for p in prag:
        by_port.setdefault(p.get("port", ""), []).append(p)
    bad = []
    ret = by_port.get("return", [])
    if not any(p.get("mode") == "s_axilite" and p.get("bundle") == "control" for p in ret):
        bad.append(f"{kernel}: no '#pragma HLS INTERFACE s_axilite port=return bundle=control'")
    ctrl = [p.get("mode") for p in ret if p.get("mode", "").startswith("ap_ctrl")]
    if ctrl != ["ap_ctrl_chain"]:
        bad.append(f"{kernel}: block protocol {', '.join(ctrl) or 'none given'}, not ap_ctrl_chain")
    for p in prag:
        port = p.get("port", "")
        if p.get("mode") != "m_axi":
            continue
        if port not in args or args[port].kind != "pointer":
            bad.append(f"{kernel}: m_axi pragma on {port!r}, which is not a pointer argument of {kernel}()")
        if p.get("offset") != "slave":
            bad.append(f"{kernel}: m_axi port={port} has offset={p.get('offset', '(default)')}, not offset=slave")
        if not p.get("bundle"):
            bad.append(f"{kernel}: m_axi port={port} names no bundle")
    for a in args.values():
        if a.kind == "axis":
            continue
        mine = by_port.get(a.name, [])
        if not any(p.get("mode") == "s_axilite" and p.get("bundle") == "control" for p in mine):
            what = "m_axi base address" if any(p.get("mode") == "m_axi" for p in mine) else a.kind
            bad.append(f"{kernel}: {what} argument {a.name} has no 's_axilite port={a.name} bundle=control'")
        other = sorted({p.get("mode", "?") for p in mine} - {"s_axilite", "m_axi"})
        if other:
            bad.append(f"{kernel}: argument {a.name} also has INTERFACE {', '.join(other)} (registers only)")
    return bad


def burst_violations(code: str, kernel: str, pointers: tuple[str, ...]) -> list[str]:
    """Loops touching memory through ``pointers`` (m_axi arguments and pointers derived from them) in a form Vitis
    HLS may not burst: not pipelined at II=1, with an early exit (break / return), the access under a condition
    (not at the loop body's own level), or an index other than ``loop variable`` / ``base + loop variable``."""
    bad = []
    funcs, _ = scan(code)
    pat = re.compile(r"\b(" + "|".join(map(re.escape, pointers)) + r")\[([^\]]+)\]")
    for f in funcs:
        for var, _start, _bound, inner in _loops(f.body):
            if not pat.search(inner):
                continue
            where = f"{kernel}: {f.name}(): loop over '{var}'"
            if not re.search(r"#pragma\s+HLS\s+PIPELINE\s+II=1\b", inner):
                bad.append(f"{where} touches memory without PIPELINE II=1")
            if re.search(r"\b(break|return)\b", inner):
                bad.append(f"{where} touches memory and may exit early")
            depth = 0
            for ln in strip_comments(inner).splitlines():
                for m in pat.finditer(ln):
                    if depth or re.search(r"\bif\s*\(|\?", ln[:m.start()]):
                        bad.append(f"{where}: {m.group(0)} is conditional or in a nested block")
                    if not re.fullmatch(r"(?:\w+\s*\+\s*)?" + re.escape(var), m.group(2).strip()):
                        bad.append(f"{where}: {m.group(0)} is not pointer[base + {var}]")
                depth += ln.count("{") - ln.count("}")
    return sorted(set(bad))
