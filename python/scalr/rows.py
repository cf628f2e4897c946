"""Training rows for SCALR's downstream model: negative sampling and the (user, target item) rows.

Row layout. A *row* is a (user, target item) pair with a label. Real rows are the real target
train events (positives, and real negatives where the events carry ``label = 0``) plus sampled
negatives; synthetic rows are the (aligned) synthetic events plus negatives drawn by the same
sampler. ``sample_weight`` is 1 for real rows and ``synthetic_lambda * weight`` for synthetic rows
(a synthetic negative inherits its positive's weight). Every row gets every feature
(``scalr.features``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scalr.features import FEATURES, FeatureContext, build_context
from scalr.frames import codes, in_sorted, keys, pair_values, to_us

NEGATIVE_SAMPLERS = ("uniform", "popularity")


# --------------------------------------------------------------------------------------------
# negative sampling
# --------------------------------------------------------------------------------------------

def sample_negatives(parent_user: np.ndarray, n_per_parent: int, item_weights: np.ndarray,
                     exclude: np.ndarray, sampler: str, rng: np.random.Generator,
                     max_rounds: int = 30, item_first_ts: np.ndarray | None = None,
                     parent_ts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_parent`` negative items for each parent row.

    parent_user: user code of each parent row; item_weights: popularity of each catalog item
    (used by ``sampler='popularity'``; items with weight 0 are never drawn by it);
    exclude: sorted int64 keys ``user * n_items + item`` that must never be drawn (every item the
    user interacted with). Rejection sampling, redrawing only the rejected cells, vectorized.
    Returns (parent_index, item) of the accepted negatives; cells still rejected after
    ``max_rounds`` (a user who interacted with almost the whole catalog) are dropped.
    With ``item_first_ts`` and ``parent_ts`` (int64 microseconds) an item is only drawn for a
    parent at time t if it existed then (its first event is before t), as every candidate does at
    evaluation time.
    """
    if sampler not in NEGATIVE_SAMPLERS:
        raise ValueError(f"negative_sampler must be one of {NEGATIVE_SAMPLERS}, got {sampler!r}")
    n_items = len(item_weights)
    n = len(parent_user) * int(n_per_parent)
    parent = np.repeat(np.arange(len(parent_user), dtype=np.int64), int(n_per_parent))
    if n == 0 or n_items == 0:
        return parent[:0], parent[:0]
    if sampler == "uniform":
        p = None
    else:
        w = np.asarray(item_weights, float)
        p = w / w.sum()
    item = np.full(n, -1, np.int64)
    todo = np.arange(n)
    users = np.asarray(parent_user, np.int64)[parent]
    for _ in range(max_rounds):  # rounds of rejection, each vectorized over all pending cells
        if len(todo) == 0:
            break
        draw = rng.choice(n_items, size=len(todo), p=p)
        bad = in_sorted(keys(users[todo], draw, n_items), exclude)
        if item_first_ts is not None and parent_ts is not None:
            bad |= item_first_ts[draw] >= np.asarray(parent_ts, np.int64)[parent[todo]]
        item[todo[~bad]] = draw[~bad]
        todo = todo[bad]
    ok = item >= 0
    return parent[ok], item[ok]


# --------------------------------------------------------------------------------------------
# training rows
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowsConfig:
    negatives_per_positive: int = 4
    negative_sampler: str = "uniform"
    synthetic_lambda: float = 1.0
    seed: int = 42
    train_recent_fraction: float = 1.0  # train on the latest fraction of real train rows (by time); 1 = all
    mf: Any = None  # scalr.factors.FactorConfig of the latent-factor features (None: mf_real / mf_all are 0)
    mf_train_fraction: float = 0.5  # the latest fraction of the window whose rows read out-of-time factors

    def __post_init__(self) -> None:
        if self.negative_sampler not in NEGATIVE_SAMPLERS:
            raise ValueError(f"negative_sampler must be one of {NEGATIVE_SAMPLERS}, got {self.negative_sampler!r}")
        if self.negatives_per_positive < 0:
            raise ValueError("negatives_per_positive must be >= 0")
        if self.synthetic_lambda < 0:
            raise ValueError("synthetic_lambda must be >= 0")


