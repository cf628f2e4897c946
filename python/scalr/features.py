"""Features of SCALR's training and evaluation rows (time-aware: every feature of a row at time t uses
events strictly before t).

Features (``FEATURES``) are computed by one function, ``FeatureContext.features``, for every row
(real, synthetic, validation and evaluation) and never from the row's own (user, item) cell:
every item- or pair-level statistic is *leave-one-out*: the row's own cell (u, i) is removed from
the counts before the feature is read. User-level features are constant over a user's rows (so
they cannot separate a user's positives from their negatives). See ``FEATURE_DOCS``.

Also the feature sets of the evaluation ladder (``ARMS``), the latent-factor channels (``MFChannel``)
and ``build_context``, which builds the ``FeatureContext`` from the train-window tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scalr.frames import US_PER_DAY, codes, keys, pair_values, sparse_indicator, to_us


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
            out["cf_real_norm"] = (raw / np.sqrt((self.item_users[None, :] + 1) * (n_hist[:, None] + 1))
                                   ).astype(np.float32)
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
            out["cf_all_norm"] = (raw / np.sqrt((self.item_users[None, :] + 1) * (m_hist[:, None] + 1))
                                  ).astype(np.float32)
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
               "rows in [cutoff, end of window) read factors fitted on events before the cutoff "
               "(var mf_train_fraction), rows before the cutoff read NaN, evaluation rows factors fitted on the "
               "whole window.",
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


def factor_config(factors: int | None, regularization: float = 0.05, alpha: float = 10.0,
                  iterations: int = 10, seed: int = 0):
    """The FactorConfig of the vars mf_factors (0 or null: off), mf_regularization, mf_alpha,
    mf_iterations, mf_seed."""
    from scalr.factors import FactorConfig
    if not factors:
        return None
    return FactorConfig(factors=int(factors), regularization=float(regularization), alpha=float(alpha),
                        iterations=int(iterations), seed=int(seed))
