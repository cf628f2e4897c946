"""Synthetic user histories by random walks on the user-item train graph (issue 15; the synthetic
data of Zhang et al. 2026, whose walk is not published: this is ours).

The graph is bipartite: users and items, one undirected edge per distinct positive train pair
(int_walk_graph). A walk from start user u0 emits an item history i_0, i_1, ...:

* at a user u the next item i is drawn with probability proportional to deg(i)^-beta over u's
  items (the RP3beta popularity penalty; beta = 0 is the plain walk);
* at an item i the next user is drawn uniformly over i's users;
* non_backtracking (default): the draw excludes the node just left (the item the walker came from,
  at a user; the user it came from, at an item) whenever another neighbour exists (a node of
  degree 1 sends the walker back);
* restart: before each draw at a user after the first, with probability `restart` the walker
  jumps back to u0 (and forgets the item it came from).

Position t of a walk is the item drawn at the t-th user visit. At beta = 0 the item visits are
proportional to item degree in the long run, with or without backtracking: the simple walk's
stationary law on nodes is degree-proportional, and the non-backtracking walk's transition matrix
on directed edges is doubly stochastic (stationary law uniform over directed edges, so again
degree-proportional on nodes). tests/test_walks.py checks it by goodness of fit.

Vectorization: every walker of a block is stepped at once with numpy; the only Python loop is over
the L steps of a block (each step is a handful of array operations over all its walkers), never
over walks. Weighted neighbour draws are one searchsorted on the global cumulative edge weights;
the node to avoid is located by the edge the walker came by (Graph.i_edge_u / u_edge_i map an
edge's index on one side of the CSR to the other), not searched for.

Determinism: walks are cut into fixed blocks of WALK_BLOCK consecutive walk ids; block b draws from
numpy PCG64 seeded by SeedSequence([seed, 0, b]), 3 x WALK_BLOCK uniforms per step (one triple per
walk-id slot, used or not), always in the same order. Walk k's path is therefore a function of
(graph, seed, k, its start user and length) alone: not of the other walks, of how the blocks are
scheduled or of how many threads numpy has. Walk lengths drawn by
empirical_lengths use their own stream (SeedSequence([seed, 1]), see length_rng).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WALK_BLOCK = 1 << 16  # walkers per random block (fixed: part of the output's definition)


@dataclass(frozen=True)
class WalkConfig:
    walks_per_user: int = 1
    walk_length: int | str = 20        # int, or "empirical" (drawn from real history lengths)
    beta: float = 0.0                  # user -> item weight deg(i)^-beta
    restart: float = 0.0               # per-step probability of jumping back to the start user
    seed: int = 0
    non_backtracking: bool = True

    def __post_init__(self):
        if int(self.walks_per_user) < 1:
            raise ValueError(f"walks_per_user must be >= 1, got {self.walks_per_user!r}")
        if isinstance(self.walk_length, str):
            if self.walk_length != "empirical":
                raise ValueError(f"walk_length must be a positive int or 'empirical', got {self.walk_length!r}")
        elif int(self.walk_length) < 1:
            raise ValueError(f"walk_length must be a positive int or 'empirical', got {self.walk_length!r}")
        if not 0.0 <= float(self.restart) < 1.0:
            raise ValueError(f"walk restart must be in [0, 1), got {self.restart!r}")
        if not np.isfinite(float(self.beta)):
            raise ValueError(f"walk beta must be finite, got {self.beta!r}")


@dataclass(frozen=True)
class Graph:
    """Bipartite graph in CSR form both ways. Rows sorted: u_items[u_ptr[u]:u_ptr[u+1]] ascending
    item codes of user u; i_users[i_ptr[i]:i_ptr[i+1]] ascending user codes of item i."""
    n_users: int
    n_items: int
    u_ptr: np.ndarray   # (n_users + 1,) int64
    u_items: np.ndarray  # (E,) int64
    i_ptr: np.ndarray   # (n_items + 1,) int64
    i_users: np.ndarray  # (E,) int64
    i_edge_u: np.ndarray | None = None  # (E,) item-side edge k is user-side edge i_edge_u[k]
    u_edge_i: np.ndarray | None = None  # (E,) its inverse: user-side edge e is item-side edge u_edge_i[e]

    @property
    def n_edges(self) -> int:
        return int(self.u_items.shape[0])

    @property
    def user_degree(self) -> np.ndarray:
        return np.diff(self.u_ptr)

    @property
    def item_degree(self) -> np.ndarray:
        return np.diff(self.i_ptr)

    def has_edges(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean mask: (users[k], items[k]) is an edge."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        ok = (users >= 0) & (users < self.n_users) & (items >= 0) & (items < self.n_items)
        u, i = np.where(ok, users, 0), np.where(ok, items, 0)
        key = _row_keys(self.u_ptr, self.u_items, self.n_items)
        pos = np.searchsorted(key, u * self.n_items + i)
        pos = np.minimum(pos, key.shape[0] - 1)
        return ok & (key[pos] == u * self.n_items + i)


def build_graph(user_idx, item_idx, n_users: int, n_items: int) -> Graph:
    """CSR both ways from edge lists of dense int codes (duplicates removed). Every user and item
    code in [0, n) should have an edge; a node without one is never reached (a start user without
    one raises in generate_walks)."""
    u = np.asarray(user_idx, dtype=np.int64)
    i = np.asarray(item_idx, dtype=np.int64)
    if u.shape != i.shape or u.ndim != 1:
        raise ValueError("build_graph: user_idx and item_idx must be 1-d arrays of the same length")
    if u.size and (u.min() < 0 or u.max() >= n_users or i.min() < 0 or i.max() >= n_items):
        raise ValueError(f"build_graph: codes outside [0, {n_users}) x [0, {n_items})")
    key = np.unique(u * np.int64(n_items) + i)
    u, i = key // n_items, key % n_items
    u_ptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n_users), out=u_ptr[1:])
    order = np.lexsort((u, i))  # by item, then user
    i_ptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(i, minlength=n_items), out=i_ptr[1:])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.shape[0], dtype=order.dtype)
    return Graph(int(n_users), int(n_items), u_ptr, i.astype(np.int64), i_ptr, u[order].astype(np.int64),
                 order.astype(np.int64), inverse.astype(np.int64))


def _edge_maps(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    key = _row_keys(graph.u_ptr, graph.u_items, graph.n_items)  # sorted: user-side order
    items = np.repeat(np.arange(graph.n_items, dtype=np.int64), np.diff(graph.i_ptr))
    i_edge_u = np.searchsorted(key, graph.i_users * np.int64(graph.n_items) + items)
    u_edge_i = np.empty_like(i_edge_u)
    u_edge_i[i_edge_u] = np.arange(i_edge_u.shape[0], dtype=np.int64)
    return i_edge_u, u_edge_i


def _row_keys(ptr: np.ndarray, cols: np.ndarray, n_cols: int) -> np.ndarray:
    rows = np.repeat(np.arange(ptr.shape[0] - 1, dtype=np.int64), np.diff(ptr))
    return rows * np.int64(n_cols) + cols


class _Side:
    """One direction of the walk (users -> items or items -> users): CSR rows and the global
    cumulative edge weights C (C[k] = sum of the weights of edges before k)."""

    def __init__(self, ptr: np.ndarray, cols: np.ndarray, n_cols: int, weights: np.ndarray | None):
        self.ptr, self.cols, self.n_cols = ptr, cols, n_cols
        self.uniform = weights is None
        w = np.ones(cols.shape[0]) if weights is None else weights
        self.w = w
        self.cum = np.concatenate(([0.0], np.cumsum(w)))

    def step(self, rows: np.ndarray, exclude: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Edge index of the next node for walkers at `rows`, avoiding the row's edge at index
        `exclude` (the edge the walker came by; -1 = none) when the row has another edge;
        r: uniforms in [0, 1)."""
        lo, hi = self.ptr[rows], self.ptr[rows + 1]
        deg = hi - lo
        has_ex = (exclude >= 0) & (deg > 1)
        pos = np.where(has_ex, exclude, -1)
        if self.uniform:
            k = np.floor(r * (deg - has_ex)).astype(np.int64)
            k = np.minimum(k, deg - has_ex - 1)
            idx = lo + k
            idx += has_ex & (idx >= pos)  # skip over the excluded slot
            return idx
        w_ex = np.where(has_ex, self.w[np.maximum(pos, 0)], 0.0)
        c_lo = self.cum[lo]
        x = r * (self.cum[hi] - c_lo - w_ex)
        x = c_lo + x + np.where(has_ex & (c_lo + x >= self.cum[np.maximum(pos, 0)]), w_ex, 0.0)
        idx = np.searchsorted(self.cum, x, side="right") - 1
        idx = np.clip(idx, lo, hi - 1)
        # rounding can land on the excluded slot: move to a neighbour slot inside the row
        bad = has_ex & (idx == pos)
        idx = np.where(bad, np.where(pos + 1 < hi, pos + 1, pos - 1), idx)
        return idx


