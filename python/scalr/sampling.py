"""Synthetic target events from source events (SCALR Algorithm 1): streaming, vectorized.

Inputs, both sorted by the integer source item key (``source_key``; in dbt the ``item_key`` of
``int_items``, which numbers (domain, item_id) in text order):

* the sampling distribution, one row per translation pair in (source_key, target_rank) order:
  ``source_key``, ``target_code`` (int32 index into the distinct target item ids, ``target_dict``),
  ``p_norm``, ``p_hat``, ``n_users_ji`` (``DIST_COLUMNS``);
* the source events that have a translation, in (source_key, user_id, event_ts, label) order:
  ``source_key``, ``user_id``, ``event_ts``, ``label`` and, for user_weight_alpha,
  ``n_user_events`` (the user's count over all source events).

``sample_sorted`` merges the two ordered streams a chunk of source items at a time (about
``chunk_pairs`` translation pairs): it builds the chunk's CSR (one group per source item, rows in
target_rank order, i.e. by descending p_norm) and a Walker/Vose alias table per group over the
tempered, nucleus-truncated distribution actually sampled (``ChunkTables``), then samples the
events of those source items as they stream by. Memory is O(chunk + one event batch), never
O(translation). A draw for an event of group g (size s) from one uniform u is O(1): ``x = u * s``,
cell ``b = floor(x)``, position ``indptr[g] + b`` if ``x - b < prob[cell]``, else ``alias[cell]``.
A batch of events x K draws is a handful of numpy calls; there is no Python loop over events, and
none over groups (the alias tables are built with prefix sums and searchsorted, see
``alias_tables``). Since the events arrive grouped by source item, the per-event group is
constant over runs (computed per run, not per event) and the alias / record gathers hit one
group's contiguous cells at a time (cache-local).

Determinism: the uniforms come from one ``numpy.random.Generator(PCG64(seed))`` consumed ``K``
per event in the total event order (source_key, user_id, event_ts, label); events whose source
item has no translation are not part of the stream (dbt drops them in SQL, ``sample_synthetic``
in Arrow) and consume nothing. The output rows come in the same order, so the table is a function
of the inputs and the seed only, whatever the chunk size, the event batch size or the thread count.
The group tables depend only on the distribution's content.

Leave-self-out (``SamplingConfig.leave_self_out``): a user's own real target positives are in the
counts that generate the user's own draws (n_users_ji counts u when u holds j and i), so with most
pairs resting on one user the draws would copy the user's own target events. With leave_self_out
the draws for event (u, j) follow P_hat computed without u: weight ``w_i * (n_ji - o_ui) / n_ji``
renormalised over j's targets, where ``w_i`` is the configured per-j distribution (p_norm,
tempered / nucleus-truncated as configured; with translation_shrinkage p_norm is not ~ n_ji, and the
same factor is applied to it) and ``o_ui = 1`` iff u's event (u, j) is counted in n_users_j (u holds
j as a train-window positive of int_user_items: the event stream's ``self_key`` column is then u's
user_key, else -1, and o = 0 throughout) and u holds target item i there (``OwnPairs``). The pair
filters (min_support, max_targets_per_source) and count noise are not recomputed without u: only
the kept pairs' counts lose u's 1 (a noised count n_ji <= o gets no mass). Sampling is exact
rejection: the first draw is the ordinary one (same uniforms, same stream); a draw on an own pair is
accepted with probability (n_ji - 1) / n_ji, else redrawn from the same alias table, up to
``LOO_ROUNDS`` rounds; a cell still rejected then is drawn exactly from the explicitly renormalised
leftover (inverse CDF over j's targets), or dropped when all of j's mass is u's own (``LooStats``
counts them). Stopping the rejection at any round and finishing with the exact draw leaves the
output distribution exactly p_loo. The acceptance / redraw uniforms are a counter-based hash of
(seed, global synthetic row, round), so the output stays independent of chunk / batch sizes, and
every row whose first draw is not an own pair is the same as without leave_self_out. ``topk``:
the K highest ``w_i * (n_ji - o_ui) / n_ji`` (ties by target_rank), zero weights excluded.

Output: text columns (user_id, target_item, source_domain, source_item) dictionary-encoded
(``STREAM_SCHEMA``; the numeric columns plain): user_id indexes the event batch's own column, source_domain / source_item a
per-batch dictionary of the batch's source items, target_item ``target_dict`` (or a per-batch
compaction of it when it is larger than the batch), so no string is copied per synthetic row.
DuckDB stores them as VARCHAR; ``sample_synthetic`` decodes them to plain strings
(``OUTPUT_SCHEMA``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STRATEGIES = ("sample", "topk")
CONFIDENCE = ("uniform", "p", "sqrt_p")
TEXT_COLUMNS = ("user_id", "target_item", "source_domain", "source_item")
# dictionary-encoded in STREAM_SCHEMA: the text columns only (event_ts / weight / label are gathered
# plain: DuckDB reads a dictionary-encoded numeric column slower than numpy gathers it, 6.8 s
# against 2.0 s for the three at 1e7 source events, docs/performance.md)
DICT_COLUMNS = TEXT_COLUMNS
DIST_COLUMNS = ("source_key", "target_code", "p_norm", "p_hat", "n_users_ji")
SELF_KEY = "self_key"  # event column for leave_self_out: the user's key if u holds j, else -1
EVENT_ORDER = ("source_key", "user_id", "event_ts", "label")
CHUNK_PAIRS = 1_000_000  # translation pairs per chunk of source items (memory ~ 100 bytes each)
BLOCK_ROWS = 4096  # synthetic rows per inner block of the draw (L2-sized temporaries)
BATCH_EVENTS = 1_000_000  # source events per batch (in-memory path; dbt fetches batches this size)
LOO_ROUNDS = 4  # leave-self-out rejection rounds before the exact draw from the leftover
LOO_BLOCK = 1 << 22  # group cells per block of the leave-self-out exact / top-K passes

OUTPUT_SCHEMA = pa.schema([
    ("user_id", pa.string()),
    ("target_item", pa.string()),
    ("source_domain", pa.string()),
    ("source_item", pa.string()),
    ("event_ts", pa.timestamp("us")),
    ("p", pa.float64()),
    ("p_hat", pa.float64()),
    ("n_users_ji", pa.int64()),
    ("weight", pa.float64()),
    ("label", pa.int32()),
    ("draw", pa.int32()),
])
STREAM_SCHEMA = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type))
                           if f.name in DICT_COLUMNS else f for f in OUTPUT_SCHEMA])


@dataclass(frozen=True)
class SamplingConfig:
    k: int = 3
    strategy: str = "sample"
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 42
    confidence_weight: str = "uniform"
    min_confidence: float = 0.0
    user_weight_alpha: float = 0.0
    leave_self_out: bool = False  # draws for u from P_hat without u's own pairs (see leave-self-out)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"synthetic_strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.confidence_weight not in CONFIDENCE:
            raise ValueError(f"confidence_weight must be one of {CONFIDENCE}, got {self.confidence_weight!r}")
        if self.k < 1:
            raise ValueError(f"synthetic_k must be >= 1, got {self.k}")
        if not self.temperature >= 0:
            raise ValueError(f"synthetic_temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"synthetic_top_p must be in (0, 1], got {self.top_p}")
        if self.user_weight_alpha < 0:
            raise ValueError(f"user_weight_alpha must be >= 0, got {self.user_weight_alpha}")


@dataclass
class SourceItems:
    """Text ids per source key (``keys`` ascending): the output's source_domain / source_item."""
    keys: np.ndarray
    domain: pa.Array
    item: pa.Array


