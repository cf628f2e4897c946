"""Synthetic target events from source events (SCALR Algorithm 1), vectorized.

The translation is held as CSR arrays: one group per source item (sorted by ``target_rank``, i.e.
by descending p_norm), with a per-group cumulative distribution. A draw for an event of group g is
one ``searchsorted`` of ``g + u`` in the concatenated ``group_id + within_group_cdf`` array, so a
whole batch of events x K draws is a handful of numpy calls. There is no Python loop over events.

Determinism: the uniforms come from one ``numpy.random.Generator(PCG64(seed))`` consumed in input
order, ``K`` per event (also for events whose source item has no translation), so the output is a
function of the ordered input and the seed only, whatever the batch size or thread count.
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


@dataclass
class TranslationCSR:
    """p_norm per source item as CSR; ``cdf`` is ``group + within-group CDF`` of the tempered,
    nucleus-truncated distribution actually sampled."""
    keys: pd.Index  # "source_domain\x1fsource_item" -> group number
    indptr: np.ndarray  # int64, len G + 1
    target_item: pa.Array
    p: np.ndarray
    p_hat: np.ndarray
    n_users_ji: np.ndarray
    q: np.ndarray  # sampled distribution (sums to 1 per group)
    cdf: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)

    @classmethod
    def from_translation(cls, translation: pa.Table, temperature: float = 1.0,
                         top_p: float = 1.0) -> "TranslationCSR":
        t = translation.select(["source_domain", "source_item", "target_item", "p_norm", "p_hat",
                                "n_users_ji", "target_rank"])
        # Order rows by (source key, target_rank) without sorting text: hash-encode the joined
        # key, sort only the distinct keys, then one stable integer argsort of group * 2^32 + rank.
        enc = _source_key(t["source_domain"], t["source_item"]).dictionary_encode()
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.unify_dictionaries().combine_chunks() if enc.num_chunks else \
                pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
        uniq = enc.dictionary
        order_u = pc.sort_indices(uniq).to_numpy()
        rank_of = np.empty(len(uniq), np.int64)
        rank_of[order_u] = np.arange(len(uniq), dtype=np.int64)
        grp = rank_of[enc.indices.to_numpy(zero_copy_only=False)]
        rank = t["target_rank"].to_numpy().astype(np.int64)
        combined = (grp << 32) | (rank & 0xFFFFFFFF)
        p = t["p_norm"].to_numpy().astype(np.float64)
        p_hat = t["p_hat"].to_numpy().astype(np.float64)
        n_ji = t["n_users_ji"].to_numpy().astype(np.int64)
        target_item = t["target_item"].combine_chunks()
        if len(combined) and not bool((np.diff(combined) >= 0).all()):
            order = np.argsort(combined)  # (group, rank) pairs are unique: no tie to keep stable
            grp, p, p_hat, n_ji = grp[order], p[order], p_hat[order], n_ji[order]
            target_item = target_item.take(pa.array(order))
        n = len(grp)
        starts = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]]) if n else np.zeros(0, np.int64)
        indptr = np.r_[starts, n].astype(np.int64)
        keys = uniq.take(pa.array(order_u)) if n else pa.array([], pa.string())
        q = tempered(p, indptr, temperature, top_p)
        csr = cls(pd.Index(keys.to_numpy(zero_copy_only=False)), indptr, target_item,
                  p, p_hat, n_ji, q, group_cdf(q, indptr))
        csr._key_array = keys
        return csr

    def group_of(self, domain: pa.Array | pa.ChunkedArray, item: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Group number of each (domain, item); -1 where the source item has no translation."""
        keys = _source_key(domain, item)
        value_set = getattr(self, "_key_array", None)
        if value_set is None:
            value_set = pa.array(self.keys.to_numpy(), pa.string())
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