def generate_walks(graph: Graph, start_users: np.ndarray, lengths: np.ndarray, cfg: WalkConfig,
                   return_users: bool = False, first_walk_id: int = 0):
    """Walks from start_users (user codes, one walk each, walk k = row k) of lengths[k] items.
    Row k is walk id first_walk_id + k (a multiple of WALK_BLOCK): calling this on consecutive
    block-aligned slices of the walks gives the same rows as one call on all of them.

    Returns an int64 array (n_walks, max(lengths)) of item codes, -1 past a walk's length; with
    return_users also the array of the users the items were drawn at (same shape), so that
    (users[k, t], items[k, t]) and (users[k, t + 1], items[k, t]) are edges unless a restart
    happened at t + 1 (then users[k, t + 1] is the start user)."""
    starts = np.asarray(start_users, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if starts.shape != lengths.shape or starts.ndim != 1:
        raise ValueError("generate_walks: start_users and lengths must be 1-d arrays of the same length")
    n = starts.shape[0]
    if first_walk_id < 0 or first_walk_id % WALK_BLOCK:
        raise ValueError(f"generate_walks: first_walk_id {first_walk_id} is not a multiple of WALK_BLOCK ({WALK_BLOCK})")
    if n and (starts.min() < 0 or starts.max() >= graph.n_users):
        raise ValueError(f"generate_walks: start user codes outside [0, {graph.n_users})")
    if n and (lengths.min() < 1):
        raise ValueError("generate_walks: every walk length must be >= 1")
    if n and (graph.user_degree[starts] == 0).any():
        bad = int((graph.user_degree[starts] == 0).sum())
        raise ValueError(f"generate_walks: {bad} of {n} start users have no edge in the graph")
    width = int(lengths.max()) if n else 0
    items = np.full((n, width), -1, dtype=np.int64)
    users = np.full((n, width), -1, dtype=np.int64) if return_users else None
    beta = float(cfg.beta)
    w = None if beta == 0.0 else np.power(graph.item_degree[graph.u_items].astype(np.float64), -beta)
    to_item = _Side(graph.u_ptr, graph.u_items, graph.n_items, w)
    to_user = _Side(graph.i_ptr, graph.i_users, graph.n_users, None)
    i_edge_u, u_edge_i = graph.i_edge_u, graph.u_edge_i
    if i_edge_u is None or u_edge_i is None:  # a Graph built by hand: derive the edge maps
        i_edge_u, u_edge_i = _edge_maps(graph)
    nb = bool(cfg.non_backtracking)
    restart = float(cfg.restart)
    for b0 in range(0, n, WALK_BLOCK):
        b1 = min(n, b0 + WALK_BLOCK)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(cfg.seed), 0, (first_walk_id + b0) // WALK_BLOCK])))
        s, ln = starts[b0:b1], lengths[b0:b1]
        m = b1 - b0
        user = s.copy()
        came = np.full(m, -1, dtype=np.int64)  # item-side edge of the last item -> user step
        for t in range(int(ln.max())):
            # restart, user -> item, item -> user: three uniforms for every slot of the block (a
            # full WALK_BLOCK even when the block is shorter), so walk k's draws depend only on
            # (seed, k) and the walks of any prefix of walk ids are the same as in the full run
            r = rng.random((3, WALK_BLOCK))[:, :m]
            act = np.flatnonzero(ln > t)
            if t > 0 and restart > 0.0:
                jump = act[r[0, act] < restart]
                user[jump] = s[jump]
                came[jump] = -1
            k = came[act]
            ex = np.where(k >= 0, i_edge_u[np.maximum(k, 0)], -1) if nb else np.full(act.shape[0], -1, dtype=np.int64)
            e = to_item.step(user[act], ex, r[1, act])
            item = graph.u_items[e]
            items[b0 + act, t] = item
            if return_users:
                users[b0 + act, t] = user[act]
            ex = u_edge_i[e] if nb else np.full(act.shape[0], -1, dtype=np.int64)
            k = to_user.step(item, ex, r[2, act])
            user[act] = graph.i_users[k]
            came[act] = k
    return (items, users) if return_users else items


def length_rng(seed: int) -> np.random.Generator:
    """The stream empirical walk lengths are drawn from (separate from the walkers' streams)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 1])))


def empirical_lengths(hist_lengths, n: int, rng: np.random.Generator) -> np.ndarray:
    """n walk lengths drawn with replacement from the real per-user history lengths (the empirical
    distribution); lengths < 1 are ignored."""
    h = np.asarray(hist_lengths, dtype=np.int64)
    h = h[h >= 1]
    if h.size == 0:
        raise ValueError("empirical_lengths: no real history of length >= 1 to draw from")
    return h[rng.integers(0, h.size, size=int(n))].astype(np.int64)


def walk_lengths(cfg: WalkConfig, n: int, hist_lengths=None) -> np.ndarray:
    """Lengths of n walks under cfg: the fixed walk_length, or drawn by empirical_lengths."""
    if cfg.walk_length == "empirical":
        if hist_lengths is None:
            raise ValueError("walk_length 'empirical' needs the real history lengths")
        return empirical_lengths(hist_lengths, n, length_rng(cfg.seed))
    return np.full(int(n), int(cfg.walk_length), dtype=np.int64)


def start_walks(start_users: np.ndarray, walks_per_user: int) -> np.ndarray:
    """Start user of each walk: walk_id = s * walks_per_user + r for the s-th start user."""
    return np.repeat(np.asarray(start_users, dtype=np.int64), int(walks_per_user))
