"""Synthetic target events from source events (SCALR Algorithm 1), vectorized.

The translation is held as CSR arrays: one group per source item (rows sorted by ``target_rank``,
i.e. by descending p_norm), with a Walker/Vose alias table per group over the tempered,
nucleus-truncated distribution actually sampled. A draw for an event of group g (size s) from one
uniform u is O(1): ``x = u * s``, cell ``b = floor(x)``, and position ``indptr[g] + b`` if
``x - b < prob[cell]``, else ``alias[cell]``. A whole batch of events x K draws is a handful of
numpy calls; there is no Python loop over events, and none over groups (the alias tables are built
with prefix sums and searchsorted, see ``alias_tables``).

Determinism: the uniforms come from one ``numpy.random.Generator(PCG64(seed))`` consumed in input
order, ``K`` per event (also for events whose source item has no translation), so the output is a
function of the ordered input and the seed only, whatever the batch size or thread count. The
group numbering and the alias tables depend only on the translation's content, not on its row
order.

Output: ``sample_batch`` / ``sample_stream`` return the text columns (user_id, target_item,
source_domain, source_item) dictionary-encoded (``STREAM_SCHEMA``): int32 indices into the batch's
own column or the translation's distinct target items, so no string is copied per synthetic row.
DuckDB stores them as VARCHAR; ``sample_synthetic`` decodes them to plain strings
(``OUTPUT_SCHEMA``).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STRATEGIES = ("sample", "topk")
CONFIDENCE = ("uniform", "p", "sqrt_p")
TEXT_COLUMNS = ("user_id", "target_item", "source_domain", "source_item")

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
STREAM_SCHEMA = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
                           if f.name in TEXT_COLUMNS else f for f in OUTPUT_SCHEMA])


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


def _source_key(domain: pa.Array | pa.ChunkedArray, item: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.binary_join_element_wise(domain, item, "\x1f")


def _plain(col: pa.Array | pa.ChunkedArray, type_: pa.DataType = pa.string()) -> pa.Array:
    """One contiguous array of ``type_`` (dictionary columns decoded)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    if isinstance(col, pa.ChunkedArray):
        col = pa.concat_arrays(col.chunks)
    return col if col.type == type_ else col.cast(type_)