def group_cdf(q: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """``group + within-group CDF``; the last element of each group is exactly ``group + 1``."""
    if len(q) == 0:
        return q.copy()
    within = _within_cumsum(q, indptr)
    last = indptr[1:] - 1
    within = within / np.repeat(within[last], np.diff(indptr))
    within[last] = 1.0
    return _group_ids(indptr) + within


def draw_positions(csr: TranslationCSR, group: np.ndarray, k: int, strategy: str,
                   rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions into the CSR arrays, shape (n, k), and a validity mask."""
    n = len(group)
    has = group >= 0
    g = np.where(has, group, 0)
    if len(csr.indptr) <= 1:
        return np.zeros((n, k), np.int64), np.zeros((n, k), bool)
    lo, size = csr.indptr[g], csr.sizes[g]
    if strategy == "topk":
        pos = lo[:, None] + np.arange(k)[None, :]
        valid = has[:, None] & (np.arange(k)[None, :] < size[:, None])
        return np.where(valid, pos, 0), valid
    u = rng.random((n, k))
    pos = _inverse_cdf(csr, g, lo, size, u)
    valid = np.broadcast_to(has[:, None], (n, k))
    return pos, valid


def _guide(csr: TranslationCSR) -> np.ndarray:
    """Guide table (Chen's indexed search): for group g of size s and b < s,
    ``guide[indptr[g] + b]`` = first position whose cdf exceeds ``g + b / s``. Built with one
    searchsorted of sorted needles (cache-friendly)."""
    guide = getattr(csr, "_guide", None)
    if guide is None:
        gid = _group_ids(csr.indptr)
        within = np.arange(len(gid), dtype=np.int64) - csr.indptr[:-1][gid]
        needles = gid + within / csr.sizes[gid]
        guide = np.searchsorted(csr.cdf, needles, side="right")
        csr._guide = guide
    return guide


def _inverse_cdf(csr: TranslationCSR, g: np.ndarray, lo: np.ndarray, size: np.ndarray,
                 u: np.ndarray) -> np.ndarray:
    """``clip(searchsorted(cdf, g + u, 'right'), lo, lo + size - 1)``, exactly, in O(1) expected
    random accesses per draw: start at the guide entry of u's bucket, then step forward."""
    x = (g[:, None] + u).ravel()
    lo_r = np.repeat(lo, u.shape[1])
    hi_r = lo_r + np.repeat(size, u.shape[1]) - 1
    b = np.minimum((u.ravel() * np.repeat(size, u.shape[1])).astype(np.int64), hi_r - lo_r)
    pos = _guide(csr)[lo_r + b]
    cdf = csr.cdf
    # float rounding can put u's bucket one too far: fall back to a binary search there (rare)
    back = np.flatnonzero((pos > lo_r) & (cdf[np.maximum(pos - 1, 0)] > x))
    if len(back):
        pos[back] = np.searchsorted(cdf, x[back], side="right")
    np.minimum(pos, hi_r, out=pos)
    act = np.flatnonzero((cdf[pos] <= x) & (pos < hi_r))
    while len(act):
        pos[act] += 1
        a = pos[act]
        act = act[(cdf[a] <= x[act]) & (a < hi_r[act])]
    return np.maximum(pos, lo_r).reshape(u.shape)


def confidence(p: np.ndarray, kind: str) -> np.ndarray:
    if kind == "uniform":
        return np.ones_like(p)
    if kind == "p":
        return p.copy()
    return np.sqrt(p)


def sample_batch(events: pa.RecordBatch | pa.Table, csr: TranslationCSR, cfg: SamplingConfig,
                 rng: np.random.Generator | None) -> pa.Table:
    """Synthetic events for one ordered batch of source events.

    ``events`` columns: user_id, source_domain, source_item, event_ts, label and optionally
    n_user_events (the user's source-event count over the whole input, for user_weight_alpha)."""
    n = events.num_rows
    group = csr.group_of(events["source_domain"], events["source_item"])
    pos, valid = draw_positions(csr, group, cfg.k, cfg.strategy, rng)
    ev_idx = np.broadcast_to(np.arange(n)[:, None], pos.shape)
    draw = np.broadcast_to(np.arange(cfg.k, dtype=np.int32)[None, :], pos.shape)
    pos, ev_idx, draw = pos[valid], ev_idx[valid], draw[valid]
    if cfg.min_confidence > 0:
        keep = csr.p_hat[pos] >= cfg.min_confidence
        pos, ev_idx, draw = pos[keep], ev_idx[keep], draw[keep]
    p = csr.p[pos]
    weight = confidence(p, cfg.confidence_weight)
    if cfg.user_weight_alpha > 0:
        names = events.schema.names
        if "n_user_events" in names:
            n_u = events["n_user_events"].to_numpy().astype(np.float64)
        else:
            _, inv, cnt = np.unique(events["user_id"].to_numpy(zero_copy_only=False),
                                    return_inverse=True, return_counts=True)
            n_u = cnt[inv].astype(np.float64)
        weight = weight * n_u[ev_idx] ** (-cfg.user_weight_alpha)
    take = pa.array(ev_idx, pa.int64())
    label = events["label"].take(take).cast(pa.int32()) if "label" in events.schema.names \
        else pa.array(np.ones(len(ev_idx), np.int32))
    return pa.table({
        "user_id": events["user_id"].take(take).cast(pa.string()),
        "target_item": csr.target_item.take(pa.array(pos, pa.int64())).cast(pa.string()),
        "source_domain": events["source_domain"].take(take).cast(pa.string()),
        "source_item": events["source_item"].take(take).cast(pa.string()),
        "event_ts": events["event_ts"].take(take).cast(pa.timestamp("us")),
        "p": pa.array(p),
        "p_hat": pa.array(csr.p_hat[pos]),
        "n_users_ji": pa.array(csr.n_users_ji[pos]),
        "weight": pa.array(weight),
        "label": label,
        "draw": pa.array(draw, pa.int32()),
    }, schema=OUTPUT_SCHEMA)


def sample_stream(batches: Iterable[pa.RecordBatch], translation: pa.Table,
                  cfg: SamplingConfig) -> Iterator[pa.RecordBatch]:
    """Stream synthetic events batch by batch (bounded memory); same output as sample_synthetic."""
    csr = TranslationCSR.from_translation(translation, cfg.temperature, cfg.top_p)
    rng = np.random.Generator(np.random.PCG64(cfg.seed)) if cfg.strategy == "sample" else None
    for batch in batches:
        if batch.num_rows:
            yield from sample_batch(batch, csr, cfg, rng).to_batches()


def sample_synthetic(source_events: pa.Table, translation: pa.Table,
                     cfg: SamplingConfig = SamplingConfig()) -> pa.Table:
    """All synthetic events for an ordered table of source events (see sample_batch)."""
    batches = list(sample_stream(source_events.to_batches(), translation, cfg))
    return pa.Table.from_batches(batches, schema=OUTPUT_SCHEMA)
