"""scalr.learning: negatives, time-aware leave-one-out features, training rows, leak audit, determinism."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalr import learning as ln
from scalr.oracles import mark_validation


def tiny_world(seed=0, n_users=300, n_src=40, n_tgt=30):
    """Users with a taste; source and target items of the taste are more likely."""
    rng = np.random.default_rng(seed)
    taste = rng.integers(0, 3, n_users)
    rows_s, rows_t = [], []
    u_s = np.repeat(np.arange(n_users), 6)
    j = np.where(rng.random(len(u_s)) < 0.8, taste[u_s] * (n_src // 3) + rng.integers(0, n_src // 3, len(u_s)),
                 rng.integers(0, n_src, len(u_s)))
    u_t = np.repeat(np.arange(n_users), 3)
    i = np.where(rng.random(len(u_t)) < 0.8, taste[u_t] * (n_tgt // 3) + rng.integers(0, n_tgt // 3, len(u_t)),
                 rng.integers(0, n_tgt, len(u_t)))
    ts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, len(u_t)), "D")
    sts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, len(u_s)), "D")
    source = pd.DataFrame({"user_id": [f"u{x}" for x in u_s], "source_domain": "src",
                           "source_item": [f"s{x}" for x in j], "event_ts": sts}).drop_duplicates(
        ["user_id", "source_item"])
    target = pd.DataFrame({"user_id": [f"u{x}" for x in u_t], "item_id": [f"t{x}" for x in i],
                           "event_ts": ts, "label": 1}).drop_duplicates(["user_id", "item_id"])
    return source.reset_index(drop=True), target.reset_index(drop=True)


def brute_translation(source, target):
    m = source.merge(target[["user_id", "item_id"]], on="user_id")
    n_ji = m.groupby(["source_item", "item_id"]).user_id.nunique().rename("n_users_ji").reset_index()
    overlap = set(source.user_id) & set(target.user_id)
    n_j = source[source.user_id.isin(overlap)].groupby("source_item").user_id.nunique().rename("n_users_j")
    out = n_ji.merge(n_j, on="source_item")
    out["p_hat"] = out.n_users_ji / out.n_users_j
    return out.rename(columns={"item_id": "target_item"})


def context(source, target, synthetic=None, lam=1.0):
    tr = ln.translate(source, target)
    users = pd.Index(sorted(set(source.user_id) | set(target.user_id)))
    items = pd.Index(sorted(set(target.item_id)))
    return ln.build_context(target, source, tr, synthetic, users, items, lam), tr


def test_translate_equals_brute_force():
    source, target = tiny_world(1)
    tr = ln.translate(source, target)
    ref = brute_translation(source, target)
    got = tr.merge(ref, on=["source_item", "target_item"], suffixes=("", "_ref"), how="outer")
    assert len(got) == len(ref) == len(tr)
    assert (got.n_users_ji == got.n_users_ji_ref).all() and np.allclose(got.p_hat, got.p_hat_ref)
    assert np.allclose(tr.groupby("source_item").p_norm.sum(), 1)
    tr2 = ln.translate(source, target, min_support=2)
    assert (tr2.n_users_ji >= 2).all() and len(tr2) == (ref.n_users_ji >= 2).sum()
    # the P_hat features of a context built on the min_support=2 translation equal the definition
    # (learning.FEATURE_DOCS) on the brute-force pairs with n_users_ji >= 2: for a row (u, i, t),
    # xdomain_sum = sum over u's source items j before t of (n_ji - [u has i]) / n_j and xdomain_cnt =
    # log1p(#those j with n_ji - [u has i] >= 1); a pair of support 1 contributes nothing
    users = pd.Index(sorted(set(source.user_id) | set(target.user_id)))
    items = pd.Index(sorted(set(target.item_id)))
    ctx = ln.build_context(target, source, tr2, None, users, items)
    assert (ctx.P.data >= 2).all()
    late = pd.Timestamp("2025-01-01")
    q_users = sorted(set(target.user_id))[::10]
    q = pd.concat([target[["user_id", "item_id", "event_ts"]],  # each real row at its own time
                   pd.DataFrame([(uu, ii, late) for uu in q_users for ii in items],  # every item, late
                                columns=["user_id", "item_id", "event_ts"])], ignore_index=True)
    f = ctx.features(ln.codes(q.user_id, ctx.users), ln.codes(q.item_id, ctx.items), ln.to_us(q.event_ts),
                     groups=("translation",))
    ref2 = ref[ref.n_users_ji >= 2]
    m = (q.reset_index().merge(source[["user_id", "source_item", "event_ts"]], on="user_id", suffixes=("", "_s"))
         .query("event_ts_s < event_ts")
         .merge(ref2, left_on=["source_item", "item_id"], right_on=["source_item", "target_item"]))
    own = pd.MultiIndex.from_frame(m[["user_id", "item_id"]]).isin(
        pd.MultiIndex.from_frame(target[["user_id", "item_id"]])).astype(int)
    m["n_loo"] = m.n_users_ji - own
    want_sum = (m.n_loo / m.n_users_j).groupby(m["index"]).sum().reindex(q.index, fill_value=0.0)
    want_cnt = (m.n_loo >= 1).groupby(m["index"]).sum().reindex(q.index, fill_value=0)
    np.testing.assert_allclose(f["xdomain_sum"], want_sum.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(f["xdomain_cnt"], np.log1p(want_cnt.to_numpy()), rtol=0, atol=1e-12)
    assert (want_sum > 0).mean() > 0.3 and (own[m.n_users_ji == 2] == 1).sum() > 50  # LOO cases exercised


def test_negatives_never_hit_interacted_items_and_popularity_respects_zero_weight():
    rng = np.random.default_rng(0)
    n_items = 20
    users = np.arange(50)
    inter_u = np.repeat(users, 15)
    inter_i = np.concatenate([rng.choice(n_items, 15, replace=False) for _ in users])
    excl = ln.sorted_keys(inter_u, inter_i, n_items)
    w = np.ones(n_items)
    w[:3] = 0
    for sampler in ("uniform", "popularity"):
        parent, item = ln.sample_negatives(users, 4, w, excl, sampler, np.random.default_rng(1))
        assert len(item) == 200  # 5 free items per user: always satisfiable
        assert not ln.in_sorted(ln.keys(users[parent], item, n_items), excl).any()
        if sampler == "popularity":
            assert item.min() >= 3
    # a user who interacted with everything gets no negative rather than a wrong one
    full = ln.sorted_keys(np.zeros(n_items, int), np.arange(n_items), n_items)
    parent, item = ln.sample_negatives(np.array([0]), 3, np.ones(n_items), full, "uniform",
                                       np.random.default_rng(0), max_rounds=5)
    assert len(item) == 0
    with pytest.raises(ValueError):
        ln.sample_negatives(users, 1, w, excl, "bogus", rng)


def test_keep_target_users_fraction_and_order_independent():
    ids = np.array([f"u{i}" for i in range(4000)])
    m = ln.keep_target_users(ids, 0.3, 5)
    assert 0.27 < m.mean() < 0.33
    perm = np.random.default_rng(0).permutation(len(ids))
    assert (ln.keep_target_users(ids[perm], 0.3, 5) == m[perm]).all()
    assert ln.keep_target_users(ids, 1.0, 5).all()


def test_features_use_only_the_past_and_are_leave_one_out():
    """Brute force, row by row, on a few rows: every feature of a row at time t reads events
    strictly before t; C and P_hat (whole window) have the row's own cell removed."""
    source, target = tiny_world(2)
    ctx, tr = context(source, target)
    u = ln.codes(target.user_id, ctx.users)
    i = ln.codes(target.item_id, ctx.items)
    t = ln.to_us(target.event_ts)
    f = ctx.features(u, i, t)
    users_of = target.groupby("item_id").user_id.apply(set)
    day = pd.Timedelta(days=1)
    checked = 0
    for r in range(0, len(target), 37):
        uu, ii, tt = target.user_id.iat[r], target.item_id.iat[r], target.event_ts.iat[r]
        before = target[target.event_ts < tt]
        ev_i = before[before.item_id == ii]
        assert np.expm1(f["item_pop"][r]) == pytest.approx(len(ev_i))
        assert np.expm1(f["item_pop_90d"][r]) == pytest.approx((ev_i.event_ts >= tt - 90 * day).sum())
        vol = ((before.event_ts >= tt - 90 * day)).sum()
        assert f["item_share_90d"][r] == pytest.approx(1000 * (ev_i.event_ts >= tt - 90 * day).sum() / max(vol, 1))
        if len(ev_i):
            assert f["item_age_days"][r] == pytest.approx(np.log1p((tt - ev_i.event_ts.min()) / day))
        else:
            assert f["item_age_days"][r] == -1
        hist = before[before.user_id == uu]
        assert np.expm1(f["user_n_target"][r]) == pytest.approx(len(hist))
        assert np.expm1(f["user_n_source"][r]) == pytest.approx(
            ((source.user_id == uu) & (source.event_ts < tt)).sum())
        # cf_real: sum over the user's earlier items i' != i of #other users with both i and i'
        want = sum(len((users_of[ii] & users_of[x]) - {uu}) for x in hist.item_id if x != ii)
        assert np.expm1(f["cf_real"][r]) == pytest.approx(want)
        # xdomain_sum: the user's earlier source items, P_hat with the user's own pair removed
        js = set(source.source_item[(source.user_id == uu) & (source.event_ts < tt)])
        p = tr[(tr.target_item == ii) & tr.source_item.isin(js)]
        assert f["xdomain_sum"][r] == pytest.approx(((p.n_users_ji - 1) / p.n_users_j).sum())
        checked += 1
    assert checked >= 15
    # the same (user, item) later in time sees more history, never less
    late = ctx.features(u, i, np.full(len(u), ln.to_us([pd.Timestamp("2030-01-01")])[0]))
    assert (late["user_n_target"] >= f["user_n_target"]).all() and (late["item_pop"] >= f["item_pop"]).all()


