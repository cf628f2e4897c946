"""The data-scaling law L(D) = L_inf + A * D^-alpha (issue 15, after Zhang et al. 2026): fit,
bootstrap confidence intervals, extrapolation error, and the entropy-rate floor of the walk data.

Fit: scipy.optimize.least_squares on the log residuals log L - log(L_inf + A D^-alpha) with the
Huber loss (f_scale HUBER_SCALE, about 2 % relative error), bounds L_inf >= 0, A >= 0,
alpha in [ALPHA_MIN, ALPHA_MAX], multi-start over a small grid (the objective is not convex). D is
scaled by its geometric mean inside the fit (A is reported for D itself).

Confidence intervals: residual bootstrap in log space. The fitted curve's log values plus
centred log residuals, inflated by sqrt(n / (n - 3)) (three fitted parameters shrink the
residuals), resampled with replacement n_boot times from a seeded PCG64 stream; each resample is
refitted and the CI of each parameter is the 2.5 and 97.5 percentiles. A pairs bootstrap would
resample the budgets themselves, which with 6 to 10 budgets often leaves too few distinct D to fit
three parameters; the residual bootstrap keeps the design fixed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, sparse

from scalr.walks import Graph

ALPHA_MIN, ALPHA_MAX = 1e-3, 5.0
HUBER_SCALE = 0.02
PARAMS = ("l_inf", "a", "alpha")


@dataclass(frozen=True)
class PowerLawFit:
    l_inf: float
    a: float
    alpha: float
    ci: dict = field(default_factory=dict)   # name -> (lo, hi), 95 % residual-bootstrap percentiles
    n_points: int = 0
    rmse_log: float = float("nan")           # root mean squared log residual of the fit

    def predict(self, d) -> np.ndarray:
        d = np.asarray(d, dtype=np.float64)
        return self.l_inf + self.a * np.power(d, -self.alpha)

    def as_dict(self) -> dict:
        out = {"l_inf": self.l_inf, "a": self.a, "alpha": self.alpha, "n_points": self.n_points,
               "rmse_log": self.rmse_log}
        for k, (lo, hi) in self.ci.items():
            out[f"{k}_lo"], out[f"{k}_hi"] = lo, hi
        return out


def _check(d, l):
    d = np.asarray(d, dtype=np.float64)
    l = np.asarray(l, dtype=np.float64)
    if d.shape != l.shape or d.ndim != 1:
        raise ValueError("fit_power_law: D and L must be 1-d arrays of the same length")
    if d.size < 4:
        raise ValueError(f"fit_power_law: needs at least 4 budgets to fit 3 parameters, got {d.size}")
    if not (np.isfinite(d).all() and np.isfinite(l).all()) or (d <= 0).any() or (l <= 0).any():
        raise ValueError("fit_power_law: D and L must be finite and positive")
    if np.unique(d).size < 4:
        raise ValueError("fit_power_law: needs at least 4 distinct budgets")
    return d, l


def _fit_scaled(x, logl, starts=None):
    """(l_inf, b, alpha) minimising the Huber loss of log L - log(l_inf + b x^-alpha), x = D / D0,
    from the best of several starts (default: a 3 x 3 grid over l_inf / min L and alpha)."""
    lx = np.log(x)

    def resid(p):
        return np.log(p[0] + p[1] * np.exp(-p[2] * lx)) - logl

    def jac(p):
        xa = np.exp(-p[2] * lx)
        m = p[0] + p[1] * xa
        return np.column_stack([1.0 / m, xa / m, -p[1] * xa * lx / m])

    if starts is None:
        lmin = float(np.exp(logl.min()))
        starts = []
        for frac in (0.0, 0.5, 0.9):
            for alpha0 in (0.2, 0.6, 1.5):
                l0 = frac * lmin
                starts.append([l0, max(float(np.exp(np.median(logl))) - l0, 1e-6), alpha0])
    best = None
    lo, hi = [0.0, 0.0, ALPHA_MIN], [np.inf, np.inf, ALPHA_MAX]
    for p0 in starts:
        p0 = np.clip(np.asarray(p0, dtype=np.float64), np.array(lo) + 1e-9, [1e300, 1e300, ALPHA_MAX - 1e-9])
        try:
            r = optimize.least_squares(resid, p0, jac=jac, bounds=(lo, hi), loss="huber",
                                       f_scale=HUBER_SCALE, max_nfev=500)
        except ValueError:
            continue
        if best is None or r.cost < best.cost:
            best = r
    return best.x, best.fun


def fit_power_law(D, L, n_boot: int = 200, seed: int = 0) -> PowerLawFit:
    """Fit L(D) = L_inf + A D^-alpha (module doc) with 95 % residual-bootstrap CIs (n_boot
    resamples; 0 = no CIs). Deterministic for a seed."""
    d, l = _check(D, L)
    d0 = float(np.exp(np.log(d).mean()))
    x, logl = d / d0, np.log(l)
    (l_inf, b, alpha), res = _fit_scaled(x, logl)
    ci = {}
    if n_boot > 0:
        fitted = logl + res  # log of the fitted curve
        r = (res - res.mean()) * np.sqrt(d.size / max(d.size - 3, 1))
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 3])))
        draws = np.empty((n_boot, 3))
        for k in range(n_boot):  # n_boot small refits (a loop over resamples, not over data)
            y = fitted - r[rng.integers(0, d.size, d.size)]
            (bl, bb, ba), _ = _fit_scaled(x, y, starts=[(l_inf, b, alpha)])
            draws[k] = (bl, bb * d0 ** ba, ba)
        lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
        ci = {name: (float(lo[j]), float(hi[j])) for j, name in enumerate(PARAMS)}
    return PowerLawFit(float(l_inf), float(b * d0 ** alpha), float(alpha), ci, int(d.size),
                       float(np.sqrt(np.mean(res ** 2))))


@dataclass(frozen=True)
class Extrapolation:
    fit: PowerLawFit          # fitted without the held-out budgets
    d: np.ndarray             # held-out budgets (the largest ones), ascending
    observed: np.ndarray
    predicted: np.ndarray

    @property
    def rel_error(self) -> np.ndarray:
        """(predicted - observed) / observed per held-out budget."""
        return (self.predicted - self.observed) / self.observed

    @property
    def max_abs_rel_error(self) -> float:
        return float(np.max(np.abs(self.rel_error)))


def extrapolation_error(D, L, holdout: int = 2, n_boot: int = 0, seed: int = 0) -> Extrapolation:
    """Fit without the `holdout` largest budgets and predict them: the law's extrapolation error."""
    d, l = np.asarray(D, dtype=np.float64), np.asarray(L, dtype=np.float64)
    order = np.argsort(d, kind="stable")
    d, l = d[order], l[order]
    if holdout < 1 or d.size - holdout < 4:
        raise ValueError(f"extrapolation_error: {d.size} budgets leave fewer than 4 to fit with holdout={holdout}")
    f = fit_power_law(d[:-holdout], l[:-holdout], n_boot=n_boot, seed=seed)
    return Extrapolation(f, d[-holdout:], l[-holdout:], f.predict(d[-holdout:]))


