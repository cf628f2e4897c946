"""scalr.evaluation against hand computations and brute-force references."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from scalr import evaluation as ev


def brute_auc(y, s, w=None):
    w = np.ones(len(y)) if w is None else w
    num = den = 0.0
    for a, b in itertools.product(range(len(y)), repeat=2):
        if y[a] == 1 and y[b] == 0:
            num += w[a] * w[b] * ((s[a] > s[b]) + 0.5 * (s[a] == s[b]))
            den += w[a] * w[b]
    return num / den


def test_ne_of_base_rate_predictor_is_one_and_better_predictor_lower():
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.2).astype(int)
    assert ev.ne(y, np.full(len(y), y.mean())) == pytest.approx(1.0, abs=1e-12)
    # a constant that is not the base rate is worse than 1
    assert ev.ne(y, np.full(len(y), 0.5)) > 1.0
    # an informative predictor is below 1
    p = np.where(y == 1, 0.6, 0.1)
    assert ev.ne(y, p) < 0.8
    # hand computation
    yy, pp = np.array([1, 0, 0, 1]), np.array([0.9, 0.2, 0.4, 0.6])
    ll = -np.mean([np.log(0.9), np.log(0.8), np.log(0.6), np.log(0.6)])
    assert ev.ne(yy, pp) == pytest.approx(ll / np.log(2))


def test_auc_matches_brute_force_with_ties_and_weights():
    rng = np.random.default_rng(1)
    for trial in range(5):
        n = 60
        y = (rng.random(n) < 0.4).astype(int)
        s = rng.integers(0, 6, n).astype(float)  # many ties
        w = rng.random(n) + 0.1
        assert ev.auc(y, s) == pytest.approx(brute_auc(y, s))
        assert ev.auc(y, s, w) == pytest.approx(brute_auc(y, s, w))
    assert ev.auc(np.array([1, 0]), np.array([1.0, 0.0])) == 1.0
    assert ev.auc(np.array([1, 0]), np.array([0.0, 1.0])) == 0.0
    assert ev.auc(np.array([1, 1, 0]), np.array([3.0, 3.0, 3.0])) == 0.5
    assert np.isnan(ev.auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_calibration():
    assert ev.calibration(np.array([1, 0, 0, 0]), np.full(4, 0.5)) == pytest.approx(2.0)


def test_recall_ndcg_on_hand_computed_lists():
    # user a: candidates scored x1 > x2 > x3 > x4 with positives x2 and x4
    # user b: single positive ranked first
    user = np.array(["a"] * 4 + ["b"] * 3)
    label = np.array([0, 1, 0, 1, 1, 0, 0])
    score = np.array([4, 3, 2, 1, 9, 5, 1], float)
    per = ev.ranking_per_user(user, label, score, ks=(1, 2, 4))
    assert per.loc["a", "recall@1"] == 0 and per.loc["a", "recall@2"] == 0.5 and per.loc["a", "recall@4"] == 1
    assert per.loc["b", "recall@1"] == 1
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    idcg = 1 + 1 / np.log2(3)
    assert per.loc["a", "ndcg@4"] == pytest.approx(dcg / idcg)
    assert per.loc["a", "ndcg@2"] == pytest.approx((1 / np.log2(3)) / idcg)
    assert per.loc["b", "ndcg@1"] == pytest.approx(1.0)


def test_ties_broken_by_tiebreak_not_label():
    user = np.array(["a"] * 4)
    label = np.array([1, 0, 0, 0])
    score = np.zeros(4)
    first = ev.ranking_per_user(user, label, score, ks=(1,), tiebreak=np.array([0, 1, 2, 3]))
    last = ev.ranking_per_user(user, label, score, ks=(1,), tiebreak=np.array([3, 0, 1, 2]))
    assert first.loc["a", "recall@1"] == 1 and last.loc["a", "recall@1"] == 0


def test_coverage_hand_computed():
    user = np.array(["a", "a", "b", "b"])
    item = np.array(["x", "y", "x", "z"])
    score = np.array([2, 1, 5, 1], float)
    assert ev.coverage(user, item, score, k=1, catalog_size=10) == pytest.approx(0.1)
    assert ev.coverage(user, item, score, k=2, catalog_size=10) == pytest.approx(0.3)


def test_bootstrap_ne_equals_direct_ne_and_evaluate_segments():
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(50), 10).astype(str)
    y = (rng.random(500) < 0.25).astype(int)
    p = np.clip(0.25 + 0.3 * (y - 0.25) + rng.normal(0, 0.05, 500), 0.01, 0.99)
    parts = ev.per_user_ne_parts(users, y, p)
    ones = np.ones((1, len(parts)))
    assert ev.ne_from_parts(ones, parts)[0] == pytest.approx(ev.ne(y, p))
    point = pd.DataFrame({"user_id": users, "label": y, "score": p, "baseline": np.full(500, y.mean())})
    rank = pd.DataFrame({"user_id": users, "item_id": np.tile(np.arange(10), 50).astype(str), "label": y,
                         "score": p, "tiebreak": rng.random(500)})
    seg = pd.Series(np.where(np.arange(50) < 20, "cold", "warm"), index=np.arange(50).astype(str))
    m = ev.evaluate(point, rank, "score", "baseline", seg, ks=(5,), catalog_size=10, n_boot=100).set_index("segment")
    assert m.loc["all", "ne"] == pytest.approx(ev.ne(y, p))
    assert m.loc["all", "ne_baseline"] == pytest.approx(1.0)
    assert m.loc["all", "rel_ne_pct"] < 0
    assert m.loc["all", "rel_ne_lo"] <= m.loc["all", "rel_ne_pct"] <= m.loc["all", "rel_ne_hi"]
    assert m.loc["all", "ne_lo"] <= m.loc["all", "ne"] <= m.loc["all", "ne_hi"]
    cold = np.isin(users, seg.index[seg == "cold"])
    assert m.loc["cold", "ne"] == pytest.approx(ev.ne(y[cold], p[cold]))
    assert m.loc["cold", "n_users"] == 20 and m.loc["warm", "n_users"] == 30
    per = ev.ranking_per_user(users[cold], y[cold], p[cold], ks=(5,), tiebreak=rank.tiebreak.to_numpy()[cold])
    assert m.loc["cold", "recall@5"] == pytest.approx(per["recall@5"].mean())
    # the model scored against itself as baseline: relative NE exactly 0, CI [0, 0]
    m2 = ev.evaluate(point.assign(baseline=p), rank, "score", "baseline", seg, ks=(5,), catalog_size=10, n_boot=20)
    assert np.allclose(m2[["rel_ne_pct", "rel_ne_lo", "rel_ne_hi"]].to_numpy(), 0)


def test_integer_weights_equal_row_replication():
    """ne and auc with integer weights equal the unweighted metric on rows repeated w times."""
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.3).astype(int)
    p = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.1, 300), 0.01, 0.99)
    w = rng.integers(1, 6, 300)
    w[y == 1] = rng.integers(4, 9, (y == 1).sum())  # weighted base rate far from the row base rate
    yr, pr = np.repeat(y, w), np.repeat(p, w)
    assert ev.ne(y, p, w) == pytest.approx(ev.ne(yr, pr), rel=1e-12)
    assert ev.auc(y, p, w) == pytest.approx(ev.auc(yr, pr), rel=1e-12)
    # and weights of 1 are no weights
    assert ev.ne(y, p, np.ones(300)) == pytest.approx(ev.ne(y, p), rel=1e-12)


def test_evaluate_coverage_per_segment_is_coverage_of_the_segments_rows():
    """coverage@k of each segment equals ev.coverage on that segment's candidate rows alone."""
    rng = np.random.default_rng(5)
    n_users, n_cand = 40, 6
    users = np.repeat(np.arange(n_users), n_cand).astype(str)
    cold_u = np.arange(n_users) < 15
    cold = np.repeat(cold_u, n_cand)
    # cold users' candidates come from items 0..19, warm users' from 20..79 (catalog of 100)
    item = np.where(cold, rng.integers(0, 20, len(users)), rng.integers(20, 80, len(users))).astype(str)
    label = (rng.random(len(users)) < 0.3).astype(int)
    label[::n_cand] = 1
    score = rng.random(len(users))
    tb = rng.random(len(users))
    rank = pd.DataFrame({"user_id": users, "item_id": item, "label": label, "score": score, "tiebreak": tb})
    point = rank[["user_id", "label", "score"]]
    seg = pd.Series(np.where(cold_u, "cold", "warm"), index=np.arange(n_users).astype(str))
    m = ev.evaluate(point, rank, "score", None, seg, ks=(1, 2), catalog_size=100, n_boot=20).set_index("segment")
    for k in (1, 2):
        want = {s: ev.coverage(users[mk], item[mk], score[mk], k, 100, tb[mk])
                for s, mk in (("all", np.ones(len(users), bool)), ("cold", cold), ("warm", ~cold))}
        assert len(set(want.values())) == 3  # the segments' coverages differ
        for s, v in want.items():
            assert m.loc[s, f"coverage@{k}"] == pytest.approx(v)
    # hand check: k = 1 covers exactly the distinct top-1 items of the cold users
    top1 = pd.DataFrame({"u": users, "i": item, "s": score})[cold].sort_values("s").groupby("u").i.last()
    assert m.loc["cold", "coverage@1"] == pytest.approx(top1.nunique() / 100)


