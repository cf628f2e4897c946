"""Downstream learning for SCALR: features, negative sampling, training rows, LightGBM, leak audit.

Everything is vectorized (numpy / scipy.sparse / Arrow); there is no Python loop over rows.

Row layout. A *row* is a (user, target item) pair with a label. Real rows are the real target
train events (positives, and real negatives where the events carry ``label = 0``) plus sampled
negatives; synthetic rows are the (aligned) synthetic events plus negatives drawn by the same
sampler. ``sample_weight`` is 1 for real rows and ``synthetic_lambda * weight`` for synthetic rows
(a synthetic negative inherits its positive's weight).

Features (``FEATURES``) are computed by one function, ``FeatureContext.features``, for every row
(real, synthetic, validation and evaluation) and never from the row's own (user, item) cell:
every item- or pair-level statistic is *leave-one-out*: the row's own cell (u, i) is removed from
the counts before the feature is read. User-level features are constant over a user's rows (so
they cannot separate a user's positives from their negatives). See ``FEATURE_DOCS``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp

NEGATIVE_SAMPLERS = ("uniform", "popularity")



# --------------------------------------------------------------------------------------------
# encoding helpers
# --------------------------------------------------------------------------------------------

def codes(values: Any, index: pd.Index) -> np.ndarray:
    """Integer position of each value in ``index`` (-1 where absent)."""
    return index.get_indexer(pd.Index(np.asarray(values, dtype=object))).astype(np.int64)


def keys(u: np.ndarray, i: np.ndarray, n_items: int) -> np.ndarray:
    return u.astype(np.int64) * np.int64(n_items) + i.astype(np.int64)


def in_sorted(query: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Vectorized membership of ``query`` in a sorted unique int64 array."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), bool)
    pos = np.searchsorted(sorted_keys, query)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    return sorted_keys[pos] == query


def sparse_indicator(u: np.ndarray, i: np.ndarray, shape: tuple[int, int],
                     values: np.ndarray | None = None, agg: str = "max") -> sp.csr_matrix:
    """CSR matrix with one cell per distinct (u, i); duplicates aggregated by max or sum."""
    ok = (u >= 0) & (i >= 0)
    u, i = u[ok], i[ok]
    v = np.ones(len(u)) if values is None else np.asarray(values, float)[ok]
    if agg == "sum":
        m = sp.csr_matrix((v, (u, i)), shape=shape)
        m.sum_duplicates()
        return m
    if len(u) == 0:
        return sp.csr_matrix(shape)
    k = keys(u, i, shape[1])
    order = np.lexsort((-v, k))
    k, v = k[order], v[order]
    first = np.r_[True, k[1:] != k[:-1]]
    k, v = k[first], v[first]
    return sp.csr_matrix((v, (k // shape[1], k % shape[1])), shape=shape)


def pair_values(m: sp.csr_matrix, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """m[u, i] for many pairs at once (0 where the cell is empty)."""
    m = m.tocsr()
    m.sum_duplicates()
    m.sort_indices()
    row_of = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    k = row_of * np.int64(m.shape[1]) + m.indices.astype(np.int64)
    q = keys(u, i, m.shape[1])
    pos = np.minimum(np.searchsorted(k, q), max(len(k) - 1, 0))
    if len(k) == 0:
        return np.zeros(len(q))
    return np.where(k[pos] == q, m.data[pos], 0.0)


def sorted_keys(u: np.ndarray, i: np.ndarray, n_items: int) -> np.ndarray:
    ok = (u >= 0) & (i >= 0)
    return np.unique(keys(u[ok], i[ok], n_items))


# --------------------------------------------------------------------------------------------
# negative sampling
# --------------------------------------------------------------------------------------------

def sample_negatives(parent_user: np.ndarray, n_per_parent: int, item_weights: np.ndarray,
                     exclude: np.ndarray, sampler: str, rng: np.random.Generator,
                     max_rounds: int = 30, item_first_ts: np.ndarray | None = None,
                     parent_ts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_parent`` negative items for each parent row.

    parent_user: user code of each parent row; item_weights: popularity of each catalog item
    (used by ``sampler='popularity'``; items with weight 0 are never drawn by it);
    exclude: sorted int64 keys ``user * n_items + item`` that must never be drawn (every item the
    user interacted with). Rejection sampling, redrawing only the rejected cells, vectorized.
    Returns (parent_index, item) of the accepted negatives; cells still rejected after
    ``max_rounds`` (a user who interacted with almost the whole catalog) are dropped.
    With ``item_first_ts`` and ``parent_ts`` (int64 microseconds) an item is only drawn for a
    parent at time t if it existed then (its first event is before t), as every candidate does at
    evaluation time.
    """
    if sampler not in NEGATIVE_SAMPLERS:
        raise ValueError(f"negative_sampler must be one of {NEGATIVE_SAMPLERS}, got {sampler!r}")
    n_items = len(item_weights)
    n = len(parent_user) * int(n_per_parent)
    parent = np.repeat(np.arange(len(parent_user), dtype=np.int64), int(n_per_parent))
    if n == 0 or n_items == 0:
        return parent[:0], parent[:0]
    if sampler == "uniform":
        p = None
    else:
        w = np.asarray(item_weights, float)
        p = w / w.sum()
    item = np.full(n, -1, np.int64)
    todo = np.arange(n)
    users = np.asarray(parent_user, np.int64)[parent]
    for _ in range(max_rounds):  # rounds of rejection, each vectorized over all pending cells
        if len(todo) == 0:
            break
        draw = rng.choice(n_items, size=len(todo), p=p)
        bad = in_sorted(keys(users[todo], draw, n_items), exclude)
        if item_first_ts is not None and parent_ts is not None:
            bad |= item_first_ts[draw] >= np.asarray(parent_ts, np.int64)[parent[todo]]
        item[todo[~bad]] = draw[~bad]
        todo = todo[bad]
    ok = item >= 0
    return parent[ok], item[ok]


def keep_draw(user_ids: np.ndarray, seed: int) -> np.ndarray:
    """Each user's uniform draw in [0, 1): the first 13 hex digits of md5(f"{seed}:{user_id}")
    (UTF-8) as an integer / 16^13. The Python twin of int_target_users.keep_draw (macro
    scalr_md5_uniform), so the SQL and Python keep decisions agree user for user."""
    ids = np.asarray(user_ids, dtype=object).astype(str)
    uniq, inv = np.unique(ids, return_inverse=True)
    prefix = f"{int(seed)}:"
    d = np.array([int(hashlib.md5((prefix + u).encode("utf-8")).hexdigest()[:13], 16) for u in uniq],
                 dtype=np.float64) / float(16 ** 13)
    return d[inv.reshape(-1)] if len(ids) else np.zeros(0)


