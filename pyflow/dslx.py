"""DSLX code generators used by the templates in ``hls/templates/dslx/`` (fixed-point helpers).

Each returns DSLX source text; the templates call them as Jinja globals.  Raw values are DSLX
``sN``/``uN`` bit vectors; the arithmetic mirrors :func:`golden.fixed.requant` step for step.
"""

from __future__ import annotations

from golden.fixed import Fmt


def sbits(fmt: Fmt) -> int:
    """Width of a signed type that holds every raw value of ``fmt`` (one more bit when unsigned)."""
    return int(fmt.width) + (0 if fmt.signed else 1)


def lane(word: str, index: str, fmt: Fmt) -> str:
    """Expression: lane ``index`` of beat word ``word`` as a signed ``sN[sbits(fmt)]`` value."""
    w = int(fmt.width)
    if fmt.signed:
        return f"{word}[({index}) * u32:{w} +: s{w}]"
    return f"({word}[({index}) * u32:{w} +: u{w}] as s{w + 1})"


def lane_raw(word: str, index: str, fmt: Fmt) -> str:
    """Expression: lane ``index`` of beat word ``word`` as its raw type (``sN``/``uN[fmt.width]``)."""
    w = int(fmt.width)
    return f"{word}[({index}) * u32:{w} +: {'s' if fmt.signed else 'u'}N[{w}]]"


def requant_fn(name: str, in_bits: int, shift: int, fmt: Fmt, kernel: str | None = None) -> str:
    """DSLX ``fn name(v: sN[in_bits]) -> <fmt raw type>``: assign ``v * 2**-(frac_in)`` to ``fmt``.

    ``shift = frac_in - fmt.frac`` (static).  Quantisation as ``fmt.rnd`` (TRN floor, RND half up,
    RND_CONV half to even), then ``fmt.ovf`` (SAT clamp or WRAP truncation), as ap_fixed assignment.
    With ``kernel``, the rounding decision, the rounding add and the saturation each end in a pipeline
    register (:func:`pyflow.prims.pipe_fn` of that kernel): three carry chains in a row are too slow for
    one FPGA clock at the widths the aligned products have.
    """
    from pyflow.prims import pipe_fn

    a, s, w = int(in_bits), int(shift), int(fmt.width)
    head: list[str] = []
    lines = [f"fn {name}(v: sN[{a}]) -> {fmt.dslx_type()} {{"]

    def reg(var: str, bits: int, signed: bool = True) -> None:
        if kernel is not None:
            fn = f"{name}_{var}_q"
            head.append(pipe_fn(fn, kernel, bits, signed))
            lines.append(f"    let {var} = {fn}({var});")

    if s > 0:
        b = a + 1
        lines.append(f"    let wide = v as sN[{b}];")
        lines.append(f"    let fl = wide >> u32:{s};")
        if fmt.rnd == "TRN":
            lines.append("    let q = fl;")
        elif fmt.rnd == "RND":
            lines.append(f"    let up = ((wide as uN[{b}]) >> u32:{s - 1}) as u1;")
            reg("fl", b)
            reg("up", 1, False)
            lines.append(f"    let q = fl + (up as sN[{b}]);")
        else:
            lines.append(f"    let rem = (wide as uN[{b}]) & uN[{b}]:{(1 << s) - 1};")
            lines.append(f"    let half = uN[{b}]:{1 << (s - 1)};")
            lines.append("    let up = rem > half || (rem == half && (fl as u1) == u1:1);")
            reg("fl", b)
            reg("up", 1, False)
            lines.append(f"    let q = fl + (up as sN[{b}]);")
    elif s == 0:
        b = a
        lines.append("    let q = v;")
    else:
        b = a - s
        lines.append(f"    let q = (v as sN[{b}]) << u32:{-s};")
    qmax = (1 << (b - 1)) - 1
    qmin = -(1 << (b - 1))
    if fmt.ovf == "SAT" and (fmt.raw_max < qmax or fmt.raw_min > qmin):
        reg("q", b)
        if fmt.raw_max < qmax:
            lines.append(f"    let q = if q > sN[{b}]:{fmt.raw_max} {{ sN[{b}]:{fmt.raw_max} }} else {{ q }};")
        if fmt.raw_min > qmin:
            lines.append(f"    let q = if q < sN[{b}]:{fmt.raw_min} {{ sN[{b}]:{fmt.raw_min} }} else {{ q }};")
    lines.append(f"    q as {'s' if fmt.signed else 'u'}N[{w}]")
    lines.append("}")
    return "\n".join(head + lines)


def pack_lanes(values: list[str], fmt: Fmt) -> str:
    """Expression: beat word from lane expressions of raw type ``fmt`` (lane 0 in the LSBs)."""
    w = int(fmt.width)
    parts = [f"({v} as uN[{w}])" for v in reversed(values)]
    return parts[0] if len(parts) == 1 else "(" + " ++ ".join(parts) + ")"
