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

Selection draws one uniform priority per synthetic row from ``priority_rng(seed)`` in input
order and keeps the n_b lowest priorities of each bucket (ties: input order); kept rows stay in
input order.

Streaming (``align_stream``): two passes over the synthetic rows, never the whole table in memory.
Pass 1 reads target_item and label, keeps a 2-byte quota class per row (bucket, or label x bucket)
and a histogram of the priorities per class in 2^16 equal bins; the quotas give per class the bin
holding its quota-th lowest priority. The priority stream is then regenerated (no table read) to
sort only the rows of those bins (about n / 2^16 per class). Pass 2 re-reads the rows in the same
order, regenerates the priorities again and keeps a row when its bin is below its class's cut bin,
or it is one of the selected rows of the cut bin. The kept rows are exactly those of the in-memory
selection (``keep_quota``) on the same priority stream.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scalr.sampling import plain_array as _plain

METHODS = ("none", "bucket", "uniform_positive", "positive_negative")


@dataclass(frozen=True)
class AlignConfig:
    method: str = "bucket"
    n_buckets: int = 10
    ratio: float | None = 1.0
    seed: int = 42
    weight_scale: float = 1.0  # every kept row's weight x this (1/K: synthetic_weight_per_draw)

    def __post_init__(self) -> None:
        if not self.weight_scale > 0:
            raise ValueError(f"weight_scale must be > 0, got {self.weight_scale}")
        if self.method not in METHODS:
            raise ValueError(f"alignment must be one of {METHODS}, got {self.method!r}")
        if self.n_buckets < 1:
            raise ValueError(f"value_buckets must be >= 1, got {self.n_buckets}")
        if self.ratio is not None and self.ratio <= 0:
            raise ValueError(f"synthetic_ratio must be > 0, got {self.ratio}")


PRIORITY_STREAM = 0xA11C


def priority_rng(seed: int) -> np.random.Generator:
    """The selection priorities' generator: ``PCG64(SeedSequence([seed, PRIORITY_STREAM]))``.

    Not ``PCG64(seed)``: synthetic_events draws with that stream (same var synthetic_seed), K
    uniforms per event in row order, so row r's priority would be the very uniform that drew its
    target, and keeping the lowest priorities would keep the draws that landed on the first alias
    cells, i.e. the most probable targets (on Food-Kitchen the aligned catalog coverage fell from
    0.81 to 0.55). A separate seed sequence gives an independent stream."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), PRIORITY_STREAM])))


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
    """Rows to keep per bucket so synthetic shares match ``real_share`` (see ``quota_from_counts``)."""
    return quota_from_counts(np.bincount(syn_buckets, minlength=len(real_share)).astype(np.int64),
                             real_share, target_total)


def quota_from_counts(avail: np.ndarray, real_share: np.ndarray, target_total: float | None) -> np.ndarray:
    """Rows to keep per bucket, given the synthetic rows available per bucket, so synthetic shares
    match ``real_share``. Buckets the synthetic data cannot supply at all (e.g. after a strict
    min_support) are left out and the real shares are renormalised over the others, so one empty
    bucket does not empty the result; the remaining mismatch shows in the TV distance."""
    nb = len(real_share)
    pos = (real_share > 0) & (avail > 0)
    if not pos.any():
        return np.zeros(nb, np.int64)
    share = np.where(pos, real_share, 0.0)
    share = share / share.sum()
    feasible = float(np.min(avail[pos] / share[pos]))
    total = feasible if target_total is None else min(float(target_total), feasible)
    return largest_remainder(int(np.floor(total)), share, avail)


def keep_quota(buckets: np.ndarray, priority: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Mask keeping the ``quota[b]`` lowest-priority rows of each bucket b (ties: input order).
    In-memory reference of what the streaming selection (``align_stream``) computes."""
    order = np.lexsort((priority, buckets))
    sorted_b = buckets[order]
    starts = np.searchsorted(sorted_b, np.arange(len(quota)), side="left")
    rank = np.arange(len(order)) - starts[sorted_b]
    keep = np.zeros(len(buckets), bool)
    keep[order[rank < quota[sorted_b]]] = True
    return keep


