"""A picture of the accelerator's RTL trace (matplotlib, Agg): the controller's phases on ``engine 0`` coloured
as the scheduler's Gantt chart colours op kinds (pyflow.schedule.gantt.PALETTE, so the two pictures of one
decode step compare at a glance), each unit's busy cycles below it, and the memory bytes per cycle against the
port's roofline underneath."""

from __future__ import annotations

import io

from pyflow import traces
from pyflow.schedule.gantt import PALETTE

#: Colour of a unit state on the unit rows (idle is not drawn).
STATE_COLOURS = {"busy": "#2ca02c", "starved": "#fdd0a2", "stalled": "#d62728", "back-pressured": "#9467bd"}


def trace_png(t: traces.Timeline, dpi: int = 120) -> bytes:
    """PNG bytes of ``t`` (a timeline of :func:`pyflow.accel.trace.timeline`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = len(t.tracks)
    fig, (ax, mem) = plt.subplots(2, 1, figsize=(14, 1.8 + 0.42 * n + 1.6), sharex=True,
                                  gridspec_kw={"height_ratios": [0.42 * n + 0.6, 1.6]})
    ops: list[str] = []
    for row in range(n):
        mine = [s for s in t.slices if s.track == row and s.cycles > 0 and (row == 0 or s.name in STATE_COLOURS)]
        if row == 0:
            colours = [PALETTE.get(s.name, "#bbbbbb") for s in mine]
            ops = list(dict.fromkeys(s.name for s in mine))  # in order of first appearance
        else:
            colours = [STATE_COLOURS[s.name] for s in mine]
        ax.broken_barh([(t.us(s.start), t.us(s.cycles)) for s in mine], (row - 0.4, 0.8), facecolors=colours,
                       linewidth=0)
    ax.set_yticks(range(n), t.tracks)
    ax.set_ylim(-0.6, n - 0.4)
    ax.invert_yaxis()
    handles = [Patch(color=PALETTE.get(k, "#bbbbbb"), label=k) for k in ops]
    handles += [Patch(color=c, label=f"unit {k}") for k, c in STATE_COLOURS.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False, ncol=2)
    ax.set_title(t.title)
    for c in t.counters:
        xs = [t.us(p[0]) for p in c.points]
        ax_kw = {"color": "black", "linestyle": "--", "linewidth": 0.9} if "roofline" in c.name else {"linewidth": 0.8}
        mem.step(xs, [p[1] for p in c.points], where="post", label=c.name, **ax_kw)
    mem.set_ylabel("bytes / cycle")
    mem.set_xlabel(f"time (us at {t.clock_mhz:g} MHz)")
    mem.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
    end = max((s.start + s.cycles for s in t.slices), default=1)
    mem.set_xlim(0, t.us(end) * 1.01)
    fig.subplots_adjust(hspace=0.15)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
