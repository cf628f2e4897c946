"""scalr.scaling: the power-law fit recovers planted (L_inf, A, alpha) inside its bootstrap CIs
(and a wrong truth falls outside), extrapolation error is small on a true power law and large on
a curve that is not one, and the entropy-rate floor equals a brute-force oracle and the plug-in
entropy of simulated walks."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from scalr.scaling import PARAMS, extrapolation_error, fit_power_law, markov_entropy_rate
from scalr.walks import WalkConfig, build_graph, generate_walks

D = np.logspace(4, 8, 8)
TRUTH = {"l_inf": 0.8, "a": 40.0, "alpha": 0.5}


def _curve(rng, sigma=0.01, truth=TRUTH):
    return (truth["l_inf"] + truth["a"] * D ** -truth["alpha"]) * np.exp(rng.normal(0, sigma, D.size))


def test_fit_exact_curve():
    f = fit_power_law(D, _curve(np.random.default_rng(0), sigma=0.0), n_boot=0)
    assert f.l_inf == pytest.approx(0.8, rel=1e-4)
    assert f.a == pytest.approx(40.0, rel=1e-3)
    assert f.alpha == pytest.approx(0.5, rel=1e-4)
    np.testing.assert_allclose(f.predict(D), TRUTH["l_inf"] + TRUTH["a"] * D ** -0.5, rtol=1e-6)


def test_fit_recovers_planted_truth_within_cis():
    """Noisy curves (1 % log-normal noise, 8 log-spaced budgets): the planted value of every
    parameter lies inside its 95 % CI on at least 5 of 6 curves; a wrong truth (alpha x 1.4,
    L_inf x 1.1) lies outside on at least 5 of 6. Same seed, same CIs."""
    rng = np.random.default_rng(1)
    inside = defaultdict(int)
    wrong_out = defaultdict(int)
    wrong = {"l_inf": 0.88, "alpha": 0.7}
    for k in range(6):
        f = fit_power_law(D, _curve(rng), n_boot=100, seed=k)
        for name in PARAMS:
            lo, hi = f.ci[name]
            inside[name] += lo <= TRUTH[name] <= hi
        for name, v in wrong.items():
            lo, hi = f.ci[name]
            wrong_out[name] += not (lo <= v <= hi)
    assert all(inside[n] >= 5 for n in PARAMS), dict(inside)
    assert all(wrong_out[n] >= 5 for n in wrong), dict(wrong_out)
    y = _curve(np.random.default_rng(2))
    assert fit_power_law(D, y, n_boot=50, seed=3) == fit_power_law(D, y, n_boot=50, seed=3)


def test_extrapolation_error():
    """Held-out two largest budgets: a power law is extrapolated within 2 %; a curve that drops
    below the law's floor at large D (a regime change) is not (error > 10 %)."""
    y = _curve(np.random.default_rng(4), sigma=0.003)
    e = extrapolation_error(D, y, holdout=2)
    assert e.d.tolist() == D[-2:].tolist()
    assert e.max_abs_rel_error < 0.02, e.rel_error
    bent = y.copy()
    bent[-2:] *= 0.7
    assert extrapolation_error(D, bent, holdout=2).max_abs_rel_error > 0.1
    with pytest.raises(ValueError):
        extrapolation_error(D[:5], y[:5], holdout=2)


def _oracle_rate(g, beta, nb):
    """Brute force: enumerate the states and the two-step transition law by nested loops."""
    users = [list(g.u_items[g.u_ptr[u]:g.u_ptr[u + 1]]) for u in range(g.n_users)]
    items = [list(g.i_users[g.i_ptr[i]:g.i_ptr[i + 1]]) for i in range(g.n_items)]
    di = np.array([len(x) for x in items], dtype=float)
    w = di ** -beta

    def next_items(u, came_from):
        c = [j for j in users[u] if not (nb and j == came_from and len(users[u]) > 1)]
        tot = sum(w[j] for j in c)
        return {j: w[j] / tot for j in c}

    def next_users(i, came_from):
        c = [v for v in items[i] if not (nb and v == came_from and len(items[i]) > 1)]
        return {v: 1 / len(c) for v in c}

    def entropy(i, u):
        p = defaultdict(float)
        for v, pv in next_users(i, u).items():
            for j, pj in next_items(v, i).items():
                p[j] += pv * pj
        return -sum(x * np.log(x) for x in p.values())

    if not nb:
        pi = di * w / (di * w).sum()
        return sum(pi[i] * entropy(i, None) for i in range(g.n_items))
    return sum(entropy(i, u) for u in range(g.n_users) for i in users[u]) / g.n_edges


