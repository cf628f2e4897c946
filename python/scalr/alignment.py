"""Distribution alignment of synthetic events to the real target data (SCALR section 3.3).

Item-value buckets are quantiles of the item value over the REAL target train positives (one value
per event, so popular items weigh more). Methods:

* ``none``: keep every synthetic row (the bucket is still attached).
* ``bucket``: per bucket b keep n_b = N * share_real(b) rows, chosen at random, so synthetic bucket
  shares equal the real ones; N = ``ratio`` * #real positives, lowered if some bucket cannot supply
  its share (N = min_b available_b / share_b).
* ``uniform_positive``: keep the same total N as ``bucket``, uniformly at random (no reshaping).
* ``positive_negative``: ``bucket`` applied separately to synthetic positives and negatives,
  against the real positives' and real negatives' bucket shares (equals ``bucket`` on data with
  only positives).

Selection draws one uniform priority per synthetic row from ``Generator(PCG64(seed))`` in input
order and keeps the n_b lowest priorities of each bucket; kept rows stay in input order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

METHODS = ("none", "bucket", "uniform_positive", "positive_negative")


@dataclass(frozen=True)
class AlignConfig:
    method: str = "bucket"
    n_buckets: int = 10
    ratio: float | None = 1.0
    seed: int = 42

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"alignment must be one of {METHODS}, got {self.method!r}")
        if self.n_buckets < 1:
            raise ValueError(f"value_buckets must be >= 1, got {self.n_buckets}")
        if self.ratio is not None and self.ratio <= 0:
            raise ValueError(f"synthetic_ratio must be > 0, got {self.ratio}")


def bucket_edges(real_values: np.ndarray, n_buckets: int) -> np.ndarray:
    """Interior quantile edges (unique, ascending) of the real values."""
    v = real_values[np.isfinite(real_values)]
    if len(v) == 0 or n_buckets <= 1:
        return np.zeros(0)
    qs = np.quantile(v, np.arange(1, n_buckets) / n_buckets, method="lower")
    return np.unique(qs)


def assign_buckets(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bucket 0..len(edges): value <= edges[0] -> 0, ... Missing values go to bucket 0."""
    b = np.searchsorted(edges, np.nan_to_num(values, nan=-np.inf), side="left")
    return b.astype(np.int32)


def shares(buckets: np.ndarray, n_buckets: int, weights: np.ndarray | None = None) -> np.ndarray:
    counts = np.bincount(buckets, weights=weights, minlength=n_buckets).astype(np.float64)
    total = counts.sum()
    return counts / total if total > 0 else counts


def tv_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance between two share vectors."""
    return float(0.5 * np.abs(a - b).sum())


def largest_remainder(total: int, share: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Integer counts proportional to ``share`` summing to ``total`` (largest-remainder rounding),
    then capped at ``cap``."""
    raw = total * share
    n = np.floor(raw).astype(np.int64)
    short = int(total - n.sum())
    if short > 0:
        order = np.argsort(-(raw - n), kind="stable")
        n[order[:short]] += 1
    return np.minimum(n, cap)


def bucket_quota(syn_buckets: np.ndarray, real_share: np.ndarray, target_total: float | None) -> np.ndarray:
    """Rows to keep per bucket so synthetic shares match ``real_share``. Buckets the synthetic data
    cannot supply at all (e.g. after a strict min_support) are left out and the real shares are
    renormalised over the others, so one empty bucket does not empty the result; the remaining
    mismatch shows in the TV distance."""
    nb = len(real_share)
    avail = np.bincount(syn_buckets, minlength=nb).astype(np.int64)
    pos = (real_share > 0) & (avail > 0)
    if not pos.any():
        return np.zeros(nb, np.int64)
    share = np.where(pos, real_share, 0.0)
    share = share / share.sum()
    feasible = float(np.min(avail[pos] / share[pos]))
    total = feasible if target_total is None else min(float(target_total), feasible)
    return largest_remainder(int(np.floor(total)), share, avail)