def test_leave_one_out_removes_a_users_private_signal():
    # the only user with target item t_solo also has s_solo: P_hat(t_solo|s_solo) = 1 but is
    # entirely the row's own event, so the LOO feature must be 0 for that user's positive row
    source, target = tiny_world(3)
    source = pd.concat([source, pd.DataFrame({"user_id": ["u0"], "source_domain": ["src"], "source_item": ["s_solo"],
                                              "event_ts": [pd.Timestamp("2024-02-01")]})])
    target = pd.concat([target, pd.DataFrame({"user_id": ["u0"], "item_id": ["t_solo"],
                                              "event_ts": [pd.Timestamp("2024-05-01")], "label": [1]})])
    ctx, tr = context(source.reset_index(drop=True), target.reset_index(drop=True))
    late = ln.to_us([pd.Timestamp("2030-01-01")])
    f = ctx.features(ln.codes(["u0"], ctx.users), ln.codes(["t_solo"], ctx.items), late)
    assert f["xdomain_sum"][0] == 0 and f["cf_real"][0] == 0 and f["xdomain_cnt"][0] == 0
    assert f["item_pop"][0] == pytest.approx(np.log1p(1))  # its own past event is history, not a leak


def test_negatives_only_from_items_that_existed_at_the_row_time():
    source, target = tiny_world(7)
    ctx, _ = context(source, target)
    rows = ln.build_training_rows(ctx, target, None, ln.RowsConfig(negatives_per_positive=4))
    neg = rows[rows.label == 0]
    first = ctx.item_first_ts()[ln.codes(neg.item_id, ctx.items)]
    assert len(neg) > 0.9 * 4 * (rows.label == 1).sum()
    assert (first < ln.to_us(neg.event_ts)).all()


