"""Weighted implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008 implicit ALS).

Used as a per-user channel: trained on real target events (weight 1) plus synthetic target events
(weight lambda / K each), so a user without real target events still gets a factor vector from
their synthetic history; ``Factors.score`` (user x item dot product) is a ranker feature.

Model. Cells with the same (user, item) sum their weights into r_ui >= 0. Cells with r_ui = 0
(including weight-0 input rows) are dropped: they are exactly the unobserved cells. Preference
p_ui = 1 on the r_ui > 0 cells, 0 elsewhere; confidence c_ui = 1 + alpha * r_ui. ALS alternates

    x_u = (Y^T Y + reg I + sum_i (c_ui - 1) y_i y_i^T)^-1  sum_i c_ui y_i      (i with r_ui > 0)

and the symmetric item step. A user (item) without any r > 0 cell gets an exactly zero vector
(score 0) from the start and keeps it; the others start from N(0, 0.01^2) draws of
``numpy.random.default_rng(cfg.seed)`` (user matrix first, then item matrix, full size).

Solver: ``cfg.cg_steps`` conjugate-gradient steps per half-iteration, warm-started from the
current factors, as in the ``implicit`` library; never a direct solve. The product
A_u x = (Y^T Y + reg I) x + sum_i (c_ui - 1) y_i (y_i . x) is computed for all users of a row
chunk at once with O(nnz x f) work (one gather of y_i per nonzero per half-iteration, a rowwise
dot and a sparse x dense product per CG step); rows are chunked so a chunk holds at most about
``CHUNK_ELEMS`` nonzero x factor values, so nothing of size nnz x f x f is ever built.

Determinism: same inputs and seed give bit-identical factors, whatever the BLAS thread count
(checked with OPENBLAS_NUM_THREADS=1 and 2): every reduction of the fit uses ``np.einsum``
(numpy's own single-threaded loops, no BLAS) or scipy's single-threaded CSR x dense product, and
duplicate cells are summed in input order. Only ``Factors.score_block`` uses BLAS (``@``), whose
last bits could depend on the thread count.

Speed (measured on a shared 2-core machine, OPENBLAS_NUM_THREADS=1): 7,000 users x 15,000 items,
300,000 nonzeros (random), factors 32, 10 iterations, 3 CG steps: 2.8-3.1 s per fit.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp

CHUNK_ELEMS = 1 << 22  # nonzeros x factors per row chunk (~32 MB per float64 temporary)
INIT_SCALE = 0.01  # standard deviation of the initial factor draws


@dataclass(frozen=True)
class FactorConfig:
    """Hyper-parameters of ``fit_als`` (validated on construction).

    factors: latent dimension f >= 1. regularization: L2 weight reg > 0 (keeps every system
    positive definite). alpha >= 0: confidence c = 1 + alpha * r. iterations >= 1: ALS sweeps
    (user step then item step). cg_steps >= 1: conjugate-gradient steps per solve. seed >= 0.
    """

    factors: int = 32
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 10
    cg_steps: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("factors", "iterations", "cg_steps", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, Integral):
                raise ValueError(f"FactorConfig.{name} must be an integer, got {v!r}")
        for name in ("regularization", "alpha"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v):
                raise ValueError(f"FactorConfig.{name} must be a finite number, got {v!r}")
        if self.factors < 1:
            raise ValueError(f"FactorConfig.factors must be >= 1, got {self.factors}")
        if self.regularization <= 0:
            raise ValueError(f"FactorConfig.regularization must be > 0, got {self.regularization}")
        if self.alpha < 0:
            raise ValueError(f"FactorConfig.alpha must be >= 0, got {self.alpha}")
        if self.iterations < 1:
            raise ValueError(f"FactorConfig.iterations must be >= 1, got {self.iterations}")
        if self.cg_steps < 1:
            raise ValueError(f"FactorConfig.cg_steps must be >= 1, got {self.cg_steps}")
        if self.seed < 0:
            raise ValueError(f"FactorConfig.seed must be >= 0, got {self.seed}")


@dataclass
class Factors:
    """Fitted factors: ``user`` (n_users, f) and ``item`` (n_items, f), float64."""

    user: np.ndarray
    item: np.ndarray

    def score(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Scores of the pairs (u[k], i[k]): rowwise dot products, shape (len(u),)."""
        return np.einsum("kf,kf->k", self.user[np.asarray(u)], self.item[np.asarray(i)])

    def score_block(self, users: np.ndarray) -> np.ndarray:
        """Dense scores of ``users`` against every item, shape (len(users), n_items)."""
        return self.user[np.asarray(users)] @ self.item.T


def fit_als(u: np.ndarray, i: np.ndarray, w: np.ndarray, n_users: int, n_items: int,
            cfg: FactorConfig) -> Factors:
    """Fit implicit ALS on the weighted cells (u[k], i[k], w[k]); see the module docstring.

    u, i: integer codes in [0, n_users) and [0, n_items); w: finite weights >= 0, same length.
    """
    u, i, w = _check_inputs(u, i, w, n_users, n_items)
    rng = np.random.default_rng(cfg.seed)
    x = rng.standard_normal((n_users, cfg.factors)) * INIT_SCALE
    y = rng.standard_normal((n_items, cfg.factors)) * INIT_SCALE
    by_user = _cells(u, i, w, n_users, n_items)
    by_item = _cells(i, u, w, n_items, n_users)
    x[np.diff(by_user[0]) == 0] = 0.0
    y[np.diff(by_item[0]) == 0] = 0.0
    for _ in range(cfg.iterations):
        _solve_side(x, y, *by_user, cfg)
        _solve_side(y, x, *by_item, cfg)
    return Factors(user=x, item=y)