def plain_array(col: pa.Array | pa.ChunkedArray, type_: pa.DataType = pa.string()) -> pa.Array:
    """One contiguous array of ``type_`` (dictionary columns decoded)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    return col if col.type == type_ else col.cast(type_)


_plain = plain_array


def _np(col: pa.Array | pa.ChunkedArray, dtype) -> np.ndarray:
    a = col.to_numpy() if isinstance(col, pa.ChunkedArray) else col.to_numpy(zero_copy_only=False)
    return a if a.dtype == dtype else a.astype(dtype)


def _encode(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """(int64 codes, dictionary) of a text column."""
    enc = _plain(col).dictionary_encode()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary


# ------------------------------------------------------------------------------ group tables

def _group_ids(indptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))


def tempered(p: np.ndarray, indptr: np.ndarray, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
    """Per group (rows sorted by descending p): p^(1/tau) renormalised (tau = 0 -> top-1), then
    nucleus truncation to the smallest prefix with mass >= top_p, renormalised."""
    if len(p) == 0:
        return p.copy()
    gid = _group_ids(indptr)
    starts = indptr[:-1]
    if temperature == 0:
        q = np.zeros_like(p)
        q[starts] = 1.0
    elif temperature == 1.0:
        q = p / np.add.reduceat(p, starts)[gid]
    else:
        logp = np.log(np.maximum(p, np.finfo(float).tiny))
        z = np.exp((logp - np.maximum.reduceat(logp, starts)[gid]) / temperature)
        q = z / np.add.reduceat(z, starts)[gid]
    if top_p < 1.0:
        cum = _within_cumsum(q, indptr)
        keep = (cum - q) < top_p - 1e-12  # mass before this element is still short of top_p
        q = np.where(keep, q, 0.0)
        q = q / np.add.reduceat(q, starts)[gid]
    return q


_FIXED = 2.0 ** 60  # fixed-point scale of the within-group prefix sums (group totals <= 1)


def _within_cumsum(x: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Inclusive prefix sums of ``x >= 0`` within each group (group totals <= 1), in 2^-60 fixed
    point: integer sums are exact, so a group's prefix sums do not depend on the groups before it
    in the array (the tables, and the draws, are the same whatever the chunking). The running
    int64 sum may wrap around; the within-group differences stay exact."""
    v = np.rint(x * _FIXED).astype(np.int64)
    cs = np.cumsum(v)
    base = np.r_[np.zeros(1, np.int64), cs][indptr[:-1]]
    return (cs - np.repeat(base, np.diff(indptr))) / _FIXED