class _Values:
    """item_id -> value lookup (the value set hashed per call by index_in; built once)."""

    def __init__(self, item_values: pa.Table):
        self.ids = _plain(item_values["item_id"])
        self.vals = _plain(item_values["value"], pa.float64())

    def __call__(self, items: pa.Array | pa.ChunkedArray) -> np.ndarray:
        idx = pc.index_in(items, value_set=self.ids)
        return self.vals.take(idx).to_numpy(zero_copy_only=False).astype(np.float64)


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


# Priorities are cut into RADIX_BINS equal bins: per class the bin holding its quota-th lowest
# priority is found from a histogram, and only that bin's rows (about n / RADIX_BINS) are sorted.
RADIX_BINS = 1 << 16
BLOCK_ROWS = 1 << 20  # rows per block when the priorities are regenerated without reading the table


@dataclass
class AlignPlan:
    """What the first pass over the synthetic rows decided (see ``align_stream``)."""
    cfg: AlignConfig
    edges: np.ndarray
    real_share: np.ndarray
    before_share: np.ndarray
    n_rows: int
    cls: np.ndarray  # int16 per synthetic row: its quota class, -1 = never kept
    cut_bin: np.ndarray  # per class: rows in lower bins are kept, higher ones not
    cut_rows: np.ndarray  # sorted row numbers kept from the class's cut bin
    after_counts: np.ndarray  # filled by the second pass: kept positives per bucket

    @property
    def after_share(self) -> np.ndarray:
        total = self.after_counts.sum()
        return self.after_counts / total if total > 0 else self.after_counts.astype(np.float64)


def _bins(priority: np.ndarray) -> np.ndarray:
    return (priority * RADIX_BINS).astype(np.int64)  # exact scaling: monotone in the priority


