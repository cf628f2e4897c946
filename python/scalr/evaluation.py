"""Honest evaluation on real target events of a later window: full-catalog Recall / NDCG@K, catalog
coverage, NE, relative NE, AUC, calibration, user segments, bootstrap CIs over users, paired
differences. Pure and vectorized (numpy / pandas); no Python loop over rows or users.

Conventions
* NE = mean log loss / entropy of the base rate of the same rows, so the constant base-rate
  predictor has NE = 1 and lower is better. Relative NE % = 100 * (NE_model / NE_baseline - 1).
* Recall@K = (#positives of the user in their top K) / (#positives of the user); NDCG@K with
  binary gains and IDCG over min(#positives, K). The candidates are the whole train catalog minus
  the user's own train items. Ties in the score are broken by a fixed random order of the
  catalog, never by the label.
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


# --------------------------------------------------------------------------------------------
# full-catalog ranking (the default protocol): every train-catalog item is a candidate for every
# eval user, minus the user's own (visible) train items; scored in user chunks
# --------------------------------------------------------------------------------------------

RANK_KS = (10, 50, 100)


def rank_block(scores: np.ndarray, exclude: np.ndarray, pos_row: np.ndarray, pos_item: np.ndarray,
               tb_order: np.ndarray, ks: tuple[int, ...] = RANK_KS,
               row_segment: np.ndarray | None = None, n_segments: int = 1) -> tuple[np.ndarray, dict]:
    """Ranks of one chunk of users over the whole catalog.

    scores: (n_rows, n_items); exclude: bool (n_rows, n_items), items that are not candidates of
    the row (never ranked, never in a top-K); pos_row / pos_item: the positives (row of the
    chunk, item); tb_order: the catalog in tie-break order (a fixed permutation: among equal
    scores the item earlier in tb_order ranks higher; never the label). Returns the 0-based rank
    of each positive among its row's candidates, and for each k a (n_segments, n_items) bool of
    the items in at least one top-k list of the segment's rows (``row_segment``: segment code of
    each row; default one segment)."""
    n, ni = scores.shape
    inv = np.empty(ni, np.int64)
    inv[tb_order] = np.arange(ni)
    s = np.where(exclude, -np.inf, np.asarray(scores, np.float64))[:, tb_order]  # columns in tie-break order
    cand = ~exclude[:, tb_order]
    pc = inv[np.asarray(pos_item, np.int64)]
    pr = np.asarray(pos_row, np.int64)
    sv = s[pr, pc]
    rows = s[pr]
    rank = (rows > sv[:, None]).sum(1) + ((rows == sv[:, None]) & (np.arange(ni)[None, :] < pc[:, None])).sum(1)
    seg = np.zeros(n, np.int64) if row_segment is None else np.asarray(row_segment, np.int64)
    tops = {}
    for k in ks:
        kk = min(k, ni)
        thr = -np.partition(-s, kk - 1, axis=1)[:, kk - 1]
        gt = s > thr[:, None]
        eq = s == thr[:, None]
        need = kk - gt.sum(1)
        top = (gt | (eq & (np.cumsum(eq, axis=1) <= need[:, None]))) & cand
        hit = np.zeros((n_segments, ni), bool)
        for g in range(n_segments):  # a handful of segments, each one vectorized OR over rows
            m = seg == g
            if m.any():
                hit[g, tb_order] = top[m].any(0)
        tops[k] = hit
    return rank.astype(np.int64), tops


def per_user_from_ranks(pos_user: np.ndarray, pos_rank: np.ndarray, n_users: int,
                        ks: tuple[int, ...] = RANK_KS) -> pd.DataFrame:
    """Per-user Recall@K and NDCG@K (binary gains, IDCG over min(#positives, K)) from the rank of
    each positive; index: user position 0..n_users-1 (users without a positive have n_pos 0)."""
    u = np.asarray(pos_user, np.int64)
    r = np.asarray(pos_rank, np.int64)
    n_pos = np.bincount(u, minlength=n_users).astype(float)
    out = pd.DataFrame({"n_pos": n_pos})
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in ks:
            hit = r < k
            out[f"recall_at_{k}"] = np.bincount(u, weights=hit, minlength=n_users) / n_pos
            dcg = np.bincount(u, weights=hit / np.log2(r + 2.0), minlength=n_users)
            ideal = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))]
            out[f"ndcg_at_{k}"] = dcg / ideal[np.minimum(n_pos, k).astype(int)]
    return out


def ranking_summary(per_user: pd.DataFrame, segment_of: np.ndarray, base: pd.DataFrame | None = None,
                    ks: tuple[int, ...] = RANK_KS, n_boot: int = 200, seed: int = 0,
                    segments: tuple[str, ...] = SEGMENTS) -> pd.DataFrame:
    """Mean over users of each ranking metric per segment with a 95 % user-bootstrap CI, and with
    ``base`` (the same users under the reference arm) the paired difference this - base with its
    paired CI (the same resampled users for both). segment_of: 'cold' / 'warm' per user row."""
    metrics = [f"{m}_at_{k}" for k in ks for m in ("recall", "ndcg")]
    seg = np.asarray(segment_of)
    out = []
    for name in segments:  # three segments
        m = (per_user.n_pos.to_numpy() > 0) & ((seg == name) if name != "all" else True)
        rec: dict = {"segment": name, "n_users": int(m.sum()), "n_pos": int(per_user.n_pos.to_numpy()[m].sum())}
        if m.any():
            counts = bootstrap_counts(int(m.sum()), n_boot, seed) if n_boot else None
            for c in metrics:
                v = per_user[c].to_numpy()[m]
                rec[c] = float(v.mean())
                if counts is not None:
                    rec[c + "_lo"], rec[c + "_hi"] = ci(counts @ v / len(v))
                if base is not None:
                    d = v - base[c].to_numpy()[m]
                    rec["diff_" + c] = float(d.mean())
                    if counts is not None:
                        rec["diff_" + c + "_lo"], rec["diff_" + c + "_hi"] = ci(counts @ d / len(d))
        out.append(rec)
    return pd.DataFrame(out)


def pointwise_summary(user: np.ndarray, y: np.ndarray, p: np.ndarray, segment_of_user: pd.Series,
                      base: np.ndarray | None = None, n_boot: int = 200, seed: int = 0,
                      prob: bool = True, segments: tuple[str, ...] = SEGMENTS) -> pd.DataFrame:
    """NE (with CI), AUC and calibration of pointwise scores per segment; with ``base`` (the
    reference arm's predictions on the same rows) relative NE % with a paired user-bootstrap CI."""
    user = np.asarray(user)
    seg = segment_of_user.reindex(pd.Index(user)).to_numpy()
    parts_all = per_user_ne_parts(user, y, p) if prob else None
    base_all = per_user_ne_parts(user, y, base) if prob and base is not None else None
    out = []
    for name in segments:  # three segments
        m = np.ones(len(user), bool) if name == "all" else seg == name
        yy, pp = np.asarray(y)[m], np.asarray(p)[m]
        rec: dict = {"segment": name, "n_rows": int(m.sum()), "n_pos_point": int(yy.sum())}
        if len(yy) and 0 < yy.sum() < len(yy):
            rec["auc"] = auc(yy, pp)
            if prob:
                rec["ne"] = ne(yy, pp)
                rec["calibration"] = calibration(yy, pp)
                parts = parts_all[parts_all.index.isin(np.unique(user[m]))]
                counts = bootstrap_counts(len(parts), n_boot, seed) if n_boot else np.ones((1, len(parts)))
                ne_b = ne_from_parts(counts, parts)
                if n_boot:
                    rec["ne_lo"], rec["ne_hi"] = ci(ne_b)
                if base_all is not None:
                    rec["ne_reference"] = ne(yy, np.asarray(base)[m])
                    rec["rel_ne_pct"] = 100 * (rec["ne"] / rec["ne_reference"] - 1)
                    if n_boot:
                        base_b = ne_from_parts(counts, base_all.loc[parts.index])
                        rec["rel_ne_lo"], rec["rel_ne_hi"] = ci(100 * (ne_b / base_b - 1))
        out.append(rec)
    return pd.DataFrame(out)