def synthetic_from(source, tr, seed=0, k=2, ts=None):
    """A small stand-in for scalr.sampling: K draws from p_norm per (user, source item), dated at
    the source event (as scalr.sampling does) or at ``ts``."""
    rng = np.random.default_rng(seed)
    m = source.merge(tr, on=["source_domain", "source_item"])
    m["r"] = rng.random(len(m)) ** (1 / m.p_norm)  # weighted sampling without replacement
    m = m.sort_values("r", ascending=False).groupby(["user_id", "source_item"]).head(k)
    return pd.DataFrame({"user_id": m.user_id, "target_item": m.target_item, "source_item": m.source_item,
                         "event_ts": m.event_ts if ts is None else pd.Timestamp(ts), "weight": 0.5,
                         "label": 1}).reset_index(drop=True)


def test_training_rows_weights_negatives_and_lineage():
    source, target = tiny_world(4)
    tr = ln.translate(source, target)
    syn = synthetic_from(source, tr)
    ctx, _ = context(source, target, syn, lam=0.4)
    rows = ln.build_training_rows(ctx, mark_validation(target, 0.1), syn,
                                  ln.RowsConfig(negatives_per_positive=3, synthetic_lambda=0.4))
    real, synth = rows[rows.is_synthetic == 0], rows[rows.is_synthetic == 1]
    assert (real.sample_weight == 1).all()
    assert np.allclose(synth.sample_weight, 0.4 * 0.5)
    n_syn_pos = len(synth[synth.label == 1])
    assert 0.97 * 3 * n_syn_pos <= len(synth[synth.label == 0]) <= 3 * n_syn_pos
    # only items that existed at the row's time: the very first rows of the window get fewer
    assert 0.97 * 3 * (real.label == 1).sum() <= (real.label == 0).sum() <= 3 * (real.label == 1).sum()
    # negatives never hit an item the user has a real event on; synthetic negatives also not one
    # of the user's synthetic items (real rows do not depend on the synthetic data)
    real_has = set(zip(target.user_id, target.item_id))
    syn_has = real_has | set(zip(syn.user_id, syn.target_item))
    negs = rows[rows.label == 0]
    assert not any(p in real_has for p in zip(negs.user_id, negs.item_id))
    sneg = negs[negs.is_synthetic == 1]
    assert not any(p in syn_has for p in zip(sneg.user_id, sneg.item_id))
    no_syn = ln.build_training_rows(ctx, target, None, ln.RowsConfig(negatives_per_positive=3, synthetic_lambda=0.4))
    pd.testing.assert_frame_equal(no_syn[["user_id", "item_id", "label"]], real[["user_id", "item_id", "label"]])
    assert set(ln.FEATURES) <= set(rows.columns)
    assert not {"user_id", "item_id", "source_item", "is_synthetic", "sample_weight", "label"} & set(ln.FEATURES)
    assert rows.is_validation[rows.is_synthetic == 1].sum() == 0
    assert 0 < rows.is_validation.mean() < 0.3


