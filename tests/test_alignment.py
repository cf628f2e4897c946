"""Bucket-wise alignment (scalr.alignment): shares match the real ones, volumes, determinism."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from scalr.alignment import (AlignConfig, align, align_detailed, assign_buckets, bucket_edges, bucket_quota,
                             keep_quota, largest_remainder, priority_rng, shares, tv_distance)


def world(seed=0, n_items=300, n_real=5000, n_syn=200_000, with_neg=False):
    rng = np.random.default_rng(seed)
    items = np.array([f"t{k:03d}" for k in range(n_items)])
    value = rng.lognormal(3, 1, n_items)
    # real events favour cheap items, synthetic favour expensive ones: a real distribution shift
    p_real = value ** -0.4 / (value ** -0.4).sum()
    p_syn = value ** 0.4 / (value ** 0.4).sum()
    real = pa.table({"user_id": [f"u{k}" for k in range(n_real)],
                     "item_id": items[rng.choice(n_items, n_real, p=p_real)],
                     "label": (rng.random(n_real) < 0.7).astype(np.int32) if with_neg else np.ones(n_real, np.int32)})
    syn = pa.table({"user_id": [f"u{k % 1000}" for k in range(n_syn)],
                    "target_item": items[rng.choice(n_items, n_syn, p=p_syn)],
                    "label": (rng.random(n_syn) < 0.5).astype(np.int32) if with_neg else np.ones(n_syn, np.int32),
                    "row": np.arange(n_syn)})
    return syn, real, pa.table({"item_id": items, "value": value})


def test_bucket_alignment_matches_real_shares_and_volume():
    syn, real, values = world()
    res = align_detailed(syn, real, values, AlignConfig("bucket", 10, 1.0, seed=1))
    assert res.tv_before > 0.15  # the planted shift is large
    assert res.tv_after < 0.01
    assert res.table.num_rows == real.num_rows  # synthetic_ratio 1.0
    rows = res.table["row"].to_numpy()
    assert (np.diff(rows) > 0).all()  # kept rows stay in input order
    half = align(syn, real, values, AlignConfig("bucket", 10, 0.5, seed=1))
    assert half.num_rows == real.num_rows // 2


def test_uniform_keeps_same_total_but_not_the_shape():
    syn, real, values = world()
    b = align_detailed(syn, real, values, AlignConfig("bucket", 10, 1.0, seed=1))
    u = align_detailed(syn, real, values, AlignConfig("uniform_positive", 10, 1.0, seed=1))
    assert u.table.num_rows == b.table.num_rows
    assert abs(u.tv_after - u.tv_before) < 0.05 and u.tv_after > 0.15
    # "none" keeps every synthetic row unchanged and in order (negatives too), and attaches the bucket
    # of the documented rule, computed here by hand: edges = the distinct "lower" 10-quantiles of the
    # real positives' item values; bucket = #edges strictly below the item's value (value <= edges[0] -> 0)
    syn, real, values = world(n_syn=20_000, with_neg=True)
    res = align_detailed(syn, real, values, AlignConfig("none"))
    n = res.table
    assert n.schema.names == syn.schema.names + ["value_bucket"]
    assert n.drop_columns(["value_bucket"]).equals(syn)
    val = dict(zip(values["item_id"].to_pylist(), values["value"].to_pylist()))
    real_v = np.array([val[i] for i in real["item_id"].to_pylist()])[real["label"].to_numpy() == 1]
    edges = np.unique(np.sort(real_v)[[int(np.floor(q * (len(real_v) - 1))) for q in np.arange(1, 10) / 10]])
    assert len(edges) == 9
    syn_v = np.array([val[i] for i in syn["target_item"].to_pylist()])
    want = (syn_v[:, None] > edges[None, :]).sum(axis=1)
    np.testing.assert_array_equal(n["value_bucket"].to_numpy(), want)
    assert np.isin(syn_v, edges).sum() > 100  # rows right on an edge: the <= side is exercised
    assert np.bincount(want, minlength=10).min() > 300  # every bucket is populated
    # nothing is selected: the bucket shares after equal those before (of the positives)
    np.testing.assert_allclose(res.after_share, res.before_share)
    np.testing.assert_allclose(res.before_share, np.bincount(want[syn["label"].to_numpy() == 1], minlength=10)
                               / (syn["label"].to_numpy() == 1).sum())


def test_ratio_capped_by_the_scarcest_bucket():
    syn, real, values = world(n_syn=20_000)
    res = align_detailed(syn, real, values, AlignConfig("bucket", 10, 100.0, seed=1))
    assert res.table.num_rows < 100 * real.num_rows
    assert res.tv_after < 0.01
    # the scarcest bucket (relative to its real share) is used up entirely
    syn_b = assign_buckets(values.to_pandas().set_index("item_id").value
                           .reindex(syn["target_item"].to_pylist()).to_numpy(), res.edges)
    avail = np.bincount(syn_b, minlength=len(res.real_share))
    kept = np.bincount(res.table["value_bucket"].to_numpy(), minlength=len(res.real_share))
    assert (kept == avail).any()


def test_positive_negative_aligns_each_label():
    syn, real, values = world(with_neg=True)
    out = align(syn, real, values, AlignConfig("positive_negative", 5, 1.0, seed=2)).to_pandas()
    r = real.to_pandas()
    assert (out.label == 1).sum() == (r.label == 1).sum()
    assert (out.label == 0).sum() == (r.label == 0).sum()
    res = align_detailed(syn, real, values, AlignConfig("positive_negative", 5, 1.0, seed=2))
    assert res.tv_after < 0.01


def test_alignment_is_seeded():
    syn, real, values = world()
    a = align(syn, real, values, AlignConfig("bucket", 10, 1.0, seed=5))
    assert a.equals(align(syn, real, values, AlignConfig("bucket", 10, 1.0, seed=5)))
    assert not a.equals(align(syn, real, values, AlignConfig("bucket", 10, 1.0, seed=6)))


def test_helpers():
    edges = bucket_edges(np.arange(100.0), 4)
    assert list(assign_buckets(np.array([0.0, 24, 25, 49, 99, np.nan]), edges)) == [0, 0, 1, 1, 3, 0]
    assert tv_distance(shares(np.array([0, 0, 1, 1]), 2), np.array([0.5, 0.5])) == 0
    assert largest_remainder(10, np.array([1 / 3, 1 / 3, 1 / 3]), np.array([10, 10, 10])).sum() == 10
    assert list(largest_remainder(10, np.array([0.5, 0.5]), np.array([2, 100]))) == [2, 5]
    with pytest.raises(ValueError, match="alignment must be one of"):
        AlignConfig("bogus")


def test_a_bucket_without_synthetic_supply_is_left_out():
    syn, real, values = world()
    cheap = values.to_pandas().sort_values("value").item_id.head(60).tolist()
    mask = ~np.isin(syn["target_item"].to_numpy(zero_copy_only=False), cheap)
    res = align_detailed(syn.filter(mask), real, values, AlignConfig("bucket", 10, 1.0, seed=1))
    # the 60 cheapest items empty buckets 0-2; the real shares are renormalised over the 7 supplied
    # ones (summing to 1 again), each with ample supply (>= 8.7k rows for a ~10% share), so the quota
    # is still exactly ratio * #real positives = 1.0 * 5000 rows (not renormalised: 5000 * 0.7004)
    assert res.table.num_rows == real.num_rows == 5000
    supplied = res.before_share > 0
    assert not supplied[0] and res.real_share[0] > 0 and res.after_share[0] == 0
    others = res.real_share[supplied] / res.real_share[supplied].sum()
    assert tv_distance(res.after_share[supplied], others) < 0.01


@pytest.mark.parametrize("method", ["uniform_positive", "bucket"])
def test_selection_is_independent_of_the_sampler_stream(method):
    """synthetic_events and the alignment share var synthetic_seed. The kept rows must be a random
    subset of the synthetic rows, not the rows whose drawing uniform was small: with every target
    item in one value bucket, the kept rows' target_rank must follow the same distribution as all
    rows (two-sample chi-square). Reusing PCG64(seed) for the priorities kept mostly rank-1 draws."""
    from scipy import stats

    from scalr.sampling import SamplingConfig, sample_synthetic
    from tests.test_sampling import events_for, planted_translation
    tr = planted_translation(seed=3, sizes=(40, 40, 40, 40))
    syn = sample_synthetic(events_for(tr, 6000), tr, SamplingConfig(k=3, seed=11))
    targets = sorted(set(tr["target_item"].to_pylist()))
    values = pa.table({"item_id": targets, "value": np.ones(len(targets))})
    real = pa.table({"user_id": ["r"] * 5000, "item_id": [targets[0]] * 5000, "label": np.ones(5000, np.int32)})
    kept = align(syn, real, values, AlignConfig(method, 10, 1.0, seed=11))
    assert kept.num_rows == 5000
    rank = dict(zip(zip(tr["source_item"].to_pylist(), tr["target_item"].to_pylist()), tr["target_rank"].to_pylist()))

    def rank_hist(t):
        r = np.array([rank[k] for k in zip(t["source_item"].to_pylist(), t["target_item"].to_pylist())])
        return np.bincount(np.minimum(r, 10), minlength=11)[1:]  # ranks 1..9, 10+
    all_h, kept_h = rank_hist(syn), rank_hist(kept)
    expected = all_h / all_h.sum() * kept_h.sum()
    p = stats.chisquare(kept_h, expected).pvalue
    assert p > 1e-3, (kept_h, expected.round(1))


@pytest.mark.parametrize("method", ["bucket", "uniform_positive", "positive_negative"])
@pytest.mark.parametrize("batch_rows", [999, 77_777, 10**9])
def test_streaming_selection_equals_the_in_memory_reference(method, batch_rows):
    """align_stream (two passes, 2^16 priority bins, only the cut bins sorted) keeps exactly the rows
    of the in-memory selection: one priority per row from priority_rng(seed), the quota (bucket_quota)
    lowest priorities per class (keep_quota), whatever the batch size."""
    syn, real, values = world(n_syn=150_000, with_neg=method == "positive_negative")
    cfg = AlignConfig(method, 10, 1.0, seed=3)
    res = align_detailed(syn, real, values, cfg, batch_rows=batch_rows)
    val = dict(zip(values["item_id"].to_pylist(), values["value"].to_pylist()))
    syn_b = assign_buckets(np.array([val[i] for i in syn["target_item"].to_pylist()]), res.edges)
    real_b = assign_buckets(np.array([val[i] for i in real["item_id"].to_pylist()]), res.edges)
    syn_l, real_l = syn["label"].to_numpy(), real["label"].to_numpy()
    prio = priority_rng(3).random(syn.num_rows)
    keep = np.zeros(syn.num_rows, bool)
    for lab in ((1, 0) if method == "positive_negative" else (1,)):
        m, r = syn_l == lab, real_l == lab
        quota = bucket_quota(syn_b[m], shares(real_b[r], len(res.real_share)), 1.0 * r.sum())
        if method == "uniform_positive":
            keep[m] = keep_quota(np.zeros(m.sum(), np.int64), prio[m], np.array([quota.sum()]))
        else:
            keep[m] = keep_quota(syn_b[m], prio[m], quota)
    assert keep.sum() > 1000
    np.testing.assert_array_equal(res.table["row"].to_numpy(), np.flatnonzero(keep))
    np.testing.assert_array_equal(res.table["value_bucket"].to_numpy(), syn_b[keep])


def test_edges_are_quantiles_of_the_real_positives_only():
    """Bucket edges come from the real label == 1 rows' values, not from all the real rows."""
    syn, real, values = world(n_syn=20_000, with_neg=True)
    res = align_detailed(syn, real, values, AlignConfig("positive_negative", 10, 1.0, seed=2))
    val = dict(zip(values["item_id"].to_pylist(), values["value"].to_pylist()))
    real_vals = np.array([val[i] for i in real["item_id"].to_pylist()])
    pos = real["label"].to_numpy() == 1
    assert 0 < pos.sum() < len(pos)
    np.testing.assert_array_equal(res.edges, bucket_edges(real_vals[pos], 10))
    assert not np.array_equal(res.edges, bucket_edges(real_vals, 10))  # the negatives would move them


