"""synthetic_events_sql (the pure-SQL two-stage sampler) on DuckDB: its draws fit p_norm (and, with
leave_self_out, P_hat without the user) by chi-square against an independent pandas oracle, a
shuffled distribution is rejected, no draw lands on a pair only the user supports, and the rows do
not depend on the thread count. One world and build shared with tests/test_spark.py
(tests/sampler_sql_build.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests import sampler_sql_build as build

K = build.K
J = ["source_domain", "source_item"]


def expected_draws(user_items: pd.DataFrame, events: pd.DataFrame, k: int, leave_self_out: bool) -> pd.DataFrame:
    """Oracle: expected draw counts per (source_domain, source_item, target_item) from the overlap
    users' distinct positives (user_id, domain_role, domain, item_id): for an event (u, j) the draw
    follows (n_ji - o_ui) / (sum_i n_ji - |T_u| [u holds j]), o_ui = [u holds j and i] (leave-self-out),
    or n_ji / sum_i n_ji. Also returns, per (j, i), n_ji."""
    s = user_items[user_items.domain_role == "source"].rename(columns={"domain": "source_domain", "item_id": "source_item"})
    t = user_items[user_items.domain_role == "target"].rename(columns={"item_id": "target_item"})
    s, t = s[["user_id"] + J], t[["user_id", "target_item"]]
    n = s.merge(t, on="user_id").groupby(J + ["target_item"]).size().rename("n_ji").reset_index()
    total = n.groupby(J).n_ji.sum().rename("total").reset_index()
    t_size = t.groupby("user_id").size().rename("t_u").reset_index()
    ev = events[["user_id"] + J].merge(total, on=J)
    if leave_self_out:
        ev = ev.merge(s.assign(own=True), on=["user_id"] + J, how="left").merge(t_size, on="user_id", how="left")
        ev["t_own"] = np.where(ev.own.eq(True), ev.t_u.fillna(0), 0)
    else:
        ev["t_own"] = 0
    ev = ev[ev.total > ev.t_own].copy()
    ev["inv"] = 1.0 / (ev.total - ev.t_own)
    out = n.merge(ev.groupby(J).inv.sum().rename("inv_sum").reset_index(), on=J)
    out["expected"] = k * out.n_ji * out.inv_sum
    own = ev[ev.t_own > 0].merge(t, on="user_id").groupby(J + ["target_item"]).inv.sum().rename("own_inv").reset_index()
    out = out.merge(own, on=J + ["target_item"], how="left").fillna({"own_inv": 0.0})
    out["expected"] -= k * out.own_inv
    return out[J + ["target_item", "n_ji", "expected"]]


def chi_square(observed: pd.Series, expected: pd.Series, groups: pd.Series, min_expected=5.0):
    """Pearson chi-square with the draws per group fixed: cells below min_expected are pooled into
    one cell; degrees of freedom = cells - groups."""
    big = expected >= min_expected
    obs, exp = observed[big].to_numpy(float), expected[big].to_numpy(float)
    if (~big).any():
        obs, exp = np.r_[obs, observed[~big].sum()], np.r_[exp, expected[~big].sum()]
    n_groups = groups.nunique()
    return stats.chisquare(obs, exp * obs.sum() / exp.sum(), ddof=n_groups - 1)


def observed_vs_expected(draws: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    obs = draws.groupby(J + ["target_item"]).size().rename("observed").reset_index()
    m = expected.merge(obs, on=J + ["target_item"], how="outer")
    assert m.expected.notna().all(), "a draw outside the support"
    return m.fillna({"observed": 0})


@pytest.fixture(scope="module")
def sampled(tmp_path_factory, request):
    # the world and builds are shared with tests/test_spark.py (tests/sampler_sql_build.py); when
    # the Spark test is in this session its build starts first and runs beside these
    if build.spark_wanted(request.session):
        build.start_spark(tmp_path_factory)
    return build.duck_builds(tmp_path_factory)


def test_draws_fit_p_norm_and_a_shuffled_distribution_does_not(sampled):
    draws = sampled["plain"]
    exp = expected_draws(sampled["user_items"], sampled["events"], K, leave_self_out=False)
    m = observed_vs_expected(draws, exp)
    assert len(draws) > 20_000 and m.observed.sum() == len(draws)
    # the oracle's n_ji / sum n_ji is translation's p_norm, and the rows carry it
    tr = m.merge(sampled["translation"][J + ["target_item", "p_norm"]], on=J + ["target_item"])
    np.testing.assert_allclose(tr.expected / tr.groupby(J).expected.transform("sum"), tr.p_norm, atol=1e-12)
    p_row = draws.merge(sampled["translation"][J + ["target_item", "p_norm"]], on=J + ["target_item"])
    assert len(p_row) == len(draws) and np.allclose(p_row.p, p_row.p_norm, atol=1e-15)
    fit = chi_square(m.observed, m.expected, m.source_item)
    assert fit.pvalue > 1e-3, fit
    shuffled = m.expected.groupby([m.source_domain, m.source_item]).transform(
        lambda x: np.random.default_rng(0).permutation(x.to_numpy()))
    bad = chi_square(m.observed, shuffled, m.source_item)
    assert bad.pvalue < 1e-6, bad


def test_leave_self_out_fits_its_definition_and_never_draws_a_pair_only_the_user_holds(sampled):
    draws = sampled["lso"]
    exp = expected_draws(sampled["user_items"], sampled["events"], K, leave_self_out=True)
    m = observed_vs_expected(draws, exp)
    fit = chi_square(m.observed, m.expected, m.source_item)
    assert fit.pvalue > 1e-3, fit
    # pairs (u, j, i) that only u supports (n_ji = 1, u holds j and i): the plain draws land on
    # them, the leave-self-out draws never do
    exp_plain = expected_draws(sampled["user_items"], sampled["events"], K, leave_self_out=False)
    assert _only_user_draws(sampled["plain"], sampled["user_items"], exp_plain) > 0
    assert _only_user_draws(draws, sampled["user_items"], exp) == 0
    # K draws for each event with mass left after removing the user's own
    per_event = draws.groupby(["user_id"] + J + ["event_ts", "label"]).size()
    assert (per_event == K).all()


def _only_user_draws(draws, user_items, expected) -> int:
    s = user_items[user_items.domain_role == "source"].rename(columns={"domain": "source_domain", "item_id": "source_item"})
    t = user_items[user_items.domain_role == "target"].rename(columns={"item_id": "target_item"})
    own = draws.merge(s[["user_id"] + J], on=["user_id"] + J).merge(t[["user_id", "target_item"]],
                                                                      on=["user_id", "target_item"])
    return len(own.merge(expected[expected.n_ji == 1], on=J + ["target_item"]))


def test_rows_do_not_depend_on_threads(sampled):
    # the model built with 2 DuckDB threads; its compiled SQL run again with 1
    a, b = sampled["lso"], sampled["lso_1_thread"]
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)