def test_leak_audit_catches_a_planted_leak_and_keeps_honest_features():
    rng = np.random.default_rng(0)
    n = 20000
    is_syn = (rng.random(n) < 0.5).astype(np.int8)
    label = (rng.random(n) < 0.2).astype(np.int8)
    honest = label * 0.5 + rng.normal(0, 1, n)  # same signal on real and synthetic rows
    leak = np.where(is_syn == 1, label + rng.normal(0, 0.2, n), rng.normal(0, 1, n))
    rows = pd.DataFrame({"is_synthetic": is_syn, "label": label, "honest": honest, "leak": leak})
    res = ln.leak_audit(rows, ["honest", "leak"], purge_threshold=0.1)
    t = res.table.set_index("feature")
    assert res.purged == ["leak"]
    assert t.loc["leak", "leak_gap"] > 0.3 and abs(t.loc["honest", "leak_gap"]) < 0.05
    assert t.loc["leak", "importance_gain"] > t.loc["honest", "importance_gain"]
    assert res.adversarial_auc > 0.55
    # after purging the leaky feature the adversary is near chance (the honest one is shared)
    assert res.adversarial_auc_after < 0.55 < res.adversarial_auc
    # manual purge list, automatic mode off
    res2 = ln.leak_audit(rows, ["honest", "leak"], purge_features=["honest"], purge_threshold=None)
    assert res2.purged == ["honest"]


def test_pxhat_feature_leaks_on_real_sampled_synthetic_rows():
    """The issue's trap, end to end: xdomain_sum (from P_hat) separates synthetic positives far
    better than real ones when P_hat rests on single users (90 % support-1 pairs, as on
    Food-Kitchen) and the synthetic row's own source event is in the feature's history (rows dated
    after their source event); the audit purges it and keeps the item-item channel. Dated at their
    source event, as scalr.sampling dates them, the time-aware features do not see the row's own
    source event and the leak is gone."""
    source, target = tiny_world(5, n_users=600, n_src=300, n_tgt=300)
    tr = ln.translate(source, target)
    syn = synthetic_from(source, tr, ts="2025-01-01")
    ctx, _ = context(source, target, syn)
    rows = ln.build_training_rows(ctx, target, syn, ln.RowsConfig())
    res = ln.leak_audit(rows, list(ln.FEATURES), purge_threshold=0.1)
    assert {"xdomain_sum", "xdomain_cnt"} <= set(res.purged)
    assert "cf_real" not in res.purged and "user_n_target" not in res.purged
    t = res.table.set_index("feature")
    assert t.loc["xdomain_sum", "leak_gap"] > 0.15
    syn = synthetic_from(source, tr)
    ctx, _ = context(source, target, syn)
    rows = ln.build_training_rows(ctx, target, syn, ln.RowsConfig())
    res2 = ln.leak_audit(rows, list(ln.FEATURES), purge_threshold=0.1)
    t2 = res2.table.set_index("feature")
    assert t2.loc["xdomain_sum", "leak_gap"] < 0.1 and "xdomain_sum" not in res2.purged


