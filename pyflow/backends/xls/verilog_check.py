"""A real Verilog parser (pyslang) over the generated RTL: what the register binding rewrites is checked here.

:mod:`pyflow.backends.xls.bind` edits XLS's Verilog as text.  These checks read the same text with slang's
parser and elaborator, so a change in XLS's output that the binder does not understand becomes an error
naming the instance or the diagnostic, never a silently unbound register or a broken netlist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyslang import DiagnosticEngine, ast, syntax

from pyflow.errors import FlowError


@dataclass(frozen=True)
class Instance:
    """One module instance: its module type, instance name and named port connections (port -> expression)."""

    module: str
    name: str
    ports: tuple[tuple[str, str], ...]


def _module(text: str, source_name: str):  # noqa: ANN202 (a pyslang syntax node)
    tree = syntax.SyntaxTree.fromText(text, source_name)
    errors = [d for d in tree.diagnostics if d.isError()]
    if errors:
        report = DiagnosticEngine.reportAll(tree.sourceManager, errors).strip().splitlines()
        raise FlowError(f"rtl: {source_name} does not parse: {report[0] if report else 'syntax error'}")
    root = tree.root
    if root.kind == syntax.SyntaxKind.ModuleDeclaration:
        return [root]
    return [m for m in root.members if m.kind == syntax.SyntaxKind.ModuleDeclaration]


def instances(text: str, source_name: str = "core.v") -> list[Instance]:
    """Every module instance in ``text``, in source order."""
    out: list[Instance] = []
    for mod in _module(text, source_name):
        for member in mod.members:
            if member.kind != syntax.SyntaxKind.HierarchyInstantiation:
                continue
            for inst in member.instances:
                ports = tuple((str(c.name.valueText), str(c.expr).strip()) for c in inst.connections
                              if c.kind == syntax.SyntaxKind.NamedPortConnection)
                out.append(Instance(str(member.type.valueText), str(inst.decl.name.valueText), ports))
    return out


def diagnostics(sources: Mapping[str, str]) -> list[str]:
    """Every diagnostic (errors and warnings) of elaborating ``sources`` (name -> Verilog text) together,
    one line each (``file:line:col: severity: message [-Wflag]``)."""
    comp = ast.Compilation()
    for name, text in sources.items():
        comp.addSyntaxTree(syntax.SyntaxTree.fromText(text, name))
    diags = list(comp.getAllDiagnostics())
    if not diags:
        return []
    report = DiagnosticEngine.reportAll(comp.sourceManager, diags)
    return [ln for ln in report.splitlines() if ": warning: " in ln or ": error: " in ln]


def _key(line: str) -> str:
    """A diagnostic without its position (to compare diagnostics before and after an edit)."""
    parts = line.split(": ", 1)
    return parts[1] if len(parts) == 2 else line


def check_rewrite(before: str, after: str, support: Mapping[str, str], what: str) -> None:
    """FlowError when ``after`` elaborates (with the ``support`` modules) with a diagnostic ``before`` did not have."""
    old = {_key(d) for d in diagnostics({"before.v": before, **support})}
    new = [d for d in diagnostics({"after.v": after, **support}) if _key(d) not in old]
    if new:
        raise FlowError(f"rtl: {what} broke the netlist ({len(new)} new diagnostic(s)); first: {new[0]}")
