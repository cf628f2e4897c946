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
    # user a: catalog scored x0 > x1 > x2 > x3 with positives x1 and x3
    # user b: single positive ranked first (x3 excluded: its own train item)
    scores = np.array([[4, 3, 2, 1], [9, 5, 1, 0]], float)
    exclude = np.array([[False] * 4, [False, False, False, True]])
    rank, _ = ev.rank_block(scores, exclude, np.array([0, 0, 1]), np.array([1, 3, 0]), np.arange(4), ks=(1,))
    per = ev.per_user_from_ranks(np.array([0, 0, 1]), rank, 2, ks=(1, 2, 4))
    assert per.loc[0, "recall_at_1"] == 0 and per.loc[0, "recall_at_2"] == 0.5 and per.loc[0, "recall_at_4"] == 1
    assert per.loc[1, "recall_at_1"] == 1
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    idcg = 1 + 1 / np.log2(3)
    assert per.loc[0, "ndcg_at_4"] == pytest.approx(dcg / idcg)
    assert per.loc[0, "ndcg_at_2"] == pytest.approx((1 / np.log2(3)) / idcg)
    assert per.loc[1, "ndcg_at_1"] == pytest.approx(1.0)


def test_ties_broken_by_tiebreak_not_label():
    scores = np.zeros((1, 4))
    excl = np.zeros((1, 4), bool)
    first, _ = ev.rank_block(scores, excl, np.array([0]), np.array([0]), np.array([0, 1, 2, 3]), ks=(1,))
    last, _ = ev.rank_block(scores, excl, np.array([0]), np.array([0]), np.array([1, 2, 3, 0]), ks=(1,))
    assert first[0] == 0 and last[0] == 3


def test_coverage_hand_computed():
    # catalog of 10; user a scores item 0 > 1, user b item 0 > 2 (others excluded)
    scores = np.zeros((2, 10))
    scores[0, [0, 1]] = [2, 1]
    scores[1, [0, 2]] = [5, 1]
    excl = np.ones((2, 10), bool)
    excl[0, [0, 1]] = excl[1, [0, 2]] = False
    _, tops = ev.rank_block(scores, excl, np.array([0]), np.array([0]), np.arange(10), ks=(1, 2))
    assert tops[1].sum() / 10 == pytest.approx(0.1) and tops[2].sum() / 10 == pytest.approx(0.3)


def test_bootstrap_ne_equals_direct_ne_and_pointwise_segments():
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(50), 10)
    y = (rng.random(500) < 0.25).astype(int)
    p = np.clip(0.25 + 0.3 * (y - 0.25) + rng.normal(0, 0.05, 500), 0.01, 0.99)
    parts = ev.per_user_ne_parts(users, y, p)
    ones = np.ones((1, len(parts)))
    assert ev.ne_from_parts(ones, parts)[0] == pytest.approx(ev.ne(y, p))
    seg = pd.Series(np.where(np.arange(50) < 20, "cold", "warm"), index=np.arange(50))
    m = ev.pointwise_summary(users, y, p, seg, np.full(500, y.mean()), n_boot=100).set_index("segment")
    assert m.loc["all", "ne"] == pytest.approx(ev.ne(y, p))
    assert m.loc["all", "ne_reference"] == pytest.approx(1.0)
    assert m.loc["all", "rel_ne_pct"] < 0
    assert m.loc["all", "rel_ne_lo"] <= m.loc["all", "rel_ne_pct"] <= m.loc["all", "rel_ne_hi"]
    assert m.loc["all", "ne_lo"] <= m.loc["all", "ne"] <= m.loc["all", "ne_hi"]
    cold = users < 20
    assert m.loc["cold", "ne"] == pytest.approx(ev.ne(y[cold], p[cold]))
    assert m.loc["cold", "n_rows"] == 200 and m.loc["warm", "n_rows"] == 300
    # the model scored against itself as reference: relative NE exactly 0, CI [0, 0]
    m2 = ev.pointwise_summary(users, y, p, seg, p, n_boot=20)
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


def test_coverage_per_segment_is_coverage_of_the_segments_rows():
    """The top-k union of each segment equals the union over that segment's rows alone."""
    rng = np.random.default_rng(5)
    n, ni = 40, 100
    cold = np.arange(n) < 15
    scores = rng.random((n, ni))
    scores[cold, 20:] -= 2  # cold users prefer items 0..19
    excl = rng.random((n, ni)) < 0.2
    _, tops = ev.rank_block(scores, excl, np.array([0]), np.array([int(np.flatnonzero(~excl[0])[0])]),
                            np.arange(ni), ks=(1, 2), row_segment=np.where(cold, 0, 1), n_segments=2)
    for k in (1, 2):
        s = np.where(excl, -np.inf, scores)
        top = np.argsort(-s, axis=1, kind="stable")[:, :k]
        for g, m in ((0, cold), (1, ~cold)):
            want = np.zeros(ni, bool)
            want[top[m].ravel()] = True
            assert (tops[k][g] == want).all()
        assert tops[k][0].sum() != tops[k][1].sum()


def test_ci_uses_the_two_sided_level():
    """ci is the (2.5 %, 97.5 %) linear-interpolation quantile pair: (25, 975) on 0..1000."""
    # np.quantile's default (linear) at (1 - level) / 2 = 0.025: position 0.025 * 1000 = 25 exactly
    # (up to the rounding of 1 - 0.95)
    assert ev.ci(np.arange(1001)) == pytest.approx((25.0, 975.0), abs=1e-9)
    assert ev.ci(np.arange(1001), level=0.9) == pytest.approx((50.0, 950.0), abs=1e-9)
    assert ev.ci(np.r_[np.arange(1001), np.nan, np.inf]) == pytest.approx((25.0, 975.0), abs=1e-9)  # non-finite ignored
    assert all(np.isnan(ev.ci(np.array([np.nan]))))


def test_ranking_ci_matches_the_normal_approximation():
    """With 2,000 users the recall bootstrap CI is centred on the mean with width ~ 2*1.96*sd/sqrt(n)."""
    rng = np.random.default_rng(6)
    n_users = 2000
    per = pd.DataFrame({"n_pos": 1.0, "recall_at_10": (rng.random(n_users) < 0.4).astype(float),
                        "ndcg_at_10": rng.random(n_users)})
    m = ev.ranking_summary(per, np.full(n_users, "cold"), ks=(10,), n_boot=2000).set_index("segment")
    v = per.recall_at_10.to_numpy()
    assert m.loc["all", "recall_at_10"] == pytest.approx(v.mean())
    lo, hi = m.loc["all", "recall_at_10_lo"], m.loc["all", "recall_at_10_hi"]
    normal = 2 * 1.96 * v.std() / np.sqrt(len(v))
    # the Monte Carlo error of a B = 2000 percentile-interval width is ~2 %: 10 % is 4-5 of those
    assert 0.9 * normal < hi - lo < 1.1 * normal
    assert abs((lo + hi) / 2 - v.mean()) < 0.1 * (hi - lo)
    assert m.loc["warm", "n_users"] == 0