def test_models_are_deterministic_and_learn():
    """Both objectives are judged on held-out rows: the positives (and sampled negatives) of a
    quarter of the users, whose rows the models never saw. On this world the real code scores
    ~0.76 (binary, AUC) and ~0.73 (lambdarank, mean per-user AUC) there; the same models trained
    on shuffled labels score 0.42-0.51, so 0.65 separates learning from chance with margin."""
    from scalr.evaluation import auc
    source, target = tiny_world(6, n_users=600)
    ctx, _ = context(source, target)
    held = target.user_id.str[1:].astype(int) % 4 == 0
    rows = ln.build_training_rows(ctx, mark_validation(target[~held], 0.2), None, ln.RowsConfig())
    test = ln.build_training_rows(ctx, target[held], None, ln.RowsConfig(seed=1))
    assert not set(rows.user_id) & set(test.user_id)
    assert 1500 < len(test) and 0.15 < test.label.mean() < 0.25
    feats = list(ln.FEATURES)
    cfg = ln.TrainConfig(seed=3, n_estimators=30)
    a = ln.predict(ln.train_model(rows, feats, cfg), test, feats)
    b = ln.predict(ln.train_model(rows, feats, cfg), test, feats)
    assert np.array_equal(a, b)
    assert auc(test.label.to_numpy(), a) > 0.65
    rcfg = ln.TrainConfig(objective="lambdarank", seed=3, n_estimators=20)
    r = ln.predict(ln.train_model(rows, feats, rcfg), test, feats)
    assert len(r) == len(test) and np.array_equal(r, ln.predict(ln.train_model(rows, feats, rcfg), test, feats))
    # ranking quality within each held-out user's candidates: mean per-user AUC (positives vs negatives)
    per_user = [auc(g.label.to_numpy(), r[g.index.to_numpy()]) for _, g in test.groupby("user_id")
                if 0 < g.label.sum() < len(g)]
    assert len(per_user) > 100 and np.mean(per_user) > 0.65


def test_train_recent_fraction_keeps_only_the_latest_real_rows():
    source, target = tiny_world(5)
    ctx, _ = context(source, target)
    full = ln.build_training_rows(ctx, target, None, ln.RowsConfig(negatives_per_positive=1))
    recent = ln.build_training_rows(ctx, target, None, ln.RowsConfig(negatives_per_positive=1,
                                                                      train_recent_fraction=0.3))
    pos_full, pos_recent = full[full.label == 1], recent[recent.label == 1]
    cut = np.quantile(pos_full.event_ts.astype("datetime64[us]").astype(np.int64), 0.7)
    assert (pos_recent.event_ts.astype("datetime64[us]").astype(np.int64) >= cut).all()
    assert 0.25 * len(pos_full) < len(pos_recent) < 0.35 * len(pos_full)
    # the features of a kept (user, item) row are unchanged: they still use the whole window
    m = pos_recent.merge(pos_full, on=["user_id", "item_id"], suffixes=("", "_full"))
    assert len(m) == len(pos_recent)
    for f in ln.FEATURES:
        np.testing.assert_allclose(m[f], m[f + "_full"])


def test_translate_count_noise_is_laplace_and_vanishes_at_large_epsilon():
    source, target = tiny_world(6, n_users=2000)
    clean = ln.translate(source, target)
    assert ln.translate(source, target, noise_epsilon=1e9).equals(clean)
    noisy = ln.translate(source, target, noise_epsilon=0.5, noise_seed=3)
    assert noisy.equals(ln.translate(source, target, noise_epsilon=0.5, noise_seed=3))
    m = clean.merge(noisy, on=["source_domain", "source_item", "target_item"], suffixes=("", "_n"))
    d = (m.n_users_ji_n - m.n_users_ji)[m.n_users_ji >= 15]
    assert len(d) > 100
    assert abs(d.mean()) < 4 * np.sqrt(8.1 / len(d)) and 0.7 * 8.08 < d.var() < 1.3 * 8.08


