"""Cycle models of the streaming hardware kernels: plain functions of shapes, lanes and pipeline depth.

Convention (docs/FIXED_POINT.md, "Timing"): input beats are offered back to back and the first input
handshake is cycle 0; ``depth`` is the kernel's latency in cycles from accepting an input beat to
presenting the output beat that depends on it (XLS pipeline stages plus the wrapper's I/O registers,
taken from the compile result).  Every kernel accepts one input beat per cycle (II=1) and never stalls
its inputs without back-pressure, so the only idle cycles are the pipeline fill and explicit drain
phases.  ``first``/``last`` are the cycles of the first and last output beats; ``busy`` counts the
cycles in which the datapath does useful work (a MAC beat, a compare, an exp...).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Predicted cycles of one kernel invocation."""

    first: int
    last: int
    busy: int

    @property
    def total(self) -> int:
        """Cycles from the first input handshake to the last output beat, inclusive."""
        return self.last + 1

    @property
    def utilisation(self) -> float:
        """Useful datapath beats per cycle."""
        return self.busy / self.total


def repeat(one: Timing, times: int) -> Timing:
    """``times`` invocations back to back, each taking ``one.total`` cycles."""
    return Timing(first=one.first, last=times * one.total - 1, busy=times * one.busy)


def row_beats(n: int, lanes: int) -> int:
    """Beats of a row of ``n`` elements, ``lanes`` per beat, the last beat padded (``ceil(n / lanes)``)."""
    if lanes <= 0 or n < 1:
        raise ValueError(f"a row of {n} elements in {lanes} lanes")
    return -(-n // lanes)


def _beats(n: int, lanes: int, what: str) -> int:
    if lanes <= 0 or n % lanes:
        raise ValueError(f"{what}: lanes {lanes} must divide {n}")
    return n // lanes


def gemv(n_out: int, n_in: int, lanes: int, depth: int) -> Timing:
    """y = W x with W and x streamed together, ``lanes`` products per beat, one output per row."""
    row = _beats(n_in, lanes, "gemv")
    return Timing(first=row - 1 + depth, last=n_out * row - 1 + depth, busy=n_out * row)


def rmsnorm(n: int, lanes: int, depth: int, gap: int = 0) -> Timing:
    """Two passes over x (sum of squares, then scale); ``gap`` idle cycles between them (rsqrt)."""
    b = _beats(n, lanes, "rmsnorm")
    return Timing(first=b + gap + depth, last=2 * b + gap - 1 + depth, busy=2 * b)


def rope(n_vec: int, head_dim: int, lanes: int, depth: int) -> Timing:
    """``lanes`` (x_i, x_{i+d/2}) pairs per beat, d/2/lanes beats per vector, output per beat."""
    b = n_vec * _beats(head_dim // 2, lanes, "rope")
    return Timing(first=depth, last=b - 1 + depth, busy=b)


def qk(n: int, head_dim: int, lanes: int, depth: int) -> Timing:
    """Logits K q: a gemv with n rows of head_dim (each key row streamed with q re-streamed beside it)."""
    return gemv(n, head_dim, lanes, depth)


def softmax_max(n: int, lanes: int, depth: int) -> Timing:
    """ceil(n/lanes) beats of logits in (the last one part-filled when lanes do not divide n), one max out."""
    b = row_beats(n, lanes)
    return Timing(first=b - 1 + depth, last=b - 1 + depth, busy=b)


def softmax_exp(n: int, lanes: int, depth: int) -> Timing:
    """max (with the first beat) and n/lanes logit beats in; exps out per beat, the sum with the last."""
    b = _beats(n, lanes, "softmax_exp")
    return Timing(first=depth, last=b - 1 + depth, busy=b)


def softmax_norm(n: int, lanes: int, depth: int) -> Timing:
    """sum (with the first beat) and n/lanes exp beats in; probabilities out per beat."""
    b = _beats(n, lanes, "softmax_norm")
    return Timing(first=depth, last=b - 1 + depth, busy=b)


def av(n: int, head_dim: int, lanes: int, depth: int) -> Timing:
    """out = V^T p: a gemv with head_dim rows of n (V read column-wise, i.e. a V^T cache layout, with p
    re-streamed beside each column)."""
    return gemv(head_dim, n, lanes, depth)


def kv_transfer(n_rows: int, head_dim: int, lanes: int, depth: int, burst: int, burst_gap: int) -> Timing:
    """AXI4 burst transfer of n_rows rows of d elements (lanes per beat), ``burst`` beats per burst and
    ``burst_gap`` cycles of address/response overhead per burst."""
    b = n_rows * _beats(head_dim, lanes, "kv_cache")
    bursts = -(-b // burst)
    return Timing(first=burst_gap + depth, last=b + bursts * burst_gap - 1 + depth, busy=b)


def kv_store_axi(head_dim: int, lanes: int, burst: int, read_gap: int, write_gap: int) -> Timing:
    """The store phase of the kv_cache RTL (hls/kernels/kv_cache/kv_cache.v.j2) for one token.

    One AXI burst at a time: a read burst of L beats occupies L + ``read_gap`` cycles (AR handshake to last
    R beat), a write burst L + ``write_gap`` (AW to B).  Accept k_new / v_new side by side (d/P beats, one
    more cycle to see both done); write the K row in bursts; d read-modify-writes of one V^T word each.
    ``last`` is the store's final cycle (no output beat: ``first == last``).
    """
    rw = _beats(head_dim, lanes, "kv_cache row")
    k_write = rw + -(-rw // burst) * write_gap
    total = rw + 1 + k_write + head_dim * ((1 + read_gap) + (1 + write_gap))
    return Timing(first=total - 1, last=total - 1, busy=rw)


def kv_load_axi(n_rows: int, head_dim: int, lanes: int, burst: int, read_gap: int) -> Timing:
    """The load phase of the kv_cache RTL: read K rows 0..n_rows-1, then every V^T row (n_rows/P words), in
    bursts; counted from its first AR, the first K beat arrives ``read_gap`` cycles later."""
    rw = _beats(head_dim, lanes, "kv_cache row")
    row_words = _beats(n_rows, lanes, "kv_cache V^T row")

    def reads(words: int) -> int:
        return words + -(-words // burst) * read_gap

    out = reads(n_rows * rw) + head_dim * reads(row_words)
    return Timing(first=read_gap, last=out - 1, busy=n_rows * rw + head_dim * row_words)


def kv_cache_axi(n_rows: int, head_dim: int, lanes: int, burst: int, read_gap: int, write_gap: int) -> Timing:
    """The kv_cache RTL storing token ``n_rows - 1`` and loading rows 0..it: :func:`kv_store_axi`, then
    :func:`kv_load_axi`.  Memory idle time is not busy time."""
    store = kv_store_axi(head_dim, lanes, burst, read_gap, write_gap)
    load = kv_load_axi(n_rows, head_dim, lanes, burst, read_gap)
    return Timing(first=store.total + load.first, last=store.total + load.last, busy=load.busy)


def flat_attention(n_rows: int, n: int, head_dim: int, rows: int, lanes: int, depth: int) -> Timing:
    """FLAT attention of one head (hls/kernels/flat_attention/spec.py): ``n_rows`` query rows (l) over ``n``
    keys, in tiles of ``rows`` (R; the last tile has the l - (T-1)R rows left, T = ceil(l/R)).

    Per tile of r rows, one activation per cycle, no idle cycle: load the r x d query rows (r*d/P beats);
    stream K once (n*d/P beats, R*P MACs per beat, the key's R logits written to the on-chip buffer and the
    row maxima updated on its last beat: softmax pass 1 fused into the logit writes); exp pass (r*nb cycles,
    nb = ceil(n/P) words per row: P exps per cycle, the padding lanes of the last word masked); normalise
    pass (r*nb cycles); stream V^T once (d*nb beats, R*P MACs per beat) with one R-lane output beat (column
    i of the tile's R output rows) on the last beat of each V^T row.
    """
    if rows <= 0 or n_rows < 1:
        raise ValueError(f"flat_attention: {n_rows} query rows in tiles of {rows}")
    rb = _beats(head_dim, lanes, "flat_attention q/k row")
    nb = row_beats(n, lanes)
    tiles, r0 = -(-n_rows // rows), min(rows, n_rows)
    # every query row: its q beats and its exp and normalise passes; every tile: a K pass and a V^T pass
    busy = n_rows * (rb + 2 * nb) + tiles * (n * rb + head_dim * nb)
    return Timing(first=r0 * (rb + 2 * nb) + n * rb + nb - 1 + depth, last=busy - 1 + depth, busy=busy)