def _check_inputs(u, i, w, n_users, n_items) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for name, n in (("n_users", n_users), ("n_items", n_items)):
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
    u, i, w = np.asarray(u), np.asarray(i), np.asarray(w, dtype=np.float64)
    if not (u.ndim == i.ndim == w.ndim == 1 and len(u) == len(i) == len(w)):
        raise ValueError("u, i and w must be 1-D arrays of the same length")
    for name, a, n in (("u", u, n_users), ("i", i, n_items)):
        if len(a) and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name} must hold integer codes, got dtype {a.dtype}")
        if len(a) and (a.min() < 0 or a.max() >= n):
            raise ValueError(f"{name} codes must lie in [0, {n})")
    if not np.all(np.isfinite(w)) or (len(w) and w.min() < 0):
        raise ValueError("w must be finite and >= 0")
    return u.astype(np.int64), i.astype(np.int64), w


def _cells(r: np.ndarray, c: np.ndarray, w: np.ndarray, n_rows: int,
           n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR (indptr, indices, summed weights) of the r_ui > 0 cells, rows r, columns c.

    Duplicates are summed in input order (stable sort), so the sums do not depend on the side.
    """
    keep = w > 0
    r, c, w = r[keep], c[keep], w[keep]
    order = np.argsort(r * n_cols + c, kind="stable")
    key = (r * n_cols + c)[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, int)
    sums = np.add.reduceat(w[order], start) if len(key) else np.zeros(0)
    rows, cols = key[start] // n_cols, key[start] % n_cols
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n_rows))].astype(np.int64)
    return indptr, cols, sums


def _solve_side(x: np.ndarray, y: np.ndarray, indptr: np.ndarray, cols: np.ndarray,
                r: np.ndarray, cfg: FactorConfig) -> None:
    """Update x in place: cfg.cg_steps CG steps on every row's system, y fixed."""
    f = x.shape[1]
    gram = np.einsum("if,ig->fg", y, y) + cfg.regularization * np.eye(f)
    conf1 = cfg.alpha * r  # c - 1 per nonzero
    n_rows, n_other = x.shape[0], y.shape[0]
    lo_row = 0
    while lo_row < n_rows:  # row chunks of about CHUNK_ELEMS nonzero x factor values
        hi_row = int(np.searchsorted(indptr, indptr[lo_row] + max(CHUNK_ELEMS // f, 1), "right"))
        hi_row = min(max(hi_row - 1, lo_row + 1), n_rows)
        lo, hi = indptr[lo_row], indptr[hi_row]
        ptr = indptr[lo_row:hi_row + 1] - lo
        row_of = np.repeat(np.arange(hi_row - lo_row), np.diff(ptr))
        yk, ck, colk = y[cols[lo:hi]], conf1[lo:hi], cols[lo:hi]

        def spread(v: np.ndarray) -> np.ndarray:  # row sums of v_k * y_{col k}
            return sp.csr_matrix((v, colk, ptr), shape=(hi_row - lo_row, n_other)) @ y

        def a_times(p: np.ndarray) -> np.ndarray:
            dots = np.einsum("kf,kf->k", yk, p[row_of])
            return np.einsum("uf,fg->ug", p, gram) + spread(ck * dots)

        xs = x[lo_row:hi_row].copy()
        res = spread(1.0 + ck) - a_times(xs)  # b - A x, b_u = sum_i c_ui y_i
        p = res.copy()
        rs = np.einsum("uf,uf->u", res, res)
        for _ in range(cfg.cg_steps):
            ap = a_times(p)
            pap = np.einsum("uf,uf->u", p, ap)
            step = np.divide(rs, pap, out=np.zeros_like(rs), where=pap > 0)[:, None]
            xs += step * p
            res -= step * ap
            rs_new = np.einsum("uf,uf->u", res, res)
            beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)[:, None]
            p = res + beta * p
            rs = rs_new
        x[lo_row:hi_row] = xs
        lo_row = hi_row


def fold_in(item: np.ndarray, u: np.ndarray, i: np.ndarray, w: np.ndarray, n_users: int,
            cfg: FactorConfig) -> np.ndarray:
    """User vectors for the cells (u[k], i[k], w[k]) against fixed item factors ``item``: the ALS
    user step solved to convergence (``cfg.factors`` CG steps from zero, exact in exact arithmetic
    for an f-dimensional system). A user without a positive cell gets a zero vector. Deterministic
    as ``fit_als`` (einsum / scipy CSR only)."""
    u, i, w = _check_inputs(u, i, w, n_users, item.shape[0])
    x = np.zeros((n_users, item.shape[1]))
    steps = FactorConfig(factors=item.shape[1], regularization=cfg.regularization, alpha=cfg.alpha,
                         iterations=1, cg_steps=max(item.shape[1], 1), seed=cfg.seed)
    _solve_side(x, np.asarray(item, dtype=np.float64), *_cells(u, i, w, n_users, item.shape[0]), steps)
    return x
