"""Model-based synthetic target events (SCALR Eq. 8): draws from P_phi(i | u, j) = softmax_i(s / tau).

For each source event (u, j), in (source_domain, source_item, user_id, event_ts, label) order, of a
user of fold f (``scalr.relevance``: leave-self-out by cross-fitting):

1. Candidates: the ``top_n`` target items with the highest g_phi(e_j, e_i) (retrieval, computed once
   per source item and fold; ties by target code) plus ``round(explore * top_n)`` exploration items
   drawn uniformly from the whole target catalog (so every target item, including one without any
   co-occurrence with a source item, is reachable); duplicates count once.
2. s(u, i, j) = g_phi(e_u, e_i) * g_phi(e_j, e_i) on the candidates; P_phi = softmax(s / tau) over
   them (s lies in (0, 1), so useful temperatures are well below 1).
3. K draws by inverse CDF from K uniforms; tau = 0: the K highest s (the top-1 for K = 1),
   ties by candidate position.

Randomness: per fold, one PCG64 stream seeded (seed, fold) for the exploration items and one
(seed, fold, 1) for the K uniforms, each consumed in event order, so the rows depend only on the
inputs and the seed (not on the batch size).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalr.relevance import logits, sigmoid

BATCH_EVENTS = 2048


@dataclass(frozen=True)
class ModelGenConfig:
    k: int = 3
    top_n: int = 50
    temperature: float = 0.1
    explore: float = 0.2
    seed: int = 42

    def __post_init__(self) -> None:
        if self.k < 1 or self.top_n < 1 or self.temperature < 0 or not 0 <= self.explore <= 10:
            raise ValueError(f"invalid ModelGenConfig {self}")

    @property
    def n_explore(self) -> int:
        return int(round(self.explore * self.top_n))


def retrieve(ej: np.ndarray, target: np.ndarray, phi: np.ndarray, top_n: int) -> np.ndarray:
    """Top-n target rows (indices into ``target``) by g_phi(e_j, e_i) for each row of ej, best
    first, ties by index; shape (len(ej), min(top_n, len(target)))."""
    n = min(top_n, len(target))
    out = np.empty((len(ej), n), np.int64)
    tw = target * phi[:-1]
    for lo in range(0, len(ej), 1024):
        sc = ej[lo:lo + 1024] @ tw.T  # monotone in g_phi
        # stable descending order by score then index: lexsort on (index, -score)
        part = np.argpartition(-sc, n - 1, axis=1)[:, :n] if n < len(target) else np.tile(np.arange(len(target)), (len(sc), 1))
        ps = np.take_along_axis(sc, part, 1)
        # exact ties at the cut are rare; resolve order inside the kept set
        order = np.lexsort((part, -ps), axis=1)
        out[lo:lo + 1024] = np.take_along_axis(part, order, 1)
    return out


def probabilities(s: np.ndarray, valid: np.ndarray, tau: float) -> np.ndarray:
    """softmax(s / tau) over the valid candidates of each row (tau > 0)."""
    z = np.where(valid, s / tau, -np.inf)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def draw(p: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Candidate positions by inverse CDF: row r, draw k -> first c with cumsum(p[r])[c] > u[r, k]."""
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = np.inf
    return np.stack([(cdf <= uniforms[:, [k]]).sum(axis=1) for k in range(uniforms.shape[1])], axis=1)