def test_ci_uses_the_two_sided_level():
    """ci is the (2.5 %, 97.5 %) linear-interpolation quantile pair: (25, 975) on 0..1000."""
    # np.quantile's default (linear) at (1 - level) / 2 = 0.025: position 0.025 * 1000 = 25 exactly
    # (up to the rounding of 1 - 0.95)
    assert ev.ci(np.arange(1001)) == pytest.approx((25.0, 975.0), abs=1e-9)
    assert ev.ci(np.arange(1001), level=0.9) == pytest.approx((50.0, 950.0), abs=1e-9)
    assert ev.ci(np.r_[np.arange(1001), np.nan, np.inf]) == pytest.approx((25.0, 975.0), abs=1e-9)  # non-finite ignored
    assert all(np.isnan(ev.ci(np.array([np.nan]))))


def test_evaluate_recall_ci_matches_the_normal_approximation():
    """With 2,000 users the recall@k bootstrap CI is centred on the mean with width ~ 2*1.96*sd/sqrt(n)."""
    rng = np.random.default_rng(6)
    n_users, n_cand = 2000, 8
    users = np.repeat(np.arange(n_users), n_cand).astype(str)
    label = (rng.random(len(users)) < 0.25).astype(int)
    label[::n_cand] = 1
    score = rng.random(len(users)) + 0.3 * label
    rank = pd.DataFrame({"user_id": users, "item_id": np.tile(np.arange(n_cand), n_users).astype(str),
                         "label": label, "score": score, "tiebreak": rng.random(len(users))})
    point = rank[["user_id", "label", "score"]]
    m = ev.evaluate(point, rank, "score", None, None, ks=(2,), catalog_size=n_cand, n_boot=2000).set_index("segment")
    per = ev.ranking_per_user(users, label, score, ks=(2,), tiebreak=rank.tiebreak.to_numpy())
    v = per["recall@2"].to_numpy()
    assert len(v) == n_users and m.loc["all", "recall@2"] == pytest.approx(v.mean())
    lo, hi = m.loc["all", "recall@2_lo"], m.loc["all", "recall@2_hi"]
    normal = 2 * 1.96 * v.std() / np.sqrt(len(v))
    # the Monte Carlo error of a B = 2000 percentile-interval width is ~2 %: 10 % is 4-5 of those
    assert 0.9 * normal < hi - lo < 1.1 * normal
    # the bootstrap distribution of a mean is centred on the sample mean (skew is negligible here)
    assert abs((lo + hi) / 2 - v.mean()) < 0.1 * (hi - lo)