def test_sample_weight_reaches_lightgbm():
    """Weighting positives 3x on the same rows raises the mean prediction toward the weighted base rate."""
    source, target = tiny_world(6, n_users=600)
    ctx, _ = context(source, target)
    rows = ln.build_training_rows(ctx, mark_validation(target, 0.2), None, ln.RowsConfig())
    feats = list(ln.FEATURES)
    cfg = ln.TrainConfig(seed=3, n_estimators=30)
    heavy = rows.assign(sample_weight=np.where(rows.label == 1, 3.0, 1.0))
    mean_unw = ln.predict(ln.train_model(rows, feats, cfg), rows, feats).mean()
    mean_w = ln.predict(ln.train_model(heavy, feats, cfg), rows, feats).mean()
    # base rate 0.2 unweighted, 3 * 0.2 / (3 * 0.2 + 0.8) = 0.43 weighted (early stopping on the
    # unweighted validation slice holds the weighted model below it)
    assert abs(mean_unw - rows.label.mean()) < 0.03
    assert mean_w > mean_unw + 0.1


def test_popularity_negatives_follow_the_item_weights():
    """Popularity sampling draws item j with probability w_j / sum(w) and never a zero-weight item."""
    from scipy import stats
    w = np.arange(1, 21, dtype=float)
    w[[2, 9, 15]] = 0
    n = 200_000
    parent, item = ln.sample_negatives(np.zeros(n, np.int64), 1, w, np.zeros(0, np.int64), "popularity",
                                       np.random.default_rng(2))
    assert len(item) == n and (parent == np.arange(n)).all()  # nothing excluded: one per parent
    counts = np.bincount(item, minlength=len(w))
    assert counts[[2, 9, 15]].sum() == 0
    nz = w > 0
    assert stats.chisquare(counts[nz], n * w[nz] / w.sum()).pvalue > 1e-3
    # item 20 (weight 20) drawn ~20x as often as item 1 (weight 1)
    assert 15 < counts[19] / counts[0] < 25


