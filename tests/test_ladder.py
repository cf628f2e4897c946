"""The evaluation ladder: full-catalog ranking by hand, catalog feature blocks against the per-row
features, and the arms' feature sets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalr import evaluation as ev
from scalr import learning as ln


def test_rank_block_ties_exclusions_and_topk_by_hand():
    # 2 users x 5 items; tie-break order: item 4, 3, 2, 1, 0 (earlier in tb_order ranks higher)
    scores = np.array([[5.0, 3, 3, 1, 9],
                       [1.0, 1, 1, 1, 1]])
    exclude = np.array([[False, False, False, False, True],   # user 0's own train item 4: not a candidate
                        [False, False, False, False, False]])
    tb = np.array([4, 3, 2, 1, 0])
    pos_row = np.array([0, 0, 1])
    pos_item = np.array([1, 0, 0])
    rank, tops = ev.rank_block(scores, exclude, pos_row, pos_item, tb, ks=(1, 2), row_segment=np.array([0, 1]),
                               n_segments=2)
    # user 0: candidates 0 (5), 1 (3), 2 (3), 3 (1); item 2 is before item 1 in tie-break order
    # -> item 0 rank 0, item 2 rank 1, item 1 rank 2; user 1: all tied -> order 4, 3, 2, 1, 0
    assert rank.tolist() == [2, 0, 4]
    assert np.flatnonzero(tops[1][0]).tolist() == [0] and np.flatnonzero(tops[2][0]).tolist() == [0, 2]
    assert np.flatnonzero(tops[1][1]).tolist() == [4] and np.flatnonzero(tops[2][1]).tolist() == [3, 4]
    per = ev.per_user_from_ranks(np.array([0, 0, 1]), rank, 2, ks=(1, 3))
    assert per.n_pos.tolist() == [2, 1]
    assert per.recall_at_1.tolist() == [0.5, 0.0] and per.recall_at_3.tolist() == [1.0, 0.0]
    # ndcg@3 of user 0: hits at ranks 0 and 2 -> (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert per.ndcg_at_3[0] == pytest.approx((1 + 0.5) / (1 + 1 / np.log2(3)))


def test_rank_block_equals_a_sort_on_random_scores():
    rng = np.random.default_rng(3)
    n, ni = 40, 60
    scores = rng.integers(0, 6, (n, ni)).astype(float)  # many ties
    exclude = rng.random((n, ni)) < 0.1
    tb = rng.permutation(ni)
    pos = np.argwhere(~exclude)
    pos = pos[rng.random(len(pos)) < 0.05]
    rank, tops = ev.rank_block(scores, exclude, pos[:, 0], pos[:, 1], tb, ks=(5,))
    tb_pos = np.empty(ni, int)
    tb_pos[tb] = np.arange(ni)
    top_union = np.zeros(ni, bool)
    for r in range(n):  # the oracle: a plain sort per user (test only)
        cand = np.flatnonzero(~exclude[r])
        order = cand[np.lexsort((tb_pos[cand], -scores[r, cand]))]
        where = {it: k for k, it in enumerate(order)}
        for p in np.flatnonzero(pos[:, 0] == r):
            assert rank[p] == where[pos[p, 1]]
        top_union[order[:5]] = True
    assert (tops[5][0] == top_union).all()


def test_ranking_summary_paired_difference():
    per_a = pd.DataFrame({"n_pos": [1.0, 1, 1, 1], "recall_at_10": [1.0, 1, 0, 1], "ndcg_at_10": [1.0, 0.5, 0, 1]})
    per_b = pd.DataFrame({"n_pos": [1.0, 1, 1, 1], "recall_at_10": [0.0, 1, 0, 0], "ndcg_at_10": [0.0, 0.5, 0, 0]})
    s = ev.ranking_summary(per_a, np.array(["cold", "cold", "warm", "warm"]), per_b, ks=(10,), n_boot=50)
    s = s.set_index("segment")
    assert s.loc["all", "diff_recall_at_10"] == 0.5 and s.loc["cold", "diff_recall_at_10"] == 0.5
    assert s.loc["warm", "n_users"] == 2 and s.loc["all", "recall_at_10"] == 0.75
    assert s.loc["all", "diff_recall_at_10_lo"] >= 0  # every user's difference is >= 0


def _small_world(seed: int = 0):
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-01-01")
    day = pd.Timedelta(days=1)
    users = [f"u{k}" for k in range(60)]
    titems = [f"t{k}" for k in range(25)]
    sitems = [f"s{k}" for k in range(30)]
    target = pd.DataFrame({"user_id": rng.choice(users[:45], 400), "item_id": rng.choice(titems, 400),
                           "event_ts": t0 + day * rng.integers(0, 250, 400), "label": 1}).drop_duplicates(
        ["user_id", "item_id"])
    source = pd.DataFrame({"user_id": rng.choice(users, 900), "source_domain": "s",
                           "source_item": rng.choice(sitems, 900),
                           "event_ts": t0 + day * rng.integers(0, 250, 900), "label": 1})
    syn = pd.DataFrame({"user_id": rng.choice(users, 500), "target_item": rng.choice(titems, 500),
                        "source_item": rng.choice(sitems, 500), "event_ts": t0 + day * rng.integers(0, 250, 500),
                        "weight": rng.choice([0.5, 1.0], 500), "label": 1})
    return target, source, syn


def test_catalog_block_equals_per_row_features_on_every_candidate():
    target, source, syn = _small_world()
    tr = ln.translate(source, target)
    users = pd.Index(sorted(set(target.user_id) | set(source.user_id)))
    items = pd.Index(sorted(set(target.item_id)))
    ctx = ln.build_context(target, source, tr, syn, users, items, synthetic_lambda=0.7, hist_cap=15)
    t = np.int64(ln.to_us([pd.Timestamp("2024-10-01")])[0])
    uu = np.arange(len(users))
    block = ctx.catalog_block(uu, t)
    U, I = np.meshgrid(uu, np.arange(len(items)), indexing="ij")
    rows = ctx.features(U.ravel(), I.ravel(), np.full(U.size, t))
    own = ln.pair_values(ctx.T, U.ravel(), I.ravel()) > 0  # the user's own train items: not candidates
    assert own.any() and (~own).sum() > 1000
    for f in ln.FEATURES:
        np.testing.assert_allclose(block[f].ravel()[~own], rows[f][~own], rtol=1e-5, atol=1e-5, err_msg=f)
    # hist_cap bites: some user has more than 15 target + synthetic events
    assert np.bincount(ln.codes(pd.concat([target.user_id, syn.user_id]), users)).max() > 15


def test_arms_partition_the_features_and_t_reads_no_source():
    t, tf, ts, tfs = (set(ln.ARMS[a][0]) for a in ("T", "T+F", "T+S", "T+F+S"))
    assert tfs == set(ln.FEATURES) and t < tf and t < ts and (tf | ts) == tfs
    # T: no feature of the translation / source / synthetic groups
    assert not t & (set(ln.FEATURE_GROUPS["translation"]) | set(ln.FEATURE_GROUPS["synthetic"]) | {"user_n_source"})
    assert not ln.ARMS["T"][1] and not ln.ARMS["T+F"][1] and ln.ARMS["T+S"][1] and ln.ARMS["T+F+S"][1]
    # T+S reads no source event or P_hat directly
    assert not ts & (set(ln.FEATURE_GROUPS["translation"]) | {"user_n_source"})


def test_positives_and_negatives_matched_on_item_existence():
    """No training row has a feature value only positives can have: a positive on an item's first
    event (item_age_days = -1) is dropped, as negatives are drawn only among existing items."""
    target, source, syn = _small_world(1)
    tr = ln.translate(source, target)
    users = pd.Index(sorted(set(target.user_id) | set(source.user_id)))
    items = pd.Index(sorted(set(target.item_id)))
    ctx = ln.build_context(target, source, tr, syn, users, items)
    rows = ln.build_training_rows(ctx, target, syn, ln.RowsConfig(negatives_per_positive=3))
    assert (rows.item_age_days >= 0).all()
    for lab in (0, 1):
        assert (rows[rows.label == lab].item_age_days == -1).sum() == 0


def test_purge_mode_mask_hides_features_on_synthetic_rows_only(monkeypatch):
    from scalr import ladder as la
    rows = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "is_synthetic": [0, 1, 0, 1], "label": [1, 1, 0, 0],
                         "is_validation": False, "sample_weight": 1.0, "item_pop": [1.0, 2, 3, 4],
                         "cf_real": [5.0, 6, 7, 8]})
    seen = {}

    def fake_train(r, feats, cfg):
        seen[cfg.seed] = (r.copy(), list(feats))
        return None

    monkeypatch.setattr(la.ln, "train_model", fake_train)
    arm = la.Arm("T+S", "T+S", ["item_pop", "cf_real"], masked=["item_pop"])
    t = la.Arm("T", "T", ["item_pop", "cf_real"])
    la.fit(rows, [arm], la.LadderConfig(seeds=(0,), workers=1))
    r, feats = seen[0]
    assert feats == ["item_pop", "cf_real"]
    assert r.item_pop.isna().tolist() == [False, True, False, True] and r.cf_real.notna().all()
    la.fit(rows, [t], la.LadderConfig(seeds=(1,), workers=1))  # T trains on the real rows only
    assert seen[1][0].is_synthetic.eq(0).all() and seen[1][0].item_pop.notna().all()
    assert rows.item_pop.notna().all()  # the shared rows are not modified
    with pytest.raises(ValueError, match="purge_mode"):
        la.LadderConfig(purge_mode="zap")


@pytest.mark.parametrize("granularity", ["month", "year"])
def test_target_only_baseline_is_robust_to_coarse_times_and_explicit_labels(granularity):
    """A dataset of the contract with month- or year-granular times and explicit 0/1 labels: the
    ladder uses the real labels for NE, T has NE < 1 and ranks at least as well as its best single
    feature (popularity) over the full catalog. Year-granular: the world's quarters become the
    years 2021-2024 (3 train years, every event of a year at its January 1st), so the latest train
    year is a third of the events and the early-stopping slice (scalr.oracles.mark_validation, the
    twin of int_validation_cut) must not swallow it: no slice then."""
    from scalr import demo_world, generators as gen, ladder as la
    from scalr.oracles import mark_validation
    w = demo_world.generate(demo_world.WorldSpec(n_users=2500, n_source_items=400, n_target_items=200, seed=9))
    if granularity == "month":
        ev = w.events.assign(event_ts=w.events.event_ts.dt.to_period("M").dt.to_timestamp())
        end = pd.Timestamp("2024-10-01")
    else:
        year = 2020 + w.events.event_ts.dt.quarter
        ev = w.events.assign(event_ts=pd.to_datetime(year.astype(str) + "-01-01"))
        end = pd.Timestamp("2024-01-01")
    rng = np.random.default_rng(0)
    tgt = ev[ev.domain == "target"]
    negs = tgt.assign(item_id=rng.choice(w.catalogs["target"].item_id, len(tgt)))  # explicit 0 labels
    tgt = pd.concat([tgt.assign(label=1), negs.assign(label=0)]).drop_duplicates(["user_id", "item_id"])
    src = ev[ev.domain == "source"].rename(columns={"domain": "source_domain", "item_id": "source_item"}).assign(label=1)
    tt, te, st = tgt[tgt.event_ts < end], tgt[tgt.event_ts >= end], src[src.event_ts < end]
    tr = ln.translate(st, tt[tt.label == 1])
    syn, _ = gen.synthesize(tr, st, tt, None, gen.GeneratorConfig(leave_self_out=False))
    tt = mark_validation(tt, 0.1)
    assert tt.is_validation.mean() <= 0.2
    if granularity == "year":
        assert tt.event_ts.nunique() == 3 and not tt.is_validation.any()
    data = la.BuildData(tt[["user_id", "item_id", "event_ts", "label", "is_validation"]], st,
                        te[["user_id", "item_id", "event_ts", "label"]], tr, end)
    cfg = la.LadderConfig(seeds=(0,), n_boot=0, mf=None)
    res, _, _, stats = la.run_ladder(data, cfg, [la.Generator("default", syn)], log=lambda m: None)
    assert stats["point_negatives"] == "real labels"
    a = res[res.segment == "all"].set_index("config")
    assert a.loc["T", "ne"] < 1
    assert a.loc["T", "recall_at_50"] >= a.loc["heuristic:popularity", "recall_at_50"] - 0.005


def test_full_catalog_ranking_excludes_exactly_the_users_own_train_items():
    """EvalSet: each eval user's excluded candidates are exactly its own target train items, so a
    scorer that puts them first still ranks every eval positive first (a ladder that forgot the
    exclusion ranks them 2nd / 3rd)."""
    from scalr import ladder as la
    ts = pd.Timestamp("2024-05-01")
    tt = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "item_id": ["x", "y", "z", "w"], "event_ts": ts, "label": 1,
                       "is_validation": False})
    te = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["z", "x"], "event_ts": pd.Timestamp("2024-11-01"),
                       "label": 1})
    se = pd.DataFrame({"user_id": ["a"], "source_domain": ["s"], "source_item": ["j"], "event_ts": ts, "label": 1})
    es = la.EvalSet(la.BuildData(tt, se, te, pd.DataFrame(), pd.Timestamp("2024-10-01")), la.LadderConfig())
    items = np.asarray(es.items)
    own = {u: set(tt.item_id[tt.user_id == u]) for u in tt.user_id}
    ex = es.exclude.toarray().astype(bool)
    assert len(es.eval_users) == 2
    for r, u in enumerate(es.eval_users):
        assert set(items[ex[r]]) == own[es.users[u]]
    s = np.zeros((len(es.eval_users), len(items)))
    for r, u in enumerate(es.eval_users):
        s[r, np.isin(items, list(own[es.users[u]]))] = 10
    s[es.pos_user, es.pos_item] = 5
    rank, _ = ev.rank_block(s, ex, es.pos_user, es.pos_item, es.tb_order, ks=(1,))
    assert rank.tolist() == [0, 0]
