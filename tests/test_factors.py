"""Implicit ALS (scalr.factors): planted-structure recovery, weights, cold users, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from scalr.factors import INIT_SCALE, FactorConfig, Factors, fit_als

N_GROUPS, USERS_PER, ITEMS_PER, PER_USER = 8, 40, 40, 25
CFG = FactorConfig(factors=16, iterations=10)


def planted(seed: int = 0, in_group: float = 0.9):
    """Users of group g mostly pick items of group g; one in-group event per user is held out."""
    rng = np.random.default_rng(seed)
    n_users, n_items = N_GROUPS * USERS_PER, N_GROUPS * ITEMS_PER
    user_group = np.arange(n_users) // USERS_PER
    u = np.repeat(np.arange(n_users), PER_USER)
    own = rng.random(len(u)) < in_group
    own[::PER_USER] = True  # the first event of every user is in-group: the held-out one
    item_group = np.where(own, user_group[u], rng.integers(0, N_GROUPS, len(u)))
    i = item_group * ITEMS_PER + rng.integers(0, ITEMS_PER, len(u))
    held = np.zeros(len(u), bool)
    held[::PER_USER] = True
    return u[~held], i[~held], u[held], i[held], n_users, n_items, user_group


def auc(f: Factors, users: np.ndarray, pos: np.ndarray, seen_u: np.ndarray,
        seen_i: np.ndarray) -> np.ndarray:
    """Per user: share of the items they did not see scored below their positive (ties 1/2)."""
    s = f.score_block(users)
    p = s[np.arange(len(users)), pos][:, None]
    mask = np.ones_like(s, bool)
    row = np.searchsorted(users, seen_u)
    ok = (row < len(users)) & (users[np.minimum(row, len(users) - 1)] == seen_u)
    mask[row[ok], seen_i[ok]] = False
    mask[np.arange(len(users)), pos] = False
    return (((s < p) + 0.5 * (s == p)) * mask).sum(1) / mask.sum(1)


def test_planted_groups_rank_held_out_item_high_and_shuffled_control_does_not():
    u, i, hu, hi, nu, ni, _ = planted()
    w = np.ones(len(u))
    a = auc(fit_als(u, i, w, nu, ni, CFG), hu, hi, u, i)
    assert a.mean() > 0.85, a.mean()
    shuffled = np.random.default_rng(1).permutation(u)  # training events moved to random users
    a0 = auc(fit_als(shuffled, i, w, nu, ni, CFG), hu, hi, shuffled, i)
    assert abs(a0.mean() - 0.5) < 0.1 and a0.mean() < 0.6, a0.mean()


def test_weights_zero_cell_duplicates_and_alpha_scaling():
    u, i, _, _, nu, ni, _ = planted()
    w = np.random.default_rng(2).uniform(0.1, 2.0, len(u))
    base = fit_als(u, i, w, nu + 1, ni + 1, CFG)
    # weight-0 cells (for a new user, on a new item, for an existing user) change nothing
    extra = fit_als(np.r_[u, nu, 0, 3], np.r_[i, 0, ni, 5], np.r_[w, 0.0, 0.0, 0.0],
                    nu + 1, ni + 1, CFG)
    np.testing.assert_array_equal(extra.user, base.user)
    np.testing.assert_array_equal(extra.item, base.item)
    assert not base.user[nu].any() and not base.item[ni].any()
    # a cell split into two rows with the same (u, i) equals one row with the summed weight
    w4 = np.round(w * 4) / 4 + 0.5  # exact binary fractions: the split sums exactly
    whole = fit_als(u, i, w4, nu, ni, CFG)
    split = fit_als(np.r_[u, u], np.r_[i, i], np.r_[w4 - 0.25, np.full(len(u), 0.25)], nu, ni, CFG)
    np.testing.assert_allclose(split.user, whole.user, rtol=0, atol=1e-10)
    # doubling every weight is doubling alpha; and the weights do matter
    doubled = fit_als(u, i, 2 * w, nu, ni, CFG)
    alpha2 = fit_als(u, i, w, nu, ni, FactorConfig(factors=16, iterations=10, alpha=2 * CFG.alpha))
    np.testing.assert_allclose(doubled.user, alpha2.user, rtol=0, atol=1e-10)
    np.testing.assert_allclose(doubled.item, alpha2.item, rtol=0, atol=1e-10)
    plain = fit_als(u, i, w, nu, ni, CFG)
    assert np.abs(doubled.user - plain.user).max() > 1e-3


def test_cold_user_with_synthetic_events_ranks_own_group_and_empty_user_scores_zero():
    u, i, _, _, nu, ni, _ = planted()
    rng = np.random.default_rng(3)
    cold_group = np.arange(N_GROUPS)  # one cold user per group, 5 synthetic events of weight 0.05
    cold = nu + np.repeat(cold_group, 5)
    cold_items = np.repeat(cold_group, 5) * ITEMS_PER + rng.integers(0, ITEMS_PER, len(cold))
    empty = nu + N_GROUPS
    w = np.r_[np.ones(len(u)), np.full(len(cold), 0.05)]
    f = fit_als(np.r_[u, cold], np.r_[i, cold_items], w, nu + N_GROUPS + 1, ni, CFG)
    s = f.score_block(nu + cold_group)
    own = (np.arange(ni) // ITEMS_PER)[None, :] == cold_group[:, None]
    seen = np.zeros_like(own)
    seen[cold - nu, cold_items] = True
    pos, neg = own & ~seen, ~own
    # per cold user: P(score of an unseen own-group item > score of an other-group item)
    a = np.array([(s[k][pos[k]][:, None] > s[k][neg[k]][None, :]).mean() for k in range(N_GROUPS)])
    assert a.min() > 0.8, a
    assert not f.user[empty].any()
    assert not f.score_block(np.array([empty])).any()
    assert not f.score(np.full(ni, empty), np.arange(ni)).any()


def test_cg_matches_direct_als_solve():
    """Many CG steps reach the exact ALS updates, computed here user by user with a dense solve."""
    u, i, _, _, nu, ni, _ = planted()
    keep = (u < 60) & (i < 80)
    u, i = u[keep], i[keep]
    w = np.random.default_rng(4).uniform(0.1, 2.0, len(u))
    cfg = FactorConfig(factors=6, iterations=3, cg_steps=60, alpha=3.0, regularization=0.1)
    got = fit_als(u, i, w, 60, 80, cfg)
    rng = np.random.default_rng(cfg.seed)
    x = rng.standard_normal((60, 6)) * INIT_SCALE
    y = rng.standard_normal((80, 6)) * INIT_SCALE
    r = np.zeros((60, 80))
    np.add.at(r, (u, i), w)
    x[~r.any(1)] = 0
    y[~r.any(0)] = 0

    def solve(r, other):
        out = np.zeros((r.shape[0], other.shape[1]))
        for k in np.flatnonzero(r.any(1)):
            c = 1 + cfg.alpha * r[k]
            a = other.T @ (c[:, None] * other) + cfg.regularization * np.eye(other.shape[1])
            out[k] = np.linalg.solve(a, other.T @ (c * (r[k] > 0)))
        return out

    for _ in range(cfg.iterations):
        x = solve(r, y)
        y = solve(r.T, x)
    np.testing.assert_allclose(got.user, x, rtol=0, atol=1e-8)
    np.testing.assert_allclose(got.item, y, rtol=0, atol=1e-8)
    assert np.abs(x).max() > 0.1


def test_same_seed_bit_identical_other_seed_differs():
    u, i, _, _, nu, ni, _ = planted()
    w = np.ones(len(u))
    a, b = fit_als(u, i, w, nu, ni, CFG), fit_als(u, i, w, nu, ni, CFG)
    assert np.array_equal(a.user, b.user) and np.array_equal(a.item, b.item)
    c = fit_als(u, i, w, nu, ni, FactorConfig(factors=16, iterations=10, seed=1))
    assert np.abs(c.user - a.user).max() > 1e-3


@pytest.mark.parametrize("kwargs, field", [
    ({"factors": 0}, "factors"), ({"factors": 2.5}, "factors"), ({"factors": True}, "factors"),
    ({"regularization": 0.0}, "regularization"),
    ({"regularization": float("nan")}, "regularization"),
    ({"alpha": -1.0}, "alpha"), ({"alpha": float("inf")}, "alpha"), ({"alpha": "1"}, "alpha"),
    ({"iterations": 0}, "iterations"), ({"cg_steps": 0}, "cg_steps"), ({"seed": -1}, "seed"),
])
def test_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=rf"FactorConfig\.{field}"):
        FactorConfig(**kwargs)


@pytest.mark.parametrize("args, message", [
    (([0, 1], [0, 1], [1.0, -1.0], 2, 2), "w must be"),
    (([0, 1], [0, 1], [1.0, float("nan")], 2, 2), "w must be"),
    (([0, 2], [0, 1], [1.0, 1.0], 2, 2), "u codes"),
    (([0, 1], [0, -1], [1.0, 1.0], 2, 2), "i codes"),
    (([0, 1], [0], [1.0, 1.0], 2, 2), "same length"),
    (([0.0, 1.0], [0, 1], [1.0, 1.0], 2, 2), "integer codes"),
    (([0, 1], [0, 1], [1.0, 1.0], -1, 2), "n_users"),
])
def test_fit_input_validation(args, message):
    u, i, w, nu, ni = args
    with pytest.raises(ValueError, match=message):
        fit_als(np.array(u), np.array(i), np.array(w), nu, ni, FactorConfig())
