"""Learned cross-domain relevance (SCALR Eq. 7-8): embeddings, g_phi, and its held-out diagnostics.

Embeddings (``fit_fold_embeddings``). Implicit ALS (``scalr.factors``) on the train positives of
every domain (user x (source u target) items). The user vector used by g_phi is the *source-only
fold-in* (``scalr.factors.fold_in``): the ALS user step solved against the fitted item factors
with only the user's source items, so e_u never contains the user's own target items, and a
target-cold user has the same kind of vector as a warm one.

Leave-self-out by K-fold cross-fitting over users (``folds`` >= 2; fold of a user =
crc32(user_id) mod folds): for fold f the ALS fit drops the *target* positives of fold f's users
(their source positives stay), g_phi of fold f is trained on triples of overlap users outside fold
f only, and fold f's users are generated with fold f's embeddings and g_phi. So nothing of a user's
own target events reaches that user's draws (neither through e_i, e_j nor phi). folds = 1 turns
this off (one fit on everything).

g_phi (``fit_relevance``): g_phi(a, b) = sigmoid(sum_k w_k a_k b_k + c), a diagonal bilinear
logistic model of the interaction a * b (phi = (w, c), d + 1 parameters); the triple score
s(u, i, j) = g_phi(e_u, e_i) * g_phi(e_j, e_i) in (0, 1) is read as the probability that the
triple is an observed one, and phi minimises the binary cross-entropy of s on the positives (u, j,
i): j a source and i a target train positive of overlap user u) against ``negatives`` sampled
triples (u, j, i') per positive, i' uniform over the target items, plus l2 * |w - 1|^2 (shrinks
towards the plain dot product). Fitted by L-BFGS with the analytic gradient; deterministic.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from scalr.factors import FactorConfig, fit_als, fold_in


@dataclass(frozen=True)
class RelevanceConfig:
    """folds: K-fold cross-fitting over users (1 = off). negatives per positive triple. max_triples:
    positive triples per fold fit (a seeded sample above it). l2 on w - 1. seed."""
    folds: int = 5
    negatives: int = 4
    max_triples: int = 200_000
    l2: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.folds < 1 or self.negatives < 1 or self.max_triples < 1 or self.l2 < 0:
            raise ValueError(f"invalid RelevanceConfig {self}")


def user_folds(user_ids, folds: int) -> np.ndarray:
    """Fold of each user: crc32(user_id) mod folds (stable across runs, platforms and id sets)."""
    return np.fromiter((zlib.crc32(str(x).encode()) % folds for x in user_ids), dtype=np.int64,
                       count=len(user_ids))


def fit_fold_embeddings(u: np.ndarray, i: np.ndarray, is_target: np.ndarray, n_users: int, n_items: int,
                        fold_of_user: np.ndarray, folds: int, cfg: FactorConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold f: (item factors fitted without fold f's target positives, source-only fold-in user
    vectors of every user). Cells (u[k], i[k]) are distinct train positives; is_target[k] marks
    the target-domain ones."""
    u, i, is_target = np.asarray(u, np.int64), np.asarray(i, np.int64), np.asarray(is_target, bool)
    src = ~is_target
    out = []
    for f in range(folds):
        keep = ~(is_target & (fold_of_user[u] == f)) if folds > 1 else np.ones(len(u), bool)
        fac = fit_als(u[keep], i[keep], np.ones(int(keep.sum())), n_users, n_items, cfg)
        users = fold_in(fac.item, u[src], i[src], np.ones(int(src.sum())), n_users, cfg)
        out.append((fac.item, users))
    return out


