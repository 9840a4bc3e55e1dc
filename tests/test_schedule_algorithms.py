"""Schedulers on random DAGs and on the real decode graph, checked by an independent validator and, on tiny
instances, against a brute-force optimum (serial schedule generation over every topological order)."""

from __future__ import annotations

import itertools
import random

import pytest

from golden.config import LlamaConfig
from pyflow.schedule.algorithms import (
    Instance,
    cpsat_schedule,
    hlfet_schedule,
    list_schedule,
    make_instance,
)
from pyflow.schedule.bounds import lower_bounds
from pyflow.schedule.graph import build_graph


def random_instance(seed: int, n: int, engines: int, mem_engines: int = 0, p_edge: float = 0.25) -> Instance:
    rng = random.Random(seed)
    preds = [[j for j in range(i) if rng.random() < p_edge] for i in range(n)]
    # shuffle ids so no algorithm can rely on ids being topological
    perm = list(range(n))
    rng.shuffle(perm)
    inv = {old: new for new, old in enumerate(perm)}
    d = [rng.randint(1, 20) for _ in range(n)]
    mem = [rng.random() < 0.3 for _ in range(n)]
    preds2: list[list[int]] = [[] for _ in range(n)]
    d2, mem2 = [0] * n, [False] * n
    for old in range(n):
        preds2[inv[old]] = [inv[p] for p in preds[old]]
        d2[inv[old]], mem2[inv[old]] = d[old], mem[old]
    return make_instance(d2, preds2, mem2, engines, mem_engines)


def check_valid(inst: Instance, start: list[int], engine: list[int]) -> int:
    """Independent validity check; returns the makespan."""
    n = len(inst.durations)
    assert len(start) == n and len(engine) == n, "every op scheduled exactly once"
    for i in range(n):
        assert start[i] >= 0
        assert 0 <= engine[i] < len(inst.engine_class)
        assert inst.engine_class[engine[i]] == inst.op_class[i], "engine type respected"
        for p in inst.preds[i]:
            assert start[i] >= start[p] + inst.durations[p], f"dependency {p}->{i} violated"
    for e in range(len(inst.engine_class)):
        mine = sorted((start[i], start[i] + inst.durations[i]) for i in range(n) if engine[i] == e)
        for (_, a_end), (b_start, _) in itertools.pairwise(mine):
            assert b_start >= a_end, f"overlap on engine {e}"
    return max(start[i] + inst.durations[i] for i in range(n))


def brute_force_optimum(inst: Instance) -> int:
    """Minimum makespan over serial schedule generation of every topological order (active schedules
    contain an optimum).  Each op goes at the earliest time >= its predecessors' ends at which its class
    has a free engine for its whole duration."""
    n = len(inst.durations)
    cap = {c: inst.engine_class.count(c) for c in set(inst.engine_class)}
    best = None
    for order in itertools.permutations(range(n)):
        pos = {o: k for k, o in enumerate(order)}
        if any(pos[p] > pos[i] for i in range(n) for p in inst.preds[i]):
            continue
        placed: list[tuple[int, int, str]] = []
        finish = [0] * n
        for i in order:
            d, c = inst.durations[i], inst.op_class[i]
            est = max((finish[p] for p in inst.preds[i]), default=0)
            for t in sorted({est} | {f for _, f, _ in placed if f > est}):
                points = {t} | {s for s, _, _ in placed if t < s < t + d}
                if all(sum(1 for s, f, cc in placed if cc == c and s <= x < f) < cap[c] for x in points):
                    break
            placed.append((t, t + d, c))
            finish[i] = t + d
        ms = max(finish)
        best = ms if best is None else min(best, ms)
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("engines,mem", [(1, 0), (3, 0), (2, 1)])
def test_random_dags_valid_and_above_bounds(seed: int, engines: int, mem: int) -> None:
    inst = random_instance(seed, 40, engines, mem)
    b = lower_bounds(inst.durations, inst.preds, inst.op_class, inst.engine_class)
    for sched in (list_schedule(inst), hlfet_schedule(inst)):
        ms = check_valid(inst, sched.start, sched.engine)
        assert ms == sched.makespan
        assert ms >= b.lower
    if engines == 1 and mem == 0:  # one engine: every schedule without idle time is optimal
        assert list_schedule(inst).makespan == sum(inst.durations)


@pytest.mark.parametrize("seed", range(6))
def test_cpsat_matches_brute_force_on_tiny_dags(seed: int) -> None:
    inst = random_instance(100 + seed, 7, 2, 1 if seed % 2 else 0, p_edge=0.3)
    opt = brute_force_optimum(inst)
    s = cpsat_schedule(inst, time_limit=5.0, workers=2)
    assert s.status == "OPTIMAL"
    assert check_valid(inst, s.start, s.engine) == opt
    b = lower_bounds(inst.durations, inst.preds, inst.op_class, inst.engine_class)
    assert b.lower <= opt  # the bounds are valid
    assert list_schedule(inst).makespan >= opt and hlfet_schedule(inst).makespan >= opt


@pytest.mark.parametrize("seed", range(4))
def test_cpsat_not_worse_than_heuristics(seed: int) -> None:
    inst = random_instance(200 + seed, 30, 3, 0)
    heur = min(list_schedule(inst).makespan, hlfet_schedule(inst).makespan)
    s = cpsat_schedule(inst, time_limit=5.0, workers=2)
    ms = check_valid(inst, s.start, s.engine)
    assert ms <= heur
    b = lower_bounds(inst.durations, inst.preds, inst.op_class, inst.engine_class)
    assert ms >= b.lower
    if s.status == "OPTIMAL":
        assert s.info["solver_bound"] == ms


def test_two_chains_known_optimum() -> None:
    # chain a (3+3) and chain b (4), one extra op c (5) after a0; 2 engines: optimum 8 (a0, then a1 || c)
    inst = make_instance([3, 3, 4, 5], [[], [0], [], [0]], [False] * 4, 2)
    s = cpsat_schedule(inst, time_limit=5.0, workers=2)
    assert s.status == "OPTIMAL" and s.makespan == 8
    check_valid(inst, s.start, s.engine)


def test_bad_instances() -> None:
    with pytest.raises(ValueError):
        make_instance([1, 1], [[1], [0]], [False, False], 2)  # cycle
    with pytest.raises(ValueError):
        make_instance([1], [[]], [False], 0)


@pytest.mark.parametrize("mode", ["autoregressive", "kv-only"])
@pytest.mark.parametrize("engines,mem", [(4, 0), (3, 2)])
def test_real_graph_schedules(mode: str, engines: int, mem: int) -> None:
    cfg = LlamaConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16)
    g = build_graph(cfg, tokens=2, ctx=8, per_head=True, mode=mode)
    rng = random.Random(1)
    d = [rng.randint(5, 50) for _ in g.ops]
    inst = make_instance(d, g.preds, [op.is_mem for op in g.ops], engines, mem)
    b = lower_bounds(inst.durations, inst.preds, inst.op_class, inst.engine_class)
    ms = [check_valid(inst, s.start, s.engine) for s in (list_schedule(inst), hlfet_schedule(inst))]
    s = cpsat_schedule(inst, time_limit=1.0, workers=2)
    ms_cp = check_valid(inst, s.start, s.engine)
    assert b.lower <= ms_cp <= min(ms)
    if mem:
        assert all(inst.engine_class[s.engine[op.id]] == "mem" for op in g.ops if op.is_mem)