def keep_quota(buckets: np.ndarray, priority: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Mask keeping the ``quota[b]`` lowest-priority rows of each bucket b."""
    order = np.lexsort((priority, buckets))
    sorted_b = buckets[order]
    starts = np.searchsorted(sorted_b, np.arange(len(quota)), side="left")
    rank = np.arange(len(order)) - starts[sorted_b]
    keep = np.zeros(len(buckets), bool)
    keep[order[rank < quota[sorted_b]]] = True
    return keep


def _values_for(items: pa.Array | pa.ChunkedArray, item_values: pa.Table) -> np.ndarray:
    idx = pc.index_in(items, value_set=item_values["item_id"].combine_chunks())
    vals = item_values["value"].combine_chunks().cast(pa.float64())
    out = vals.take(idx)
    return out.to_numpy(zero_copy_only=False).astype(np.float64)


@dataclass
class AlignmentResult:
    table: pa.Table
    edges: np.ndarray
    real_share: np.ndarray
    before_share: np.ndarray
    after_share: np.ndarray

    @property
    def tv_before(self) -> float:
        return tv_distance(self.before_share, self.real_share)

    @property
    def tv_after(self) -> float:
        return tv_distance(self.after_share, self.real_share)


def align_detailed(synthetic: pa.Table, real_target: pa.Table, item_values: pa.Table,
                   cfg: AlignConfig = AlignConfig()) -> AlignmentResult:
    real_label = real_target["label"].to_numpy(zero_copy_only=False) if "label" in real_target.schema.names \
        else np.ones(real_target.num_rows, np.int64)
    real_vals = _values_for(real_target["item_id"], item_values)
    edges = bucket_edges(real_vals[real_label == 1], cfg.n_buckets)
    nb = len(edges) + 1
    real_b = assign_buckets(real_vals, edges)
    syn_b = assign_buckets(_values_for(synthetic["target_item"], item_values), edges)
    syn_label = synthetic["label"].to_numpy(zero_copy_only=False)
    real_pos_share = shares(real_b[real_label == 1], nb)
    n_real_pos = int((real_label == 1).sum())
    rng = np.random.Generator(np.random.PCG64(cfg.seed))
    priority = rng.random(synthetic.num_rows)
    target = None if cfg.ratio is None else cfg.ratio * n_real_pos
    if cfg.method == "none":
        keep = np.ones(synthetic.num_rows, bool)
    elif cfg.method in ("bucket", "uniform_positive"):
        pos = syn_label == 1
        quota = bucket_quota(syn_b[pos], real_pos_share, target)
        keep = np.zeros(synthetic.num_rows, bool)
        if cfg.method == "bucket":
            keep[pos] = keep_quota(syn_b[pos], priority[pos], quota)
        else:
            keep[pos] = keep_quota(np.zeros(pos.sum(), np.int32), priority[pos],
                                   np.array([quota.sum()], np.int64))
    else:  # positive_negative
        keep = np.zeros(synthetic.num_rows, bool)
        for lab in (1, 0):
            m_real, m_syn = real_label == lab, syn_label == lab
            if not m_real.any() or not m_syn.any():
                continue
            t = None if cfg.ratio is None else cfg.ratio * int(m_real.sum())
            quota = bucket_quota(syn_b[m_syn], shares(real_b[m_real], nb), t)
            keep[m_syn] = keep_quota(syn_b[m_syn], priority[m_syn], quota)
    kept = synthetic.filter(pa.array(keep)).append_column("value_bucket", pa.array(syn_b[keep], pa.int32()))
    return AlignmentResult(kept, edges, real_pos_share,
                           shares(syn_b[syn_label == 1], nb),
                           shares(syn_b[keep & (syn_label == 1)], nb))


def align(synthetic: pa.Table, real_target: pa.Table, item_values: pa.Table,
          cfg: AlignConfig = AlignConfig()) -> pa.Table:
    """Aligned synthetic rows (input columns + value_bucket), in input order."""
    return align_detailed(synthetic, real_target, item_values, cfg).table
