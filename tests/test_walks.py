"""scalr.walks: the random walk's stationary law (goodness of fit at beta = 0, a wrong law rejected),
the RP3beta penalty flattening visits vs degree, train edges only, non-backtracking, restart,
determinism (seed, block schedule) and empirical lengths."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from scalr import walks as wk
from scalr.walks import WalkConfig, build_graph, empirical_lengths, generate_walks


def _graph(n_users=1500, n_items=300, n_edges=9000, seed=0):
    """Random bipartite graph with Zipf-like item popularity (degrees from 1 to a few hundred)."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    u = rng.integers(0, n_users, n_edges)
    i = rng.choice(n_items, n_edges, p=pop / pop.sum())
    # every user and item gets at least one edge
    u = np.concatenate([u, np.arange(n_users), rng.integers(0, n_users, n_items)])
    i = np.concatenate([i, rng.choice(n_items, n_users, p=pop / pop.sum()), np.arange(n_items)])
    return build_graph(u, i, n_users, n_items)


@pytest.fixture(scope="module")
def graph():
    return _graph()


def _gof(counts: np.ndarray, law: np.ndarray) -> float:
    """Chi-square goodness-of-fit p-value of counts against law, bins with expected < 5 pooled."""
    exp = law / law.sum() * counts.sum()
    small = exp < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(exp[~small], exp[small].sum())
    keep = exp > 0
    return float(stats.chisquare(obs[keep], exp[keep]).pvalue)


@pytest.mark.parametrize("non_backtracking", [True, False])
def test_stationary_law_is_degree_proportional(graph, non_backtracking):
    """beta = 0, no restart: starting one walk per edge (start users drawn in proportion to their
    degree, the stationary law) every position is exactly distributed in proportion to item
    degree, for the simple and for the non-backtracking walk (uniform law on directed edges). One
    position per walk (the last of 25) gives independent draws: chi-square p > 0.001; the same
    counts against the uniform law are rejected, and so are counts from uniform item draws."""
    starts = np.repeat(np.arange(graph.n_users), graph.user_degree)
    cfg = WalkConfig(beta=0.0, restart=0.0, seed=11, non_backtracking=non_backtracking)
    items = generate_walks(graph, starts, np.full(starts.size, 25), cfg)
    counts = np.bincount(items[:, -1], minlength=graph.n_items)
    deg = graph.item_degree.astype(float)
    assert _gof(counts, deg) > 1e-3
    assert _gof(counts, np.ones(graph.n_items)) < 1e-12
    wrong = np.bincount(np.random.default_rng(0).integers(0, graph.n_items, starts.size), minlength=graph.n_items)
    assert _gof(wrong, deg) < 1e-12


def _slope(graph, items):
    vis = np.bincount(items[items >= 0], minlength=graph.n_items)
    deg = graph.item_degree
    m = deg >= 3
    return np.polyfit(np.log(deg[m]), np.log(vis[m] + 0.5), 1)[0]


def test_beta_flattens_visits_vs_degree(graph):
    """Log-log slope of item visits vs degree: about 1 at beta = 0; the simple walk at beta = 0.5
    visits items in proportion to degree^(1 - beta) (slope about 0.5); the non-backtracking walk
    at 0.5 is also clearly flatter than at 0."""
    starts = np.arange(graph.n_users)
    lengths = np.full(starts.size, 60)
    slope = {}
    for nb in (True, False):
        for beta in (0.0, 0.5):
            items = generate_walks(graph, starts, lengths, WalkConfig(beta=beta, seed=2, non_backtracking=nb))
            slope[nb, beta] = _slope(graph, items[:, 10:])
    assert abs(slope[True, 0.0] - 1) < 0.1 and abs(slope[False, 0.0] - 1) < 0.1, slope
    assert abs(slope[False, 0.5] - 0.5) < 0.1, slope
    assert slope[True, 0.5] < slope[True, 0.0] - 0.2, slope