def real_row_frame(ctx: FeatureContext, real_events: pd.DataFrame, cfg: RowsConfig) -> pd.DataFrame:
    """Real rows (codes u, i; event_ts, label, is_validation) and their sampled negatives, without
    features. Depends only on the real target events (not on synthetic data), so callers can
    reuse it across configurations. Negatives never hit an item the user has a real target event
    on (any label) and only items that existed at the row's time."""
    rng = np.random.default_rng([cfg.seed, 0])
    ni = len(ctx.items)
    ru = codes(real_events.user_id, ctx.users)
    ri = codes(real_events.item_id, ctx.items)
    ok = (ru >= 0) & (ri >= 0)
    # the early-stopping slice is a window of the SQL models (int_validation_cut, flagged in
    # int_target_train_events.is_validation); frames without the column have no slice
    flag = real_events.is_validation.to_numpy(bool) if "is_validation" in real_events else np.zeros(len(real_events), bool)
    real = pd.DataFrame({"u": ru[ok], "i": ri[ok], "event_ts": real_events.event_ts.to_numpy()[ok],
                         "label": real_events.label.to_numpy()[ok].astype(np.int8),
                         "is_synthetic": np.int8(0), "weight": 1.0, "source_item": None,
                         "is_validation": flag[ok]})
    excl = np.unique(np.r_[keys(real.u.to_numpy(), real.i.to_numpy(), ni), keys(*ctx.T.nonzero(), ni)])
    # A real positive on an item no *other* user has in the train window has no analogue at
    # evaluation time (the candidate set is the train catalog): drop it (and its negatives).
    own = pair_values(ctx.T, real.u.to_numpy(), real.i.to_numpy())
    real = real[~((real.label.to_numpy() == 1) & (ctx.item_users[real.i.to_numpy()] - own <= 0))]
    # Item existence matched between classes: negatives are only drawn among items that existed
    # before the row's time (as every candidate does at evaluation), so a positive on an item's
    # first event (item_age_days = -1, a value no negative and no evaluation row has) is dropped.
    real = real[ctx.item_first_ts()[real.i.to_numpy()] < to_us(real.event_ts)]
    if cfg.train_recent_fraction < 1.0 and len(real):
        # Rows long before train_end teach what predicted purchases then; evaluation is right after
        # train_end. Keep the latest fraction of real rows (features still use the whole window).
        t_real = to_us(real.event_ts)
        real = real[t_real >= np.quantile(t_real, 1 - cfg.train_recent_fraction)]
    return _with_negatives(ctx, real, excl, cfg, rng)


def synthetic_row_frame(ctx: FeatureContext, real_events: pd.DataFrame, synthetic: pd.DataFrame | None,
                        cfg: RowsConfig) -> pd.DataFrame:
    """Synthetic rows and their negatives (never an item the user has a real or synthetic event on)."""
    rng = np.random.default_rng([cfg.seed, 1])
    ni = len(ctx.items)
    if synthetic is None or not len(synthetic):
        return pd.DataFrame(columns=["u", "i", "event_ts", "label", "is_synthetic", "weight", "source_item",
                                     "is_validation"])
    su = codes(synthetic.user_id, ctx.users)
    si = codes(synthetic.target_item, ctx.items)
    ok_s = (su >= 0) & (si >= 0)
    syn = pd.DataFrame({"u": su[ok_s], "i": si[ok_s], "event_ts": synthetic.event_ts.to_numpy()[ok_s],
                        "label": synthetic.label.to_numpy()[ok_s].astype(np.int8),
                        "is_synthetic": np.int8(1),
                        "weight": cfg.synthetic_lambda * synthetic.weight.to_numpy(float)[ok_s],
                        "source_item": synthetic.source_item.astype(str).to_numpy()[ok_s], "is_validation": False})
    ru, ri = codes(real_events.user_id, ctx.users), codes(real_events.item_id, ctx.items)
    excl = np.unique(np.r_[keys(ru[(ru >= 0) & (ri >= 0)], ri[(ru >= 0) & (ri >= 0)], ni),
                           keys(syn.u.to_numpy(), syn.i.to_numpy(), ni), keys(*ctx.T.nonzero(), ni)])
    syn = syn[ctx.item_first_ts()[syn.i.to_numpy()] < to_us(syn.event_ts)]  # item existence, as for real rows
    return _with_negatives(ctx, syn, excl, cfg, rng)