def logits(a: np.ndarray, b: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """sum_k w_k a_k b_k + c for rows of a and b (broadcast over leading axes); phi = (w, c)."""
    return np.einsum("...d,...d->...", a * phi[:-1], b) + phi[-1]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def triple_score(eu: np.ndarray, ej: np.ndarray, ei: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """s(u, i, j) = g_phi(e_u, e_i) * g_phi(e_j, e_i) (SCALR Eq. 7)."""
    return sigmoid(logits(eu, ei, phi)) * sigmoid(logits(ej, ei, phi))


def fit_relevance(eu: np.ndarray, ej: np.ndarray, ei: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """phi minimising mean BCE(s, y) + l2 |w - 1|^2 over the triples (rows of eu, ej, ei)."""
    d = eu.shape[1]
    y = np.asarray(y, float)
    x1, x2 = eu * ei, ej * ei  # interaction features of the two g's
    n = len(y)

    def loss(phi):
        w, c = phi[:-1], phi[-1]
        l1, l2_ = x1 @ w + c, x2 @ w + c
        g1, g2 = sigmoid(l1), sigmoid(l2_)
        p = np.clip(g1 * g2, 1e-12, 1 - 1e-12)
        nll = -(y * np.log(p) + (1 - y) * np.log1p(-p)).mean()
        dp = (-y + (1 - y) * p / (1 - p)) / n  # dNLL/dlog p ... times p, per unit of each logit below
        d1, d2 = dp * (1 - g1), dp * (1 - g2)
        grad = np.r_[x1.T @ d1 + x2.T @ d2 + 2 * l2 * (w - 1), d1.sum() + d2.sum()]
        return nll + l2 * float(((w - 1) ** 2).sum()), grad

    res = optimize.minimize(loss, np.r_[np.ones(d), 0.0], jac=True, method="L-BFGS-B",
                            options={"maxiter": 500})
    return res.x


def sample_triples(users: np.ndarray, src: np.ndarray, tgt: np.ndarray, n_targets: int, negatives: int,
                   max_triples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positive triples (a seeded sample of at most max_triples) and ``negatives`` per positive with
    a uniform target code; returns (u, j, i, y)."""
    if len(users) > max_triples:
        pick = np.sort(rng.choice(len(users), max_triples, replace=False))
        users, src, tgt = users[pick], src[pick], tgt[pick]
    neg = rng.integers(0, n_targets, len(users) * negatives)
    u = np.r_[users, np.repeat(users, negatives)]
    j = np.r_[src, np.repeat(src, negatives)]
    i = np.r_[tgt, neg]
    y = np.r_[np.ones(len(users)), np.zeros(len(neg))]
    return u, j, i, y


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties counted half)."""
    y = np.asarray(y, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = stats.rankdata(scores)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Expected calibration error over equal-count bins of p, mean prediction, observed rate, Brier."""
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, bins)
    ece = sum(len(b) * abs(p[b].mean() - y[b].mean()) for b in parts if len(b)) / max(len(p), 1)
    return {"ece": float(ece), "mean_pred": float(p.mean()), "pos_rate": float(np.mean(y)),
            "brier": float(((p - y) ** 2).mean())}


def fold_arrays(emb, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From int_embeddings (an Arrow table in (fold, entity, entity_key) order): the fold's item
    matrix indexed by item_key - 1 (zero rows for missing keys), its user matrix and the user_keys
    of its rows."""
    import pyarrow.compute as pc
    t = emb.filter(pc.equal(emb["fold"], fold))
    out = {}
    for entity in ("item", "user"):
        s = t.filter(pc.equal(t["entity"], entity))
        keys = s["entity_key"].to_numpy()
        flat = pc.list_flatten(s["vector"]).to_numpy(zero_copy_only=False)
        out[entity] = (keys, flat.reshape(len(keys), -1) if len(keys) else np.zeros((0, 0)))
    ik, iv = out["item"]
    d = iv.shape[1]
    items = np.zeros((int(ik.max()) if len(ik) else 0, d))
    items[ik - 1] = iv
    uk, uv = out["user"]
    return items, (uv if len(uk) else np.zeros((0, d))), uk


def fit_fold_relevance(emb, user_items, items, cfg: RelevanceConfig):
    """int_relevance: per fold, phi fitted on the triples of overlap users outside the fold (or all
    of them with folds = 1) and its held-out AUC / calibration on the fold's own overlap users.
    emb / user_items / items: Arrow tables of int_embeddings, int_user_items, int_items (None:
    the empty table)."""
    import pyarrow as pa
    schema = pa.schema([("fold", pa.int32()), ("phi", pa.list_(pa.float64())), ("n_train_pos", pa.int64()),
                        ("n_heldout_pos", pa.int64()), ("heldout_auc", pa.float64()),
                        ("heldout_ece", pa.float64()), ("heldout_mean_pred", pa.float64()),
                        ("heldout_pos_rate", pa.float64()), ("heldout_brier", pa.float64())])
    if emb is None or emb.num_rows == 0:
        return schema.empty_table()
    ui = user_items.to_pandas()
    it = items.to_pandas()
    target_keys = np.sort(it.item_key[it.domain_role == "target"].to_numpy(np.int64))
    users = ui[["user_key", "user_id"]].drop_duplicates().sort_values("user_key")
    fold_of = dict(zip(users.user_key.to_numpy(), user_folds(users.user_id.to_numpy(), cfg.folds)))
    # positive triples (u, j, i) of overlap users: all source x target train positive pairs
    s = ui[ui.domain_role == "source"][["user_key", "item_key"]]
    t = ui[ui.domain_role == "target"][["user_key", "item_key"]]
    tri = s.merge(t, on="user_key", suffixes=("_j", "_i")).sort_values(["user_key", "item_key_j", "item_key_i"])
    tu, tj, ti = (tri[c].to_numpy(np.int64) for c in ("user_key", "item_key_j", "item_key_i"))
    tf = np.fromiter((fold_of[k] for k in tu), np.int64, len(tu))
    rows = []
    for f in range(cfg.folds):
        item_m, user_m, user_keys = fold_arrays(emb, f)
        row_of = np.full(int(users.user_key.max()) + 1, -1, np.int64)
        row_of[user_keys] = np.arange(len(user_keys))
        rng = np.random.default_rng([cfg.seed, f])
        res = {}
        for part, mask in (("train", tf != f if cfg.folds > 1 else np.ones(len(tu), bool)), ("heldout", tf == f)):
            mask = mask & (row_of[tu] >= 0)
            u, j, i_code, y = sample_triples(row_of[tu[mask]], tj[mask] - 1,
                                             np.searchsorted(target_keys, ti[mask]), len(target_keys),
                                             cfg.negatives, cfg.max_triples, rng)
            res[part] = (user_m[u], item_m[j], item_m[target_keys[i_code] - 1], y)
        eu, ej, ei, y = res["train"]
        phi = fit_relevance(eu, ej, ei, y, cfg.l2) if len(y) else np.r_[np.ones(item_m.shape[1]), 0.0]
        hu, hj, hi, hy = res["heldout"]
        if len(hy):
            p = triple_score(hu, hj, hi, phi)
            cal = calibration(p, hy)
            a = auc(p, hy)
        else:
            cal, a = {k: float("nan") for k in ("ece", "mean_pred", "pos_rate", "brier")}, float("nan")
        rows.append({"fold": f, "phi": phi.tolist(), "n_train_pos": int(y.sum()), "n_heldout_pos": int(hy.sum()),
                     "heldout_auc": a, "heldout_ece": cal["ece"], "heldout_mean_pred": cal["mean_pred"],
                     "heldout_pos_rate": cal["pos_rate"], "heldout_brier": cal["brier"]})
    return pa.Table.from_pylist(rows, schema=schema)