def plan_alignment(scan, real_target: pa.Table, item_values: pa.Table,
                   cfg: AlignConfig = AlignConfig()) -> AlignPlan:
    """Pass 1 of the streaming alignment: ``scan(columns)`` returns a fresh RecordBatchReader over
    the synthetic rows (always in the same row order). Reads target_item and label once, keeps
    2 bytes per row (the quota class), and decides which rows pass 2 keeps."""
    values = _Values(item_values)
    real_label = real_target["label"].to_numpy(zero_copy_only=False) if "label" in real_target.schema.names \
        else np.ones(real_target.num_rows, np.int64)
    real_vals = values(real_target["item_id"])
    edges = bucket_edges(real_vals[real_label == 1], cfg.n_buckets)
    nb = len(edges) + 1
    real_b = assign_buckets(real_vals, edges)
    real_pos_share = shares(real_b[real_label == 1], nb)
    n_real_pos = int((real_label == 1).sum())
    has_real_neg = bool((real_label == 0).any())
    # classes: bucket -> b on positives; uniform_positive -> 0 on positives; positive_negative ->
    # b on positives, nb + b on negatives (when the real data has negatives); none -> no selection
    n_cls = {"none": 0, "bucket": nb, "uniform_positive": 1, "positive_negative": 2 * nb}[cfg.method]
    rng = priority_rng(cfg.seed)
    cls_parts, avail_b = [], np.zeros((2, nb), np.int64)
    hist = np.zeros(n_cls * RADIX_BINS, np.int64)
    for batch in scan(["target_item", "label"]):
        b = assign_buckets(values(batch["target_item"]), edges)
        lab = batch["label"].to_numpy(zero_copy_only=False)
        pos, neg = lab == 1, lab == 0
        avail_b[0] += np.bincount(b[pos], minlength=nb)
        avail_b[1] += np.bincount(b[neg], minlength=nb)
        prio = rng.random(batch.num_rows)
        if cfg.method == "none":
            continue
        cls = np.full(batch.num_rows, -1, np.int16)
        if cfg.method == "uniform_positive":
            cls[pos] = 0
        else:
            cls[pos] = b[pos]
            if cfg.method == "positive_negative" and has_real_neg:
                cls[neg] = nb + b[neg]
        cls_parts.append(cls)
        m = cls >= 0
        hist += np.bincount(cls[m].astype(np.int64) * RADIX_BINS + _bins(prio[m]), minlength=len(hist))
    cls = np.concatenate(cls_parts) if cls_parts else np.zeros(0, np.int16)
    n_rows = int(avail_b.sum()) if cfg.method == "none" else len(cls)
    if cfg.method == "bucket":
        quota = quota_from_counts(avail_b[0], real_pos_share, None if cfg.ratio is None else cfg.ratio * n_real_pos)
    elif cfg.method == "uniform_positive":
        q = quota_from_counts(avail_b[0], real_pos_share, None if cfg.ratio is None else cfg.ratio * n_real_pos)
        quota = np.array([q.sum()], np.int64)
    elif cfg.method == "positive_negative":
        quota = np.zeros(2 * nb, np.int64)
        for i, lab in enumerate((1, 0)):
            m_real = real_label == lab
            if not m_real.any() or not avail_b[i].any():
                continue
            t = None if cfg.ratio is None else cfg.ratio * int(m_real.sum())
            quota[i * nb:(i + 1) * nb] = quota_from_counts(avail_b[i], shares(real_b[m_real], nb), t)
    else:
        quota = np.zeros(0, np.int64)
    # per class: the bin holding the quota-th lowest priority, and how many of it are still needed
    h = hist.reshape(n_cls, RADIX_BINS)
    cum = np.cumsum(h, axis=1)
    cut_bin = np.array([np.searchsorted(cum[c], quota[c], side="left") for c in range(n_cls)], np.int64)
    below = np.where(cut_bin > 0, cum[np.arange(n_cls), np.maximum(cut_bin - 1, 0)], 0)
    need = quota - below
    cut_rows = _cut_rows(cls, cut_bin, need, cfg.seed) if n_cls else np.zeros(0, np.int64)
    return AlignPlan(cfg, edges, real_pos_share, avail_b[0] / max(avail_b[0].sum(), 1), n_rows, cls,
                     cut_bin, cut_rows, np.zeros(nb, np.int64))


def _cut_rows(cls: np.ndarray, cut_bin: np.ndarray, need: np.ndarray, seed: int) -> np.ndarray:
    """Regenerate the priorities (same stream, no table read) and keep, per class, the ``need``
    lowest-priority rows of its cut bin (ties: row order). Sorted row numbers."""
    rng = priority_rng(seed)
    rows, prios, classes = [], [], []
    cb = np.r_[cut_bin, -1]  # class -1 -> no cut bin
    for a in range(0, len(cls), BLOCK_ROWS):
        c = cls[a:a + BLOCK_ROWS]
        prio = rng.random(len(c))
        hit = np.flatnonzero(_bins(prio) == cb[c])
        rows.append(hit + a)
        prios.append(prio[hit])
        classes.append(c[hit])
    if not rows:
        return np.zeros(0, np.int64)
    rows, prios, classes = np.concatenate(rows), np.concatenate(prios), np.concatenate(classes).astype(np.int64)
    order = np.lexsort((rows, prios, classes))
    sc = classes[order]
    rank = np.arange(len(order)) - np.searchsorted(sc, sc, side="left")
    return np.sort(rows[order][rank < need[sc]])