def _encode(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """(int64 codes, dictionary) of a text column; a single-valued column skips the hash."""
    if len(col) and col.null_count == 0 and pc.all(pc.equal(col, col[0])).as_py():
        return np.zeros(len(col), np.int64), pa.array([col[0].as_py()], pa.string())
    enc = col.dictionary_encode()
    if isinstance(enc, pa.ChunkedArray):
        if not enc.num_chunks:
            return np.zeros(0, np.int64), pa.array([], pa.string())
        enc = enc.unify_dictionaries().combine_chunks() if enc.num_chunks > 1 else enc.chunk(0)
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.cast(pa.string())


# per CSR cell, what a draw outputs, packed in one 32-byte record so a draw is one random gather
_CELL = np.dtype([("p", "<f8"), ("p_hat", "<f8"), ("n_users_ji", "<i8"), ("target_code", "<i4"),
                  ("_pad", "<i4")])


@dataclass
class TranslationCSR:
    """p_norm per source item as CSR. ``q`` is the tempered, nucleus-truncated distribution actually
    sampled; ``prob`` / ``alias`` its alias tables (see ``alias_tables``); ``cells`` holds per CSR
    position p, p_hat, n_users_ji and the target item's code into ``target_dict`` (the distinct
    target items)."""
    keys: pd.Index  # "source_domain\x1fsource_item" -> group number (sorted)
    key_domain: pa.Array  # per group: source_domain and source_item
    key_item: pa.Array
    indptr: np.ndarray  # int64, len G + 1
    cells: np.ndarray  # _CELL records in CSR order
    target_dict: pa.Array
    q: np.ndarray  # sampled distribution (sums to 1 per group)
    prob: np.ndarray  # alias acceptance threshold per cell, in [0, 1]
    alias: np.ndarray  # int64 CSR position taken when the cell rejects

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)

    @property
    def size_f(self) -> np.ndarray:
        """Group sizes as float64 (the draw multiplies uniforms by them)."""
        f = getattr(self, "_size_f", None)
        if f is None:
            f = self._size_f = self.sizes.astype(np.float64)
        return f

    @property
    def p(self) -> np.ndarray:
        return self.cells["p"]

    @property
    def p_hat(self) -> np.ndarray:
        return self.cells["p_hat"]

    @property
    def n_users_ji(self) -> np.ndarray:
        return self.cells["n_users_ji"]

    @property
    def target_code(self) -> np.ndarray:
        return self.cells["target_code"]

    @property
    def target_item(self) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(self.target_code, pa.int32()), self.target_dict)

    @classmethod
    def from_translation(cls, translation: pa.Table, temperature: float = 1.0,
                         top_p: float = 1.0) -> "TranslationCSR":
        t = translation.select(["source_domain", "source_item", "target_item", "p_norm", "p_hat",
                                "n_users_ji", "target_rank"])
        n = t.num_rows
        # Group number = rank of "domain\x1fitem" among the distinct keys (canonical, independent of
        # row order): hash-encode domain and item separately, build the joined text only for the
        # distinct pairs and sort those.
        dcode, ddict = _encode(t["source_domain"])
        icode, idict = _encode(t["source_item"])
        ni = max(len(idict), 1)
        pair = dcode * ni + icode
        if len(ddict) * ni <= 4 * n + 1024:
            lut = np.zeros(len(ddict) * ni, np.int64)
            lut[pair] = 1
            pu = np.flatnonzero(lut)
        else:
            lut, pu = None, np.unique(pair)
        kd, ki = ddict.take(pa.array(pu // ni)), idict.take(pa.array(pu % ni))
        keys = _source_key(kd, ki) if n else pa.array([], pa.string())
        order_u = pc.sort_indices(keys).to_numpy()
        rank_of = np.empty(len(pu), np.int64)
        rank_of[order_u] = np.arange(len(pu), dtype=np.int64)
        if lut is not None:
            lut[pu] = rank_of
            grp = lut[pair]
        else:
            grp = rank_of[np.searchsorted(pu, pair)]
        take_u = pa.array(order_u)
        keys, kd, ki = keys.take(take_u), kd.take(take_u), ki.take(take_u)
        sizes = np.bincount(grp, minlength=len(pu)).astype(np.int64)
        indptr = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        # Rows in (group, target_rank) order. target_rank is a row_number per source item, so the
        # CSR position is indptr[group] + rank - 1 (a scatter); otherwise one integer argsort.
        rank = t["target_rank"].to_numpy().astype(np.int64)
        dest = indptr[grp] + rank - 1
        hit = np.zeros(n, bool)
        if n and rank.min() >= 1 and (rank <= sizes[grp]).all():
            hit[dest] = True
        if not hit.all():  # (group, rank) pairs are unique: no tie to keep stable
            dest = np.empty(n, np.int64)
            dest[np.argsort((grp << 32) | (rank & 0xFFFFFFFF))] = np.arange(n, dtype=np.int64)
        tcode, tdict = _encode(t["target_item"])
        p = np.empty(n)
        p[dest] = t["p_norm"].to_numpy()
        cells = np.zeros(n, _CELL)
        cells["p"] = p
        cells["p_hat"][dest] = t["p_hat"].to_numpy()
        cells["n_users_ji"][dest] = t["n_users_ji"].to_numpy()
        cells["target_code"][dest] = tcode
        q = tempered(p, indptr, temperature, top_p)
        prob, alias = alias_tables(q, indptr)
        return cls(pd.Index(keys.to_numpy(zero_copy_only=False)), kd, ki, indptr, cells, tdict, q,
                   prob, alias)

    def group_of(self, domain: pa.Array | pa.ChunkedArray, item: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Group number of each (domain, item); -1 where the source item has no translation. A
        batch with a single source domain is looked up by item alone (no key strings built)."""
        domains = getattr(self, "_domains", None)
        if domains is None:  # per domain: its items and their group numbers
            dom = self.key_domain.to_numpy(zero_copy_only=False)
            domains = self._domains = {}
            for d in dict.fromkeys(dom):  # loop over the (few) distinct domains
                g = np.flatnonzero(dom == d)
                domains[d] = (self.key_item.take(pa.array(g)), np.r_[g, -1])  # code -1: none
        if len(domain) and domain.null_count == 0 and pc.all(pc.equal(domain, domain[0])).as_py():
            hit = domains.get(domain[0].as_py())
            if hit is None:
                return np.full(len(domain), -1, np.int64)
            idx = pc.fill_null(pc.index_in(item, value_set=hit[0]), -1)
            return hit[1][idx.to_numpy(zero_copy_only=False)]
        keys = _source_key(domain, item)
        value_set = getattr(self, "_key_array", None)
        if value_set is None:
            value_set = self._key_array = pa.array(self.keys.to_numpy(), pa.string())
        idx = pc.index_in(keys, value_set=value_set)
        return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


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


def _within_cumsum(q: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    cs = np.cumsum(q)
    base = np.r_[0.0, cs][indptr[:-1]]
    return cs - np.repeat(base, np.diff(indptr))


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
    ``(prob_k + sum of (1 - prob_c) over cells c aliased to k) / s = q_k``, up to float rounding of
    the prefix sums (< 1e-10 absolute on 30 M rows in 20 k groups of up to 3,000; the sums are kept
    in q units, divided by s, to bound it). Both assignments are derived from one searchsorted of
    the larges' keys ``group + E_j`` in the cells' keys ``group + D``, so they are consistent."""
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
    D = np.cumsum(np.where(large, 0.0, inv_s - q))
    starts = indptr[:-1]
    D -= np.where(starts > 0, D[np.maximum(starts - 1, 0)], 0.0)[gid]
    kD = gid + D
    E = np.cumsum(q[lg] - inv_s[lg])
    E -= np.r_[0.0, E][first_lg][gl]
    kE = gl + E
    # i*: first cell of the group with D >= E_j (a small cell, as D only grows at smalls); where
    # E_j <= 0 the large is used up before any small (i* = "cell -1", D_0 = 0)
    before = kE <= gl
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


def draw_positions(csr: TranslationCSR, group: np.ndarray, k: int, strategy: str,
                   rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions into the CSR arrays, shape (n, k), and a validity mask."""
    n = len(group)
    has = group >= 0
    if len(csr.indptr) <= 1:
        if strategy == "sample":
            rng.random((n, k))  # keep the stream position: K uniforms per event
        return np.zeros((n, k), np.int64), np.zeros((n, k), bool)
    g = np.where(has, group, 0)
    lo, size = csr.indptr[g], csr.sizes[g]
    if strategy == "topk":
        pos = lo[:, None] + np.arange(k)[None, :]
        valid = has[:, None] & (np.arange(k)[None, :] < size[:, None])
        return np.where(valid, pos, 0), valid
    u = rng.random((n, k))
    pos = _alias_draw(csr, lo, size.astype(np.float64), u)
    return pos, np.broadcast_to(has[:, None], (n, k))


_ALIAS = np.dtype([("prob", "<f8"), ("alias", "<i8")])


def _alias_cells(csr: TranslationCSR) -> np.ndarray:
    """prob and alias packed per cell (16 bytes: a draw is one random gather), as raw items."""
    cells = getattr(csr, "_alias_packed", None)
    if cells is None:
        cells = np.empty(len(csr.prob), _ALIAS)
        cells["prob"], cells["alias"] = csr.prob, csr.alias
        cells = csr._alias_packed = cells.view(np.dtype((np.void, _ALIAS.itemsize)))
    return cells


def _alias_draw(csr: TranslationCSR, lo: np.ndarray, size: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Alias draws: shape of ``u``; ``lo`` / ``size`` per row (event). ``u < 1`` gives
    ``u * s < s`` after rounding to nearest for every integer s (the exact product is at least half
    a spacing below s unless s is a power of two, where it is representable), so the cell
    ``floor(u * s)`` is always in the group."""
    x = u * size[:, None]
    b = x.astype(np.int64)
    frac = x - b
    b += lo[:, None]
    a = np.take(_alias_cells(csr), b).view(_ALIAS)
    # the fractional part of u * s is uniform on [0, 1) and independent of the cell
    return np.where(frac < a["prob"], b, a["alias"])


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


def sample_batch(events: pa.RecordBatch | pa.Table, csr: TranslationCSR, cfg: SamplingConfig,
                 rng: np.random.Generator | None) -> pa.Table:
    """Synthetic events for one ordered batch of source events (``STREAM_SCHEMA``: the text columns
    dictionary-encoded, see the module doc).

    ``events`` columns: user_id, source_domain, source_item, event_ts, label and optionally
    n_user_events (the user's source-event count over the whole input, for user_weight_alpha)."""
    n = events.num_rows
    k = cfg.k
    group = csr.group_of(events["source_domain"], events["source_item"])
    if cfg.strategy == "sample":
        u = rng.random((n, k))  # K uniforms per event, also for events without translation
        has = group >= 0
        if has.all():
            ev, g = None, group
        else:
            ev, g, u = np.flatnonzero(has), group[has], u[has]
        if len(csr.indptr) > 1:
            pos = _alias_draw(csr, csr.indptr[g], csr.size_f[g], u).ravel()
        else:
            pos = np.zeros(0, np.int64)
        ev_idx = np.repeat(np.arange(n, dtype=np.int32) if ev is None else ev.astype(np.int32), k)
        draw = np.tile(np.arange(k, dtype=np.int32), len(pos) // k)
    else:
        pos, valid = draw_positions(csr, group, k, cfg.strategy, rng)
        ev_idx = np.broadcast_to(np.arange(n, dtype=np.int32)[:, None], pos.shape)
        draw = np.broadcast_to(np.arange(k, dtype=np.int32)[None, :], pos.shape)
        pos, ev_idx, draw = pos[valid], ev_idx[valid], draw[valid]
    # one gather of the packed records (np.take on raw 32-byte items: numpy's fast path)
    cell = np.take(csr.cells.view(np.dtype((np.void, _CELL.itemsize))), pos).view(_CELL)
    if cfg.min_confidence > 0:
        keep = cell["p_hat"] >= cfg.min_confidence
        cell, ev_idx, draw = cell[keep], ev_idx[keep], draw[keep]
    p = np.ascontiguousarray(cell["p"])
    weight = confidence(p, cfg.confidence_weight)
    names = events.schema.names
    if cfg.user_weight_alpha > 0:
        if "n_user_events" in names:
            n_u = events["n_user_events"].to_numpy().astype(np.float64)
        else:
            _, inv, cnt = np.unique(events["user_id"].to_numpy(zero_copy_only=False),
                                    return_inverse=True, return_counts=True)
            n_u = cnt[inv].astype(np.float64)
        weight = weight * n_u[ev_idx] ** (-cfg.user_weight_alpha)
    take = pa.array(ev_idx, pa.int32())
    label = _plain(events["label"], pa.int32()).take(take) if "label" in names \
        else pa.array(np.ones(len(ev_idx), np.int32))
    return pa.table({
        "user_id": _dict_column(ev_idx, _plain(events["user_id"])),
        "target_item": _dict_column(cell["target_code"], csr.target_dict),
        "source_domain": _dict_column(ev_idx, _plain(events["source_domain"])),
        "source_item": _dict_column(ev_idx, _plain(events["source_item"])),
        "event_ts": _plain(events["event_ts"], pa.timestamp("us")).take(take),
        "p": pa.array(p),
        "p_hat": pa.array(np.ascontiguousarray(cell["p_hat"])),
        "n_users_ji": pa.array(np.ascontiguousarray(cell["n_users_ji"])),
        "weight": pa.array(weight),
        "label": label,
        "draw": pa.array(draw, pa.int32()),
    }, schema=STREAM_SCHEMA)


def sample_stream(batches: Iterable[pa.RecordBatch], translation: pa.Table,
                  cfg: SamplingConfig) -> Iterator[pa.RecordBatch]:
    """Stream synthetic events batch by batch (bounded memory; ``STREAM_SCHEMA``); the same rows as
    sample_synthetic."""
    csr = TranslationCSR.from_translation(translation, cfg.temperature, cfg.top_p)
    rng = np.random.Generator(np.random.PCG64(cfg.seed)) if cfg.strategy == "sample" else None
    for batch in batches:
        if batch.num_rows:
            yield from sample_batch(batch, csr, cfg, rng).to_batches()


def sample_synthetic(source_events: pa.Table, translation: pa.Table,
                     cfg: SamplingConfig = SamplingConfig()) -> pa.Table:
    """All synthetic events for an ordered table of source events (see sample_batch), text columns
    decoded to plain strings (``OUTPUT_SCHEMA``)."""
    batches = list(sample_stream(source_events.to_batches(), translation, cfg))
    return pa.Table.from_batches(batches, schema=STREAM_SCHEMA).cast(OUTPUT_SCHEMA)