@pytest.mark.parametrize("beta,nb", [(0.0, False), (0.5, False), (0.0, True)])
def test_entropy_rate_matches_oracle(beta, nb):
    rng = np.random.default_rng(7)
    g = build_graph(rng.integers(0, 60, 160), rng.integers(0, 25, 160), 60, 25)
    got = markov_entropy_rate(g, beta=beta, non_backtracking=nb)
    assert got == pytest.approx(_oracle_rate(g, beta, nb), rel=1e-10)
    assert markov_entropy_rate(g, beta=beta, non_backtracking=nb, chunk_nnz=7) == pytest.approx(got, rel=1e-12)


def _plugin(ctx: np.ndarray, nxt: np.ndarray) -> float:
    """Plug-in conditional entropy H(next | ctx) from paired samples."""
    keys, inv = np.unique(ctx, return_inverse=True)
    pair = inv.astype(np.int64) * (nxt.max() + 1) + nxt
    _, pc = np.unique(pair, return_counts=True)
    _, cc = np.unique(inv, return_counts=True)
    n = ctx.size
    return float(-(pc / n * np.log(pc)).sum() + (cc / n * np.log(cc)).sum())


def test_entropy_rate_matches_simulated_walks():
    """Long simulated walks (positions 20+, starts in proportion to user degree, which is the
    stationary law at beta = 0) on a connected graph with skewed item degrees: the plug-in
    H(I_t | I_{t-1}) of the simple walk equals the item chain's rate at beta = 0 and at 1 (which
    differ by more than the tolerance: the control), and H(I_t | U_{t-1}, I_{t-1}) of the
    non-backtracking walk equals its floor, to 0.01 nats."""
    rng = np.random.default_rng(8)
    pop = 1.0 / np.arange(1, 21) ** 1.2
    u = np.concatenate([rng.integers(0, 80, 200), np.arange(80)])  # every user holds item 0: connected
    i = np.concatenate([rng.choice(20, 200, p=pop / pop.sum()), np.zeros(80, dtype=np.int64)])
    g = build_graph(u, i, 80, 20)
    starts = np.repeat(np.arange(g.n_users), 30 * g.user_degree)  # in proportion to degree: stationary
    lengths = np.full(starts.size, 60)
    rates = {b: markov_entropy_rate(g, b, non_backtracking=False) for b in (0.0, 1.0)}
    assert abs(rates[1.0] - rates[0.0]) > 0.04, rates
    for b in (0.0, 1.0):
        # the simple walk's stationary law on users is proportional to W_u = sum of deg(i)^-beta
        # over u's items (d_u at beta = 0): start there (rounded), not mixing from elsewhere
        w_u = np.bincount(np.repeat(np.arange(g.n_users), g.user_degree),
                          weights=g.item_degree[g.u_items] ** -b, minlength=g.n_users)
        st = np.repeat(np.arange(g.n_users), np.rint(w_u / w_u.sum() * starts.size).astype(np.int64))
        items = generate_walks(g, st, np.full(st.size, 60),
                               WalkConfig(beta=b, seed=1, non_backtracking=False))[:, 20:]
        est = _plugin(items[:, :-1].ravel(), items[:, 1:].ravel())
        assert est == pytest.approx(rates[b], abs=0.01), (b, est, rates)
    items, users = generate_walks(g, starts, lengths, WalkConfig(seed=1, non_backtracking=True), return_users=True)
    items, users = items[:, 20:], users[:, 20:]
    ctx = users[:, :-1].ravel() * g.n_items + items[:, :-1].ravel()
    est = _plugin(ctx, items[:, 1:].ravel())
    assert est == pytest.approx(markov_entropy_rate(g, 0.0, non_backtracking=True), abs=0.01)


def test_history_scaling_floors_name_their_walks():
    """The scaling report's "simple walk" floor is the simple walk's entropy rate (it printed the
    non-backtracking one, so both floors came out equal), and the non-backtracking floor is that
    walk's; on a graph with degree > 1 rows the two differ."""
    from scalr import history_scaling as hs
    rng = np.random.default_rng(3)
    g = build_graph(rng.integers(0, 200, 1500), rng.integers(0, 40, 1500), 200, 40)
    f = hs.entropy_floors(g, hs.ScalingConfig(), 40)
    assert f["entropy_rate_simple_walk"] == pytest.approx(markov_entropy_rate(g, 0.0, non_backtracking=False), rel=1e-12)
    assert f["entropy_floor_non_backtracking"] == pytest.approx(markov_entropy_rate(g, 0.0, non_backtracking=True),
                                                                rel=1e-12)
    assert abs(f["entropy_rate_simple_walk"] - f["entropy_floor_non_backtracking"]) > 0.05
    assert f["log_catalog"] == pytest.approx(np.log(40))
    assert np.isnan(hs.entropy_floors(g, hs.ScalingConfig(restart=0.1), 40)["entropy_rate_simple_walk"])