def apply_alignment(plan: AlignPlan, scan, item_values: pa.Table) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Pass 2: re-read every column, keep the planned rows (input order), attach value_bucket.
    Returns the output schema and the batches (lazily; ``plan.after_counts`` is final once they
    are consumed)."""
    reader = scan(None)
    schema = reader.schema
    if plan.cfg.weight_scale != 1.0:  # the scaled weight is a plain float64 column
        schema = schema.set(schema.get_field_index("weight"), pa.field("weight", pa.float64()))
    schema = schema.append(pa.field("value_bucket", pa.int32()))
    return schema, _kept_batches(plan, reader, _Values(item_values), schema)


def _kept_batches(plan: AlignPlan, reader, values: _Values, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    rng = priority_rng(plan.cfg.seed)
    nb = len(plan.edges) + 1
    cb = np.r_[plan.cut_bin, -1]
    a = 0
    for batch in reader:
        m = batch.num_rows
        if plan.cfg.method == "none":
            keep = np.ones(m, bool)
        else:
            if a + m > len(plan.cls):
                raise RuntimeError("synthetic rows changed between the alignment passes")
            cls = plan.cls[a:a + m]
            bins = _bins(rng.random(m))
            c = cb[cls]
            keep = (cls >= 0) & (bins < c)
            tie = np.flatnonzero((cls >= 0) & (bins == c)) + a
            if len(tie):
                j = np.searchsorted(plan.cut_rows, tie)
                j = np.minimum(j, max(len(plan.cut_rows) - 1, 0))
                hit = plan.cut_rows[j] == tie if len(plan.cut_rows) else np.zeros(len(tie), bool)
                keep[tie[hit] - a] = True
        a += m
        if not keep.any():
            continue
        kept = batch.filter(pa.array(keep))
        if plan.cfg.weight_scale != 1.0:
            w = kept.schema.get_field_index("weight")
            cols = list(kept.columns)
            cols[w] = pc.multiply(cols[w].cast(pa.float64()), pa.scalar(plan.cfg.weight_scale, pa.float64()))
            kept = pa.RecordBatch.from_arrays(cols, schema=schema.remove(schema.get_field_index("value_bucket")))
        b = assign_buckets(values(kept["target_item"]), plan.edges)
        lab = kept["label"].to_numpy(zero_copy_only=False)
        plan.after_counts += np.bincount(b[lab == 1], minlength=nb)
        yield pa.RecordBatch.from_arrays(list(kept.columns) + [pa.array(b, pa.int32())], schema=schema)
    if plan.cfg.method != "none" and a != len(plan.cls):
        raise RuntimeError("synthetic rows changed between the alignment passes")


def table_scan(table: pa.Table, batch_rows: int = 1_000_000):
    """``scan`` over an in-memory table (see ``plan_alignment``)."""
    return lambda cols: (table if cols is None else table.select(cols)).to_reader(max_chunksize=batch_rows)


def align_stream(scan, real_target: pa.Table, item_values: pa.Table, cfg: AlignConfig = AlignConfig()
                 ) -> tuple[AlignPlan, pa.Schema, Iterator[pa.RecordBatch]]:
    """Streaming alignment in two passes over the synthetic rows (``scan`` as in plan_alignment):
    memory is 2 bytes per synthetic row plus one batch, never the synthetic table."""
    plan = plan_alignment(scan, real_target, item_values, cfg)
    schema, batches = apply_alignment(plan, scan, item_values)
    return plan, schema, batches


def align_detailed(synthetic: pa.Table, real_target: pa.Table, item_values: pa.Table,
                   cfg: AlignConfig = AlignConfig(), batch_rows: int = 1_000_000) -> AlignmentResult:
    scan = table_scan(synthetic, batch_rows)
    plan, schema, batches = align_stream(scan, real_target, item_values, cfg)
    kept = pa.Table.from_batches(list(batches), schema=schema)
    return AlignmentResult(kept, plan.edges, plan.real_share, plan.before_share, plan.after_share)


def align(synthetic: pa.Table, real_target: pa.Table, item_values: pa.Table,
          cfg: AlignConfig = AlignConfig()) -> pa.Table:
    """Aligned synthetic rows (input columns + value_bucket), in input order."""
    return align_detailed(synthetic, real_target, item_values, cfg).table