def test_weight_scale_divides_every_kept_weight_and_keeps_the_same_rows():
    """synthetic_weight_per_draw: the alignment scales each kept row's weight by 1/K (one code path
    for the dbt model and the studies), and selects exactly the rows it selects unscaled."""
    from scalr.generators import GeneratorConfig
    syn, real, values = world(seed=4)
    syn = syn.append_column("weight", pa.array(np.random.default_rng(1).random(syn.num_rows) + 0.5))
    base = align(syn, real, values, AlignConfig(method="bucket", ratio=None, seed=3))
    scaled = align(syn, real, values, AlignConfig(method="bucket", ratio=None, seed=3, weight_scale=0.25))
    assert scaled.num_rows == base.num_rows > 0
    assert scaled.column("target_item").equals(base.column("target_item"))
    np.testing.assert_allclose(scaled.column("weight").to_numpy(), 0.25 * base.column("weight").to_numpy())
    assert GeneratorConfig(k=10, per_draw_weight=True).align().weight_scale == pytest.approx(0.1)
    assert GeneratorConfig(k=10).align().weight_scale == 1.0
    with pytest.raises(ValueError, match="weight_scale"):
        AlignConfig(weight_scale=0)


def test_bucket_alignment_targets_the_real_positives_shares_not_all_real_rows():
    """Real positives on cheap items, real negatives on expensive ones: the aligned synthetic
    positives match the positives' bucket shares (computed here, not by the plan), and a control
    against all real rows' shares must fail."""
    rng = np.random.default_rng(0)
    n_items, n_real, n_syn = 300, 6000, 200_000
    items = np.array([f"t{k:03d}" for k in range(n_items)])
    value = rng.lognormal(3, 1, n_items)
    law = {e: value ** e / (value ** e).sum() for e in (-0.6, 0.8, 0.2)}  # positives, negatives, synthetic
    real_items = np.r_[items[rng.choice(n_items, n_real, p=law[-0.6])], items[rng.choice(n_items, n_real, p=law[0.8])]]
    real = pa.table({"item_id": real_items, "label": np.r_[np.ones(n_real, np.int32), np.zeros(n_real, np.int32)]})
    syn = pa.table({"user_id": [f"u{k % 1000}" for k in range(n_syn)],
                    "target_item": items[rng.choice(n_items, n_syn, p=law[0.2])], "label": np.ones(n_syn, np.int32)})
    res = align_detailed(syn, real, pa.table({"item_id": items, "value": value}), AlignConfig("bucket", 10, 1.0, seed=1))
    v = dict(zip(items, value))
    all_v = np.array([v[i] for i in real_items])
    edges = bucket_edges(all_v[:n_real], 10)
    got = shares(res.table["value_bucket"].to_numpy(), len(edges) + 1)
    assert tv_distance(got, shares(assign_buckets(all_v[:n_real], edges), len(edges) + 1)) < 0.01
    assert tv_distance(got, shares(assign_buckets(all_v, edges), len(edges) + 1)) > 0.1
    assert res.table.num_rows == n_real
