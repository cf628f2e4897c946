"""Test oracles: second, independent implementations of what the warehouse computes in SQL, used only
by the tests to check it (never a code path):

* ``keep_draw`` / ``keep_target_users``: int_target_users' md5 keep rule (macro scalr_md5_uniform);
* ``translate``: int_translation's P_hat (the translation mart);
* ``validation_start`` / ``mark_validation``: int_validation_cut's early-stopping slice.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from scalr.frames import codes, sparse_indicator


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
    applies it upstream (int_events_train); this is its test oracle (applying it again to already
    filtered events is a no-op)."""
    if fraction >= 1:
        return np.ones(len(user_ids), bool)
    return keep_draw(user_ids, seed) < float(fraction)


def validation_start(event_ts, fraction: float):
    """The (1 - fraction) time quantile (linear interpolation) of the target train events, as a
    Timestamp; when more than 2 x fraction of the events lie at or after it (coarse times), the
    next event time after the first of them instead, None when there is none; None when fraction is 0 or there is no
    event. The twin of int_validation_cut."""
    ts = pd.to_datetime(pd.Series(event_ts)).to_numpy().astype("datetime64[us]").astype(np.int64)
    if fraction <= 0 or not len(ts):
        return None
    q = np.quantile(ts, 1 - fraction)
    if (ts >= q).sum() <= 2 * fraction * len(ts):
        return pd.Timestamp(int(round(q)), unit="us")
    later = ts[ts > ts[ts >= q].min()]
    return pd.Timestamp(int(later.min()), unit="us") if len(later) else None


def mark_validation(target: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """target events with int_target_train_events' is_validation column (event_ts at or after
    validation_start)."""
    cut = validation_start(target.event_ts, fraction)
    flag = (pd.to_datetime(target.event_ts) >= cut).to_numpy() if cut is not None else np.zeros(len(target), bool)
    return target.assign(is_validation=flag)


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
