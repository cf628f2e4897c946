"""Honest evaluation on real target events of a later window: NE, relative NE, AUC, calibration,
Recall / NDCG@K over a stated candidate set, catalog coverage, user segments, bootstrap CIs over
users. Pure and vectorized (numpy / pandas); no Python loop over rows or users.

Conventions
* NE = mean log loss / entropy of the base rate of the same rows, so the constant base-rate
  predictor has NE = 1 and lower is better. Relative NE % = 100 * (NE_model / NE_baseline - 1).
* Recall@K = (#positives of the user in their top K) / (#positives of the user); NDCG@K with
  binary gains and IDCG over min(#positives, K). Ties in the score are broken by ``tiebreak``
  (a fixed random key), never by the label.
* Coverage@K = #distinct items in the union of all users' top-K lists / catalog size.
* Bootstrap: resample users with replacement (B draws, fixed seed); every statistic is a ratio of
  per-user sums, so one (B x users) count matrix gives all of them; paired for relative NE.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

EPS = 1e-12
SEGMENTS = ("all", "cold", "warm")


def entropy(p: np.ndarray | float) -> np.ndarray | float:
    p = np.clip(p, EPS, 1 - EPS)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def logloss_terms(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    y = np.asarray(y, float)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def ne(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    """Normalized entropy: (weighted) log loss / entropy of the (weighted) base rate."""
    y = np.asarray(y, float)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    if w.sum() <= 0:
        return float("nan")
    ll = float((w * logloss_terms(y, p)).sum() / w.sum())
    base = float((w * y).sum() / w.sum())
    h = float(entropy(base))
    return ll / h if h > 0 else float("nan")


def auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    """(Weighted) ROC AUC = P(score of a positive > score of a negative) + 0.5 P(tie)."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, float)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    wp, wn = w[y].sum(), w[~y].sum()
    if wp <= 0 or wn <= 0:
        return float("nan")
    uniq, inv = np.unique(s, return_inverse=True)
    pos_w = np.bincount(inv, weights=w * y, minlength=len(uniq))
    neg_w = np.bincount(inv, weights=w * ~y, minlength=len(uniq))
    neg_below = np.cumsum(neg_w) - neg_w
    return float((pos_w * (neg_below + 0.5 * neg_w)).sum() / (wp * wn))


def calibration(y: np.ndarray, p: np.ndarray) -> float:
    """mean predicted / observed rate (1 = calibrated in the large)."""
    m = float(np.mean(y))
    return float(np.mean(p)) / m if m > 0 else float("nan")


def _user_codes(user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unique users, integer code of each row): sorting ints is much faster than sorting strings."""
    uniq, code = np.unique(np.asarray(user), return_inverse=True)
    return uniq, code.astype(np.int64)


def rank_within_user(user: np.ndarray, score: np.ndarray, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """0-based rank of each row among its user's rows by descending score (ties by tiebreak)."""
    n = len(user)
    _, code = _user_codes(user)
    tb = np.arange(n) if tiebreak is None else np.asarray(tiebreak)
    order = np.lexsort((tb, -np.asarray(score, float), code))
    c_sorted = code[order]
    start = np.r_[True, c_sorted[1:] != c_sorted[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - first
    return rank


def ranking_per_user(user: np.ndarray, label: np.ndarray, score: np.ndarray, ks: tuple[int, ...] = (10, 50),
                     tiebreak: np.ndarray | None = None, rank: np.ndarray | None = None) -> pd.DataFrame:
    """Per-user Recall@K and NDCG@K (users without a positive are dropped); ``rank`` =
    rank_within_user(user, score, tiebreak) when the caller has it already."""
    label = np.asarray(label).astype(float)
    uniq, code = _user_codes(user)
    rank = rank_within_user(user, score, tiebreak) if rank is None else rank
    n_pos = np.bincount(code, weights=label, minlength=len(uniq))
    out = pd.DataFrame({"n_pos": n_pos}, index=pd.Index(uniq, name="user"))
    disc = label / np.log2(rank + 2.0)
    for k in ks:
        top = rank < k
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"recall@{k}"] = np.bincount(code, weights=top * label, minlength=len(uniq)) / n_pos
            dcg = np.bincount(code, weights=disc * top, minlength=len(uniq))
            m = np.minimum(n_pos, k).astype(int)
            ideal = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))
            idcg = np.where(m > 0, ideal[np.maximum(m - 1, 0)], np.nan)
            out[f"ndcg@{k}"] = dcg / idcg
    return out[out.n_pos > 0]


