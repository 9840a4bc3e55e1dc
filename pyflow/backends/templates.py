"""Shared template machinery: the Jinja2 environments, the context a spec gives its templates, and the
write-if-changed writer every backend uses.

A kernel's own templates live in its folder (``hls/kernels/<name>/``); templates shared by every kernel
(headers, testbenches, wrappers, Tcl, synthesis scripts) in ``hls/templates/<lang>/``.  The loader looks in
the kernel's folder first, then in the shared folders.  Templates receive the spec and nothing typed twice:
ports by name (``port.<name>``), the spec's params (``p``), derived constants (``c``) and tables (``luts``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from pyflow.paths import TEMPLATES, kernel_folder
from pyflow.reports import atomic_write_bytes
from pyflow.specs.base import KernelSpec, Lut, Port


@dataclass
class RenderResult:
    """Which files a render wrote and which it left untouched."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)

    def merge(self, other: RenderResult) -> None:
        """Add ``other``'s files to this result."""
        self.written += other.written
        self.unchanged += other.unchanged


def write_if_changed(path: Path, content: str | bytes, result: RenderResult | None = None) -> bool:
    """Atomically write ``content`` unless the file already holds exactly it; return True if written."""
    data = content.encode() if isinstance(content, str) else content
    path = Path(path)
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        if result is not None:
            result.unchanged.append(path)
        return False
    atomic_write_bytes(path, data)
    if result is not None:
        result.written.append(path)
    return True


def environment(lang: str, kernel: str | None = None) -> jinja2.Environment:
    """The Jinja2 environment for ``lang`` (StrictUndefined, trailing newline kept); with ``kernel``, that
    kernel's folder is searched before the shared ``hls/templates/<lang>/`` and ``hls/templates/``."""
    dirs = ([str(kernel_folder(kernel))] if kernel else []) + [str(TEMPLATES / lang), str(TEMPLATES)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(dirs),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["cpp_array"] = cpp_array
    return env


def cpp_array(values: Iterable[int], per_line: int = 16) -> str:
    """Comma-separated integer initialiser list, ``per_line`` values per line."""
    vals = [str(int(v)) for v in np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
            .reshape(-1)]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    return ",\n    ".join(lines)


class PortsByName:
    """The ports of a spec as attributes (``port.logit``): templates name ports, never index them."""

    def __init__(self, ports: Iterable[Port]) -> None:
        self._ports = {p.name: p for p in ports}

    def __getattr__(self, name: str) -> Port:
        try:
            return self._ports[name]
        except KeyError:
            raise AttributeError(f"no port {name!r} (ports: {', '.join(self._ports)})") from None

    def __getitem__(self, name: str) -> Port:
        try:
            return self._ports[name]
        except KeyError:
            raise KeyError(f"no port {name!r} (ports: {', '.join(self._ports)})") from None


def lut_context(luts: dict[str, Lut]) -> list[dict[str, Any]]:
    """LUTs as template-friendly dicts (name, depth, index_bits, fmt, data = raw values)."""
    return [
        {"name": k, "depth": v.depth, "index_bits": v.index_bits, "fmt": v.fmt, "data": v.values}
        for k, v in sorted(luts.items())
    ]


def context(spec: KernelSpec, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template context for ``spec``: the spec itself plus derived conveniences."""
    ctx: dict[str, Any] = {
        "spec": spec,
        "name": spec.name,
        "p": dict(spec.params),
        "c": dict(spec.consts),
        "ports": spec.ports,
        "port": PortsByName(spec.ports),
        "inputs": spec.inputs,
        "outputs": spec.outputs,
        "axis_ports": [p for p in spec.ports if p.kind == "axis"],
        "luts": lut_context(dict(spec.luts)),
        "digest": spec.digest(),
    }
    if extra:
        ctx.update(extra)
    return ctx


def render(spec: KernelSpec, lang: str, template: str, extra: dict[str, Any] | None = None,
           env: jinja2.Environment | None = None) -> str:
    """Render ``template`` (looked up in the kernel's folder, then the shared ones) for ``spec``."""
    from pyflow.errors import FlowError

    env = env or environment(lang, spec.name)
    try:
        return env.get_template(template).render(**context(spec, extra))
    except jinja2.TemplateNotFound as exc:
        raise FlowError(f"render: no template {exc.name} for kernel {spec.name} "
                        f"(looked in hls/kernels/{spec.name}/ and hls/templates/{lang}/)") from None
    except jinja2.UndefinedError as exc:
        raise FlowError(f"render: {template} of {spec.name}: {exc}") from None