def top_k(s: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest valid s per row (ties by position)."""
    z = np.where(valid, s, -np.inf)
    return np.argsort(-z, axis=1, kind="stable")[:, :k]


def generate_fold(ev_user: np.ndarray, ev_src: np.ndarray, users: np.ndarray, items: np.ndarray,
                  target_rows: np.ndarray, phi: np.ndarray, cfg: ModelGenConfig, fold: int):
    """Draws for the events (row indices ev_user into ``users``, ev_src into ``items``) of one fold.

    target_rows: the rows of ``items`` that are target items (the catalog). Returns (event index,
    draw, target row, P_phi of the drawn candidate), event-major, draw-minor."""
    n_ev = len(ev_user)
    tgt = items[target_rows]
    uniq_src, src_inv = np.unique(ev_src, return_inverse=True)
    cand_top = retrieve(items[uniq_src], tgt, phi, cfg.top_n)
    rng_x = np.random.default_rng([cfg.seed, fold])
    rng_u = np.random.default_rng([cfg.seed, fold, 1])
    ev_idx, draws, rows, probs = [], [], [], []
    k = cfg.k
    for lo in range(0, n_ev, BATCH_EVENTS):
        hi = min(lo + BATCH_EVENTS, n_ev)
        cand = cand_top[src_inv[lo:hi]]
        if cfg.n_explore:
            cand = np.concatenate([cand, rng_x.integers(0, len(tgt), (hi - lo, cfg.n_explore))], axis=1)
        # a duplicate candidate (exploration hit a retrieved item) counts once: keep its first position
        srt = np.sort(cand, axis=1, kind="stable")
        order = np.argsort(cand, axis=1, kind="stable")
        dup_sorted = np.zeros_like(cand, bool)
        dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
        valid = np.ones_like(cand, bool)
        np.put_along_axis(valid, order, ~dup_sorted, 1)
        ei = tgt[cand]
        eu = users[ev_user[lo:hi]][:, None, :]
        ej = items[ev_src[lo:hi]][:, None, :]
        s = sigmoid(logits(eu, ei, phi)) * sigmoid(logits(ej, ei, phi))
        if cfg.temperature == 0:
            pos = top_k(s, valid, k)
            keep = np.take_along_axis(valid, pos, 1)  # fewer distinct candidates than K: no more rows
            p = np.zeros(pos.shape)
            p[:, 0] = 1.0  # the limit tau -> 0 puts all mass on the top-1
        else:
            prob = probabilities(s, valid, cfg.temperature)
            pos = draw(prob, rng_u.random((hi - lo, k)))
            p = np.take_along_axis(prob, pos, 1)
            keep = np.ones(pos.shape, bool)
        keep = keep.ravel()
        ev_idx.append(np.repeat(np.arange(lo, hi), pos.shape[1])[keep])
        draws.append(np.tile(np.arange(pos.shape[1]), hi - lo)[keep])
        rows.append(target_rows[np.take_along_axis(cand, pos, 1)].ravel()[keep])
        probs.append(p.ravel()[keep])
    if not ev_idx:
        e = np.zeros(0, np.int64)
        return e, e, e, np.zeros(0)
    return np.concatenate(ev_idx), np.concatenate(draws), np.concatenate(rows), np.concatenate(probs)


def generate(events, emb, rel, cfg: ModelGenConfig, target_keys: np.ndarray, folds: int,
             confidence_weight: str = "uniform", user_weight_alpha: float = 0.0):
    """All model-based draws as an Arrow table (user_id, target_key, source_domain, source_item,
    event_ts, p, weight, label, draw, rn) in event order, draw last.

    events: Arrow table in (source_domain, source_item, user_id, event_ts, label) order with
    user_id, user_key (null: no train positive), source_key, source_domain, source_item, event_ts,
    label, n_user_events. emb / rel: int_embeddings / int_relevance. target_keys: the item_keys of
    the target catalog."""
    import pyarrow as pa

    from scalr.relevance import fold_arrays, user_folds
    from scalr.sampling import confidence

    user_ids = events["user_id"].to_numpy(zero_copy_only=False)
    ukey = events["user_key"].fill_null(0).to_numpy()
    skey = events["source_key"].to_numpy()
    uniq, inv = np.unique(user_ids, return_inverse=True)
    ev_fold = user_folds(uniq, folds)[inv] if folds > 1 else np.zeros(len(user_ids), np.int64)
    phis = {int(f): np.asarray(p) for f, p in zip(rel["fold"].to_pylist(), rel["phi"].to_pylist())}
    target_rows = np.sort(np.asarray(target_keys, np.int64)) - 1
    parts = []
    for f in range(folds):
        sel = np.flatnonzero(ev_fold == f)
        if not len(sel):
            continue
        items, users, user_keys = fold_arrays(emb, f)
        users = np.vstack([users, np.zeros((1, items.shape[1]))])  # last row: no source positive -> zero vector
        row_of = np.full(max(int(ukey.max()), int(user_keys.max()) if len(user_keys) else 0) + 1, len(users) - 1)
        row_of[user_keys] = np.arange(len(user_keys))
        e, d, r, p = generate_fold(row_of[ukey[sel]], skey[sel] - 1, users, items, target_rows, phis[f], cfg, f)
        parts.append((sel[e], d, r, p))
    ev = np.concatenate([x[0] for x in parts]) if parts else np.zeros(0, np.int64)
    order = np.lexsort((np.concatenate([x[1] for x in parts]) if parts else ev, ev))
    ev = ev[order]
    dr = np.concatenate([x[1] for x in parts])[order] if parts else ev
    tr = np.concatenate([x[2] for x in parts])[order] if parts else ev
    pr = np.concatenate([x[3] for x in parts])[order] if parts else np.zeros(0)
    w = np.ones(len(ev)) if confidence_weight == "uniform" else confidence(pr, confidence_weight)
    if user_weight_alpha > 0:
        w = w * events["n_user_events"].to_numpy().astype(float)[ev] ** (-user_weight_alpha)
    take = pa.array(ev)
    return pa.table({
        "user_id": events["user_id"].take(take), "target_key": pa.array(tr + 1, pa.int64()),
        "source_domain": events["source_domain"].take(take), "source_item": events["source_item"].take(take),
        "event_ts": events["event_ts"].take(take), "p": pa.array(pr, pa.float64()), "weight": pa.array(w, pa.float64()),
        "label": events["label"].take(take), "draw": pa.array(dr.astype(np.int32)),
        "rn": pa.array(np.arange(len(ev), dtype=np.int64)),  # the output order
    })


def model_events_sql(source_events_sql: str, items_sql: str, user_items_sql: str) -> str:
    """The source events with an embedded source item (in int_items), their source_key and the
    user's user_key (null for a user without train positives), in generation order."""
    return f"""
        with ev as (select * from ({source_events_sql})),
        it as (select * from ({items_sql})),
        uk as (select distinct user_id, user_key from ({user_items_sql}))
        select ev.user_id, uk.user_key, it.item_key as source_key, ev.source_domain, ev.source_item,
               ev.event_ts, ev.label, ev.n_user_events
        from ev
        inner join it on ev.source_domain = it.domain and ev.source_item = it.item_id
        left join uk on ev.user_id = uk.user_id
        order by ev.source_domain, ev.source_item, ev.user_id, ev.event_ts, ev.label"""


def model_output_sql(draws: str, items_sql: str, translation_sql: str) -> str:
    """The draws with target item ids and the translation's p_hat / n_users_ji (0 without the
    pair), the columns of synthetic_events in generation order."""
    return f"""
        with d as (select * from {draws}),
        it as (select * from ({items_sql})),
        tr as (select * from ({translation_sql}))
        select d.user_id, t.item_id as target_item, d.source_domain, d.source_item,
               cast(d.event_ts as timestamp) as event_ts, d.p,
               coalesce(tr.p_hat, 0.0) as p_hat, coalesce(tr.n_users_ji, 0)::bigint as n_users_ji,
               d.weight, cast(d.label as integer) as label, cast(d.draw as integer) as draw
        from d
        inner join it as s on d.source_domain = s.domain and d.source_item = s.item_id
        inner join it as t on d.target_key = t.item_key
        left join tr on tr.source_key = s.item_key and tr.target_key = t.item_key
        order by d.rn"""
