"""Lower bounds on the makespan of a DAG on typed engines: critical path and work / engines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def topo_order(preds: Sequence[Sequence[int]]) -> list[int]:
    """A topological order of the ops (Kahn); ValueError on a cycle."""
    n = len(preds)
    indeg = [len(p) for p in preds]
    succs: list[list[int]] = [[] for _ in range(n)]
    for s, ps in enumerate(preds):
        for p in ps:
            succs[p].append(s)
    stack = [i for i in range(n) if indeg[i] == 0][::-1]
    order: list[int] = []
    while stack:
        i = stack.pop()
        order.append(i)
        for s in reversed(succs[i]):
            indeg[s] -= 1
            if indeg[s] == 0:
                stack.append(s)
    if len(order) != n:
        raise ValueError("graph has a cycle")
    return order


def bottom_levels(durations: Sequence[int], preds: Sequence[Sequence[int]]) -> list[int]:
    """Longest path from each op to any exit, including the op's own duration (HLFET priority)."""
    succs: list[list[int]] = [[] for _ in durations]
    for s, ps in enumerate(preds):
        for p in ps:
            succs[p].append(s)
    level = [0] * len(durations)
    for i in reversed(topo_order(preds)):
        level[i] = durations[i] + max((level[s] for s in succs[i]), default=0)
    return level


def top_levels(durations: Sequence[int], preds: Sequence[Sequence[int]]) -> list[int]:
    """Earliest start of each op: longest path from any entry to the op, excluding its own duration."""
    level = [0] * len(durations)
    for i in topo_order(preds):
        level[i] = max((level[p] + durations[p] for p in preds[i]), default=0)
    return level


def critical_path(durations: Sequence[int], preds: Sequence[Sequence[int]]) -> tuple[int, list[int]]:
    """(length, op ids) of a longest path through the DAG."""
    if not durations:
        return 0, []
    finish = [0] * len(durations)
    via: list[int | None] = [None] * len(durations)
    for i in topo_order(preds):
        best = max(preds[i], key=lambda p: finish[p], default=None)
        via[i] = best
        finish[i] = durations[i] + (finish[best] if best is not None else 0)
    end: int | None = max(range(len(durations)), key=lambda i: finish[i])
    length = finish[end]
    path = []
    while end is not None:
        path.append(end)
        end = via[end]
    return length, path[::-1]


#: Largest graph for the O(n^3) ancestor-work bound (beyond it the bound is skipped, reported as 0).
MAX_OPS_ANCESTOR_BOUND = 2500


def ancestor_work_bound(durations: Sequence[int], preds: Sequence[Sequence[int]], op_class: Sequence[str],
                        engine_class: Sequence[str]) -> int:
    """A critical path that also counts the engines' capacity.

    For ops a and i with a an ancestor of i, every op that descends from a and is an ancestor of i must
    run between a's end and i's start, so ``est(i) >= est(a) + d(a) + ceil(W_c / K_c)`` for the work
    ``W_c`` of those ops in each engine class c (``K_c`` engines).  With the plain top level
    as the starting point this gives earliest starts ``est``; the bound is ``max_i est(i) + tail(i)``
    (tail = bottom level).  0 when the graph has more than :data:`MAX_OPS_ANCESTOR_BOUND` ops.
    """
    import numpy as np

    n = len(durations)
    if n == 0 or n > MAX_OPS_ANCESTOR_BOUND:
        return 0
    order = topo_order(preds)
    anc = np.zeros((n, n), dtype=bool)  # anc[k, i]: k is a strict ancestor of i
    for i in order:
        for p in preds[i]:
            anc[:, i] |= anc[:, p]
            anc[p, i] = True
    desc = anc.astype(np.float64)  # desc[a, k]: k is a strict descendant of a (== anc[a, k])
    d = np.asarray(durations, dtype=np.float64)
    est = np.asarray(top_levels(durations, preds), dtype=np.float64)
    need = np.zeros((n, n))
    for c in sorted(set(op_class)):
        k = sum(1 for e in engine_class if e == c)
        mask = np.asarray([oc == c for oc in op_class], dtype=np.float64)
        work = (desc * (d * mask)) @ desc  # work[a, i] of class c strictly between a and i
        need = np.maximum(need, np.ceil(work / k - 1e-9))
    need += d[:, None]
    for i in order:
        a = anc[:, i]
        if a.any():
            est[i] = max(est[i], float(np.max(est[a] + need[a, i])))
    tail = np.asarray(bottom_levels(durations, preds), dtype=np.float64)
    return int(np.max(est + tail))


@dataclass(frozen=True)
class Bounds:
    """Makespan lower bounds."""

    critical_path: int
    work: int
    work_by_class: dict[str, int]
    ancestor_work: int = 0

    @property
    def lower(self) -> int:
        """max(critical path, work bound, ancestor-work bound)."""
        return max(self.critical_path, self.work, self.ancestor_work)


def lower_bounds(durations: Sequence[int], preds: Sequence[Sequence[int]], op_class: Sequence[str],
                 engine_class: Sequence[str]) -> Bounds:
    """Critical path and, per engine class, ceil(total work of the class / engines of the class)."""
    cp, _ = critical_path(durations, preds)
    work: dict[str, int] = {}
    for d, c in zip(durations, op_class, strict=True):
        work[c] = work.get(c, 0) + d
    by_class = {}
    for c, w in work.items():
        k = sum(1 for e in engine_class if e == c)
        if k == 0:
            raise ValueError(f"no engine of class {c!r}")
        by_class[c] = -(-w // k)
    return Bounds(cp, max(by_class.values(), default=0), by_class,
                  ancestor_work_bound(durations, preds, op_class, engine_class))