@pytest.mark.parametrize("restart", [0.0, 0.3])
def test_walks_use_train_edges_only(graph, restart):
    """Every item is drawn at a user it shares an edge with, and the next user is a user of that
    item (or, after a restart, the start user); the non-backtracking walk never returns to the node
    it just left when it has another neighbour. A shuffled history breaks the edge check."""
    starts = np.arange(graph.n_users)
    cfg = WalkConfig(beta=0.3, restart=restart, seed=5)
    items, users = generate_walks(graph, starts, np.full(starts.size, 30), cfg, return_users=True)
    assert (items >= 0).all() and (items < graph.n_items).all()
    assert graph.has_edges(users.ravel(), items.ravel()).all()
    assert (users[:, 0] == starts).all()
    step_ok = graph.has_edges(users[:, 1:].ravel(), items[:, :-1].ravel())
    restarted = (users[:, 1:] == starts[:, None]).ravel()
    assert (step_ok | restarted).all()
    if restart == 0.0:
        assert step_ok.all()
        # non-backtracking: no immediate return to the item / user just left when avoidable
        assert not ((items[:, 1:] == items[:, :-1]) & (graph.user_degree[users[:, 1:]] > 1)).any()
        assert not ((users[:, 1:] == users[:, :-1]) & (graph.item_degree[items[:, :-1]] > 1)).any()
    else:
        # restarts happen at about the configured rate (only counted where the walker moved away)
        frac = (users[:, 1:] == starts[:, None]).mean()
        assert 0.25 < frac < 0.5, frac
    shuffled = np.random.default_rng(0).permuted(items, axis=1)
    assert not graph.has_edges(users.ravel(), shuffled.ravel()).all()


def test_backtracking_walk_returns(graph):
    """Control for the non-backtracking check: the simple walk does return to the item just left."""
    starts = np.arange(graph.n_users)
    items, users = generate_walks(graph, starts, np.full(starts.size, 30),
                                  WalkConfig(seed=5, non_backtracking=False), return_users=True)
    assert ((items[:, 1:] == items[:, :-1]) & (graph.user_degree[users[:, 1:]] > 1)).sum() > 100


def test_determinism_and_block_independence(graph, monkeypatch):
    """Same seed: identical arrays; another seed: different walks. Walks are drawn per fixed block
    of walk ids, so a prefix of the walks is the same whether or not the later walks are drawn, and
    the variable lengths pad with -1."""
    starts = np.arange(graph.n_users)
    lengths = 1 + np.arange(starts.size) % 17
    cfg = WalkConfig(beta=0.5, restart=0.1, seed=3)
    a = generate_walks(graph, starts, lengths, cfg)
    b = generate_walks(graph, starts, lengths, cfg)
    assert a.tobytes() == b.tobytes()
    c = generate_walks(graph, starts, lengths, WalkConfig(beta=0.5, restart=0.1, seed=4))
    assert (a != c).mean() > 0.3
    assert ((a >= 0).sum(axis=1) == lengths).all() and (a[:, :][np.arange(17)[None, :] >= lengths[:, None]] == -1).all()
    bare = dataclasses.replace(graph, i_edge_u=None, u_edge_i=None)  # edge maps derived, same walks
    assert generate_walks(bare, starts, lengths, cfg).tobytes() == a.tobytes()
    monkeypatch.setattr(wk, "WALK_BLOCK", 64)
    full = generate_walks(graph, starts, lengths, cfg)
    part = generate_walks(graph, starts[:200], lengths[:200], cfg)
    assert full[:200, :part.shape[1]].tobytes() == part.tobytes()
    tail = generate_walks(graph, starts[128:], lengths[128:], cfg, first_walk_id=128)
    assert full[128:].tobytes() == tail.tobytes()
    with pytest.raises(ValueError):
        generate_walks(graph, starts[100:], lengths[100:], cfg, first_walk_id=100)


