"""The accelerator's block diagram, drawn from its spec and the top's template context (never typed twice):
a text diagram (README, ``accel diagram``) and a picture (``build/report/accel_block.svg``).

Each box names what hls/accel/accel.v.j2 instantiates: the AXI engines, the on-chip buffers (depth x width
from :func:`pyflow.accel.build.context`) and the kernels at their lanes; arrows follow the data of one
token, row 1 the projections, row 2 the attention of one query head.
"""

from __future__ import annotations

from pathlib import Path

from hls.accel.spec import AccelSpec


def _boxes(a: AccelSpec) -> tuple[list[list[tuple[str, str]]], str]:
    """Rows of (title, detail) boxes, left to right, and the control line."""
    from pyflow.accel.build import MAX_BURST, OUTSTANDING, context

    ctx = context(a)
    buf = ctx["buf"]
    lanes = {k: next((p.lanes for p in s.ports if p.kind == "axis" and p.direction == "in"), 1)
             for k, s in a.kernels.items()}

    def b(name: str) -> tuple[str, str]:
        return name, f"{buf[name]['depth']} x {buf[name]['width']}b"

    def k(name: str) -> tuple[str, str]:
        return name, f"{lanes[name]} lanes"

    m = a.model
    rd = ("AXI4 read", f"{a.data_bits}b, bursts <= {MAX_BURST} x {OUTSTANDING}")
    wr = ("AXI4 write", f"{a.data_bits}b")
    rows = [
        [rd, b("xb"), k("rmsnorm"), b("hb"), ("gemv", f"{lanes['gemv']} lanes, q|k|v"), b("pb"), k("rope"), wr],
        [rd, b("kb"), k("qk"), b("lg"), ("softmax", "max, exp, norm"), b("pr"),
         ("av", f"{lanes['av']} lanes; V^T: vbank {a.per_word} x {ctx['k']['VB_DEPTH'] * a.per_word} x {a.width}b"),
         b("at")],
        [("gemv", f"o_proj, {m.hidden_size} rows"), b("yb"), wr],
    ]
    ctrl = (f"AXI4-Lite control (ap_start/done/idle, pos, bases, status, cycles) -> controller: "
            f"{len(ctx['states'])} states, {m.num_key_value_heads} KV heads x {m.group_size} query heads")
    return rows, ctrl


def text_diagram(a: AccelSpec) -> str:
    """The block diagram as text lines (``->`` between boxes, each box ``[title: detail]``)."""
    rows, ctrl = _boxes(a)
    lines = [ctrl]
    labels = ("projections", "per query head", "output")
    for label, row in zip(labels, rows, strict=True):
        lines.append(f"{label + ':':16s}" + " -> ".join(f"[{t}: {d}]" for t, d in row))
    return "\n".join(lines)


def write_picture(a: AccelSpec, path: Path) -> Path:
    """Draw the block diagram into ``path`` (SVG or PNG by its suffix; written whole: a temporary file renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    rows, ctrl = _boxes(a)
    width = max(len(r) for r in rows)
    fig, ax = plt.subplots(figsize=(1.9 * width, 1.2 * (len(rows) + 1)))
    colours = {"AXI4": "#f4d6a0", "gemv": "#b8d8f0", "rope": "#b8d8f0", "rmsnorm": "#b8d8f0", "qk": "#b8d8f0",
               "softmax": "#b8d8f0", "av": "#b8d8f0"}
    for y, row in enumerate(rows):
        yc = len(rows) - y
        for x, (title, detail) in enumerate(row):
            colour = next((c for key, c in colours.items() if title.startswith(key)), "#e0e0e0")
            ax.add_patch(FancyBboxPatch((x * 1.9 + 0.1, yc - 0.3), 1.6, 0.6, boxstyle="round,pad=0.02",
                                        facecolor=colour, edgecolor="#333333"))
            ax.text(x * 1.9 + 0.9, yc + 0.08, title, ha="center", va="center", fontsize=9, weight="bold")
            ax.text(x * 1.9 + 0.9, yc - 0.13, detail.replace("; ", "\n"), ha="center", va="center",
                    fontsize=6.5, wrap=True)
            if x:
                ax.annotate("", xy=(x * 1.9 + 0.1, yc), xytext=(x * 1.9 - 0.2, yc),
                            arrowprops={"arrowstyle": "->", "color": "#333333"})
    ax.text(0.1, len(rows) + 0.75, ctrl, fontsize=8, va="center")
    ax.set_xlim(0, width * 1.9)
    ax.set_ylim(0.4, len(rows) + 1.0)
    ax.axis("off")
    ax.set_title(f"FlatFlow decode accelerator ({a.data_bits}-bit memory port, {a.per_word} elements a word)",
                 fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format=path.suffix.lstrip(".") or "svg", bbox_inches="tight", dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path

