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


def _dot_rows(rows: int, row: int, depth: int) -> Timing:
    """``rows`` dot products of ``row`` beats each, back to back, one output with the last beat of each."""
    return Timing(first=row - 1 + depth, last=rows * row - 1 + depth, busy=rows * row)


def gemv(n_out: int, n_in: int, lanes: int, depth: int) -> Timing:
    """y = W x with W and x streamed together, ``lanes`` products per beat, one output per row."""
    return _dot_rows(n_out, _beats(n_in, lanes, "gemv"), depth)


def rmsnorm(n: int, lanes: int, depth: int, gap: int = 0) -> Timing:
    """Two passes over x (sum of squares, then scale); ``gap`` idle cycles between them (rsqrt)."""
    b = _beats(n, lanes, "rmsnorm")
    return Timing(first=b + gap + depth, last=2 * b + gap - 1 + depth, busy=2 * b)


def rope(n_vec: int, head_dim: int, lanes: int, depth: int) -> Timing:
    """``lanes`` (x_i, x_{i+d/2}) pairs per beat, d/2/lanes beats per vector, output per beat."""
    b = n_vec * _beats(head_dim // 2, lanes, "rope")
    return Timing(first=depth, last=b - 1 + depth, busy=b)


def qk(n: int, head_dim: int, lanes: int, depth: int) -> Timing:
    """Logits K q over n keys (n at run time): a gemv with n rows of head_dim (each key row streamed with q
    re-streamed beside it); ``lanes`` must divide head_dim."""
    if n < 1:
        raise ValueError(f"qk: {n} keys")
    return gemv(n, head_dim, lanes, depth)


def softmax_max(n: int, lanes: int, depth: int) -> Timing:
    """ceil(n/lanes) beats of logits in (the last one part-filled when lanes do not divide n), one max out."""
    b = row_beats(n, lanes)
    return Timing(first=b - 1 + depth, last=b - 1 + depth, busy=b)


def softmax_exp(n: int, lanes: int, depth: int) -> Timing:
    """max (with the first beat) and ceil(n/lanes) logit beats in (the last one part-filled when lanes do not
    divide n); exps out per beat, the sum with the last."""
    b = row_beats(n, lanes)
    return Timing(first=depth, last=b - 1 + depth, busy=b)


def softmax_norm(n: int, lanes: int, depth: int) -> Timing:
    """sum (with the first beat) and ceil(n/lanes) exp beats in (the last one part-filled when lanes do not
    divide n); probabilities out per beat."""
    b = row_beats(n, lanes)
    return Timing(first=depth, last=b - 1 + depth, busy=b)


def av(n: int, head_dim: int, lanes: int, depth: int) -> Timing:
    """out = V^T p over n keys (n at run time): head_dim dot products of ceil(n/lanes) beats (V read
    column-wise, i.e. a V^T cache layout, with p re-streamed beside each column; when lanes do not divide n
    the last beat of each row is part-filled)."""
    return _dot_rows(head_dim, row_beats(n, lanes), depth)


#: The AXI4 rule: no burst crosses a 4 KB boundary of the byte address space.
AXI_BOUNDARY = 4096


def axi_bursts(start: int, words: int, word_bytes: int, burst: int, boundary: int = AXI_BOUNDARY) -> list[int]:
    """Lengths of the INCR bursts that move ``words`` bus words of ``word_bytes`` bytes from byte address
    ``start`` on: each at most ``burst`` beats and none crossing a ``boundary``-byte boundary (4 KB, AXI4)."""
    if words < 0 or start % word_bytes or boundary % word_bytes:
        raise ValueError(f"{words} words of {word_bytes} bytes at byte {start} (word-aligned addresses only)")
    out, addr = [], start
    while words:
        room = (boundary - addr % boundary) // word_bytes
        n = min(words, burst, room)
        out.append(n)
        words -= n
        addr += n * word_bytes
    return out


def _kv_check(n: int, cap: int, head_dim: int, lanes: int, word_elems: int) -> int:
    if not 1 <= n <= cap:
        raise ValueError(f"kv_cache: n = {n} keys outside 1..{cap} (the capacity)")
    if word_elems % lanes:
        raise ValueError(f"kv_cache: lanes {lanes} must divide the {word_elems} elements of a bus word")
    return _beats(head_dim, word_elems, "kv_cache row")


def _kv_reads(start: int, words: int, word_bytes: int, burst: int, read_gap: int, cycles_per_word: int = 1) -> int:
    """Cycles of a read of ``words`` bus words from byte ``start``, one burst at a time, each word taking
    ``cycles_per_word`` cycles (its stream beats)."""
    return words * cycles_per_word + len(axi_bursts(start, words, word_bytes, burst)) * read_gap


def kv_store_axi(head_dim: int, lanes: int, *, n: int, cap: int, word_elems: int, burst: int, read_gap: int,
                 write_gap: int, word_bytes: int, k_base: int = 0, v_base: int = 0) -> Timing:
    """The store phase of the kv_cache RTL (hls/kernels/kv_cache/kv_cache.v.j2) for token ``n - 1``.

    K and V are kept by rows of ``head_dim / word_elems`` bus words.  One AXI burst at a time: a write burst
    of L beats occupies L + ``write_gap`` cycles (AW handshake to B).  Accept k_new / v_new side by side
    (head_dim / lanes beats, one more cycle to see both done); write the K row (at byte ``k_base + (n - 1) *
    row bytes``), then, a cycle later, the V row (from ``v_base``), each in bursts split at ``burst`` beats and at 4 KB
    boundaries (:func:`axi_bursts`).  ``last`` is the store's final cycle (no output beat: ``first == last``).
    ``read_gap`` is not used (the store reads nothing).
    """
    del read_gap
    rw = _kv_check(n, cap, head_dim, lanes, word_elems)
    row = (n - 1) * rw * word_bytes
    writes = sum(rw + len(axi_bursts(base + row, rw, word_bytes, burst)) * write_gap for base in (k_base, v_base))
    total = head_dim // lanes + 1 + writes + 1  # + the cycle between the two rows
    return Timing(first=total - 1, last=total - 1, busy=2 * rw)


def kv_load_axi(n: int, head_dim: int, lanes: int, *, cap: int, word_elems: int, burst: int, read_gap: int,
                write_gap: int, word_bytes: int, k_base: int = 0, v_base: int = 0) -> Timing:
    """The load phase of the kv_cache RTL: read K rows 0..n-1 (n * head_dim / word_elems words from
    ``k_base``) and stream them, word_elems / lanes beats a word; meanwhile, on the other master, read V rows
    0..n-1 (from ``v_base``) into the on-chip V bank at a word a cycle; a cycle after both are done, stream V^T
    from the bank: head_dim rows of ceil(n / lanes) beats.  Each read in bursts of at most ``burst`` beats split
    at 4 KB boundaries, a burst taking its words + ``read_gap`` cycles; counted from the first AR, the first K
    beat arrives ``read_gap`` cycles later.
    ``write_gap`` is not used (the load writes nothing)."""
    del write_gap
    rw = _kv_check(n, cap, head_dim, lanes, word_elems)
    words = n * rw
    k = _kv_reads(k_base, words, word_bytes, burst, read_gap, word_elems // lanes)
    v = _kv_reads(v_base, words, word_bytes, burst, read_gap)
    vt = head_dim * row_beats(n, lanes)
    out = max(k, v) + 1 + vt
    return Timing(first=read_gap, last=out - 1, busy=n * head_dim // lanes + vt)


def kv_cache_axi(n: int, head_dim: int, lanes: int, *, cap: int, word_elems: int, burst: int, read_gap: int,
                 write_gap: int, word_bytes: int, k_base: int = 0, v_base: int = 0) -> Timing:
    """The kv_cache RTL storing token ``n - 1`` and loading rows 0..it: :func:`kv_store_axi`, then
    :func:`kv_load_axi` (capacity ``cap``, buffers at byte addresses ``k_base`` / ``v_base``).  Memory idle
    time is not busy time."""
    geometry = {"cap": cap, "word_elems": word_elems, "burst": burst, "read_gap": read_gap, "write_gap": write_gap,
                "word_bytes": word_bytes, "k_base": k_base, "v_base": v_base}
    store = kv_store_axi(head_dim, lanes, n=n, **geometry)
    load = kv_load_axi(n, head_dim, lanes, **geometry)
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