def _with_negatives(ctx: FeatureContext, frame: pd.DataFrame, excl: np.ndarray, cfg: RowsConfig,
                    rng: np.random.Generator) -> pd.DataFrame:
    if not len(frame):
        return frame
    pos = frame[frame.label == 1]
    parent, neg_item = sample_negatives(pos.u.to_numpy(), cfg.negatives_per_positive, ctx.item_users,
                                        excl, cfg.negative_sampler, rng, item_first_ts=ctx.item_first_ts(),
                                        parent_ts=to_us(pos.event_ts))
    negs = pos.iloc[parent].assign(i=neg_item, label=np.int8(0))
    return pd.concat([frame, negs], ignore_index=True)


def finish_rows(rows: pd.DataFrame, ctx: FeatureContext, feats: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Output layout of the training rows: keys, lineage, label, sample_weight and every feature
    (computed with ``ctx`` unless given in ``feats``)."""
    feats = ctx.features(rows.u.to_numpy(), rows.i.to_numpy(), to_us(rows.event_ts)) if feats is None else feats
    out = pd.DataFrame({
        "user_id": ctx.users.to_numpy()[rows.u.to_numpy()],
        "item_id": ctx.items.to_numpy()[rows.i.to_numpy()],
        "event_ts": rows.event_ts.to_numpy(),
        "source_item": rows.source_item.to_numpy(),
        "is_synthetic": rows.is_synthetic.to_numpy().astype(np.int8),
        "is_validation": rows.is_validation.to_numpy().astype(bool),
        "label": rows.label.to_numpy().astype(np.int8),
        "sample_weight": np.where(rows.is_synthetic.to_numpy() == 1, rows.weight.to_numpy(float), 1.0),
        **{f: feats[f] for f in FEATURES},
    })
    out["row_id"] = np.arange(len(out), dtype=np.int64)
    return out


def build_training_rows(ctx: FeatureContext, real_events: pd.DataFrame,
                        synthetic: pd.DataFrame | None, cfg: RowsConfig) -> pd.DataFrame:
    """Training rows: real target train events [user_id, item_id, event_ts, label] (+ sampled
    negatives) and synthetic events [user_id, target_item, event_ts, weight, label, source_item]
    (+ negatives from the same sampler). Returns keys, lineage (is_synthetic, source_item,
    is_validation), label, sample_weight and every feature.

    Real negatives never hit an item the user has a real target event on; synthetic negatives
    also not one of the user's synthetic items; both only items that existed at the row's time.
    The validation flag is the real event's ``is_validation`` (int_target_train_events: the
    early-stopping slice of int_validation_cut; absent column = no slice); negatives follow their
    positive."""
    real = real_row_frame(ctx, real_events, cfg)
    syn = synthetic_row_frame(ctx, real_events, synthetic, cfg)
    rows = pd.concat([f for f in (real, syn) if len(f)], ignore_index=True)
    return finish_rows(rows, ctx)


# --------------------------------------------------------------------------------------------
# one call for the dbt Python model training_rows
# --------------------------------------------------------------------------------------------

def training_rows_from_tables(real_events: pd.DataFrame, source_events: pd.DataFrame,
                              translation: pd.DataFrame, synthetic: pd.DataFrame | None,
                              cfg: RowsConfig) -> pd.DataFrame:
    """real_events [user_id, item_id, event_ts, label] (real target train events), source_events
    [user_id, source_domain, source_item, ...] (source train events), the translation mart and the
    aligned synthetic events. var target_keep_users is applied upstream in the warehouse
    (int_events_train): real_events hold only kept users' events and translation is the P_hat of
    that data, so nothing is filtered or recomputed here."""
    pos = real_events[real_events.label.to_numpy() == 1]
    src = source_events[source_events.label.to_numpy() == 1] if "label" in source_events else source_events
    users = pd.Index(np.unique(np.r_[real_events.user_id.to_numpy().astype(str), src.user_id.to_numpy().astype(str)]))
    items = pd.Index(np.unique(pos.item_id.to_numpy().astype(str)))
    ctx = build_context(pos, src, translation, synthetic, users, items, cfg.synthetic_lambda, mf=cfg.mf,
                        mf_train_fraction=cfg.mf_train_fraction)
    return build_training_rows(ctx, real_events, synthetic, cfg)
