"""Vitis HLS coding rules checked on the rendered C++ (no compiler): what UG1399 requires of a kernel that a
careful reader checks by eye, as functions over source text that return their violations (empty: clean).

* :func:`interface_violations` -- ``#pragma HLS INTERFACE`` only in the top-level wrapper (the global function
  named after the kernel); a DATAFLOW top never calls another kernel's wrapper (:func:`wrapper_calls`).
* :func:`axis_type_violations` -- ``ap_axiu`` / ``ap_axis`` / ``hls::axis`` and every typedef of them (the
  ``<port>_beat_t`` types) only in namespace-scope typedefs, the wrapper's prototype and signature, and the
  wrapper's local beat variables: never in a core's signature, another function, or a ``hls::stream`` declared
  inside a function (a DATAFLOW channel).
* :func:`unroll_partition_violations` -- every loop with an explicit ``#pragma HLS UNROLL`` (``factor=F``, or
  complete with a trip count that resolves to a number F): each array indexed in its body by the loop variable is
  partitioned in that dimension (``ARRAY_PARTITION ... dim=d`` or ``dim=0``) completely, or cyclically by a
  factor that is a multiple of F.  Factors and bounds resolve through integer literals and ``constexpr int`` /
  ``const int`` constants of the file; a symbolic factor equal to the unroll's symbol (a template parameter) is
  accepted, any other unresolved one is a violation.  Not checked: loops unrolled implicitly because an
  enclosing loop is pipelined, accesses inside called functions, and ROM port counts of tables read by inlined
  helpers (rope's SINE, the EXP2 table) -- the II=1 part of issue 16.
* :func:`long_long_violations` -- no ``const long long`` (constants are ``constexpr int``).

Parsing is a small scanner over the code with comments and literals blanked: functions are the brace blocks at
namespace scope whose header ends in a parameter list; brace matching finds their bodies.
"""

from __future__ import annotations

import re
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
    for m in re.finditer(r"\b[\w:]+(?:<[^;{}()]*?>)?[\s&*]+(\w+)((?:\s*\[[^\]]+\])+)\s*(?=[;=,)])", code):
        names.add(m.group(1))
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
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\[", text):
        dims, k = [], m.end() - 1
        while k < len(text) and text[k] == "[":
            e = match_brace(text, k)
            dims.append(text[k + 1:e])
            k = e + 1
            while k < len(text) and text[k] in " \t":
                k += 1
        yield m.group(1), dims


def unroll_partition_violations(code: str, kernel: str, header: str = "") -> list[str]:
    """Arrays read or written in an explicitly unrolled loop (factor F) without a partition of a multiple of F in
    the dimension the loop variable indexes."""
    text = strip_comments(header + "\n" + code)
    consts = _constants(text)
    parts = _partitions(text)
    arrays = _arrays(text)
    funcs, _ = scan(code)
    bad = []
    for f in funcs:
        for var, start, bound, inner in _loops(f.body):
            unroll = [p for p in _direct_pragmas(inner) if re.match(r"#pragma\s+HLS\s+UNROLL\b", p, re.I)]
            if not unroll:
                continue
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
                    ok, why = _partition_ok(parts.get(arr, []), d, factor, factor_sym, consts)
                    if not ok:
                        bad.append(f"{kernel}: {f.name}(): {arr}[...] dimension {d} indexed by the unrolled "
                                   f"'{var}' (factor {factor if factor is not None else factor_sym}): {why}")
    return sorted(set(bad))


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