def test_synthetic_features_brute_force():
    """Brute force, row by row: item_pop_synth / user_n_synth = log1p(lambda * sum w) over synthetic
    events strictly before t; cf_all = log1p(sum over the user's real (weight 1) and synthetic
    (weight min(1, lambda * w)) events e before t on items i_e != i of w_e * sum over other users v
    of H[v, i_e] H[v, i]), with H = max(T, min(1, lambda * synthetic mass)) over the whole window."""
    lam = 0.4
    source, target = tiny_world(8, n_users=200)
    tr = ln.translate(source, target)
    syn = synthetic_from(source, tr)  # weight 0.5, dated at the source event
    day = pd.Timedelta(days=1)
    t0 = pd.Timestamp("2024-01-01")
    items = sorted(set(target.item_id))
    # planted: u_heavy has a real event on items[0] and 8 synthetic events on items[1] (mass
    # 8 * 0.4 * 0.5 = 1.6, capped at 1 in H); u_solo has the only real event on t_solo and 3
    # synthetic events on items[2]: the pair (t_solo, items[2]) rests on u_solo alone
    target = pd.concat([target, pd.DataFrame({"user_id": ["u_heavy", "u_solo"], "item_id": [items[0], "t_solo"],
                                              "event_ts": [t0 + 10 * day, t0 + 20 * day], "label": 1})],
                       ignore_index=True)
    syn = pd.concat([syn, pd.DataFrame({"user_id": ["u_heavy"] * 8 + ["u_solo"] * 3,
                                        "target_item": [items[1]] * 8 + [items[2]] * 3, "source_item": "s0",
                                        "event_ts": [t0 + (30 + d) * day for d in range(11)], "weight": 0.5,
                                        "label": 1})], ignore_index=True)
    ctx, _ = context(source, target, syn, lam=lam)
    # H and its columns (item -> {user: H}) from the definitions
    H = {}
    for uu, ii in zip(target.user_id, target.item_id):
        H[(uu, ii)] = 1.0
    for (uu, ii), m in (lam * syn.groupby(["user_id", "target_item"]).weight.sum()).items():
        H[(uu, ii)] = max(H.get((uu, ii), 0.0), min(1.0, m))
    col: dict = {}
    for (uu, ii), h in H.items():
        col.setdefault(ii, {})[uu] = h
    assert H[("u_heavy", items[1])] == 1.0 and H[("u_solo", items[2])] == pytest.approx(0.6)
    hist = pd.concat([target[["user_id", "item_id", "event_ts"]].assign(w=1.0),
                      syn.rename(columns={"target_item": "item_id"})[["user_id", "item_id", "event_ts"]].assign(
                          w=np.minimum(lam * syn.weight.to_numpy(), 1.0))], ignore_index=True)
    late = pd.Timestamp("2030-01-01")
    queries = [(u, i, t) for u, i, t in zip(target.user_id, target.item_id, target.event_ts)][::23]
    queries += [(u, i, t) for u, i, t in zip(syn.user_id, syn.target_item, syn.event_ts)][::41]
    with_0 = target.user_id[(target.item_id == items[0]) & (target.user_id != "u_heavy")].unique()[:5]
    queries += [(u, items[1], late) for u in with_0] + [("u_solo", items[2], late), ("u_heavy", items[1], late)]
    qu, qi, qt = (list(x) for x in zip(*queries))
    f = ctx.features(ln.codes(qu, ctx.users), ln.codes(qi, ctx.items), ln.to_us(qt), groups=("synthetic",))
    for r, (uu, ii, tt) in enumerate(queries):
        before = syn[syn.event_ts < tt]
        # leave-one-out: the synthetic mass of other users on the item
        other = before[(before.target_item == ii) & (before.user_id != uu)]
        assert f["item_pop_synth"][r] == pytest.approx(np.log1p(lam * other.weight.sum()))
        assert f["user_n_synth"][r] == pytest.approx(np.log1p(lam * before.weight[before.user_id == uu].sum()))
        h = hist[(hist.user_id == uu) & (hist.event_ts < tt)]
        want = sum(w * sum(hv * col[ii].get(v, 0.0) for v, hv in col[x].items() if v != uu)
                   for x, w in zip(h.item_id, h.w) if x != ii)
        assert np.expm1(f["cf_all"][r]) == pytest.approx(want, abs=1e-9)
    assert len(queries) >= 60 and (f["cf_all"][:-2] > 0).mean() > 0.5
    # a pair resting on a single user (t_solo, items[2] of u_solo) is entirely the row's own cell
    assert f["cf_all"][-2] == 0 and f["user_n_synth"][-2] == pytest.approx(np.log1p(3 * lam * 0.5))


def test_lightgbm_trains_on_the_non_validation_rows_and_stops_on_the_real_slice(monkeypatch):
    """models.train_model: LightGBM's train set is exactly the non-validation rows with their
    sample_weight (lambda on synthetic rows), its early-stopping set exactly the real validation
    rows (training on the slice would leak what early stopping measures)."""
    import lightgbm as lgb

    from scalr import models
    rng = np.random.default_rng(0)
    n = 2000
    rows = pd.DataFrame({"f": rng.random(n), "label": (rng.random(n) < 0.3).astype(int),
                         "is_validation": rng.random(n) < 0.2, "is_synthetic": (rng.random(n) < 0.3).astype(np.int8)})
    rows.loc[rows.is_synthetic == 1, "is_validation"] = False  # the slice is real rows only
    rows["sample_weight"] = np.where(rows.is_synthetic == 1, 0.25, 1.0)
    seen, real_train = {}, lgb.train

    def spy(params, dtr, num_boost_round, valid_sets=None, callbacks=None):
        m = real_train(params, dtr, num_boost_round, valid_sets=valid_sets, callbacks=callbacks)
        seen.update(n_train=dtr.num_data(), w=np.asarray(dtr.get_weight()),
                    n_valid=valid_sets[0].num_data() if valid_sets else 0)
        return m

    monkeypatch.setattr(models.lgb, "train", spy)
    models.train_model(rows, ["f"], models.TrainConfig(n_estimators=5))
    train = rows[~rows.is_validation]
    assert seen["n_train"] == len(train)
    assert seen["n_valid"] == int((rows.is_validation & (rows.is_synthetic == 0)).sum()) > 0
    np.testing.assert_array_equal(np.sort(seen["w"]), np.sort(train.sample_weight.to_numpy()))
