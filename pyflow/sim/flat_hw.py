"""FLAT in hardware vs the unfused chain: cycles, on-chip buffer bytes and off-chip bytes of one head's prefill.

:func:`flat_hw_report` compares, for the same attention (L query rows over N keys, one head; at the config's
dimensions L = N, the prefill of the whole context), the fused
``flat_attention`` kernel (hls/kernels/flat_attention/spec.py) with the unfused chain qk -> softmax_max ->
softmax_exp -> softmax_norm -> av whose L x N logits, exps and probabilities go to external memory and back
(golden/flat_fixed.py has the models).  It writes ``build/report/flat_hw.json``::

    {"config": {...},
     "model": {"dims": {L, N, D, R, P}, "depth", "flat": {...}, "unfused": {...}, "ratios": {...}},
     "sweep": [{"R", "cycles", "onchip_bytes", "offchip_bytes"}, ...],      # FLAT, L = N, every row tile R | N
     "small": {"dims", "flat": {...}, "unfused": {...}, "measured": {...} | null}}

``flat`` / ``unfused`` hold ``cycles``, ``mac_lanes`` (MACs per cycle), ``onchip_bytes`` and
``offchip_bytes`` (totals and per-tensor breakdowns).  ``small`` repeats the comparison at the small test
dimensions (L = the kernel spec's query rows), where with ``measure=True`` the RTL of flat_attention and
of the five unfused kernels is simulated (no stalls) and their measured cycles are added (the chain's is
``L x (measured cycles of one invocation - depth) + depth`` per kernel, II = 1 across invocations).
Kernel pipeline depths come from the XLS compile when measured, else ``DEFAULT_DEPTH``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from golden import cycles
from golden import flat_fixed as ff
from hls.kernels.flat_attention.spec import dims
from pyflow.errors import FlowError
from pyflow.paths import BUILD
from pyflow.reports import REPORT_DIR, write_json_atomic
from pyflow.schedule.durations import DEFAULT_DEPTH
from pyflow.specs import get_spec, lanes_key

FLAT_HW_REPORT = REPORT_DIR / "flat_hw.json"
#: Build root of the small-dimension RTL runs (kept apart from build/rtl/, which holds the config's kernels).
SMALL_BUILD = BUILD / "flat_hw"


def compare(pc: Any, depth: int, depths: dict[str, int] | int | None = None,  # noqa: ANN401
            l_rows: int | None = None) -> dict[str, Any]:
    """Model comparison at ``pc``'s dimensions over ``l_rows`` query rows (default: the kernel spec's L):
    FLAT (pipeline depth ``depth``) vs the unfused chain (``depths`` per kernel, default ``depth``)."""
    dm = dims(pc)
    if l_rows is not None:
        dm["L"] = l_rows
    s, r, n, d, p, l_rows = pc.scheme, dm["R"], dm["N"], dm["D"], dm["P"], dm["L"]
    t = cycles.flat_attention(l_rows, n, d, r, p, depth)
    lanes = {k: int(pc.lanes[lanes_key(k)]) for k in ff.UNFUSED_KERNELS}
    chain = ff.unfused_cycles(l_rows, n, d, lanes, depth if depths is None else depths)
    same = ff.unfused_cycles(l_rows, n, d, dict.fromkeys(lanes, p), depth if depths is None else depths)
    flat = {"cycles": t.total, "first_output": t.first, "mac_lanes": r * p,
            "onchip_bytes": ff.flat_onchip(n, d, r, s), "offchip_bytes": ff.flat_offchip(l_rows, n, d, r, s)}
    unf = {"cycles": chain["total"], "cycles_per_kernel": {k: v for k, v in chain.items() if k != "total"},
           "cycles_at_flat_lanes": same["total"],
           "mac_lanes": max(lanes["qk"], lanes["av"]), "onchip_bytes": ff.unfused_onchip(n, d, s),
           "offchip_bytes": ff.unfused_offchip(l_rows, n, d, s)}
    ratios = {"speedup": chain["total"] / t.total,
              "offchip_saving": 1 - flat["offchip_bytes"]["total"] / unf["offchip_bytes"]["total"],
              "onchip_ratio": flat["onchip_bytes"]["total"] / unf["onchip_bytes"]["total"]}
    return {"dims": dm, "depth": depth, "flat": flat, "unfused": unf, "ratios": ratios}


def sweep(pc: Any, depth: int) -> list[dict[str, Any]]:  # noqa: ANN401
    """FLAT over the whole prefill (L = N) at every row tile R that divides N (cycle, buffer, traffic models)."""
    dm = dims(pc)
    s, n, d, p, l_rows = pc.scheme, dm["N"], dm["D"], dm["P"], dm["N"]
    rows = []
    for r in (x for x in range(1, l_rows + 1) if l_rows % x == 0):
        rows.append({"R": r, "cycles": cycles.flat_attention(l_rows, n, d, r, p, depth).total,
                     "onchip_bytes": ff.flat_onchip(n, d, r, s)["total"],
                     "offchip_bytes": ff.flat_offchip(l_rows, n, d, r, s)["total"]})
    return rows


def measure_small(pc: Any, simulator: str | None, build_root: Path | str = SMALL_BUILD) -> dict[str, Any]:  # noqa: ANN401
    """Simulate flat_attention and the unfused kernels at the small dimensions (no stalls)."""
    from pyflow.project.config import small_config
    from pyflow.sim.kernel import run_kernel

    pcs = small_config(pc)
    l_rows = dims(pcs)["L"]
    out: dict[str, Any] = {"kernels": {}}
    for name in ("flat_attention", *ff.UNFUSED_KERNELS):
        row = run_kernel(get_spec(name, pcs), simulator, stalls=False, clock_mhz=pc.clock_mhz, build_root=build_root)
        if not row["outputs_match"] or row["errors"]:
            raise FlowError(f"flat-hw: RTL of {name} on {row['simulator']} failed: {'; '.join(row['errors'])}")
        out["kernels"][name] = {k: row[k] for k in ("simulator", "cycles_predicted", "cycles_measured",
                                                     "pipeline_depth", "outputs_match")}
        out["simulator"] = row["simulator"]
    k = out["kernels"]
    out["flat_cycles"] = k["flat_attention"]["cycles_measured"][1] + 1
    out["unfused_cycles"] = sum(l_rows * (v["cycles_measured"][1] + 1 - v["pipeline_depth"]) + v["pipeline_depth"]
                                for n, v in k.items() if n != "flat_attention")
    out["depths"] = {n: v["pipeline_depth"] for n, v in k.items()}
    return out


def flat_hw_report(pc: Any, measure: bool = False, simulator: str | None = None,  # noqa: ANN401
                   report_path: Path | str | None = FLAT_HW_REPORT, build_root: Path | str = SMALL_BUILD,
                   progress: bool = True) -> dict[str, Any]:
    """The FLAT-vs-unfused comparison (module docstring); writes ``report_path`` and prints the tables."""
    from pyflow.project.config import small_config

    report: dict[str, Any] = {"config": pc.to_dict()}
    measured = measure_small(pc, simulator, build_root) if measure else None
    small_depth = measured["depths"]["flat_attention"] if measured else DEFAULT_DEPTH
    report["model"] = compare(pc, small_depth, l_rows=pc.max_length)
    report["sweep"] = sweep(pc, small_depth)
    small = compare(small_config(pc), small_depth, measured["depths"] if measured else None)
    small["measured"] = measured
    report["small"] = small
    if report_path is not None:
        write_json_atomic(report_path, report)
    if progress:
        print_tables(report)
        if report_path is not None:
            print(f"wrote {report_path}")
    return report


def _row(label: str, flat: Any, unf: Any, fmt: str = "{:,.0f}") -> tuple[str, str, str, str]:  # noqa: ANN401
    ratio = f"{unf / flat:.2f}x" if flat else "-"
    return label, fmt.format(flat), fmt.format(unf), ratio


def table_rows(cmp: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(quantity, FLAT, unfused, unfused / FLAT) rows of one comparison."""
    f, u = cmp["flat"], cmp["unfused"]
    rows = [
        _row("cycles (model, config lanes)", f["cycles"], u["cycles"]),
        _row("cycles (model, every kernel at P lanes)", f["cycles"], u["cycles_at_flat_lanes"]),
    ]
    m = cmp.get("measured")
    if m:
        rows.append(_row(f"cycles (RTL, {m['simulator']}; chain from 1 row)", m["flat_cycles"], m["unfused_cycles"]))
    rows += [
        _row("MACs per cycle", f["mac_lanes"], u["mac_lanes"]),
        _row("on-chip buffer bytes", f["onchip_bytes"]["total"], u["onchip_bytes"]["total"]),
        _row("off-chip bytes", f["offchip_bytes"]["total"], u["offchip_bytes"]["total"]),
        _row("  of which logits/exps/probs", sum(f["offchip_bytes"][k] for k in ("logit", "exp", "prob")),
             sum(u["offchip_bytes"][k] for k in ("logit", "exp", "prob"))),
        _row("  of which K + V^T", f["offchip_bytes"]["k"] + f["offchip_bytes"]["v"],
             u["offchip_bytes"]["k"] + u["offchip_bytes"]["v"]),
    ]
    return rows


def print_tables(report: dict[str, Any]) -> None:
    """The comparison tables (config dimensions, small dimensions) and the row-tile sweep."""
    from rich.console import Console
    from rich.table import Table

    con = Console()
    for key in ("model", "small"):
        cmp = report[key]
        dm = cmp["dims"]
        tab = Table(title=f"FLAT vs unfused, one head: L={dm['L']} query rows, N={dm['N']} keys, d={dm['D']}, "
                          f"R={dm['R']}, P={dm['P']}" + (" (small)" if key == "small" else ""))
        for col in ("quantity", "FLAT", "unfused", "unfused / FLAT"):
            tab.add_column(col, justify="left" if col == "quantity" else "right")
        for row in table_rows(cmp):
            tab.add_row(*row)
        con.print(tab)
    tab = Table(title="FLAT row tile sweep (config dimensions)")
    for col in ("R", "cycles", "on-chip bytes", "off-chip bytes"):
        tab.add_column(col, justify="right")
    for r in report["sweep"]:
        tab.add_row(str(r["R"]), f"{r['cycles']:,}", f"{r['onchip_bytes']:,.0f}", f"{r['offchip_bytes']:,}")
    con.print(tab)