def keep_target_users(user_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask: which users keep their target train events (the rest become target-cold).
    The same md5 rule as the warehouse (int_target_users: kept iff keep_draw < fraction; every user
    at fraction >= 1). Per user, independent of the other ids and their order. The dbt project
    applies it upstream (int_events_train); this stays as a test oracle and for callers that have
    not moved to int_target_users yet (applying it again to already filtered events is a no-op)."""
    if fraction >= 1:
        return np.ones(len(user_ids), bool)
    return keep_draw(user_ids, seed) < float(fraction)


# --------------------------------------------------------------------------------------------
# translation (mirror of models/marts/translation.sql, used by the experiments runner when the
# train data change, e.g. with target_keep_users < 1)
# --------------------------------------------------------------------------------------------

def translate(source: pd.DataFrame, target: pd.DataFrame, min_support: int = 1,
              shrinkage: float = 0.0, noise_epsilon: float | None = None, noise_seed: int = 17) -> pd.DataFrame:
    """P_hat(i|j) from distinct (user, source_domain, source_item) and (user, item) train positives
    of overlap users. Same columns and semantics as the translation mart (with noise_epsilon, the
    mart's Laplace(1/epsilon) count noise, drawn here from numpy's generator: same distribution,
    not the same draws)."""
    s = source[["user_id", "source_domain", "source_item"]].drop_duplicates()
    t = target[["user_id", "item_id"]].drop_duplicates()
    # shrinkage popularity: users per target item over ALL target train users (as int_items.n_users
    # in int_translation), not only the overlap users
    all_pop = t.groupby("item_id").user_id.nunique()
    overlap = pd.Index(np.intersect1d(s.user_id.unique().astype(str), t.user_id.unique().astype(str)))
    s = s[s.user_id.isin(overlap)]
    t = t[t.user_id.isin(overlap)]
    skey = (s.source_domain + "\x1f" + s.source_item).to_numpy()
    src_idx, first = np.unique(skey, return_index=True)
    src_idx = pd.Index(src_idx)
    tgt_idx = pd.Index(np.unique(t.item_id.to_numpy().astype(str)))
    S = sparse_indicator(codes(s.user_id, overlap), codes(skey, src_idx), (len(overlap), len(src_idx)))
    T = sparse_indicator(codes(t.user_id, overlap), codes(t.item_id, tgt_idx), (len(overlap), len(tgt_idx)))
    C = (S.T @ T).tocoo()
    n_j = np.asarray(S.sum(axis=0)).ravel()
    pop = all_pop.reindex(tgt_idx).fillna(0).to_numpy(float)
    pop_share = pop / max(all_pop.sum(), 1)
    out = pd.DataFrame({"j": C.row, "i": C.col, "n_users_ji": C.data.astype(np.int64)})
    out = out[out.n_users_ji >= max(int(min_support or 1), 1)]  # k-support floor on the true count
    out["n_users_j"] = n_j[out.j].astype(np.int64)
    if noise_epsilon:  # noisy counts, capped at n_users_j (p_hat <= 1); <= 0 dropped
        noise = np.random.default_rng(noise_seed).laplace(0.0, 1.0 / noise_epsilon, len(out))
        noisy = np.round(out.n_users_ji.to_numpy() + noise).astype(np.int64)
        out["n_users_ji"] = np.minimum(noisy, out.n_users_j.to_numpy())
        out = out[out.n_users_ji > 0]
    out["p_hat"] = out.n_users_ji / out.n_users_j
    score = (out.n_users_ji + shrinkage * pop_share[out.i]) / (out.n_users_j + shrinkage)
    out["p_norm"] = score / score.groupby(out.j).transform("sum")
    out["_score"] = score
    # (domain, item) of each source key from its first row (no string splitting)
    out["source_domain"] = s.source_domain.to_numpy()[first][out.j.to_numpy()]
    out["source_item"] = s.source_item.to_numpy()[first][out.j.to_numpy()]
    out["target_item"] = tgt_idx.to_numpy()[out.i.to_numpy()]
    out = out.sort_values(["source_domain", "source_item", "_score", "target_item"],
                          ascending=[True, True, False, True])
    out["target_rank"] = out.groupby(["source_domain", "source_item"]).cumcount() + 1
    out["n_targets"] = out.groupby(["source_domain", "source_item"]).target_item.transform("size")
    cols = ["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j", "p_hat",
            "p_norm", "target_rank", "n_targets"]
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# features (time-aware: every feature of a row at time t uses events strictly before t)
# --------------------------------------------------------------------------------------------

US_PER_DAY = 86_400_000_000


def to_us(ts: Any) -> np.ndarray:
    """Datetime-like array -> int64 microseconds since the epoch."""
    return np.asarray(pd.to_datetime(np.asarray(ts)).astype("datetime64[us]")).astype(np.int64)


class TimeIndex:
    """Events grouped by an integer key (a user or an item code), each group in time order, with
    a value (e.g. the item of a user's event) and a weight. Answers "events of key k strictly
    before t" for many (k, t) queries at once with three ``searchsorted`` calls (no loop)."""

    def __init__(self, key: np.ndarray, ts: np.ndarray, value: np.ndarray | None = None,
                 weight: np.ndarray | None = None):
        key = np.asarray(key, np.int64)
        ts = np.asarray(ts, np.int64)
        order = np.lexsort((ts, key))
        self.times = np.unique(ts)
        self.span = np.int64(len(self.times) + 1)
        self.ts = ts[order]
        self.comp = key[order] * self.span + np.searchsorted(self.times, self.ts)
        self.value = None if value is None else np.asarray(value)[order]
        w = np.ones(len(key)) if weight is None else np.asarray(weight, float)[order]
        self.weight = w
        self.wcum = np.r_[0.0, np.cumsum(w)]

    def bounds(self, key: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, stop): the events of ``key`` before ``t`` are positions start .. stop - 1."""
        key = np.asarray(key, np.int64)
        start = np.searchsorted(self.comp, key * self.span, "left")
        stop = np.searchsorted(self.comp, key * self.span + np.searchsorted(self.times, t, "left"), "left")
        return start, stop

    def mass(self, key: np.ndarray, t: np.ndarray, since: np.ndarray | None = None) -> np.ndarray:
        """Weight of the events of ``key`` in [since, t) (since = -inf when None)."""
        start, stop = self.bounds(key, t)
        if since is not None:
            start = np.maximum(start, self.bounds(key, since)[1])
        return self.wcum[stop] - self.wcum[np.minimum(start, stop)]

    def first_last(self, key: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(has any event before t, first event time, last event time before t)."""
        start, stop = self.bounds(key, t)
        has = stop > start
        n = max(len(self.ts) - 1, 0)
        first = self.ts[np.minimum(start, n)] if len(self.ts) else np.zeros(len(start), np.int64)
        last = self.ts[np.clip(stop - 1, 0, n)] if len(self.ts) else np.zeros(len(start), np.int64)
        return has, first, last

    def expand(self, key: np.ndarray, t: np.ndarray, cap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row, position): one entry per (query row, event of its key before t); with ``cap``
        only the latest ``cap`` events of each row."""
        start, stop = self.bounds(key, t)
        if cap is not None:
            start = np.maximum(start, stop - cap)
        n = np.maximum(stop - start, 0)
        row = np.repeat(np.arange(len(n), dtype=np.int64), n)
        offset = np.arange(len(row), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
        return row, np.repeat(start, n) + offset


class PairLookup:
    """Values of a sparse matrix at many (row, col) pairs via one sorted int64 key array."""

    def __init__(self, m: sp.csr_matrix, extra: dict[str, np.ndarray] | None = None):
        m = m.tocsr()
        m.sum_duplicates()
        m.sort_indices()
        self.n_cols = np.int64(m.shape[1])
        row_of = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
        self.k = row_of * self.n_cols + m.indices.astype(np.int64)
        self.data = m.data
        self.extra = extra or {}

    def find(self, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, position) of each (r, c)."""
        q = np.asarray(r, np.int64) * self.n_cols + np.asarray(c, np.int64)
        if len(self.k) == 0:
            return np.zeros(len(q), bool), np.zeros(len(q), np.int64)
        pos = np.minimum(np.searchsorted(self.k, q), len(self.k) - 1)
        return self.k[pos] == q, pos

    def get(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        found, pos = self.find(r, c)
        return np.where(found, self.data[pos] if len(self.data) else 0.0, 0.0)


WINDOWS_DAYS = (30, 90, 365)


@dataclass
class FeatureContext:
    """Train-window events every feature is read from (built once per configuration).

    Time-aware: the features of a row (u, i, t) read only events strictly before t (for training
    rows t is the row's event time, for evaluation rows the end of the train window), so a model
    learns how the past predicts the next event, as it must at serving time. Statistics that need
    the whole window (item-item co-occurrence C, P_hat) are leave-one-out on the row's own cell."""
    users: pd.Index
    items: pd.Index  # target catalog (candidate set)
    T: sp.csr_matrix  # users x items, real target train positives (indicator, whole window)
    H: sp.csr_matrix  # users x items, real (1) or synthetic min(1, lambda * mass) cell values
    item_events: TimeIndex  # real target positives keyed by item
    all_events: TimeIndex  # real target positives, one key (catalog-wide volume)
    user_target: TimeIndex  # real target positives keyed by user, value = item
    user_source: TimeIndex  # source positives keyed by user, value = source item code
    user_h: TimeIndex  # real + synthetic target positives keyed by user, value = item, weight = H weight
    item_synth: TimeIndex  # synthetic positives keyed by item, weight = lambda * w
    pair_synth: TimeIndex  # synthetic positives keyed by user * n_items + item, weight = lambda * w
    Hs: sp.csr_matrix  # users x items, synthetic weight mass (lambda * w summed per cell)
    user_synth: TimeIndex  # synthetic positives keyed by user, weight = lambda * w
    C_real: PairLookup  # items x items, T^T T, zero diagonal
    C_all: PairLookup  # items x items, H^T H, zero diagonal
    P: PairLookup  # source items x items: n_users_ji, extra n_users_j
    n_j: np.ndarray  # per source item code: n_users_j
    item_users: np.ndarray  # column sums of T
    hist_cap: int = 200
    # latent-factor channel: name -> MFChannel (mf_real: real target events; mf_all: real + synthetic)
    mf: dict = field(default_factory=dict)

    def features(self, u: np.ndarray, i: np.ndarray, t: np.ndarray, groups: tuple[str, ...] | None = None,
                 chunk_rows: int = 250_000) -> dict[str, np.ndarray]:
        """Features of rows (u, i) at times t (int64 microseconds; codes into users / items).
        ``groups`` selects a subset of FEATURE_GROUPS (callers cache the groups that do not change)."""
        u = np.asarray(u, np.int64)
        i = np.asarray(i, np.int64)
        t = np.broadcast_to(np.asarray(t, np.int64), u.shape)
        groups = tuple(FEATURE_GROUPS) if groups is None else tuple(groups)
        parts = [self._features(u[a:a + chunk_rows], i[a:a + chunk_rows], t[a:a + chunk_rows], groups)
                 for a in range(0, max(len(u), 1), chunk_rows)]  # loop over row chunks (memory bound)
        names = [f for f in FEATURES if any(f in FEATURE_GROUPS[g] for g in groups)]
        return {k: np.concatenate([p[k] for p in parts]) for k in names}

    def _hist_sum(self, idx: TimeIndex, u: np.ndarray, i: np.ndarray, t: np.ndarray, look: PairLookup,
                  own: np.ndarray, own_of_hist: PairLookup | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Sum over the user's events e before t (latest ``hist_cap``) with item i_e != i of
        w_e * (M[i_e, i] - own_e), own_e = own[row] * (own_of_hist[u, i_e] or 1): the
        leave-one-out item-item score, and the number of history events."""
        row, pos = idx.expand(u, t, self.hist_cap)
        hi = idx.value[pos].astype(np.int64)
        w = idx.weight[pos]
        m = look.get(hi, i[row])
        o = own[row] * (own_of_hist.get(u[row], hi) if own_of_hist is not None else 1.0)
        val = np.where(hi != i[row], w * np.maximum(m - o, 0), 0.0)
        n = len(u)
        return np.bincount(row, weights=val, minlength=n), np.bincount(row, weights=w, minlength=n)

    def _features(self, u: np.ndarray, i: np.ndarray, t: np.ndarray, groups) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        day = np.int64(US_PER_DAY)
        t_ui = pair_values(self.T, u, i)
        if "synthetic" in groups:
            h_ui = pair_values(self.H, u, i)
            own_synth = self.pair_synth.mass(keys(u, i, len(self.items)), t)  # leave-one-out: the row's own cell
            out["item_pop_synth"] = np.log1p(np.maximum(self.item_synth.mass(i, t) - own_synth, 0.0))
            out["user_n_synth"] = np.log1p(self.user_synth.mass(u, t))
            cf_all, m_hist = self._hist_sum(self.user_h, u, i, t, self.C_all, h_ui, self.H_lookup)
            out["cf_all"] = np.log1p(cf_all)
            out["cf_all_norm"] = cf_all / np.sqrt((np.maximum(self.item_users[i] - t_ui, 0) + 1) * (m_hist + 1))
        if "translation" in groups:
            # P_hat channel: sum over the user's source events before t of (n_ji - own) / n_j
            row, pos = self.user_source.expand(u, t, self.hist_cap)
            j = self.user_source.value[pos].astype(np.int64)
            found, p = self.P.find(j, i[row])
            n_ji = np.where(found, self.P.data[p] if len(self.P.data) else 0.0, 0.0) - t_ui[row] * found
            n_ji = np.maximum(n_ji, 0)
            out["xdomain_sum"] = np.bincount(row, weights=n_ji / np.maximum(self.n_j[j], 1), minlength=len(u))
            out["xdomain_cnt"] = np.log1p(np.bincount(row, weights=(n_ji >= 1).astype(float), minlength=len(u)))
        if "synthetic" in groups and "mf_all" in self.mf:
            out["mf_all"] = self.mf["mf_all"].score(u, i, t)
        elif "synthetic" in groups:
            out["mf_all"] = np.zeros(len(u))
        if "real" not in groups:
            return out
        out["mf_real"] = self.mf["mf_real"].score(u, i, t) if "mf_real" in self.mf else np.zeros(len(u))
        out["item_pop"] = np.log1p(self.item_events.mass(i, t))
        total = {}
        for d in WINDOWS_DAYS:
            pop_d = self.item_events.mass(i, t, t - d * day)
            out[f"item_pop_{d}d"] = np.log1p(pop_d)
            total[d] = pop_d
        vol = self.all_events.mass(np.zeros(len(t), np.int64), t, t - 90 * day)
        out["item_share_90d"] = 1000.0 * total[90] / np.maximum(vol, 1.0)
        has, first, last = self.item_events.first_last(i, t)
        out["item_age_days"] = np.where(has, np.log1p(np.maximum(t - first, 0) / day), -1.0)
        out["item_days_since_last"] = np.where(has, np.log1p(np.maximum(t - last, 0) / day), -1.0)
        n_t = self.user_target.mass(u, t)
        out["user_n_target"] = np.log1p(n_t)
        out["user_n_source"] = np.log1p(self.user_source.mass(u, t))
        cf_real, n_hist = self._hist_sum(self.user_target, u, i, t, self.C_real, t_ui)
        out["cf_real"] = np.log1p(cf_real)
        out["cf_real_norm"] = cf_real / np.sqrt((np.maximum(self.item_users[i] - t_ui, 0) + 1) * (n_hist + 1))
        return out

    def _weight_matrix(self, idx: TimeIndex, users: np.ndarray, t: np.int64) -> sp.csr_matrix:
        """(len(users) x items) sum of event weights over each user's latest ``hist_cap`` events of
        ``idx`` before t: the history the item-item scores of ``_hist_sum`` iterate over."""
        row, pos = idx.expand(users, np.full(len(users), t, np.int64), self.hist_cap)
        return sp.csr_matrix((idx.weight[pos], (row, idx.value[pos].astype(np.int64))),
                             shape=(len(users), len(self.items)))

    def catalog_block(self, users: np.ndarray, t: int, features: tuple[str, ...] | list[str] | None = None
                      ) -> dict[str, np.ndarray]:
        """Every feature of every (user, catalog item) pair at one time t (evaluation: the end of
        the train window), as dense (len(users) x n_items) float32 arrays, by sparse matrix
        products instead of per-row history expansion. Equal (to float rounding) to
        ``features(u, i, t)`` for every item i outside the user's real target train items, i.e.
        for every candidate of full-catalog ranking (the user's own train items are masked by the
        caller; their leave-one-out terms are not computed here). The latent-factor features use
        the factors fitted on the whole window (``MFChannel.eval``)."""
        users = np.asarray(users, np.int64)
        nu, ni = len(users), len(self.items)
        t = np.int64(t)
        tv = np.full(ni, t, np.int64)
        items = np.arange(ni, dtype=np.int64)
        day = np.int64(US_PER_DAY)
        features = tuple(FEATURES if features is None else features)
        want = set(features)
        out: dict[str, np.ndarray] = {}

        def item_vec(v) -> np.ndarray:
            return np.broadcast_to(np.asarray(v, np.float32)[None, :], (nu, ni))

        def user_vec(v) -> np.ndarray:
            return np.broadcast_to(np.asarray(v, np.float32)[:, None], (nu, ni))

        tu = np.full(nu, t, np.int64)
        if want & {"item_pop", "item_pop_30d", "item_pop_90d", "item_pop_365d", "item_share_90d"}:
            out["item_pop"] = item_vec(np.log1p(self.item_events.mass(items, tv)))
            total = {}
            for d in WINDOWS_DAYS:
                total[d] = self.item_events.mass(items, tv, tv - d * day)
                out[f"item_pop_{d}d"] = item_vec(np.log1p(total[d]))
            vol = self.all_events.mass(np.zeros(1, np.int64), np.array([t]), np.array([t - 90 * day]))[0]
            out["item_share_90d"] = item_vec(1000.0 * total[90] / max(vol, 1.0))
        if want & {"item_age_days", "item_days_since_last"}:
            has, first, last = self.item_events.first_last(items, tv)
            out["item_age_days"] = item_vec(np.where(has, np.log1p(np.maximum(t - first, 0) / day), -1.0))
            out["item_days_since_last"] = item_vec(np.where(has, np.log1p(np.maximum(t - last, 0) / day), -1.0))
        if "user_n_target" in want:
            out["user_n_target"] = user_vec(np.log1p(self.user_target.mass(users, tu)))
        if "user_n_source" in want:
            out["user_n_source"] = user_vec(np.log1p(self.user_source.mass(users, tu)))
        if "user_n_synth" in want:
            out["user_n_synth"] = user_vec(np.log1p(self.user_synth.mass(users, tu)))
        if want & {"cf_real", "cf_real_norm"}:
            W = self._weight_matrix(self.user_target, users, t)
            raw = np.maximum((W @ self.C_real_matrix).toarray(), 0.0)
            n_hist = np.asarray(W.sum(1)).ravel()
            out["cf_real"] = np.log1p(raw).astype(np.float32)
            out["cf_real_norm"] = (raw / np.sqrt((self.item_users[None, :] + 1) * (n_hist[:, None] + 1))).astype(np.float32)
        if want & {"cf_all", "cf_all_norm"}:
            W = self._weight_matrix(self.user_h, users, t)
            Hu = self.H[users]
            Wd = W.toarray()
            Hd = Hu.toarray()
            # leave-one-out: minus the user's own share H[u, i] * sum_{e: i_e != i} w_e H[u, i_e]
            own = Hd * (np.asarray(W.multiply(Hu).sum(1)).ravel()[:, None] - Wd * Hd)
            raw = np.maximum((W @ self.C_all_matrix).toarray() - own, 0.0)
            m_hist = Wd.sum(1)
            out["cf_all"] = np.log1p(raw).astype(np.float32)
            out["cf_all_norm"] = (raw / np.sqrt((self.item_users[None, :] + 1) * (m_hist[:, None] + 1))).astype(np.float32)
        if "item_pop_synth" in want:
            mass = self.item_synth.mass(items, tv)
            own = self.Hs[users].toarray()  # every synthetic event is before the end of the train window
            out["item_pop_synth"] = np.log1p(np.maximum(mass[None, :] - own, 0.0)).astype(np.float32)
        if want & {"xdomain_sum", "xdomain_cnt"}:
            row, pos = self.user_source.expand(users, tu, self.hist_cap)
            j = self.user_source.value[pos].astype(np.int64)
            n_src = len(self.n_j)
            Wc = sp.csr_matrix((np.ones(len(row)), (row, j)), shape=(nu, n_src))
            Ws = sp.csr_matrix((1.0 / np.maximum(self.n_j[j], 1), (row, j)), shape=(nu, n_src))
            out["xdomain_sum"] = (Ws @ self.P_matrix).toarray().astype(np.float32)
            out["xdomain_cnt"] = np.log1p((Wc @ self.P_support).toarray()).astype(np.float32)
        for name in ("mf_real", "mf_all"):
            if name in want:
                out[name] = (self.mf[name].eval.score_block(users).astype(np.float32) if name in self.mf
                             else np.zeros((nu, ni), np.float32))
        return {f: out[f] for f in features}

    @property
    def C_real_matrix(self) -> sp.csr_matrix:
        return self._cached_matrix("_c_real_m", self.C_real)

    @property
    def C_all_matrix(self) -> sp.csr_matrix:
        return self._cached_matrix("_c_all_m", self.C_all)

    @property
    def P_matrix(self) -> sp.csr_matrix:
        return self._cached_matrix("_p_m", self.P)

    @property
    def P_support(self) -> sp.csr_matrix:
        if not hasattr(self, "_p_s"):
            m = self.P_matrix.copy()
            m.data = (m.data >= 1).astype(float)
            m.eliminate_zeros()
            self._p_s = m
        return self._p_s

    def _cached_matrix(self, name: str, look: PairLookup) -> sp.csr_matrix:
        if not hasattr(self, name):
            n_rows = int(len(self.n_j)) if look is self.P else len(self.items)
            r, c = look.k // look.n_cols, look.k % look.n_cols
            setattr(self, name, sp.csr_matrix((look.data, (r, c)), shape=(n_rows, int(look.n_cols))))
        return getattr(self, name)

    def item_first_ts(self) -> np.ndarray:
        """Time of each catalog item's first real target train event (int64 max if none)."""
        if not hasattr(self, "_first"):
            n = len(self.items)
            has, first, _ = self.item_events.first_last(np.arange(n), np.full(n, np.iinfo(np.int64).max))
            self._first = np.where(has, first, np.iinfo(np.int64).max)
        return self._first

    @property
    def H_lookup(self) -> PairLookup:
        if not hasattr(self, "_h_lookup"):
            self._h_lookup = PairLookup(self.H)
        return self._h_lookup


FEATURE_DOCS: dict[str, str] = {
    "item_pop": "log1p(#real target train events on the item before the row's time t).",
    "item_pop_30d": "log1p(#real target train events on the item in [t - 30 days, t)).",
    "item_pop_90d": "log1p(#real target train events on the item in [t - 90 days, t)).",
    "item_pop_365d": "log1p(#real target train events on the item in [t - 365 days, t)).",
    "item_share_90d": "1000 x the item's share of all real target train events in [t - 90 days, t): "
                      "popularity normalised for the growth of the platform.",
    "item_age_days": "log1p(days since the item's first real target train event before t); -1 if none.",
    "item_days_since_last": "log1p(days since the item's latest real target train event before t); -1 if none.",
    "item_pop_synth": "log1p(synthetic weight mass (lambda x w) on the item before t, without the row's own "
                      "user's synthetic mass on the item (leave-one-out)).",
    "user_n_target": "log1p(#real target train events of the user before t); 0 = target-cold at t.",
    "user_n_source": "log1p(#source train events of the user before t).",
    "user_n_synth": "log1p(synthetic weight mass of the user before t).",
    "cf_real": "log1p(item-item score on real target events): sum over the user's real target events before t "
               "(latest 200) on items i' != i of C[i', i], C = T^T T over the train window with the user's own "
               "co-occurrence removed (leave-one-out).",
    "cf_real_norm": "cf_real score / sqrt((#other users of i + 1) * (#history events + 1)): cosine-like.",
    "cf_all": "log1p(item-item score on real + synthetic events): as cf_real over the user's real and "
              "synthetic target events before t (synthetic weighted min(1, lambda*w)) with C = H^T H, "
              "leave-one-out; the personalisation channel the synthetic rows feed.",
    "cf_all_norm": "cf_all score / sqrt((#other users of i + 1) * (history weight + 1)).",
    "mf_real": "implicit-ALS score (scalr.factors) of the user x item on REAL target events, fitted out of time: "
               "rows in [cutoff, end of window) read factors fitted on events before the cutoff (var mf_train_fraction), "
               "rows before the cutoff read NaN, evaluation rows factors fitted on the whole window.",
    "mf_all": "as mf_real on real + synthetic target events (synthetic weight lambda x w): the per-user channel "
              "through which target-cold users get factors from their synthetic history.",
    "xdomain_sum": "sum over the user's source events before t (latest 200) of P_hat(i|j) with the user's own "
                   "(j, i) co-occurrence removed. Derived from P_hat: the leak candidate for synthetic rows.",
    "xdomain_cnt": "log1p(#source events j of the user before t with a (j, i) pair supported by another user).",
}
FEATURES: tuple[str, ...] = tuple(FEATURE_DOCS)
# which inputs each feature depends on: "real" (real target events only), "translation" (P_hat and
# the source events), "synthetic" (the synthetic events); callers may cache the first two
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "real": ("item_pop", "item_pop_30d", "item_pop_90d", "item_pop_365d", "item_share_90d", "item_age_days",
             "item_days_since_last", "user_n_target", "user_n_source", "cf_real", "cf_real_norm", "mf_real"),
    "translation": ("xdomain_sum", "xdomain_cnt"),
    "synthetic": ("item_pop_synth", "user_n_synth", "cf_all", "cf_all_norm", "mf_all"),
}
assert sorted(f for g in FEATURE_GROUPS.values() for f in g) == sorted(FEATURES)

# The evaluation ladder (SCALR's comparison). Each arm is a feature set and whether the model also
# trains on synthetic rows:
#   T      target only: no feature reads a source event, P_hat or a synthetic event (the paper's baseline)
#   T+F    feature-level transfer: T + the features that read source events / P_hat
#   T+S    data-level transfer (the paper's comparison): T + synthetic rows + the features computed
#          from the synthetic events only (never from source events or P_hat directly)
#   T+F+S  both
T_FEATURES: tuple[str, ...] = tuple(f for f in FEATURE_GROUPS["real"] if f != "user_n_source")
F_FEATURES: tuple[str, ...] = ("user_n_source",) + FEATURE_GROUPS["translation"]
S_FEATURES: tuple[str, ...] = FEATURE_GROUPS["synthetic"]
ARMS: dict[str, tuple[tuple[str, ...], bool]] = {
    "T": (T_FEATURES, False),
    "T+F": (T_FEATURES + F_FEATURES, False),
    "T+S": (T_FEATURES + S_FEATURES, True),
    "T+F+S": (T_FEATURES + F_FEATURES + S_FEATURES, True),
}
assert sorted(ARMS["T+F+S"][0]) == sorted(FEATURES)


@dataclass
class MFChannel:
    """A latent-factor feature fitted out of time: ``train`` on events before ``cutoff`` (for
    training rows at t >= cutoff), ``eval`` on every event (for rows after ``eval_from``, i.e.
    evaluation rows at the end of the window). Rows before the cutoff read NaN: no row's feature
    is fitted on its own event."""
    cutoff: np.int64
    eval_from: np.int64
    train: Any
    eval: Any

    def score(self, u: np.ndarray, i: np.ndarray, t: np.ndarray) -> np.ndarray:
        t = np.broadcast_to(np.asarray(t, np.int64), np.shape(u))
        out = np.full(len(u), np.nan)
        late = t >= self.eval_from
        mid = (t >= self.cutoff) & ~late
        out[mid] = self.train.score(u[mid], i[mid])
        out[late] = self.eval.score(u[late], i[late])
        return out


def fit_compact(u: np.ndarray, i: np.ndarray, w: np.ndarray, n_users: int, n_items: int, cfg: Any):
    """fit_als over the users that have an event only (in code order), expanded back to n_users
    rows (zeros for the rest): the factors then do not depend on how many event-less users the
    caller's user index holds (the training_rows mart and the evaluation index differ so)."""
    from scalr.factors import Factors, fit_als
    uu, inv = np.unique(np.asarray(u, np.int64), return_inverse=True)
    f = fit_als(inv.astype(np.int64), i, w, len(uu), n_items, cfg)
    user = np.zeros((n_users, f.user.shape[1]), f.user.dtype)
    user[uu] = f.user
    return Factors(user, f.item)


def fit_mf_channel(u: np.ndarray, i: np.ndarray, w: np.ndarray, ts: np.ndarray, n_users: int, n_items: int,
                   cfg: Any, cutoff: np.int64, eval_from: np.int64) -> MFChannel:
    early = ts < cutoff
    return MFChannel(np.int64(cutoff), np.int64(eval_from),
                     fit_compact(u[early], i[early], w[early], n_users, n_items, cfg),
                     fit_compact(u, i, w, n_users, n_items, cfg))


def build_context(real_target: pd.DataFrame, source: pd.DataFrame, translation: pd.DataFrame,
                  synthetic: pd.DataFrame | None, users: pd.Index, items: pd.Index,
                  synthetic_lambda: float = 1.0, hist_cap: int = 200, mf: Any = None,
                  mf_train_fraction: float = 0.5) -> FeatureContext:
    """real_target: [user_id, item_id, event_ts] real target train positives; source: [user_id,
    source_domain, source_item, event_ts] source train positives; translation: the translation
    mart; synthetic: [user_id, target_item, event_ts, weight(, label)] synthetic events (or None)."""
    nu, ni = len(users), len(items)
    tu, ti = codes(real_target.user_id, users), codes(real_target.item_id, items)
    ok = (tu >= 0) & (ti >= 0)
    tu, ti = tu[ok], ti[ok]
    tts = to_us(real_target.event_ts)[ok]
    T = sparse_indicator(tu, ti, (nu, ni))
    skey = (source.source_domain.astype(str) + "\x1f" + source.source_item.astype(str)).to_numpy()
    tkey = (translation.source_domain.astype(str) + "\x1f" + translation.source_item.astype(str)).to_numpy()
    src_idx = pd.Index(np.unique(np.r_[skey, tkey]))
    su, sj = codes(source.user_id, users), codes(skey, src_idx)
    ok_s = su >= 0
    tj, tti = codes(tkey, src_idx), codes(translation.target_item, items)
    ok_p = tti >= 0
    n_ji = translation.n_users_ji.to_numpy(float)[ok_p]
    P = sparse_indicator(tj[ok_p], tti[ok_p], (len(src_idx), ni), n_ji)
    n_j = np.zeros(len(src_idx))
    n_j[tj] = translation.n_users_j.to_numpy(float)
    if synthetic is not None and len(synthetic):
        pos = synthetic[synthetic.label.to_numpy() == 1] if "label" in synthetic else synthetic
        yu, yi = codes(pos.user_id, users), codes(pos.target_item, items)
        ok_y = (yu >= 0) & (yi >= 0)
        yu, yi = yu[ok_y], yi[ok_y]
        yw = synthetic_lambda * pos.weight.to_numpy(float)[ok_y]
        yts = to_us(pos.event_ts)[ok_y]
        Hs = sparse_indicator(yu, yi, (nu, ni), yw, agg="sum")
    else:
        yu = yi = yts = np.zeros(0, np.int64)
        yw = np.zeros(0)
        Hs = sp.csr_matrix((nu, ni))
    H = T.maximum(Hs.minimum(1.0)).tocsr()

    def cooc(m: sp.csr_matrix) -> PairLookup:
        c = (m.T @ m).tocsr()
        c.setdiag(0)
        c.eliminate_zeros()
        return PairLookup(c)

    channels = {}
    if mf is not None and len(tts):
        cutoff = np.int64(np.quantile(tts, 1 - mf_train_fraction, method="lower"))
        eval_from = np.int64(max(tts.max(), yts.max() if len(yts) else tts.max()) + 1)
        channels["mf_real"] = fit_mf_channel(tu, ti, np.ones(len(tu)), tts, nu, ni, mf, cutoff, eval_from)
        channels["mf_all"] = fit_mf_channel(np.r_[tu, yu], np.r_[ti, yi], np.r_[np.ones(len(tu)), yw],
                                            np.r_[tts, yts], nu, ni, mf, cutoff, eval_from)
    return FeatureContext(
        mf=channels,
        users=users, items=items, T=T, H=H,
        item_events=TimeIndex(ti, tts), all_events=TimeIndex(np.zeros(len(tts), np.int64), tts),
        user_target=TimeIndex(tu, tts, ti),
        user_source=TimeIndex(su[ok_s], to_us(source.event_ts)[ok_s], sj[ok_s]),
        user_h=TimeIndex(np.r_[tu, yu], np.r_[tts, yts], np.r_[ti, yi], np.r_[np.ones(len(tu)), np.minimum(yw, 1.0)]),
        item_synth=TimeIndex(yi, yts, weight=yw), user_synth=TimeIndex(yu, yts, weight=yw),
        pair_synth=TimeIndex(keys(yu, yi, ni), yts, weight=yw), Hs=Hs.tocsr(),
        C_real=cooc(T), C_all=cooc(H), P=PairLookup(P), n_j=n_j,
        item_users=np.asarray(T.sum(0)).ravel(), hist_cap=hist_cap,
    )


# --------------------------------------------------------------------------------------------
# training rows
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowsConfig:
    negatives_per_positive: int = 4
    negative_sampler: str = "uniform"
    synthetic_lambda: float = 1.0
    seed: int = 42
    validation_fraction: float = 0.1  # the latest real target train events -> validation slice
    train_recent_fraction: float = 1.0  # train on the latest fraction of real train rows (by time); 1 = all
    mf: Any = None  # scalr.factors.FactorConfig of the latent-factor features (None: mf_real / mf_all are 0)
    mf_train_fraction: float = 0.5  # the latest fraction of the window whose rows read out-of-time factors

    def __post_init__(self) -> None:
        if self.negative_sampler not in NEGATIVE_SAMPLERS:
            raise ValueError(f"negative_sampler must be one of {NEGATIVE_SAMPLERS}, got {self.negative_sampler!r}")
        if self.negatives_per_positive < 0:
            raise ValueError("negatives_per_positive must be >= 0")
        if self.synthetic_lambda < 0:
            raise ValueError("synthetic_lambda must be >= 0")


def real_row_frame(ctx: FeatureContext, real_events: pd.DataFrame, cfg: RowsConfig) -> pd.DataFrame:
    """Real rows (codes u, i; event_ts, label, is_validation) and their sampled negatives, without
    features. Depends only on the real target events (not on synthetic data), so callers can
    reuse it across configurations. Negatives never hit an item the user has a real target event
    on (any label) and only items that existed at the row's time."""
    rng = np.random.default_rng([cfg.seed, 0])
    ni = len(ctx.items)
    ru = codes(real_events.user_id, ctx.users)
    ri = codes(real_events.item_id, ctx.items)
    ok = (ru >= 0) & (ri >= 0)
    real = pd.DataFrame({"u": ru[ok], "i": ri[ok], "event_ts": real_events.event_ts.to_numpy()[ok],
                         "label": real_events.label.to_numpy()[ok].astype(np.int8),
                         "is_synthetic": np.int8(0), "weight": 1.0, "source_item": None})
    excl = np.unique(np.r_[keys(real.u.to_numpy(), real.i.to_numpy(), ni), keys(*ctx.T.nonzero(), ni)])
    cut = np.quantile(to_us(real.event_ts), 1 - cfg.validation_fraction) \
        if len(real) and cfg.validation_fraction > 0 else None
    # A real positive on an item no *other* user has in the train window has no analogue at
    # evaluation time (the candidate set is the train catalog): drop it (and its negatives).
    own = pair_values(ctx.T, real.u.to_numpy(), real.i.to_numpy())
    real = real[~((real.label.to_numpy() == 1) & (ctx.item_users[real.i.to_numpy()] - own <= 0))]
    # Item existence matched between classes: negatives are only drawn among items that existed
    # before the row's time (as every candidate does at evaluation), so a positive on an item's
    # first event (item_age_days = -1, a value no negative and no evaluation row has) is dropped.
    real = real[ctx.item_first_ts()[real.i.to_numpy()] < to_us(real.event_ts)]
    if cfg.train_recent_fraction < 1.0 and len(real):
        # Rows long before train_end teach what predicted purchases then; evaluation is right after
        # train_end. Keep the latest fraction of real rows (features still use the whole window).
        t_real = to_us(real.event_ts)
        real = real[t_real >= np.quantile(t_real, 1 - cfg.train_recent_fraction)]
    real = real.assign(is_validation=(to_us(real.event_ts) >= cut) if cut is not None else False)
    return _with_negatives(ctx, real, excl, cfg, rng)


def synthetic_row_frame(ctx: FeatureContext, real_events: pd.DataFrame, synthetic: pd.DataFrame | None,
                        cfg: RowsConfig) -> pd.DataFrame:
    """Synthetic rows and their negatives (never an item the user has a real or synthetic event on)."""
    rng = np.random.default_rng([cfg.seed, 1])
    ni = len(ctx.items)
    if synthetic is None or not len(synthetic):
        return pd.DataFrame(columns=["u", "i", "event_ts", "label", "is_synthetic", "weight", "source_item",
                                     "is_validation"])
    su = codes(synthetic.user_id, ctx.users)
    si = codes(synthetic.target_item, ctx.items)
    ok_s = (su >= 0) & (si >= 0)
    syn = pd.DataFrame({"u": su[ok_s], "i": si[ok_s], "event_ts": synthetic.event_ts.to_numpy()[ok_s],
                        "label": synthetic.label.to_numpy()[ok_s].astype(np.int8),
                        "is_synthetic": np.int8(1),
                        "weight": cfg.synthetic_lambda * synthetic.weight.to_numpy(float)[ok_s],
                        "source_item": synthetic.source_item.astype(str).to_numpy()[ok_s], "is_validation": False})
    ru, ri = codes(real_events.user_id, ctx.users), codes(real_events.item_id, ctx.items)
    excl = np.unique(np.r_[keys(ru[(ru >= 0) & (ri >= 0)], ri[(ru >= 0) & (ri >= 0)], ni),
                           keys(syn.u.to_numpy(), syn.i.to_numpy(), ni), keys(*ctx.T.nonzero(), ni)])
    syn = syn[ctx.item_first_ts()[syn.i.to_numpy()] < to_us(syn.event_ts)]  # item existence, as for real rows
    return _with_negatives(ctx, syn, excl, cfg, rng)


def _with_negatives(ctx: FeatureContext, frame: pd.DataFrame, excl: np.ndarray, cfg: RowsConfig,
                    rng: np.random.Generator) -> pd.DataFrame:
    if not len(frame):
        return frame
    pos = frame[frame.label == 1]
    parent, neg_item = sample_negatives(pos.u.to_numpy(), cfg.negatives_per_positive, ctx.item_users,
                                        excl, cfg.negative_sampler, rng, item_first_ts=ctx.item_first_ts(),
                                        parent_ts=to_us(pos.event_ts))
    negs = pos.iloc[parent].assign(i=neg_item, label=np.int8(0))
    return pd.concat([frame, negs], ignore_index=True)


def finish_rows(rows: pd.DataFrame, ctx: FeatureContext, feats: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Output layout of the training rows: keys, lineage, label, sample_weight and every feature
    (computed with ``ctx`` unless given in ``feats``)."""
    feats = ctx.features(rows.u.to_numpy(), rows.i.to_numpy(), to_us(rows.event_ts)) if feats is None else feats
    out = pd.DataFrame({
        "user_id": ctx.users.to_numpy()[rows.u.to_numpy()],
        "item_id": ctx.items.to_numpy()[rows.i.to_numpy()],
        "event_ts": rows.event_ts.to_numpy(),
        "source_item": rows.source_item.to_numpy(),
        "is_synthetic": rows.is_synthetic.to_numpy().astype(np.int8),
        "is_validation": rows.is_validation.to_numpy().astype(bool),
        "label": rows.label.to_numpy().astype(np.int8),
        "sample_weight": np.where(rows.is_synthetic.to_numpy() == 1, rows.weight.to_numpy(float), 1.0),
        **{f: feats[f] for f in FEATURES},
    })
    out["row_id"] = np.arange(len(out), dtype=np.int64)
    return out


def build_training_rows(ctx: FeatureContext, real_events: pd.DataFrame,
                        synthetic: pd.DataFrame | None, cfg: RowsConfig) -> pd.DataFrame:
    """Training rows: real target train events [user_id, item_id, event_ts, label] (+ sampled
    negatives) and synthetic events [user_id, target_item, event_ts, weight, label, source_item]
    (+ negatives from the same sampler). Returns keys, lineage (is_synthetic, source_item,
    is_validation), label, sample_weight and every feature.

    Real negatives never hit an item the user has a real target event on; synthetic negatives
    also not one of the user's synthetic items; both only items that existed at the row's time.
    The validation flag marks the latest ``validation_fraction`` of real rows (by the positive's
    event time; negatives follow their positive)."""
    real = real_row_frame(ctx, real_events, cfg)
    syn = synthetic_row_frame(ctx, real_events, synthetic, cfg)
    rows = pd.concat([f for f in (real, syn) if len(f)], ignore_index=True)
    return finish_rows(rows, ctx)


# --------------------------------------------------------------------------------------------
# leak audit
# --------------------------------------------------------------------------------------------

def auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    """(Weighted) ROC AUC by the rank formula with average ranks for ties; nan if one class."""
    from scalr.evaluation import auc as _auc
    return _auc(y, s, w)


@dataclass
class AuditResult:
    adversarial_auc: float  # synthetic vs real classifier, held-out half
    table: pd.DataFrame  # per feature: importance, univariate adversarial AUC, label AUCs, leak gap
    purged: list[str]
    adversarial_auc_after: float = float("nan")  # the same classifier on the features kept after the purge


def leak_audit(rows: pd.DataFrame, features: list[str] | tuple[str, ...] = FEATURES,
               purge_features: list[str] | tuple[str, ...] = (), purge_threshold: float | None = 0.1,
               seed: int = 42, max_rows: int = 200_000) -> AuditResult:
    """Adversarial audit of synthetic vs real rows.

    * adversarial_auc: a LightGBM classifier of ``is_synthetic`` on the features (trained on one
      half of a sample, AUC on the other). 0.5 = indistinguishable.
    * per feature: gain importance in that classifier; univariate adversarial AUC
      (max(a, 1-a)); label AUC on real rows and on synthetic rows; ``leak_gap`` = label AUC on
      synthetic rows minus label AUC on real rows. A feature with a large positive gap tells
      synthetic positives from synthetic negatives better than it does for real rows: it carries
      the synthetic label (the P_hat leak). Features with ``leak_gap > purge_threshold`` (and those
      in ``purge_features``) are purged.
    """
    features = list(features)
    rng = np.random.default_rng(seed)
    take = rows if len(rows) <= max_rows else rows.iloc[np.sort(rng.choice(len(rows), max_rows, replace=False))]
    y_adv = take.is_synthetic.to_numpy()
    recs = []
    real = take.is_synthetic.to_numpy() == 0
    for f in features:  # loop over features (a handful), each vectorized
        x = take[f].to_numpy(float)
        a = auc(y_adv, x)
        lr = auc(take.label.to_numpy()[real], x[real])
        ls = auc(take.label.to_numpy()[~real], x[~real])
        recs.append({"feature": f, "adversarial_auc": max(a, 1 - a) if a == a else np.nan,
                     "label_auc_real": lr, "label_auc_synthetic": ls, "leak_gap": ls - lr})
    table = pd.DataFrame(recs)
    ok = 0 < y_adv.sum() < len(y_adv)
    half = rng.random(len(take)) < 0.5

    def adversary(feats: list[str]):
        X = take[feats].to_numpy(float)
        params = dict(objective="binary", learning_rate=0.2, num_leaves=31, min_data_in_leaf=50,
                      deterministic=True, force_row_wise=True, num_threads=1, seed=seed, verbose=-1)
        clf = lgb.train(params, lgb.Dataset(X[half], y_adv[half], feature_name=feats), num_boost_round=60)
        return clf, auc(y_adv[~half], clf.predict(X[~half]))

    if ok:
        clf, adv = adversary(features)
        gain = clf.feature_importance("gain")
        table["importance_gain"] = gain / max(gain.sum(), 1e-12)
    else:
        adv = float("nan")
        table["importance_gain"] = np.nan
    auto = table.feature[table.leak_gap > purge_threshold].tolist() if purge_threshold is not None else []
    purged = [f for f in features if f in set(purge_features) | set(auto)]
    table["purged"] = table.feature.isin(purged)
    kept = [f for f in features if f not in purged]
    adv_after = adv if not purged else (adversary(kept)[1] if ok and kept else float("nan"))
    return AuditResult(adv, table, purged, adv_after)


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    objective: str = "binary"  # binary | lambdarank
    seed: int = 0
    n_estimators: int = 150
    learning_rate: float = 0.15
    num_leaves: int = 15
    min_child_samples: int = 100
    early_stopping_rounds: int = 10
    max_bin: int = 63
    # 1 thread: on the 2-core machine shared with other jobs, LightGBM's OpenMP with 2 threads ran
    # the Food-Kitchen baseline 6.5x slower (35.8 s vs 5.5 s, load 5-6); results are deterministic
    # for a fixed thread count.
    threads: int = 1
    extra: dict = field(default_factory=dict)


def _params(cfg: TrainConfig) -> dict:
    p = dict(learning_rate=cfg.learning_rate, num_leaves=cfg.num_leaves,
             min_data_in_leaf=cfg.min_child_samples, max_bin=cfg.max_bin, feature_fraction=0.8, bagging_fraction=0.8,
             bagging_freq=1, seed=cfg.seed, deterministic=True, force_row_wise=True,
             num_threads=cfg.threads, verbose=-1)
    if cfg.objective == "binary":
        p.update(objective="binary", metric="binary_logloss")
    elif cfg.objective == "lambdarank":
        p.update(objective="lambdarank", metric="ndcg", eval_at=[10], lambdarank_truncation_level=20)
    else:
        raise ValueError(f"objective must be binary or lambdarank, got {cfg.objective!r}")
    p.update(cfg.extra)
    return p


def _groups(rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Sort rows into query groups (user, is_synthetic) and return group sizes."""
    r = rows.sort_values(["user_id", "is_synthetic"], kind="stable")
    sizes = r.groupby(["user_id", "is_synthetic"], sort=False).size().to_numpy()
    return r, sizes


def train_model(rows: pd.DataFrame, features: list[str], cfg: TrainConfig) -> lgb.Booster:
    """LightGBM on the non-validation rows, weighted by sample_weight, early-stopped on the real-only
    validation slice (the latest real target train events)."""
    tr = rows[~rows.is_validation.to_numpy()]
    va = rows[rows.is_validation.to_numpy() & (rows.is_synthetic.to_numpy() == 0)]
    if cfg.objective == "lambdarank":
        tr, g_tr = _groups(tr)
        va, g_va = _groups(va)
    dtr = lgb.Dataset(tr[features].to_numpy(float), tr.label.to_numpy(), weight=tr.sample_weight.to_numpy(float),
                      feature_name=list(features), free_raw_data=True)
    dva = lgb.Dataset(va[features].to_numpy(float), va.label.to_numpy(), reference=dtr)
    if cfg.objective == "lambdarank":
        dtr.set_group(g_tr)
        dva.set_group(g_va)
    callbacks = [lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)] if len(va) else []
    return lgb.train(_params(cfg), dtr, num_boost_round=cfg.n_estimators,
                     valid_sets=[dva] if len(va) else None, callbacks=callbacks)


def predict(model: lgb.Booster, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    return model.predict(frame[features].to_numpy(float), num_iteration=model.best_iteration or None)


# --------------------------------------------------------------------------------------------
# one call for the dbt Python model training_rows
# --------------------------------------------------------------------------------------------

def training_rows_from_tables(real_events: pd.DataFrame, source_events: pd.DataFrame,
                              translation: pd.DataFrame, synthetic: pd.DataFrame | None,
                              cfg: RowsConfig) -> pd.DataFrame:
    """real_events [user_id, item_id, event_ts, label] (real target train events), source_events
    [user_id, source_domain, source_item, ...] (source train events), the translation mart and the
    aligned synthetic events. var target_keep_users is applied upstream in the warehouse
    (int_events_train): real_events hold only kept users' events and translation is the P_hat of
    that data, so nothing is filtered or recomputed here."""
    pos = real_events[real_events.label.to_numpy() == 1]
    src = source_events[source_events.label.to_numpy() == 1] if "label" in source_events else source_events
    users = pd.Index(np.unique(np.r_[real_events.user_id.to_numpy().astype(str), src.user_id.to_numpy().astype(str)]))
    items = pd.Index(np.unique(pos.item_id.to_numpy().astype(str)))
    ctx = build_context(pos, src, translation, synthetic, users, items, cfg.synthetic_lambda, mf=cfg.mf,
                        mf_train_fraction=cfg.mf_train_fraction)
    return build_training_rows(ctx, real_events, synthetic, cfg)


def factor_config(factors: int | None, regularization: float = 0.05, alpha: float = 10.0,
                  iterations: int = 10, seed: int = 0):
    """The FactorConfig of the vars mf_factors (0 or null: off), mf_regularization, mf_alpha,
    mf_iterations, mf_seed."""
    from scalr.factors import FactorConfig
    if not factors:
        return None
    return FactorConfig(factors=int(factors), regularization=float(regularization), alpha=float(alpha),
                        iterations=int(iterations), seed=int(seed))
