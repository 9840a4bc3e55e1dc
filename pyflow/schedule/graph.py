"""The op DAG of one LLaMA decoder block's attention for T decode tokens.

Ops are the golden chain (``golden.llama.CHAIN_OPS``).  With ``per_head=True`` the head-parallel ops are
split: ``q_proj``, ``rope_q``, ``qk``, ``softmax_max/exp/norm`` and ``av`` per query head; ``k_proj``,
``v_proj``, ``rope_k``, ``mem_store_kv`` and ``mem_load_kv`` per KV head, and query head ``h`` reads KV
head ``cfg.kv_head_of(h)`` (GQA).  ``rmsnorm`` is one op per token and ``o_proj`` is ``o_proj_blocks`` ops
per token (row blocks of the output, each needing every head's ``av``; 1 = one whole gemv).  With
``per_head=False`` every op is one whole-layer op per token.

Within a token: rmsnorm -> q/k/v projections -> RoPE -> store the new K/V row -> load the cache ->
qk -> softmax_max -> softmax_exp -> softmax_norm -> av -> o_proj.  Token t attends ``ctx + t`` keys.

Token-dependency modes (:data:`MODES`):

* ``autoregressive``: token t+1's ``rmsnorm`` waits for every ``o_proj`` op of token t (the next token's
  input is only known once the previous output exists: a true decode loop over one layer).
* ``kv-only``: tokens are independent except that token t+1's ``mem_load_kv`` (per KV head) waits for
  token t's ``mem_store_kv`` of the same KV head (the cache must hold token t's row), as in the original
  visualiser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from golden.config import LlamaConfig
from golden.llama import CHAIN_OPS

MODES: tuple[str, ...] = ("autoregressive", "kv-only")
#: Ops that move data to/from the KV cache (placed on memory/DMA engines when there are any).
MEM_OPS: frozenset[str] = frozenset({"mem_store_kv", "mem_load_kv"})
_PER_Q = ("q_proj", "rope_q", "qk", "softmax_max", "softmax_exp", "softmax_norm", "av")
_PER_KV = ("k_proj", "v_proj", "rope_k", "mem_store_kv", "mem_load_kv")
assert set(_PER_Q) | set(_PER_KV) | {"rmsnorm", "o_proj"} == set(CHAIN_OPS)


@dataclass(frozen=True)
class Op:
    """One node: a kernel invocation at one shape.

    ``unit`` says what ``index`` counts: ``"q"`` (query head), ``"kv"`` (KV head), ``"block"`` (o_proj
    row block) or ``"layer"`` (whole layer, index None).  ``shape`` holds the cycle-formula arguments
    (the arguments of each kernel spec's ``op_cycles``).
    """

    id: int
    kind: str
    token: int
    unit: str
    index: int | None
    shape: tuple[tuple[str, int], ...]

    @property
    def label(self) -> str:
        """Unique readable name, e.g. ``qk[t0,h5]``."""
        tag = {"q": "h", "kv": "kv", "block": "b"}.get(self.unit)
        return f"{self.kind}[t{self.token}]" if tag is None else f"{self.kind}[t{self.token},{tag}{self.index}]"

    @property
    def is_mem(self) -> bool:
        """True for KV-cache transfers."""
        return self.kind in MEM_OPS

    def shape_dict(self) -> dict[str, int]:
        """The cycle-formula arguments as a dict."""
        return dict(self.shape)


@dataclass
class Graph:
    """Ops (ids 0..n-1 in a topological order) and their predecessor lists."""

    ops: list[Op] = field(default_factory=list)
    preds: list[list[int]] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)

    def add(self, kind: str, token: int, unit: str, index: int | None, deps: list[int], **shape: int) -> int:
        """Append an op depending on ``deps`` (ids already present); return its id."""
        oid = len(self.ops)
        if any(d < 0 or d >= oid for d in deps):
            raise ValueError(f"graph: dependency of {kind} refers to an op not yet added")
        self.ops.append(Op(oid, kind, token, unit, index, tuple(sorted(shape.items()))))
        self.preds.append(sorted(set(deps)))
        return oid

    @property
    def edges(self) -> list[tuple[int, int]]:
        """All (pred, succ) pairs."""
        return [(p, s) for s, ps in enumerate(self.preds) for p in ps]

    def succs(self) -> list[list[int]]:
        """Successor lists."""
        out: list[list[int]] = [[] for _ in self.ops]
        for p, s in self.edges:
            out[p].append(s)
        return out


def build_graph(cfg: LlamaConfig, tokens: int = 2, ctx: int = 128, per_head: bool = True,
                mode: str = "autoregressive", o_proj_blocks: int = 1) -> Graph:
    """The DAG of ``tokens`` consecutive decode steps of one block; token t attends ``ctx + t`` keys."""
    if tokens < 1:
        raise ValueError(f"tokens must be >= 1, got {tokens}")
    if ctx < 1:
        raise ValueError(f"ctx must be >= 1, got {ctx}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if o_proj_blocks < 1 or cfg.hidden_size % o_proj_blocks:
        raise ValueError(f"o_proj blocks ({o_proj_blocks}) must divide hidden_size ({cfg.hidden_size})")
    g = Graph(meta={"tokens": tokens, "ctx": ctx, "per_head": per_head, "mode": mode,
                    "o_proj_blocks": o_proj_blocks})
    hid, d = cfg.hidden_size, cfg.head_dim
    prev_out: list[int] = []
    prev_store: dict[int, int] = {}
    for t in range(tokens):
        n = ctx + t
        norm = g.add("rmsnorm", t, "layer", None, prev_out if mode == "autoregressive" else [], n=hid)
        if per_head:
            nq, nk = cfg.num_attention_heads, cfg.num_key_value_heads
            store, load = {}, {}
            for j in range(nk):
                k = g.add("k_proj", t, "kv", j, [norm], n_out=d, n_in=hid)
                v = g.add("v_proj", t, "kv", j, [norm], n_out=d, n_in=hid)
                rk = g.add("rope_k", t, "kv", j, [k], n_vec=1, head_dim=d)
                store[j] = g.add("mem_store_kv", t, "kv", j, [rk, v], kv_heads=1, head_dim=d)
                dep = [store[j]] + ([prev_store[j]] if mode == "kv-only" and j in prev_store else [])
                load[j] = g.add("mem_load_kv", t, "kv", j, dep, kv_heads=1, n=n, head_dim=d)
            outs = []
            for h in range(nq):
                q = g.add("q_proj", t, "q", h, [norm], n_out=d, n_in=hid)
                rq = g.add("rope_q", t, "q", h, [q], n_vec=1, head_dim=d)
                s = g.add("qk", t, "q", h, [rq, load[cfg.kv_head_of(h)]], n=n, head_dim=d, invocations=1)
                for kind in ("softmax_max", "softmax_exp", "softmax_norm"):
                    s = g.add(kind, t, "q", h, [s], n=n, invocations=1)
                outs.append(g.add("av", t, "q", h, [s, load[cfg.kv_head_of(h)]], n=n, head_dim=d,
                                  invocations=1))
            prev_store = store
        else:
            nq, nk = cfg.num_attention_heads, cfg.num_key_value_heads
            q = g.add("q_proj", t, "layer", None, [norm], n_out=cfg.q_dim, n_in=hid)
            k = g.add("k_proj", t, "layer", None, [norm], n_out=cfg.kv_dim, n_in=hid)
            v = g.add("v_proj", t, "layer", None, [norm], n_out=cfg.kv_dim, n_in=hid)
            rq = g.add("rope_q", t, "layer", None, [q], n_vec=nq, head_dim=d)
            rk = g.add("rope_k", t, "layer", None, [k], n_vec=nk, head_dim=d)
            st = g.add("mem_store_kv", t, "layer", None, [rk, v], kv_heads=nk, head_dim=d)
            dep = [st] + ([prev_store[0]] if mode == "kv-only" and prev_store else [])
            ld = g.add("mem_load_kv", t, "layer", None, dep, kv_heads=nk, n=n, head_dim=d)
            s = g.add("qk", t, "layer", None, [rq, ld], n=n, head_dim=d, invocations=nq)
            for kind in ("softmax_max", "softmax_exp", "softmax_norm"):
                s = g.add(kind, t, "layer", None, [s], n=n, invocations=nq)
            outs = [g.add("av", t, "layer", None, [s, ld], n=n, head_dim=d, invocations=nq)]
            prev_store = {0: st}
        rows = hid // o_proj_blocks
        if o_proj_blocks == 1:
            prev_out = [g.add("o_proj", t, "layer", None, outs, n_out=hid, n_in=cfg.q_dim)]
        else:
            prev_out = [g.add("o_proj", t, "block", b, outs, n_out=rows, n_in=cfg.q_dim)
                        for b in range(o_proj_blocks)]
    return g