def alias_tables(q: np.ndarray, indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias tables of every group at once, vectorized (no loop over groups).

    Group of size s, cell weights ``w = s * q``: cells with ``w < 1`` are small (deficit 1 - w),
    the others large (excess w - 1). The classic sweep (smalls and larges each in CSR order; a large
    that falls below 1 becomes small with the next large as its alias) is closed-form in prefix
    sums: with ``D_i`` the cumulative deficit of the first i smalls (D_0 = 0) and ``E_j`` the
    cumulative excess of the first j larges of the group, small i takes as alias the large j with
    ``E_{j-1} <= D_{i-1} < E_j``; large j keeps ``prob = 1 - (D_{i*} - E_j)`` with i* the first
    i >= 0 with ``D_{i*} >= E_j``, and aliases to large j + 1 (the last large keeps prob 1). Cell c
    is then accepted with probability prob[c], otherwise it yields alias[c]; outcome k gets exactly
    ``(prob_k + sum of (1 - prob_c) over cells c aliased to k) / s = q_k``, up to the rounding of
    the prefix sums (kept in q units, divided by s, and summed exactly in 2^-60 fixed point per
    group, ``_within_cumsum``, so a group's table does not depend on the other groups of the
    array). Both assignments are derived from one searchsorted of the larges' keys
    ``(group, E_j)`` in the cells' keys ``(group, D)`` (compared exactly, as complex numbers), so
    they are consistent."""
    n = len(q)
    prob, alias = np.ones(n), np.arange(n, dtype=np.int64)
    if n == 0:
        return prob, alias
    sizes = np.diff(indptr)
    n_groups = len(sizes)
    gid = _group_ids(indptr)
    s_cell = sizes.astype(np.float64)[gid]
    inv_s = 1.0 / s_cell
    large = q >= inv_s
    n_large = np.bincount(gid[large], minlength=n_groups)
    large[indptr[:-1][n_large == 0]] = True  # rounding guard: every group has a large
    lg = np.flatnonzero(large)
    gl = gid[lg]
    n_large = np.bincount(gl, minlength=n_groups)
    first_lg = np.r_[0, np.cumsum(n_large)[:-1]]
    # D per cell: inclusive cumulative deficit of the group's smalls (flat over larges)
    starts = indptr[:-1]
    D = _within_cumsum(np.where(large, 0.0, inv_s - q), indptr)
    E = _within_cumsum(q[lg] - inv_s[lg], np.r_[first_lg, len(lg)])
    # (group, D) keys compared lexicographically: complex numbers sort by real, then imaginary part
    kD = gid + 1j * D
    kE = gl + 1j * E
    # i*: first cell of the group with D >= E_j (a small cell, as D only grows at smalls); where
    # E_j <= 0 the large is used up before any small (i* = "cell -1", D_0 = 0)
    before = E <= 0
    istar = np.searchsorted(kD, kE, side="left")
    istar[before] = starts[gl[before]] - 1
    found = istar < indptr[1:][gl]  # else no small reaches E_j (the last large, or rounding)
    istar[~found] = indptr[1:][gl[~found]] - 1
    nxt = np.r_[gl[1:] == gl[:-1], False]  # a next large exists in the same group
    dep = np.flatnonzero(found & nxt)
    used = np.where(before[dep], 0.0, D[istar[dep]])
    prob[lg[dep]] = np.clip(1.0 - (used - E[dep]) * s_cell[lg[dep]], 0.0, 1.0)
    alias[lg[dep]] = lg[dep + 1]
    # small at cell x: alias = the large j (global order) with #(larges whose i* < x) == j, i.e.
    # the first large not used up before x; clamped to the group's last large (rounding)
    used_before = np.cumsum(np.bincount(istar + 1, minlength=n + 1)[:n])
    j = np.minimum(used_before, (first_lg + n_large - 1)[gid])
    prob = np.where(large, prob, q * s_cell)
    alias = np.where(large, alias, lg[j])
    return prob, alias


# Per CSR cell, everything a draw that lands on it can output, in 64 bytes (one cache line, so a
# draw costs one cache miss however large its group): two 32-byte halves, the cell's own (alias
# acceptance threshold, p, p_hat, n_users_ji, target code) and its alias's (same fields, no
# threshold). A draw reads the threshold of cell c (float64 element 8c), then copies half 2c
# (accepted) or 2c + 1 (rejected): both from the same line.
_HALF = np.dtype([("prob", "<f8"), ("p", "<f8"), ("p_hat", "<f8"), ("n_users_ji", "<i4"),
                  ("target_code", "<i4")])
_HALF_RAW = np.dtype((np.void, _HALF.itemsize))
_N_USERS_MAX = np.iinfo(np.int32).max


def _aligned_cells(n: int) -> np.ndarray:
    """2n _HALF records (n cells) starting on a 64-byte boundary (one cell per cache line)."""
    buf = np.empty(n * 64 + 64, np.uint8)
    off = (-buf.ctypes.data) % 64
    return buf[off:off + n * 64].view(_HALF)


@dataclass
class ChunkTables:
    """One chunk of source items as CSR (rows in target_rank order): ``keys`` the source keys
    (ascending), ``indptr`` the group bounds, per row p (p_norm), p_hat, n_users_ji, target_code;
    ``q`` the sampled (tempered, nucleus-truncated) distribution, ``prob`` / ``alias`` its alias
    tables (``alias`` a row position in the chunk); ``cells`` the packed draw records (_HALF pairs)."""
    keys: np.ndarray
    indptr: np.ndarray
    p: np.ndarray
    p_hat: np.ndarray
    n_users_ji: np.ndarray
    target_code: np.ndarray
    q: np.ndarray
    prob: np.ndarray
    alias: np.ndarray
    cells: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)

    @classmethod
    def build(cls, source_key: np.ndarray, target_code: np.ndarray, p: np.ndarray, p_hat: np.ndarray,
              n_users_ji: np.ndarray, temperature: float = 1.0, top_p: float = 1.0,
              strategy: str = "sample") -> "ChunkTables":
        """Rows sorted by (source_key, target_rank); every source key's rows all in this chunk."""
        n = len(source_key)
        brk = np.flatnonzero(source_key[1:] != source_key[:-1]) + 1
        starts = np.r_[np.zeros(min(n, 1), np.int64), brk]
        keys = source_key[starts]
        if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():
            raise ValueError("sampling distribution is not sorted by source_key")
        indptr = np.r_[starts, n].astype(np.int64)
        if strategy != "sample":  # topk draws positions directly
            return cls(keys, indptr, p, p_hat, n_users_ji, target_code, p, np.ones(n), np.arange(n),
                       np.empty(0, _HALF))
        q = tempered(p, indptr, temperature, top_p)
        prob, alias = alias_tables(q, indptr)
        if n and n_users_ji.max() > _N_USERS_MAX:
            raise ValueError("n_users_ji above 2^31 - 1")
        # n_users_ji and target_code share one 8-byte word per half
        nt = n_users_ji.astype(np.int64) | (target_code.astype(np.int64) << 32)
        cells = _aligned_cells(n)
        f8 = cells.view(np.float64).reshape(n, 8)
        i8 = f8.view(np.int64)
        for a in range(0, n, BLOCK_ROWS):  # a block at a time: each line written while in cache
            e = min(a + BLOCK_ROWS, n)
            al = alias[a:e]
            f8[a:e, 0], f8[a:e, 1], f8[a:e, 2], i8[a:e, 3] = prob[a:e], p[a:e], p_hat[a:e], nt[a:e]
            f8[a:e, 4], f8[a:e, 5], f8[a:e, 6], i8[a:e, 7] = 0.0, p[al], p_hat[al], nt[al]
        return cls(keys, indptr, p, p_hat, n_users_ji, target_code, q, prob, alias, cells)


def _chunks(distribution: Iterable[pa.RecordBatch], chunk_pairs: int, cfg: SamplingConfig
            ) -> Iterator[ChunkTables]:
    """Complete groups of the (source_key, target_rank)-ordered stream, about ``chunk_pairs`` rows
    per chunk (a source item is never split; one larger than chunk_pairs makes a chunk alone)."""
    pend: list[list[np.ndarray]] = []
    n_pend = 0
    last = None

    def build(cols: list[np.ndarray]) -> ChunkTables:
        nonlocal last
        t = ChunkTables.build(*cols, temperature=cfg.temperature, top_p=cfg.top_p, strategy=cfg.strategy)
        if last is not None and len(t.keys) and t.keys[0] <= last:
            raise ValueError("sampling distribution is not sorted by source_key")
        if len(t.keys):
            last = t.keys[-1]
        return t

    types = (np.int64, np.int32, np.float64, np.float64, np.int64)
    for batch in distribution:
        if not batch.num_rows:
            continue
        pend.append([_np(batch[c], t) for c, t in zip(DIST_COLUMNS, types)])
        n_pend += batch.num_rows
        if n_pend < chunk_pairs:
            continue
        cols = [np.concatenate([b[i] for b in pend]) if len(pend) > 1 else pend[0][i] for i in range(5)]
        key = cols[0]
        cut = int(np.searchsorted(key, key[-1], side="left"))  # the last group may go on
        if key[cut] != key[-1] or (cut and key[cut - 1] > key[cut]):
            raise ValueError("sampling distribution is not sorted by source_key")
        if cut == 0:
            pend, n_pend = [cols], len(key)
            continue
        yield build([c[:cut] for c in cols])
        pend, n_pend = [[c[cut:] for c in cols]], len(key) - cut
    if n_pend:
        cols = [np.concatenate([b[i] for b in pend]) for i in range(5)]
        yield build(cols)


# -------------------------------------------------------------------------- leave-self-out

@dataclass
class OwnPairs:
    """The (user_key, target_code) pairs of the overlap users' target train positives, as sorted
    unique int64 keys ``user_key << 32 | target_code`` (membership by searchsorted)."""
    keys: np.ndarray

    @classmethod
    def from_codes(cls, user_key: np.ndarray, target_code: np.ndarray) -> "OwnPairs":
        u, t = np.asarray(user_key, np.int64), np.asarray(target_code, np.int64)
        if len(u) and (u.min() < 0 or u.max() >= 1 << 31 or t.min() < 0 or t.max() >= 1 << 32):
            raise ValueError("OwnPairs: user_key / target_code out of range")
        return cls(np.unique((u << 32) | t))

    def contains(self, user_key: np.ndarray, target_code: np.ndarray) -> np.ndarray:
        """Per element: (user_key, target_code) is an own pair (False where user_key < 0)."""
        user_key = np.asarray(user_key, np.int64)
        out = np.zeros(len(user_key), bool)
        m = user_key >= 0
        if not m.any() or not len(self.keys):
            return out
        q = (user_key[m] << 32) | np.asarray(target_code, np.int64)[m]
        pos = np.searchsorted(self.keys, q)
        hit = pos < len(self.keys)
        hit[hit] = self.keys[pos[hit]] == q[hit]
        out[m] = hit
        return out


@dataclass
class LooStats:
    """Leave-self-out counters over a stream: synthetic cells whose first draw was an own pair,
    redraws, cells finished by the exact leftover draw, cells dropped (all of j's mass u's own)."""
    own_first: int = 0
    redrawn: int = 0
    exact: int = 0
    dropped: int = 0


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash_uniform(seed: int, row: np.ndarray, stream: int) -> np.ndarray:
    """Uniforms on [0, 1) (53 bits), a function of (seed, row, stream) only (stream < 64)."""
    base = _mix64(np.array([seed % (1 << 64)], np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    z = _mix64(_mix64(np.asarray(row).astype(np.uint64) * np.uint64(64) + np.uint64(stream)) ^ base)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _loo_factor(n_users: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(n_ji - o_ui) / n_ji (0 where the count is all u's own; 1 where o = 0)."""
    n = n_users.astype(np.float64)
    return np.where(own, np.maximum(n - 1.0, 0.0) / np.maximum(n, 1.0), 1.0)


def _expand(lo: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, position, indptr): for each i, positions lo[i] .. lo[i] + width[i] - 1."""
    indptr = np.r_[0, np.cumsum(width)].astype(np.int64)
    owner = _group_ids(indptr)
    pos = lo.astype(np.int64)[owner] + (np.arange(indptr[-1], dtype=np.int64) - indptr[:-1][owner])
    return owner, pos, indptr


def _blocks(width: np.ndarray) -> Iterator[tuple[int, int]]:
    """Ranges [a, b) of items whose widths sum to about LOO_BLOCK (at least one item)."""
    cum = np.cumsum(width)
    a = 0
    while a < len(width):
        base = cum[a - 1] if a else 0
        b = max(int(np.searchsorted(cum, base + LOO_BLOCK, side="right")), a + 1)
        yield a, b
        a = b


def _loo_exact(tables: ChunkTables, own: OwnPairs, user: np.ndarray, lo: np.ndarray, size: np.ndarray,
               u: np.ndarray) -> np.ndarray:
    """Exact draws from the leftover ``q * (n - o) / n`` of each cell's group (inverse CDF with the
    uniform ``u``): chunk row positions, -1 where the leftover is empty (dropped)."""
    out = np.full(len(user), -1, np.int64)
    for a, b in _blocks(size):
        owner, pos, indptr = _expand(lo[a:b], size[a:b])
        w = tables.q[pos] * _loo_factor(tables.n_users_ji[pos], own.contains(user[a:b][owner],
                                                                              tables.target_code[pos]))
        cum = _within_cumsum(w, indptr)  # group totals <= 1 (w <= q)
        tot = cum[indptr[1:] - 1]
        ok = tot > 0
        # first position of the cell with cum > u * tot: keys (cell, cum) compared exactly as complex
        pick = np.searchsorted(owner + 1j * cum, np.arange(b - a) + 1j * np.minimum(u[a:b] * tot, np.nextafter(tot, 0)), side="right")
        pick = np.minimum(pick, indptr[1:] - 1)
        out[a:b] = np.where(ok, pos[np.minimum(pick, len(pos) - 1)] if len(pos) else -1, -1)
    return out


def _loo_sample(tables: ChunkTables, own: OwnPairs, user: np.ndarray, grow: np.ndarray, lo: np.ndarray,
                size: np.ndarray, seed: int, p: np.ndarray, p_hat: np.ndarray, n_users: np.ndarray,
                target: np.ndarray, stats: LooStats | None) -> np.ndarray | None:
    """Leave-self-out rejection on drawn rows (arrays updated in place): per row the user's
    ``self_key`` (``user``), global row number ``grow``, group start ``lo`` and size. Returns the
    kept-row mask, or None when no row is dropped."""
    active = np.flatnonzero(own.contains(user, target))
    if stats is not None:
        stats.own_first += len(active)
    for t in range(LOO_ROUNDS):
        if not len(active):
            return None
        n = n_users[active].astype(np.float64)
        accept = hash_uniform(seed, grow[active], 2 * t) * n < n - 1.0  # u < (n - 1) / n
        active = active[~accept]
        if not len(active):
            return None
        if stats is not None:
            stats.redrawn += len(active)
        x = hash_uniform(seed, grow[active], 2 * t + 1) * size[active]
        c = np.minimum(x.astype(np.int64), size[active] - 1)
        cell = lo[active] + c
        pick = np.where(x - c < tables.prob[cell], cell, tables.alias[cell])
        p[active], p_hat[active] = tables.p[pick], tables.p_hat[pick]
        n_users[active], target[active] = tables.n_users_ji[pick], tables.target_code[pick]
        active = active[own.contains(user[active], target[active])]
    if not len(active):
        return None
    pick = _loo_exact(tables, own, user[active], lo[active], size[active],
                      hash_uniform(seed, grow[active], 2 * LOO_ROUNDS))
    ok = pick >= 0
    if stats is not None:
        stats.exact += len(active)
        stats.dropped += int((~ok).sum())
    hit, pk = active[ok], pick[ok]
    p[hit], p_hat[hit] = tables.p[pk], tables.p_hat[pk]
    n_users[hit], target[hit] = tables.n_users_ji[pk], tables.target_code[pk]
    if ok.all():
        return None
    keep = np.ones(len(p), bool)
    keep[active[~ok]] = False
    return keep


_TOPK_GRID = 2.0 ** 40


def _loo_topk(tables: ChunkTables, own: OwnPairs, user: np.ndarray, lo: np.ndarray, size: np.ndarray,
              k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event the K highest ``p * (n - o) / n`` of its group (ties by target_rank, weights
    compared at 2^-40 resolution, zeros left out): (event index, rank, chunk row position), event-major. Only a prefix of the group is
    scored: once the first W rows hold K pairs with o = 0, no later row can enter the top K (its
    weight is at most its p, which is at most theirs, and it ranks after them); W doubles until
    then."""
    width = np.minimum(size, k)
    todo = np.flatnonzero((user >= 0) & (width < size))
    while len(todo):
        owner, pos, _ = _expand(lo[todo], width[todo])
        free = np.bincount(owner, ~own.contains(user[todo][owner], tables.target_code[pos]),
                           minlength=len(todo))
        todo = todo[free < k]
        width[todo] = np.minimum(size[todo], 2 * width[todo])
        todo = todo[width[todo] < size[todo]]
    ev_out, rank_out, pos_out = [], [], []
    ev_all = np.arange(len(user), dtype=np.int64)
    for a, b in _blocks(width):
        owner, pos, indptr = _expand(lo[a:b], width[a:b])
        w = tables.p[pos] * _loo_factor(tables.n_users_ji[pos], own.contains(user[a:b][owner],
                                                                             tables.target_code[pos]))
        # per event: weight desc, then target_rank; weights compared on a 2^-40 grid, so that
        # ties in exact arithmetic (p (n - 1) / n = p' for n' = n - 1) stay ties after rounding
        w = np.rint(w * _TOPK_GRID) / _TOPK_GRID
        order = np.lexsort((pos, -w, owner))
        owner, pos, w = owner[order], pos[order], w[order]
        rank = np.arange(len(pos), dtype=np.int64) - indptr[:-1][owner]
        sel = (rank < k) & (w > 0)
        ev_out.append(ev_all[a:b][owner[sel]])
        rank_out.append(rank[sel])
        pos_out.append(pos[sel])
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
    return cat(ev_out), cat(rank_out), cat(pos_out)


# ---------------------------------------------------------------------------------- sampling

def confidence(p: np.ndarray, kind: str) -> np.ndarray:
    if kind == "uniform":
        return np.ones_like(p)
    if kind == "p":
        return p.copy()
    return np.sqrt(p)


def _dict_column(indices: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    # indices are in range by construction: skip from_arrays' validation pass
    return pa.DictionaryArray.from_arrays(pa.array(np.ascontiguousarray(indices, np.int32)), dictionary,
                                          safe=False)


def _compact(codes: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    """Dictionary column of ``codes``; a dictionary larger than the batch is cut to the codes used
    (DuckDB converts a batch's whole dictionary)."""
    if len(dictionary) <= max(len(codes) // 4, 1024):
        return _dict_column(codes, dictionary)
    used = np.zeros(len(dictionary), bool)
    used[codes] = True
    keep = np.flatnonzero(used)
    lut = np.zeros(len(dictionary), np.int32)
    lut[keep] = np.arange(len(keep), dtype=np.int32)
    return _dict_column(lut[codes], dictionary.take(pa.array(keep)))


def _event_rows(a: np.ndarray, k: int, ev: np.ndarray | None) -> np.ndarray:
    """Per-event values -> per synthetic row (event-major, K rows per event, or rows ``ev``)."""
    return np.repeat(a, k) if ev is None else a[ev]


def sample_events(tables: ChunkTables, events: pa.RecordBatch | pa.Table, cfg: SamplingConfig,
                  rng: np.random.Generator | None, sources: SourceItems, target_dict: pa.Array,
                  own: OwnPairs | None = None, event0: int = 0, stats: LooStats | None = None
                  ) -> pa.RecordBatch:
    """Synthetic rows (``STREAM_SCHEMA``) for a batch of events sorted by source_key whose source
    items are all in ``tables`` or have no translation (those are dropped and draw nothing).
    With ``cfg.leave_self_out``: ``own`` the own pairs, the events' ``self_key`` column, ``event0``
    the number of (translated) events of the stream before this batch (numbers the rows for the
    leave-self-out uniforms) and ``stats`` the counters to add to."""
    k = cfg.k
    key = _np(events["source_key"], np.int64)
    n = len(key)
    brk = np.flatnonzero(key[1:] != key[:-1]) + 1
    run_start = np.r_[np.zeros(min(n, 1), np.int64), brk]
    run_key = key[run_start]
    run_len = np.diff(np.r_[run_start, n])
    g = np.searchsorted(tables.keys, run_key)
    ok = g < len(tables.keys)
    ok[ok] = tables.keys[g[ok]] == run_key[ok]
    if not ok.all():  # source items without translation: no draws, no uniforms
        events = events.filter(pa.array(np.repeat(ok, run_len)))
        g, run_key, run_len = g[ok], run_key[ok], run_len[ok]
        n = int(run_len.sum())
    lo = tables.indptr[g]
    size = tables.indptr[g + 1] - lo
    loo = cfg.leave_self_out
    if loo:
        if own is None or SELF_KEY not in events.schema.names:
            raise ValueError(f"leave_self_out needs the own pairs and the events' {SELF_KEY} column")
        self_key = _np(events[SELF_KEY], np.int64)
    ev_run = np.repeat(np.arange(len(run_len), dtype=np.int32), run_len)
    ev = None  # synthetic row -> event index; None: every event has its K rows
    if cfg.strategy == "sample":
        # K uniforms per event, in event order. Blocks of BLOCK_ROWS rows keep one block's
        # temporaries in L2 between the passes (the threshold read and the record copy hit the
        # same line); every operand is a contiguous row-long array (numpy is slow on (n, K)
        # arrays broadcast against (n, 1) ones).
        r = n * k
        rows_per_run = run_len * k
        s_row = np.repeat(size.astype(np.float64), rows_per_run)
        lo_row = np.repeat(lo, rows_per_run)
        p, p_hat = np.empty(r), np.empty(r)
        n_users, target = np.empty(r, np.int64), np.empty(r, np.int32)
        f8, half = tables.cells.view(np.float64), tables.cells.view(_HALF_RAW)
        for a in range(0, r, BLOCK_ROWS):
            e = min(a + BLOCK_ROWS, r)
            x = rng.random(e - a)
            x *= s_row[a:e]
            c = x.astype(np.int64)
            x -= c  # fractional part: uniform on [0, 1), independent of the cell
            c += lo_row[a:e]
            prob = np.take(f8, c << 3)  # threshold of cell c: float64 number 8c
            c <<= 1
            c += x >= prob  # half 2c (accepted) or 2c + 1 (its alias)
            rec = np.take(half, c).view(_HALF)
            p[a:e], p_hat[a:e], n_users[a:e], target[a:e] = \
                rec["p"], rec["p_hat"], rec["n_users_ji"], rec["target_code"]
        keep = None
        if loo:
            keep = _loo_sample(tables, own, np.repeat(self_key, k), np.arange(event0 * k, (event0 + n) * k),
                               lo_row, np.repeat(size, rows_per_run), cfg.seed, p, p_hat, n_users, target, stats)
        if cfg.min_confidence > 0:
            keep = p_hat >= cfg.min_confidence if keep is None else keep & (p_hat >= cfg.min_confidence)
        if keep is not None:
            sel = np.flatnonzero(keep)
            p, p_hat, n_users, target = p[sel], p_hat[sel], n_users[sel], target[sel]
            ev, draw = (sel // k).astype(np.int32), (sel % k).astype(np.int32)
        else:
            draw = np.tile(np.arange(k, dtype=np.int32), n)
    elif loo:
        ev_l, rank, pos = _loo_topk(tables, own, self_key, np.repeat(lo, run_len), np.repeat(size, run_len), k)
        if cfg.min_confidence > 0:
            sel = np.flatnonzero(tables.p_hat[pos] >= cfg.min_confidence)
            ev_l, rank, pos = ev_l[sel], rank[sel], pos[sel]
        ev, draw = ev_l.astype(np.int32), rank.astype(np.int32)
        p, p_hat = np.take(tables.p, pos), np.take(tables.p_hat, pos)
        n_users, target = np.take(tables.n_users_ji, pos), np.take(tables.target_code, pos)
    else:
        kk = np.arange(k)
        pos = np.repeat(lo, run_len)[:, None] + kk
        valid = kk < np.repeat(size, run_len)[:, None]
        if cfg.min_confidence > 0:
            valid &= tables.p_hat[np.minimum(pos, len(tables.p_hat) - 1)] >= cfg.min_confidence
        if not valid.all():
            sel = np.flatnonzero(valid.ravel())
            pos, ev, draw = pos.ravel()[sel], (sel // k).astype(np.int32), (sel % k).astype(np.int32)
        else:
            pos, draw = pos.ravel(), np.tile(np.arange(k, dtype=np.int32), n)
        p, p_hat = np.take(tables.p, pos), np.take(tables.p_hat, pos)
        n_users, target = np.take(tables.n_users_ji, pos), np.take(tables.target_code, pos)
    # user_id is dictionary-encoded with the row's event index as the index (no per-row string copy);
    # event_ts, label and the user weight are gathered by that index
    ev_idx = np.repeat(np.arange(n, dtype=np.int32), k) if ev is None else ev
    if cfg.user_weight_alpha > 0:
        if "n_user_events" not in events.schema.names:
            raise ValueError("user_weight_alpha > 0 needs the events' n_user_events column")
        w_u = _np(events["n_user_events"], np.float64) ** (-cfg.user_weight_alpha)
    else:
        w_u = np.ones(n)
    if cfg.confidence_weight == "uniform":
        weight = pa.array(w_u[ev_idx])
    else:
        w = confidence(p, cfg.confidence_weight)
        if cfg.user_weight_alpha > 0:
            w *= w_u[ev_idx]
        weight = pa.array(w)
    take_src = pa.array(np.searchsorted(sources.keys, run_key))
    label = _plain(events["label"], pa.int32()) if "label" in events.schema.names \
        else pa.array(np.ones(n, np.int32))
    run_rows = _event_rows(ev_run, k, ev)
    take_ev = pa.array(ev_idx)
    return pa.RecordBatch.from_arrays([
        _dict_column(ev_idx, _plain(events["user_id"])),
        _compact(target, target_dict),
        _dict_column(run_rows, sources.domain.take(take_src)),
        _dict_column(run_rows, sources.item.take(take_src)),
        _plain(events["event_ts"], pa.timestamp("us")).take(take_ev),
        pa.array(p),
        pa.array(p_hat),
        pa.array(n_users),
        weight,
        label.take(take_ev),
        pa.array(draw),
    ], schema=STREAM_SCHEMA)


def _n_translated(tables: ChunkTables, events: pa.RecordBatch) -> int:
    """Events of the batch whose source item has a translation in ``tables``."""
    key = _np(events["source_key"], np.int64)
    g = np.minimum(np.searchsorted(tables.keys, key), len(tables.keys) - 1)
    return int((tables.keys[g] == key).sum())


def sample_sorted(distribution: Iterable[pa.RecordBatch], events: Iterable[pa.RecordBatch],
                  cfg: SamplingConfig, target_dict: pa.Array, sources: SourceItems,
                  chunk_pairs: int = CHUNK_PAIRS, own: OwnPairs | None = None,
                  stats: LooStats | None = None) -> Iterator[pa.RecordBatch]:
    """Stream synthetic rows (``STREAM_SCHEMA``) from the two source_key-ordered streams (see the
    module doc): one chunk of source items' tables and one event batch in memory at a time. With
    ``cfg.leave_self_out`` the events carry ``self_key`` and ``own`` holds the own pairs (target
    codes as ``target_dict`` numbers them); ``stats`` collects the leave-self-out counters."""
    yield from sample_chunks(_chunks(distribution, chunk_pairs, cfg), events, cfg, target_dict, sources,
                             own, stats)


def sample_chunks(chunks: Iterable[ChunkTables], events: Iterable[pa.RecordBatch], cfg: SamplingConfig,
                  target_dict: pa.Array, sources: SourceItems, own: OwnPairs | None = None,
                  stats: LooStats | None = None) -> Iterator[pa.RecordBatch]:
    """``sample_sorted`` from its chunk tables (built or prebuilt, ascending source keys)."""
    rng = np.random.Generator(np.random.PCG64(cfg.seed)) if cfg.strategy == "sample" else None
    if cfg.leave_self_out and own is None:
        raise ValueError("leave_self_out needs the own (user, target item) pairs")
    event0 = 0  # translated events before the current batch (numbers the leave-self-out rows)
    target_dict = _plain(target_dict)
    ev_iter = iter(events)
    carry, last = None, None
    for tables in chunks:
        hi = tables.keys[-1]
        while True:
            if carry is None:
                carry = next(ev_iter, None)
                if carry is None:
                    break
                if not carry.num_rows:
                    carry = None
                    continue
                key = _np(carry["source_key"], np.int64)
                if (last is not None and key[0] < last) or not (key[1:] >= key[:-1]).all():
                    raise ValueError("source events are not sorted by source_key")
                last = key[-1]
            key = _np(carry["source_key"], np.int64)
            cut = int(np.searchsorted(key, hi, side="right"))
            if cut:
                part = carry.slice(0, cut)
                out = sample_events(tables, part, cfg, rng, sources, target_dict, own, event0, stats)
                if cfg.leave_self_out:
                    event0 += _n_translated(tables, part)
                if out.num_rows:
                    yield out
            if cut < carry.num_rows:
                carry = carry.slice(cut)
                break
            carry = None
    # events after the last chunk's source items have no translation: nothing to draw


# ------------------------------------------------------------------- in-memory (text ids) path

def _source_text(domain, item) -> pa.Array:
    return pc.binary_join_element_wise(_plain(domain), _plain(item), "\x1f")


def encode_translation(translation: pa.Table) -> tuple[pa.Table, SourceItems, pa.Array, pa.Array]:
    """A text-keyed translation as the sampler's input: the distribution in (source_key,
    target_rank) order (source_key = rank of (source_domain, source_item) in text order, as
    int_items numbers them), the source items, the target dictionary and the sorted key texts."""
    dom, item = _plain(translation["source_domain"]), _plain(translation["source_item"])
    text = _source_text(dom, item)
    uniq = pc.unique(text)
    uniq = uniq.take(pc.sort_indices(uniq))
    key = pc.index_in(text, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
    tcode, tdict = _encode(translation["target_item"])
    rank = _np(translation["target_rank"], np.int64)
    order = np.lexsort((rank, key))
    first = order[np.r_[np.zeros(min(len(order), 1), np.int64), np.flatnonzero(np.diff(key[order])) + 1]]
    dist = pa.table({
        "source_key": key[order],
        "target_code": tcode[order].astype(np.int32),
        "p_norm": _np(translation["p_norm"], np.float64)[order],
        "p_hat": _np(translation["p_hat"], np.float64)[order],
        "n_users_ji": _np(translation["n_users_ji"], np.int64)[order],
    })
    sources = SourceItems(np.arange(len(uniq), dtype=np.int64), dom.take(pa.array(first)),
                          item.take(pa.array(first)))
    return dist, sources, tdict, uniq


@dataclass
class UserItems:
    """int_user_items with text ids (user_id, domain, domain_role, item_id) encoded for
    leave-self-out: user codes (position in the sorted ``users``), the overlap users' own target
    pairs (target codes of ``target_dict``) and the held source pairs' texts (sorted)."""
    users: pa.Array
    own: OwnPairs
    held: pa.Array

    @classmethod
    def encode(cls, user_items: pa.Table, target_dict: pa.Array) -> "UserItems":
        uid = _plain(user_items["user_id"])
        users = pc.unique(uid)
        users = users.take(pc.sort_indices(users))
        code = pc.index_in(uid, value_set=users).to_numpy(zero_copy_only=False).astype(np.int64)
        role = _plain(user_items["domain_role"])
        is_src = pc.equal(role, "source").to_numpy(zero_copy_only=False)
        is_tgt = pc.equal(role, "target").to_numpy(zero_copy_only=False)
        overlap = np.zeros(len(users), bool)
        overlap[np.intersect1d(code[is_src], code[is_tgt])] = True
        tcode = pc.fill_null(pc.index_in(_plain(user_items["item_id"]), value_set=_plain(target_dict)), -1)
        tcode = tcode.to_numpy(zero_copy_only=False).astype(np.int64)
        m = is_tgt & overlap[code] & (tcode >= 0)
        held = pc.unique(_held_text(uid.filter(pa.array(is_src)), _plain(user_items["domain"]).filter(pa.array(is_src)),
                                    _plain(user_items["item_id"]).filter(pa.array(is_src))))
        return cls(users, OwnPairs.from_codes(code[m], tcode[m]), held)

    def self_key(self, user_id, domain, item) -> np.ndarray:
        """Per source event: the user's code if u holds (domain, item) as a source positive, else -1."""
        held = pc.is_in(_held_text(_plain(user_id), _plain(domain), _plain(item)), value_set=self.held)
        code = pc.fill_null(pc.index_in(_plain(user_id), value_set=self.users), -1)
        return np.where(held.to_numpy(zero_copy_only=False), code.to_numpy(zero_copy_only=False), -1).astype(np.int64)


def _held_text(user, domain, item) -> pa.Array:
    return pc.binary_join_element_wise(user, domain, item, "\x1f")


def encode_events(events: pa.Table, key_text: pa.Array, user_items: UserItems | None = None) -> pa.Table:
    """Source events with text ids -> the sampler's event stream: source_key attached (position in
    ``key_text``), events without translation dropped, n_user_events (over all the events) added
    when missing, sorted by (source_key, user_id, event_ts, label); with ``user_items`` the
    leave-self-out ``self_key`` column too."""
    names = events.schema.names
    n = events.num_rows
    if "n_user_events" not in names:
        codes, _ = _encode(events["user_id"])
        n_u = np.bincount(codes).astype(np.int64)[codes] if n else np.zeros(0, np.int64)
    else:
        n_u = _np(events["n_user_events"], np.int64)
    key = pc.fill_null(pc.index_in(_source_text(events["source_domain"], events["source_item"]),
                                   value_set=key_text), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    t = pa.table({
        "source_key": key,
        "user_id": _plain(events["user_id"]),
        "event_ts": _plain(events["event_ts"], pa.timestamp("us")),
        "label": _plain(events["label"], pa.int32()) if "label" in names else pa.array(np.ones(n, np.int32)),
        "n_user_events": n_u,
    })
    if user_items is not None:
        t = t.append_column(SELF_KEY, pa.array(user_items.self_key(
            events["user_id"], events["source_domain"], events["source_item"])))
    t = t.filter(pa.array(key >= 0))
    return t.sort_by([(c, "ascending") for c in EVENT_ORDER])


def sample_stream(events: pa.Table, translation: pa.Table, cfg: SamplingConfig,
                  chunk_pairs: int = CHUNK_PAIRS, batch_events: int = BATCH_EVENTS,
                  user_items: pa.Table | None = None, stats: LooStats | None = None) -> Iterator[pa.RecordBatch]:
    """In-memory tables with text ids (columns of int_source_events and translation): encoded
    (``encode_translation`` / ``encode_events``) and streamed through ``sample_synthetic``'s
    core, ``sample_sorted`` (``STREAM_SCHEMA`` batches). ``cfg.leave_self_out`` needs
    ``user_items`` (int_user_items' user_id, domain, domain_role, item_id)."""
    dist, sources, tdict, key_text = encode_translation(translation)
    ui = None
    if cfg.leave_self_out:
        if user_items is None:
            raise ValueError("leave_self_out needs user_items (int_user_items)")
        ui = UserItems.encode(user_items, tdict)
    ev = encode_events(events, key_text, ui)
    yield from sample_sorted(dist.to_batches(max_chunksize=max(chunk_pairs // 4, 1)),
                             ev.to_batches(max_chunksize=batch_events), cfg, tdict, sources, chunk_pairs,
                             ui.own if ui else None, stats)


def sample_synthetic(source_events: pa.Table, translation: pa.Table,
                     cfg: SamplingConfig = SamplingConfig(), chunk_pairs: int = CHUNK_PAIRS,
                     batch_events: int = BATCH_EVENTS, user_items: pa.Table | None = None,
                     stats: LooStats | None = None) -> pa.Table:
    """All synthetic events (text columns decoded, ``OUTPUT_SCHEMA``) for source events and a
    translation with text ids; rows in (source item, user_id, event_ts, label, draw) order."""
    batches = list(sample_stream(source_events, translation, cfg, chunk_pairs, batch_events, user_items, stats))
    return pa.Table.from_batches(batches, schema=STREAM_SCHEMA).cast(OUTPUT_SCHEMA)


# -------------------------------------------------------------------------------- dbt inputs

def distribution_sql(translation_sql: str) -> str:
    """The sampler's distribution stream from int_translation (integer item keys):
    (source_key, target_key, p_norm, p_hat, n_users_ji) in (source_key, target_rank) order.
    item_key numbers (domain, item_id) in text order, so this is also (source_domain,
    source_item) order."""
    return f"""
        select source_key, target_key, p_norm, p_hat, n_users_ji
        from ({translation_sql})
        order by source_key, target_rank"""


def sources_sql(translation_sql: str, items_sql: str) -> str:
    """Source items with a translation: (source_key, source_domain, source_item) by source_key."""
    return f"""
        with items as (select * from ({items_sql})),
        tr as (select * from ({translation_sql}))
        select tr.source_key, s.domain as source_domain, s.item_id as source_item
        from tr
        inner join items as s on tr.source_key = s.item_key
        where tr.target_rank = 1
        order by tr.source_key"""


def targets_sql(items_sql: str) -> str:
    """Target items by key: (target_key, target_item)."""
    return f"""select item_key as target_key, item_id as target_item from ({items_sql})
        where domain_role = 'target' order by item_key"""


def events_sql(events_sql_: str, sources_sql_: str, user_items_sql: str | None = None,
               overlap_sql: str | None = None) -> str:
    """Source events with a translation, keyed and in the sampler's order. For leave_self_out also
    ``self_key`` (else -1): with ``user_items_sql`` (int_user_items, the P_hat path) the user's
    user_key where (u, j) is a source row of int_user_items (u is counted in n_users_j); with
    ``overlap_sql`` (int_overlap_users, the two_stage stream, which tests the holder itself) the
    user's user_key where u is an overlap user: a join on the ids, built once per query."""
    if user_items_sql is not None and overlap_sql is not None:
        raise ValueError("events_sql: self_key from user_items_sql or overlap_sql, not both")
    ctes, key, join = "", "", ""
    if user_items_sql is not None:
        ctes = f""",
        held as (select user_id, user_key, item_key from ({user_items_sql}) where domain_role = 'source')"""
        join = "left join held as h on ev.user_id = h.user_id and src.source_key = h.item_key"
    elif overlap_sql is not None:
        ctes = f""",
        held as (select user_id, user_key from ({overlap_sql}))"""
        join = "left join held as h on ev.user_id = h.user_id"
    if join:
        key = f""",
            cast(coalesce(h.user_key, -1) as bigint) as {SELF_KEY}"""
    return f"""
        with src as ({sources_sql_}),
        ev as (select * from ({events_sql_})){ctes}
        select src.source_key, ev.user_id, ev.event_ts, ev.label, ev.n_user_events{key}
        from ev
        inner join src on ev.source_domain = src.source_domain and ev.source_item = src.source_item
        {join}
        order by src.source_key, ev.user_id, ev.event_ts, ev.label"""


def own_pairs_sql(user_items_sql: str, overlap_sql: str) -> str:
    """The overlap users' target train positives as (user_key, target_key) (for ``OwnPairs``)."""
    return f"""
        select u.user_key, u.item_key as target_key
        from ({user_items_sql}) as u
        inner join ({overlap_sql}) as o on u.user_key = o.user_key
        where u.domain_role = 'target'"""


def read_own_pairs(query: Callable[[str], pa.Table], user_items_sql: str, overlap_sql: str,
                   targets: "TargetCodes") -> OwnPairs:
    """``OwnPairs`` of the overlap users, target codes as ``targets`` numbers them (target items
    without any translation pair cannot be drawn and are left out)."""
    t = query(own_pairs_sql(user_items_sql, overlap_sql))
    tk = _np(t["target_key"], np.int64)
    pos = np.minimum(np.searchsorted(targets.keys, tk), max(len(targets.keys) - 1, 0))
    m = targets.keys[pos] == tk if len(targets.keys) else np.zeros(len(tk), bool)
    return OwnPairs.from_codes(_np(t["user_key"], np.int64)[m], pos[m])


class TargetCodes:
    """target_key -> target_code (index into ``dictionary``, the target items in key order)."""

    def __init__(self, keys: np.ndarray, dictionary: pa.Array):
        self.keys, self.dictionary = keys, _plain(dictionary)
        self.base = int(keys[0]) if len(keys) else 0
        self.dense = bool(len(keys) == 0 or keys[-1] - keys[0] == len(keys) - 1)

    def __call__(self, target_key: np.ndarray) -> np.ndarray:
        code = target_key - self.base if self.dense else np.searchsorted(self.keys, target_key)
        return code.astype(np.int32)

    def batches(self, reader: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """(source_key, target_key, ...) batches -> DIST_COLUMNS batches."""
        for b in reader:
            code = self(_np(b["target_key"], np.int64))
            yield pa.RecordBatch.from_arrays(
                [b["source_key"], pa.array(code), b["p_norm"], b["p_hat"], b["n_users_ji"]],
                names=list(DIST_COLUMNS))


def read_item_codes(query: Callable[[str], pa.Table], translation_sql: str, items_sql: str
                    ) -> tuple[SourceItems, TargetCodes]:
    """The source items with a translation and the target item codes, through ``query`` (SQL ->
    Arrow table): what synthetic_events (and the bench) read before streaming."""
    src = query(sources_sql(translation_sql, items_sql))
    tg = query(targets_sql(items_sql))
    return (SourceItems(src["source_key"].to_numpy(), src["source_domain"].combine_chunks(),
                        src["source_item"].combine_chunks()),
            TargetCodes(tg["target_key"].to_numpy(), tg["target_item"].combine_chunks()))