# ---- entropy-rate floor ----------------------------------------------------------------------

def _xlogx_sum(p: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Per-row -sum p log p (nats) of the entries p grouped by rows."""
    p = np.asarray(p, dtype=np.float64)
    h = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.bincount(rows, weights=h, minlength=n_rows).astype(np.float64)


def _incidence(graph: Graph) -> sparse.csr_matrix:
    """users x items 0/1 incidence matrix (CSR)."""
    e = graph.n_edges
    return sparse.csr_matrix((np.ones(e), graph.u_items, graph.u_ptr), shape=(graph.n_users, graph.n_items))


def markov_entropy_rate(graph: Graph, beta: float = 0.0, non_backtracking: bool = True,
                        chunk_nnz: int = 20_000_000) -> float:
    """Entropy rate (nats per item) of the item sequence a walk of scalr.walks emits, without
    restart, in its stationary regime: a floor for the held-out cross-entropy L_inf of any
    next-item model on such walks. The default non_backtracking=True matches WalkConfig's default
    walk; pass the walk's own setting.

    non_backtracking False (the simple walk, any beta): the item sequence is itself a Markov chain,
    P(j | i) = sum_{u in N(i)} (1/d_i) w_j / W_u with w = item_degree^-beta and W_u = sum of w over
    u's items (the next user depends on the current item only). It is reversible with stationary
    law pi_i proportional to d_i w_i = d_i^(1-beta), so its entropy rate sum_i pi_i H(P(. | i)) is
    exact, and the floor is tight.

    non_backtracking True (only beta = 0, the walk synthetic_histories simulates by default): the
    item sequence is a function of the Markov chain on directed edges (u, i) = "arrived at item i
    from user u", whose stationary law is uniform over the E edges. The item sequence is not Markov
    itself; this returns H(I_t | U_{t-1}, I_{t-1}) under that law, a lower bound on its entropy
    rate (conditioning on the hidden state can only lower the entropy; Cover and Thomas, Thm
    4.5.1), hence still a floor for L_inf, not necessarily tight."""
    if non_backtracking:
        if float(beta) != 0.0:
            raise NotImplementedError("markov_entropy_rate: the non-backtracking floor is implemented for beta = 0 "
                                      "only; for beta != 0 simulate and fit the simple walk (non_backtracking=False)")
        return _nb_entropy_floor(graph, chunk_nnz)
    du = graph.user_degree.astype(np.float64)
    di = graph.item_degree.astype(np.float64)
    w = np.power(np.where(di > 0, di, 1.0), -float(beta))
    w[di == 0] = 0.0
    b = _incidence(graph)
    wu = b @ w  # W_u
    inv_wu = np.where(wu > 0, 1.0 / np.where(wu > 0, wu, 1.0), 0.0)
    m = sparse.diags(inv_wu) @ b @ sparse.diags(w)                      # users x items: w_j / W_u
    a = (sparse.diags(np.where(di > 0, 1.0 / np.where(di > 0, di, 1.0), 0.0)) @ b.T).tocsr()  # items x users
    pi = di * w
    pi = pi / pi.sum()
    h = _row_entropies(a, m.tocsr(), du, chunk_nnz)
    return float(np.dot(pi, h))


def _row_entropies(a: sparse.csr_matrix, m: sparse.csr_matrix, du: np.ndarray, chunk_nnz: int) -> np.ndarray:
    """H of every row of a @ m, computed a chunk of rows at a time (bounded memory)."""
    n = a.shape[0]
    h = np.zeros(n)
    cost = np.asarray((a > 0).astype(np.float64) @ du).ravel()  # bound on the output nnz per row
    for start, stop in _chunks(cost, chunk_nnz):
        p = (a[start:stop] @ m).tocoo()
        h[start:stop] = _xlogx_sum(p.data, p.row, stop - start)
    return h


def _chunks(cost: np.ndarray, limit: float) -> list[tuple[int, int]]:
    """Consecutive (start, stop) row ranges, cut where the running cost crosses a multiple of
    limit: each range costs at most limit plus one row's cost."""
    n = cost.shape[0]
    if n == 0:
        return []
    before = np.cumsum(cost) - cost
    cuts = np.flatnonzero(np.diff(np.floor(before / max(float(limit), 1.0)))) + 1
    bounds = np.concatenate(([0], cuts, [n]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _nb_entropy_floor(graph: Graph, chunk_nnz: int) -> float:
    """E over uniform edges (u, i) of H(P(. | u, i)), the non-backtracking walk at beta = 0:
    next user v uniform over N(i) minus u (u itself when d_i = 1), next item uniform over N(v)
    minus i (i itself when d_v = 1). With c_v = 1/(d_v - 1) (0 when d_v = 1) and
    S_i(j) = sum_{v in N(i)} q_{v,i}(j) (q_{v,i} the next-item law from v having come from i),
    P(j | u, i) = (S_i(j) - q_{u,i}(j)) / (d_i - 1) for d_i > 1, and q_{u,i} for d_i = 1; its
    entropy is that of S_i / (d_i - 1) corrected on the support of q_{u,i} (N(u) minus i)."""
    du = graph.user_degree.astype(np.int64)
    di = graph.item_degree.astype(np.int64)
    b = _incidence(graph)
    c = np.where(du > 1, 1.0 / np.maximum(du - 1, 1), 0.0)
    s = (b.T @ sparse.diags(c) @ b).tocsr()                         # off-diagonal S_i(j), j != i
    s.setdiag(0.0)
    s.eliminate_zeros()
    s = s.tolil()
    s.setdiag(np.asarray(b.T @ (du == 1).astype(np.float64)).ravel())  # S_i(i) = #{v in N(i): d_v = 1}
    s = s.tocsr()
    s.eliminate_zeros()
    s.sort_indices()
    n_items = graph.n_items
    s_rows = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(s.indptr))
    s_keys = s_rows * n_items + s.indices.astype(np.int64)
    scale = np.where(di > 1, 1.0 / np.maximum(di - 1, 1), 0.0)
    h0 = _xlogx_sum(s.data * scale[s_rows], s_rows, n_items)        # H of S_i / (d_i - 1), d_i > 1

    def s_at(i, j):
        k = i * n_items + j
        pos = np.minimum(np.searchsorted(s_keys, k), s_keys.size - 1)
        return np.where(s_keys[pos] == k, s.data[pos], 0.0)

    # every edge (u, i) with every j in the support of q_{u,i}: triples (u, i, j), i, j in N(u),
    # j != i when d_u > 1, j = i when d_u = 1; streamed over users in chunks
    total = 0.0
    for u0, u1 in _chunks(du.astype(np.float64) ** 2, chunk_nnz):
        users = np.arange(u0, u1, dtype=np.int64)
        d = du[users]
        users, d = users[d > 0], d[d > 0]
        # edges of these users, then for each edge the user's items as j
        e_user = np.repeat(users, d)
        e_item = graph.u_items[_ranges(graph.u_ptr[users], d)]
        e_id = np.arange(e_user.size)
        t_edge = np.repeat(e_id, du[e_user])
        t_j = graph.u_items[_ranges(graph.u_ptr[e_user], du[e_user])]
        t_i = e_item[t_edge]
        t_u = e_user[t_edge]
        d_u = du[t_u]
        keep = (t_j != t_i) | (d_u == 1)
        t_edge, t_j, t_i, t_u, d_u = t_edge[keep], t_j[keep], t_i[keep], t_u[keep], d_u[keep]
        q = np.where(d_u > 1, 1.0 / np.maximum(d_u - 1, 1), 1.0)
        d_i = di[t_i]
        multi = d_i > 1
        sij = s_at(t_i, t_j)
        sc = scale[t_i]
        # d_i > 1: correction of S_i / (d_i - 1) on the support of q_{u,i}
        corr = np.where(multi, _h(np.maximum(sij - q, 0.0) * sc) - _h(sij * sc), 0.0)
        h_edge = np.bincount(t_edge, weights=corr, minlength=e_id.size).astype(np.float64)
        h_edge += np.where(di[e_item] > 1, h0[e_item], 0.0)
        # d_i = 1: the walker returns to u, so the law is q_{u,i} itself (uniform over d_u - 1 items, or i)
        single = di[e_item] == 1
        du_e = du[e_user]
        h_edge[single] = np.where(du_e[single] > 1, np.log(np.maximum(du_e[single] - 1, 1)), 0.0)
        total += h_edge.sum()
    return float(total / graph.n_edges)


def _h(p):
    return np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n), vectorized."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(np.asarray(starts, dtype=np.int64), lengths) + np.arange(total, dtype=np.int64) - offs
