"""Catalog coverage, concentration and bucket-share distance of synthetic data vs the real target
data, computed from per-item counts (small: one row per target item per stage)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalr.alignment import assign_buckets, bucket_edges, shares, tv_distance


def summarize(stage_counts: dict[str, pd.DataFrame], stage_users: dict[str, int],
              item_values: pd.DataFrame, n_buckets: int) -> pd.DataFrame:
    """One row per stage.

    stage_counts[stage]: columns target_item, n_rows, n_support1 (draws from pairs with
    n_users_ji = 1); must include stage 'real' (real target train positives).
    item_values: item_id, value for the target train catalog.
    """
    values = item_values.set_index("item_id")["value"]
    catalog = set(item_values["item_id"])
    real = stage_counts["real"]
    edges = bucket_edges(np.repeat(values.reindex(real.target_item).to_numpy(float), real.n_rows), n_buckets)
    nb = len(edges) + 1

    def bucket_share(c: pd.DataFrame) -> np.ndarray:
        b = assign_buckets(values.reindex(c.target_item).to_numpy(float), edges)
        return shares(b, nb, weights=c.n_rows.to_numpy(float))

    real_share = bucket_share(real)
    top = set(real.sort_values(["n_rows", "target_item"], ascending=[False, True])
              .head(max(1, int(np.ceil(0.1 * len(catalog))))).target_item)
    rows = []
    for stage, c in stage_counts.items():
        total = float(c.n_rows.sum())
        rows.append({
            "stage": stage,
            "n_rows": int(total),
            "n_users": int(stage_users.get(stage, 0)),
            "n_target_items": int((c.n_rows > 0).sum()),
            "catalog_coverage": len(set(c.target_item[c.n_rows > 0]) & catalog) / max(len(catalog), 1),
            "support1_share": float(c.n_support1.sum()) / total if total else np.nan,
            "top_decile_share": float(c.n_rows[c.target_item.isin(top)].sum()) / total if total else np.nan,
            "bucket_tv_to_real": tv_distance(bucket_share(c), real_share) if total else np.nan,
        })
    return pd.DataFrame(rows)
