"""Full-catalog ranking of held-out real items (the ladder's protocol, scalr.evaluation): every eval
user's real positives of the eval window are ranked among the whole train catalog minus the
user's own train items, ties broken by the fixed catalog order; Recall / NDCG @ 10 / 50 / 100
per user, a user-bootstrap CI and the paired difference against a reference arm; recall@100 of
head items (the 10 % most popular, item-popularity decile 10) vs tail items (deciles 1-9),
micro-averaged over positives."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalr import evaluation as ev


def ranks(score_rows, es, chunk: int = 1024) -> np.ndarray:
    """0-based rank of every eval positive of ``es`` (a scalr.ladder.EvalSet) under
    score_rows(rows) -> (len(rows), n_items) scores of eval-user rows ``rows``."""
    out = np.empty(len(es.pos_user), np.int64)
    order = np.argsort(es.pos_user, kind="stable")
    n_eval = len(es.eval_users)
    bounds = np.searchsorted(es.pos_user[order], np.arange(0, n_eval + chunk, chunk))
    for b, a0 in enumerate(range(0, n_eval, chunk)):  # user chunks (memory bound)
        rows = np.arange(a0, min(n_eval, a0 + chunk))
        s = np.asarray(score_rows(rows), np.float64)
        excl = es.exclude[a0:a0 + len(rows)].toarray().astype(bool)
        sel = order[bounds[b]:bounds[b + 1]]
        r, _ = ev.rank_block(s, excl, es.pos_user[sel] - a0, es.pos_item[sel], es.tb_order, (10,))
        out[sel] = r
    return out


def summarize(es, r: np.ndarray, base: pd.DataFrame | None, n_boot: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-segment metrics with CIs and paired diffs vs base, per-user frame)."""
    per = ev.per_user_from_ranks(es.pos_user, r, len(es.eval_users))
    m = ev.ranking_summary(per, es.segment, base, n_boot=n_boot, seed=seed)
    head = es.item_decile[es.pos_item] == 10
    seg_pos = es.segment[es.pos_user]
    for name in ("head", "tail"):
        sel = head if name == "head" else ~head
        vals = []
        for s in m.segment:
            mm = sel & ((seg_pos == s) if s != "all" else True)
            vals.append(float((r[mm] < 100).mean()) if mm.any() else float("nan"))
        m[f"recall_at_100_{name}"] = vals
    return m, per
