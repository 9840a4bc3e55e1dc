"""Gantt chart PNG of a schedule (matplotlib, Agg backend): one row per engine, colour per op kind."""

from __future__ import annotations

import io

from golden.llama import CHAIN_OPS
from pyflow.schedule.view import ScheduleView

#: Colour per op kind (projections in saturated colours, attention ops in purples/browns).
PALETTE: dict[str, str] = {
    "rmsnorm": "#7f7f7f", "q_proj": "#1f77b4", "k_proj": "#ff7f0e", "v_proj": "#2ca02c",
    "rope_q": "#9ecae1", "rope_k": "#fdae6b", "mem_store_kv": "#8c1c13", "mem_load_kv": "#d62728",
    "qk": "#9467bd", "softmax_max": "#c5b0d5", "softmax_exp": "#8c564b", "softmax_norm": "#c49c94",
    "av": "#17becf", "o_proj": "#e377c2",
}


def gantt_png(view: ScheduleView, dpi: int = 120) -> bytes:
    """PNG bytes of the chart (time axis in microseconds; dashed lines where each token's output exists)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    colour = {k: PALETTE.get(k, "#999999") for k in CHAIN_OPS}
    n_eng = len(view.engine_names)
    fig, ax = plt.subplots(figsize=(14, 1.6 + 0.5 * n_eng))
    for e in range(n_eng):
        mine = [op for op in view.ops if op.engine == e and op.cycles > 0]
        ax.broken_barh([(view.us(op.start), view.us(op.cycles)) for op in mine], (e - 0.4, 0.8),
                       facecolors=[colour[op.kind] for op in mine], edgecolor="white", linewidth=0.3)
    done: dict[int, int] = {}
    for op in view.ops:
        if op.kind == "o_proj":
            done[op.token] = max(done.get(op.token, 0), op.end)
    for tok, end in sorted(done.items()):
        ax.axvline(view.us(end), color="black", linestyle="--", linewidth=0.8)
        ax.text(view.us(end), n_eng - 0.45, f" t{tok} out", fontsize=8, va="bottom")
    ax.set_yticks(range(n_eng), view.engine_names)
    ax.set_ylim(-0.6, n_eng - 0.1)
    ax.invert_yaxis()
    ax.set_xlim(0, view.us(view.makespan) * 1.01 or 1)
    ax.set_xlabel(f"time (us at {view.clock_mhz:g} MHz)")
    ax.set_title(f"{view.title}: makespan {view.makespan} cycles = {view.us(view.makespan):.1f} us")
    used = [k for k in CHAIN_OPS if any(op.kind == k for op in view.ops)]
    ax.legend(handles=[Patch(color=colour[k], label=k) for k in used], loc="upper left",
              bbox_to_anchor=(1.005, 1.0), ncol=1 if n_eng >= 7 else 2, fontsize=8, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