def coverage(user: np.ndarray, item: np.ndarray, score: np.ndarray, k: int, catalog_size: int,
             tiebreak: np.ndarray | None = None) -> float:
    rank = rank_within_user(user, score, tiebreak)
    return float(len(np.unique(np.asarray(item)[rank < k])) / max(catalog_size, 1))


@functools.lru_cache(maxsize=32)
def _bootstrap_counts(n_users: int, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.multinomial(n_users, np.full(n_users, 1.0 / n_users), size=n_boot).astype(np.float64)
    out.flags.writeable = False
    return out


def bootstrap_counts(n_users: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot x n_users) multiplicities of a users-with-replacement resample (read-only; cached,
    the same sizes and seeds recur across configurations)."""
    return _bootstrap_counts(int(n_users), int(n_boot), int(seed))


def per_user_ne_parts(user: np.ndarray, y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Per-user sums (log loss, rows, positives): NE of any user resample is a ratio of sums."""
    df = pd.DataFrame({"user": user, "ll": logloss_terms(y, p), "n": 1.0, "pos": np.asarray(y, float)})
    return df.groupby("user", sort=True)[["ll", "n", "pos"]].sum()


def ne_from_parts(counts: np.ndarray, parts: pd.DataFrame) -> np.ndarray:
    """NE for each resample (rows of ``counts``, aligned with ``parts``' users)."""
    ll = counts @ parts.ll.to_numpy()
    n = counts @ parts.n.to_numpy()
    pos = counts @ parts.pos.to_numpy()
    return (ll / n) / entropy(pos / n)


def ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def evaluate(point: pd.DataFrame, rank: pd.DataFrame, score_col: str, baseline_col: str | None = None,
             segments: pd.Series | None = None, ks: tuple[int, ...] = (10, 50), catalog_size: int = 1,
             n_boot: int = 200, seed: int = 0, prob: bool = True) -> pd.DataFrame:
    """All metrics for one scored eval set, per segment, with bootstrap CIs over users.

    point: pointwise rows [user_id, label, <score_col>, <baseline_col>] for NE / AUC / calibration;
    rank: candidate rows [user_id, item_id, label, tiebreak, <score_col>] for Recall / NDCG /
    coverage; segments: user_id -> 'cold' | 'warm'. ``prob=False`` (a heuristic score) skips
    NE and calibration. Relative NE (paired bootstrap) needs ``baseline_col`` in ``point``."""
    seg_of = segments if segments is not None else pd.Series(dtype=object)
    tb = rank.tiebreak.to_numpy() if "tiebreak" in rank else None
    r_user = rank.user_id.to_numpy()
    r_score = rank[score_col].to_numpy(float)
    r_rank = rank_within_user(r_user, r_score, tb) if len(rank) else None
    per_all = ranking_per_user(r_user, rank.label.to_numpy(), r_score, ks, tb, r_rank) if len(rank) else None
    p_user = point.user_id.to_numpy()
    p_y = point.label.to_numpy()
    p_s = point[score_col].to_numpy(float)
    parts_all = per_user_ne_parts(p_user, p_y, p_s) if prob and len(point) else None
    base_all = per_user_ne_parts(p_user, p_y, point[baseline_col].to_numpy(float)) \
        if prob and baseline_col is not None and len(point) else None
    out = []
    for seg in SEGMENTS:  # three segments, each a vectorized filter
        if seg == "all":
            pm = np.ones(len(point), bool)
            rm = np.ones(len(rank), bool)
        else:
            users = seg_of.index[seg_of.to_numpy() == seg]
            pm = pd.Index(users).get_indexer(pd.Index(p_user)) >= 0
            rm = pd.Index(users).get_indexer(pd.Index(r_user)) >= 0
        y, s = p_y[pm], p_s[pm]
        rec: dict = {"segment": seg, "n_users": int(len(np.unique(r_user[rm]))), "n_rows": int(pm.sum()),
                     "n_pos": int(y.sum())}
        if len(y) and 0 < y.sum() < len(y):
            rec["auc"] = auc(y, s)
            if prob:
                rec["ne"] = ne(y, s)
                rec["calibration"] = calibration(y, s)
                parts = parts_all[parts_all.index.isin(np.unique(p_user[pm]))]
                counts = bootstrap_counts(len(parts), n_boot, seed)
                ne_b = ne_from_parts(counts, parts)
                rec["ne_lo"], rec["ne_hi"] = ci(ne_b)
                if base_all is not None:
                    b = point[baseline_col].to_numpy(float)[pm]
                    rec["ne_baseline"] = ne(y, b)
                    rec["rel_ne_pct"] = 100 * (rec["ne"] / rec["ne_baseline"] - 1)
                    base_b = ne_from_parts(counts, base_all.loc[parts.index])
                    rec["rel_ne_lo"], rec["rel_ne_hi"] = ci(100 * (ne_b / base_b - 1))
        if per_all is not None and rm.any():
            per = per_all[per_all.index.isin(np.unique(r_user[rm]))]
            if len(per):
                counts = bootstrap_counts(len(per), n_boot, seed + 1)
                for k in ks:
                    for m in (f"recall@{k}", f"ndcg@{k}"):
                        v = per[m].to_numpy()
                        rec[m] = float(v.mean())
                        rec[m + "_lo"], rec[m + "_hi"] = ci(counts @ v / len(v))
                    top = rm & (r_rank < k)
                    rec[f"coverage@{k}"] = float(len(np.unique(rank.item_id.to_numpy()[top])) / max(catalog_size, 1))
        out.append(rec)
    return pd.DataFrame(out)


def paired_ranking_diff(user: np.ndarray, label: np.ndarray, score_a: np.ndarray, score_b: np.ndarray,
                        segments: pd.Series | None = None, ks: tuple[int, ...] = (10, 50),
                        tiebreak: np.ndarray | None = None, n_boot: int = 200, seed: int = 0,
                        per_a: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per segment and ranking metric: mean over users of (metric under score_a - under score_b)
    with a paired 95 % user-bootstrap CI (the same resampled users for both scores). ``per_a``:
    ranking_per_user of score_a when the caller has it already."""
    a = ranking_per_user(user, label, score_a, ks, tiebreak) if per_a is None else per_a
    b = ranking_per_user(user, label, score_b, ks, tiebreak).reindex(a.index)
    seg_of = segments if segments is not None else pd.Series(dtype=object)
    out = []
    for seg in SEGMENTS:  # three segments
        idx = a.index if seg == "all" else a.index[a.index.isin(seg_of.index[seg_of.to_numpy() == seg])]
        if not len(idx):
            continue
        counts = bootstrap_counts(len(idx), n_boot, seed + 7)
        rec: dict = {"segment": seg, "n_users": len(idx)}
        for k in ks:
            for m in (f"recall@{k}", f"ndcg@{k}"):
                d = (a.loc[idx, m] - b.loc[idx, m]).to_numpy()
                rec[f"diff_{m}"] = float(d.mean())
                rec[f"diff_{m}_lo"], rec[f"diff_{m}_hi"] = ci(counts @ d / len(d))
        out.append(rec)
    return pd.DataFrame(out)
