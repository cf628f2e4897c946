""""Will it help?" before any training: does the source domain carry usable signal about a user's
target items on this data?

Protocol. A seeded sample of overlap users (users with source events and real target train
positives) is held out and treated as target-cold: each scorer ranks the whole target train catalog
for them from what a cold user would have, and is scored on the user's real target train positives
(full-catalog Recall@K, the same ``scalr.evaluation`` ranking code as the ladder). Scorers:

* ``popularity``: the number of other users with a real positive on the item (the user's own
  positives left out): the no-transfer reference every lift is measured against.
* ``translation_score``: sum over the user's distinct source items j of P_hat(i|j) with the user's
  own contribution left out, (n_users_ji - o_ui) / (n_users_j - 1) from the counts of the
  ``translation`` mart (int_translation: the one P_hat; o_ui = 1 iff the user holds target item i;
  source items held by no other overlap user contribute nothing). Pairs removed by min_support /
  max_targets_per_source stay removed and count noise is not recomputed.
* ``synthetic_mf``: a cheap per-user model on real + synthetic events: implicit ALS
  (``scalr.factors``, the mf_* vars) on the real target positives of every other user plus every
  synthetic draw of ``synthetic_events`` (before alignment: the question is whether the translated
  draws carry the user's taste, not how much of them the ranker should see) at its weight; the
  held-out user's factors then come from its synthetic events only. With leave_self_out (the default) the
  held-out user's own draws never used its own (j, i) pairs; other users' draws may rest on pairs
  the held-out user contributed to (one user among the pair's n_users_ji), a small optimistic bias
  that is stated, not removed.

Every lift is the paired difference scorer - popularity over the same users with a 95 % user
bootstrap CI. Verdict per scorer: ``beats popularity`` when the CI lies above 0, ``worse than
popularity`` when below, ``no detectable difference`` otherwise, ``not measurable`` when k is at
least the catalog's size (every scorer then recalls every positive); ``overall`` (``synthetic_summary``
carries it): the source carries usable signal when some transfer scorer beats popularity. On
Food-Kitchen the raw translation score and the per-user model disagree (README): the per-user row is
the one the ladder's T+S outcome follows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scalr.evaluation import bootstrap_counts, ci, per_user_from_ranks, rank_block
from scalr.factors import FactorConfig

SCORERS = ("popularity", "translation_score", "synthetic_mf")
COLUMNS = ["scorer", "n_users", "n_positives", "k", "recall", "recall_lo", "recall_hi",
           "lift_vs_popularity", "lift_lo", "lift_hi", "rel_lift_pct", "verdict"]
CHUNK = 256  # held-out users ranked per block


@dataclass(frozen=True)
class DiagnosticConfig:
    """max_users: held-out overlap users (a seeded sample when there are more); k: Recall@k;
    n_boot: user-bootstrap draws; mf: the ALS hyper-parameters (None or factors 0: synthetic_mf off)."""

    max_users: int = 2000
    seed: int = 11
    k: int = 50
    n_boot: int = 500
    mf: FactorConfig | None = field(default_factory=FactorConfig)

    def __post_init__(self) -> None:
        if self.max_users < 1 or self.k < 1 or self.n_boot < 1:
            raise ValueError("diagnostic: max_users, k and n_boot must be >= 1")


def held_out_users(real_pos: pd.DataFrame, source: pd.DataFrame, cfg: DiagnosticConfig) -> np.ndarray:
    """Overlap users (a source event and a real target positive), sorted; a seeded sample of
    cfg.max_users of them when there are more."""
    overlap = np.intersect1d(real_pos.user_id.astype(str).unique(), source.user_id.astype(str).unique())
    if len(overlap) > cfg.max_users:
        rng = np.random.default_rng(cfg.seed)
        overlap = np.sort(rng.choice(overlap, cfg.max_users, replace=False))
    return overlap


def _codes(values: pd.Series, index: pd.Index) -> np.ndarray:
    return index.get_indexer(values.astype(str)).astype(np.int64)


def diagnose(real_pos: pd.DataFrame, source: pd.DataFrame, translation: pd.DataFrame,
             synthetic: pd.DataFrame | None, cfg: DiagnosticConfig) -> pd.DataFrame:
    """real_pos: (user_id, item_id) real target train positives; source: (user_id, source_domain,
    source_item) source train events; translation: (source_domain, source_item, target_item,
    n_users_ji, n_users_j); synthetic: (user_id, target_item, weight) or None. One row per scorer
    (COLUMNS); empty when there is no overlap user."""
    real_pos = real_pos[["user_id", "item_id"]].astype(str).drop_duplicates()
    held = held_out_users(real_pos, source, cfg)
    if len(held) == 0:
        return pd.DataFrame(columns=COLUMNS)
    catalog = pd.Index(np.sort(real_pos.item_id.unique()))
    n_items, n_held = len(catalog), len(held)
    held_idx = pd.Index(held)
    ri = _codes(real_pos.item_id, catalog)
    rh = _codes(real_pos.user_id, held_idx)
    is_held = rh >= 0
    # O: held-out users' own positives (the truth, and what every scorer must leave out)
    O = sp.csr_matrix((np.ones(is_held.sum()), (rh[is_held], ri[is_held])), shape=(n_held, n_items))
    pos_row, pos_item = O.nonzero()
    order = np.lexsort((pos_item, pos_row))
    pos_row, pos_item = pos_row[order].astype(np.int64), pos_item[order].astype(np.int64)

    pop = np.bincount(ri, minlength=n_items).astype(float)
    scores = {"popularity": lambda rows: pop[None, :] - O[rows].toarray()}

    src = source[["user_id", "source_domain", "source_item"]].astype(str).drop_duplicates()
    src = src[src.user_id.isin(held_idx)]
    tr = translation[translation.target_item.astype(str).isin(catalog)]
    jkey = tr.source_domain.astype(str) + "\x1f" + tr.source_item.astype(str)
    sources = pd.Index(np.sort(jkey.unique()))
    tj = _codes(jkey, sources)
    ti = _codes(tr.target_item, catalog)
    n_j = tr.n_users_j.to_numpy(float)
    denom = np.where(n_j > 1, n_j - 1, np.inf)  # a source item only the user holds says nothing
    P = sp.csr_matrix((tr.n_users_ji.to_numpy(float) / denom, (tj, ti)), shape=(len(sources), n_items))
    M = sp.csr_matrix((1.0 / denom, (tj, ti)), shape=(len(sources), n_items))  # one user's share
    sj = _codes(src.source_domain + "\x1f" + src.source_item, sources)
    su = _codes(src.user_id, held_idx)
    ok = sj >= 0
    S = sp.csr_matrix((np.ones(ok.sum()), (su[ok], sj[ok])), shape=(n_held, len(sources)))
    SP, SM = (S @ P).tocsr(), (S @ M).tocsr()
    # leave-one-out: remove the user's own count from every pair (j, i) with i among its positives
    scores["translation_score"] = lambda rows: SP[rows].toarray() - SM[rows].multiply(O[rows]).toarray()

    if cfg.mf is not None and cfg.mf.factors > 0 and synthetic is not None and len(synthetic):
        from scalr.features import fit_compact
        others = ~is_held
        syn = synthetic[synthetic.target_item.astype(str).isin(catalog)]
        users = pd.Index(np.sort(np.union1d(real_pos.user_id.unique(), syn.user_id.astype(str).unique())))
        u = np.r_[_codes(real_pos.user_id[others], users), _codes(syn.user_id, users)]
        i = np.r_[ri[others], _codes(syn.target_item, catalog)]
        w = np.r_[np.ones(others.sum()), syn.weight.to_numpy(float)]
        f = fit_compact(u, i, w, len(users), n_items, cfg.mf)
        hu = _codes(pd.Series(held), users)
        scores["synthetic_mf"] = lambda rows: f.score_block(hu[rows])

    rng = np.random.default_rng(cfg.seed)
    tb = rng.permutation(n_items)
    exclude = np.zeros((CHUNK, n_items), bool)
    per_user = {}
    for name, block in scores.items():  # three scorers, each ranked in user chunks
        ranks = np.empty(len(pos_row), np.int64)
        for lo in range(0, n_held, CHUNK):  # user chunks of CHUNK rows, vectorized within
            rows = np.arange(lo, min(lo + CHUNK, n_held))
            m = (pos_row >= rows[0]) & (pos_row <= rows[-1])
            r, _ = rank_block(block(rows), exclude[:len(rows)], pos_row[m] - lo, pos_item[m], tb, ks=(cfg.k,))
            ranks[m] = r
        per_user[name] = per_user_from_ranks(pos_row, ranks, n_held, ks=(cfg.k,))[f"recall_at_{cfg.k}"].to_numpy()

    counts = bootstrap_counts(n_held, cfg.n_boot, cfg.seed)
    base = per_user["popularity"]
    saturated = cfg.k >= n_items  # Recall@k ranks the whole catalog: every scorer recalls everything
    out = []
    for name, v in per_user.items():  # one row per scorer
        lo, hi = ci(counts @ v / n_held)
        d = v - base
        dlo, dhi = ci(counts @ d / n_held) if name != "popularity" else (0.0, 0.0)
        verdict = ("reference" if name == "popularity" else "not measurable" if saturated
                   else "beats popularity" if dlo > 0
                   else "worse than popularity" if dhi < 0 else "no detectable difference")
        out.append({"scorer": name, "n_users": n_held, "n_positives": len(pos_row), "k": cfg.k,
                    "recall": float(v.mean()), "recall_lo": lo, "recall_hi": hi,
                    "lift_vs_popularity": float(d.mean()), "lift_lo": dlo, "lift_hi": dhi,
                    "rel_lift_pct": float(100 * d.mean() / base.mean()) if base.mean() > 0 else np.nan,
                    "verdict": verdict})
    return pd.DataFrame(out, columns=COLUMNS)


def overall(diag: pd.DataFrame) -> str:
    """One line for ``synthetic_summary``: does some transfer scorer beat popularity on held-out
    overlap users? Names the best one with its lift and CI."""
    t = diag[diag.scorer != "popularity"]
    if not len(t):
        return "not measured (no overlap user with a real target positive)"
    if (t.verdict == "not measurable").all():
        return (f"not measurable: Recall@{int(t.k.iat[0])} with k >= the target train catalog's size ranks "
                "every item, so every scorer recalls every positive (a larger catalog or a smaller k)")
    best = t.loc[t.lift_lo.idxmax()]
    n = int(best.n_users)
    fig = (f"{best.scorer} {best.lift_vs_popularity:+.4f} [{best.lift_lo:+.4f}, {best.lift_hi:+.4f}] "
           f"Recall@{int(best.k)} over popularity, {n} held-out overlap users")
    if best.lift_lo > 0:
        return "signal: " + fig
    if (t.lift_hi < 0).all():
        return "no signal beyond popularity (every transfer score is worse): " + fig
    return "no detectable signal beyond popularity: " + fig
