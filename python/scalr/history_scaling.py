"""The data-scaling study of SASRec on random-walk histories (issue 15, item 3).

For each of the log-spaced token budgets D (fresh walks per budget, drawn by scalr.walks directly
on the real target train graph, seed = walk seed + budget index) SASRec is trained for exactly
one pass over D next-item targets with a cosine learning-rate schedule that ends at D. Held-out
cross-entropy (full softmax, nats per target) is measured on real sequences (the users' real
target train histories, which the walk-only model never trains on) and on fresh synthetic walks
(their own seed). Two data mixes: histories only, and histories + collaborative-filtering pairs
(length-2 sequences (i, j) of two items of one user, a random edge (u, i) and a second uniform
item j of u, at a fixed share of the targets). Each curve is fitted with scalr.scaling
(L(D) = L_inf + A D^-alpha, bootstrap CIs; the fit without the two largest budgets predicts them:
the extrapolation error), against the walk's entropy-rate floor (scalr.scaling.markov_entropy_rate).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalr import scaling as sc
from scalr import walks as wk
from scalr.sasrec import train as tr
from scalr.sasrec.data import Histories, windows


@dataclass(frozen=True)
class ScalingConfig:
    budgets: tuple = (2_000, 4_000, 8_000, 16_000, 32_000, 64_000)
    walk_length: int = 20
    beta: float = 0.0
    restart: float = 0.0
    non_backtracking: bool = True
    seed: int = 0
    cf_share: float = 0.25  # share of the targets that are CF pairs in the "+cf" mix (0: no such mix)
    n_eval_real: int = 2000  # real sequences of the held-out set (seeded sample)
    n_eval_walks: int = 500  # fresh walks of the held-out synthetic set
    n_boot: int = 200


def graph_of(real: pd.DataFrame, n_items: int) -> tuple[wk.Graph, np.ndarray]:
    """Graph over the real target train positives (rows u, i); returns it and its user codes."""
    pairs = np.unique(real.u.to_numpy().astype(np.int64) * n_items + real.i.to_numpy())
    users, uc = np.unique(pairs // n_items, return_inverse=True)
    return wk.build_graph(uc, pairs % n_items, len(users), n_items), users


def fresh_walks(g: wk.Graph, n: int, length: int, cfg: ScalingConfig, seed: int) -> np.ndarray:
    has = np.flatnonzero(g.user_degree > 0)
    rng = np.random.default_rng([seed, 5])
    starts = has[rng.integers(0, len(has), n)]
    wc = wk.WalkConfig(walk_length=length, beta=cfg.beta, restart=cfg.restart, seed=seed,
                       non_backtracking=cfg.non_backtracking)
    return wk.generate_walks(g, starts, np.full(n, length, np.int64), wc)


def cf_pairs(g: wk.Graph, n: int, seed: int) -> np.ndarray:
    """n co-occurrence pairs (i, j): a uniform edge (u, i), then a uniform other item j of u."""
    rng = np.random.default_rng([seed, 6])
    du = g.user_degree
    ok_edges = np.flatnonzero(np.repeat(du, du) >= 2)
    e = ok_edges[rng.integers(0, len(ok_edges), n)]
    u = np.searchsorted(g.u_ptr, e, side="right") - 1
    k = rng.integers(0, du[u] - 1)
    off = e - g.u_ptr[u]
    k = k + (k >= off)
    return np.column_stack([g.u_items[e], g.u_items[g.u_ptr[u] + k]])


def entropy_floors(g: wk.Graph, cfg: ScalingConfig, n_items: int) -> dict:
    """The report's floors: the entropy rate of the simple walk (no non-backtracking) at cfg.beta,
    the non-backtracking walk's (what WalkConfig generates by default) at beta 0, both without
    restart (NaN / absent otherwise), and log of the catalog (a uniform guess)."""
    floor = {"entropy_rate_simple_walk": sc.markov_entropy_rate(g, cfg.beta, non_backtracking=False)
             if cfg.restart == 0 else float("nan")}
    if cfg.non_backtracking and cfg.beta == 0 and cfg.restart == 0:
        floor["entropy_floor_non_backtracking"] = sc.markov_entropy_rate(g, 0.0, non_backtracking=True)
    floor["log_catalog"] = float(np.log(n_items))
    return floor


def run(real: pd.DataFrame, real_hist: Histories, n_items: int, cfg: ScalingConfig, tcfg: tr.TrainConfig,
        log=print) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    g, _ = graph_of(real, n_items)
    L = cfg.walk_length
    rng = np.random.default_rng([cfg.seed, 9])
    eligible = np.flatnonzero(real_hist.lengths >= 2)
    ev_real = windows(real_hist.take(np.sort(rng.choice(eligible, min(cfg.n_eval_real, len(eligible)),
                                                           replace=False))), tcfg.model.max_len)
    ev_syn = windows(Histories.from_matrix(fresh_walks(g, cfg.n_eval_walks, L, cfg, cfg.seed + 10_000)),
                     tcfg.model.max_len)
    mixes = [("histories", 0.0)] + ([("histories+cf", cfg.cf_share)] if cfg.cf_share > 0 else [])
    rows = []
    visits = None
    for b, D in enumerate(cfg.budgets):
        for mix, share in mixes:
            n_pair = int(round(share * D))
            n_walk = int(np.ceil((D - n_pair) / (L - 1)))
            w = fresh_walks(g, n_walk, L, cfg, cfg.seed + b)
            h = Histories.from_matrix(w)
            if n_pair:
                h = h.concat(Histories.from_matrix(cf_pairs(g, n_pair, cfg.seed + b)))
            if mix == "histories" and b == len(cfg.budgets) - 1:
                visits = np.bincount(w[w >= 0], minlength=n_items)
            t = dataclasses.replace(tcfg, token_budget=int(D), schedule="cosine", eval_every_tokens=10 ** 12,
                                    seed=cfg.seed)
            res = tr.train(h, n_items, t, val=None)
            lr_, ls_ = tr.mean_loss(res.model, *ev_real), tr.mean_loss(res.model, *ev_syn)
            rows.append({"mix": mix, "budget_index": b, "D": int(D), "tokens_seen": res.tokens_seen,
                         "steps": res.steps, "passes": res.tokens_seen / max(h.n_tokens, 1),
                         "loss_real": lr_, "loss_synthetic": ls_})
            log(f"scaling D={D} mix={mix}: loss real {lr_:.4f} synthetic {ls_:.4f}")
    pts = pd.DataFrame(rows)
    fits = []
    for mix, _ in mixes:
        p = pts[pts.mix == mix].sort_values("D")
        for target in ("real", "synthetic"):
            d, l = p.D.to_numpy(float), p[f"loss_{target}"].to_numpy()
            rec = {"mix": mix, "eval": target}
            try:
                f = sc.fit_power_law(d, l, n_boot=cfg.n_boot, seed=cfg.seed)
                rec.update(f.as_dict())
                if len(d) >= 6:
                    x = sc.extrapolation_error(d, l, holdout=2)
                    rec.update({"extrap_rel_error_max": x.max_abs_rel_error,
                                "extrap_rel_errors": ",".join(f"{v:+.4f}" for v in x.rel_error)})
            except ValueError as exc:
                rec["fit_error"] = str(exc)
            fits.append(rec)
    floor = entropy_floors(g, cfg, n_items)
    extra = {"floor": floor, "visits": visits, "degree": g.item_degree}
    return pts, pd.DataFrame(fits), extra