def test_empirical_lengths():
    """Lengths are drawn with replacement from the real ones (chi-square against their frequencies),
    deterministic for the stream's seed."""
    hist = np.array([1, 1, 2, 3, 3, 3, 8, 20, 0])
    got = empirical_lengths(hist, 20000, wk.length_rng(0))
    assert set(np.unique(got)) <= {1, 2, 3, 8, 20}
    vals = np.array([1, 2, 3, 8, 20])
    counts = np.array([(got == v).sum() for v in vals])
    law = np.array([(hist == v).sum() for v in vals], dtype=float)
    assert _gof(counts, law) > 1e-3
    assert _gof(counts, np.ones(5)) < 1e-12
    assert (got == empirical_lengths(hist, 20000, wk.length_rng(0))).all()
    lens = wk.walk_lengths(WalkConfig(walk_length="empirical", seed=0), 20000, hist)
    assert (lens == got).all()
    with pytest.raises(ValueError):
        WalkConfig(walk_length="long")
    with pytest.raises(ValueError):
        generate_walks(build_graph([0], [0], 2, 1), np.array([1]), np.array([3]), WalkConfig())


def _pooled_gof(counts: dict, law) -> float:
    """Chi-square p-value of per-context counts (context -> counts over items) against law(context),
    pooled over the contexts; a draw where the law is 0 fails outright."""
    chi2 = dof = 0.0
    for key, cnt in counts.items():
        exp = law(key)
        exp = exp / exp.sum() * cnt.sum()
        assert (cnt[exp == 0] == 0).all(), f"a draw outside the law's support at {key}"
        m = exp > 0
        chi2 += ((cnt[m] - exp[m]) ** 2 / exp[m]).sum()
        dof += m.sum() - 1
    return float(stats.chi2.sf(chi2, dof))


def _row_law(g, weights, user, exclude=None):
    law = np.zeros(g.n_items)
    row = g.u_items[g.u_ptr[user]:g.u_ptr[user + 1]]
    law[row] = weights[row]
    if exclude is not None:
        law[exclude] = 0.0
    return law


def test_weighted_non_backtracking_step_fits_its_law():
    """beta > 0: the item drawn at the second user of a walk follows deg(i)^-beta over that user's
    items minus the item the walker came by (pooled chi-square per (user, item left) context);
    the same counts against the unweighted law must fail."""
    g = _graph(n_users=400, n_items=60, n_edges=3000)
    beta = 0.5
    w = g.item_degree.astype(float) ** -beta
    starts = np.repeat(np.arange(g.n_users), 200)
    items, users = generate_walks(g, starts, np.full(starts.size, 2), WalkConfig(beta=beta, seed=1), return_users=True)
    counts = {}
    for u1, i0, i1 in zip(users[:, 1], items[:, 0], items[:, 1]):
        if g.user_degree[u1] > 1:
            counts.setdefault((u1, i0), np.zeros(g.n_items))[i1] += 1
    counts = {k: c for k, c in counts.items() if c.sum() >= 30}
    assert len(counts) > 50
    assert _pooled_gof(counts, lambda k: _row_law(g, w, k[0], exclude=k[1])) > 1e-3
    assert _pooled_gof(counts, lambda k: _row_law(g, np.ones(g.n_items), k[0], exclude=k[1])) < 1e-6


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_the_step_after_a_restart_excludes_nothing(beta):
    """After a restart the walker draws from its start user's whole row (deg^-beta weights). A
    non-backtracking walker at its start user that drew an item with other users can only be at
    the start user again one step later by a restart: those draws fit that law (a walker that kept
    the exclusion of the item it left would never draw that item again)."""
    g = _graph(n_users=400, n_items=60, n_edges=3000)
    w = g.item_degree.astype(float) ** -beta
    starts = np.repeat(np.arange(g.n_users), 100)
    items, users = generate_walks(g, starts, np.full(starts.size, 6), WalkConfig(beta=beta, restart=0.95, seed=2),
                                  return_users=True)
    counts = {}
    for t in range(1, 6):
        restarted = (users[:, t] == starts) & (users[:, t - 1] == starts) & (g.item_degree[items[:, t - 1]] > 1)
        for u, i in zip(starts[restarted], items[restarted, t]):
            counts.setdefault(u, np.zeros(g.n_items))[i] += 1
    counts = {k: c for k, c in counts.items() if c.sum() >= 30}
    assert len(counts) > 100
    assert _pooled_gof(counts, lambda u: _row_law(g, w, u)) > 1e-3
