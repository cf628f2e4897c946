"""The evaluation ladder: does synthetic cross-domain data improve the target model, and by how much?

Arms (``scalr.learning.ARMS``), each trained per seed and compared with **T** of the same seed:

* ``T``      target only: no feature reads a source event, P_hat or a synthetic event (SCALR's baseline)
* ``T+F``    feature-level transfer (features read source events / P_hat)
* ``T+S``    data-level transfer, SCALR's comparison: T + synthetic rows (+ features of the synthetic events)
* ``T+F+S``  both

Evaluation (one place: ``scalr.evaluation``): every eval user's held-out real target positives are
ranked against the **whole train catalog** (minus the user's own visible train items), scored in
user chunks (``FeatureContext.catalog_block``); Recall / NDCG @ 10 / 50 / 100, coverage, recall by
item-popularity decile; NE / AUC / calibration on a pointwise set whose negatives are named
(``uniform`` / ``popularity`` sampled, or the data's real 0 labels). Paired user-bootstrap CIs
against T, and the spread over seeds. Heuristics are scored on the same candidates.

Inputs are the built marts (``BuildData.from_db``): what the dbt models built is what is evaluated.
"""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scalr import evaluation as ev
from scalr import learning as ln

REFERENCE = "T"
HEURISTICS = (("popularity", "item_pop"), ("popularity_365d", "item_pop_365d"),
              ("popularity_90d", "item_pop_90d"), ("popularity_30d", "item_pop_30d"),
              ("recent_popularity", "recent_popularity"), ("translation_score", "xdomain_sum"),
              ("item_item", "cf_real_norm"), ("mf_real", "mf_real"))
# the "will it help?" diagnostic's per-user models of real + synthetic events (no LightGBM): item-item
# scores over the user's real and synthetic target history, and implicit ALS on real + synthetic
# events (scalr.factors), scored with the default generator
SYNTHETIC_HEURISTICS = (("synthetic_item_item", "cf_all_norm"), ("synthetic_mf", "mf_all"))
SEG_CODES = {"cold": 0, "warm": 1}


@dataclass(frozen=True)
class LadderConfig:
    """Knobs of training and evaluation (one default each; the dbt vars of the same names)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    negatives_per_positive: int = 4
    negative_sampler: str = "uniform"
    training_seed: int = 42
    synthetic_lambda: float = 1.0
    purge_features: tuple[str, ...] = ()
    purge_threshold: float | None = 0.1
    train_recent_fraction: float = 1.0
    eval_negatives: str = "uniform"  # negatives of the pointwise NE set: uniform | popularity
    eval_max_pairs: int = 10_000_000  # full-catalog pairs ranked; above: a seeded sample of eval users (stated)
    n_boot: int = 200
    lambdarank: bool = False
    workers: int = 2
    chunk_pairs: int = 1_000_000
    train: dict = field(default_factory=dict)  # scalr.learning.TrainConfig overrides
    purge_mode: str = "mask"  # what the leak audit does with a leaking feature: drop it from the model, or
    #                           mask it (NaN) on the synthetic rows only, keeping it for the real rows
    mf: object = None  # scalr.factors.FactorConfig of the latent-factor features (None: off)
    mf_train_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.eval_negatives not in ln.NEGATIVE_SAMPLERS:
            raise ValueError(f"eval_negatives must be one of {ln.NEGATIVE_SAMPLERS}, got {self.eval_negatives!r}")
        if not self.seeds:
            raise ValueError("training_seeds must hold at least one seed")
        if self.purge_mode not in ("drop", "mask"):
            raise ValueError(f"purge_mode must be drop or mask, got {self.purge_mode!r}")
        if self.eval_max_pairs < 1:
            raise ValueError("eval_max_pairs must be >= 1")


@dataclass
class BuildData:
    """The marts of one dbt build the ladder reads (target_keep_users already applied upstream)."""
    target_train: pd.DataFrame  # int_target_train_events: user_id, item_id, event_ts, label, is_validation
    source_train: pd.DataFrame  # int_source_events: user_id, source_domain, source_item, event_ts, label
    target_eval: pd.DataFrame  # int_target_eval_events: user_id, item_id, event_ts, label
    translation: pd.DataFrame  # translation mart
    train_end: pd.Timestamp
    item_values: pd.DataFrame | None = None  # int_target_item_values: item_id, value
    synthetic: pd.DataFrame | None = None  # synthetic_events_aligned (when built)
    user_items: pd.DataFrame | None = None  # int_user_items: user_id, domain, domain_role, item_id
    # the training fit (README "The early-stopping slice and P_hat"): P_hat and synthetic events without the
    # early-stopping slice's target events, read by the training rows' features and synthetic rows (None: the
    # whole-window ones above)
    train_translation: pd.DataFrame | None = None  # training_translation mart
    train_synthetic: pd.DataFrame | None = None  # training_synthetic_events_aligned
    train_user_items: pd.DataFrame | None = None  # int_training_user_items

    @classmethod
    def from_db(cls, con: duckdb.DuckDBPyConnection, train_end: pd.Timestamp, synthetic: bool = True) -> "BuildData":
        def q(sql: str) -> pd.DataFrame:
            return con.sql(sql).df()
        tables = set(r[0] for r in con.sql("select table_name from information_schema.tables "
                                           "where table_schema = 'main'").fetchall())
        return cls(
            target_train=q("select user_id, item_id, event_ts, label, is_validation from int_target_train_events "
                           "order by user_id, item_id, event_ts, label"),
            source_train=q("select user_id, source_domain, source_item, event_ts, label from int_source_events "
                           "order by user_id, source_domain, source_item, event_ts, label"),
            target_eval=q("select user_id, item_id, event_ts, label from int_target_eval_events "
                          "order by user_id, item_id, event_ts, label"),
            translation=q("select * from translation order by source_domain, source_item, target_rank"),
            train_end=train_end,
            item_values=q("select item_id, value from int_target_item_values order by item_id")
            if "int_target_item_values" in tables else None,
            synthetic=q("select * from synthetic_events_aligned order by user_id, source_item, event_ts, draw")
            if synthetic and "synthetic_events_aligned" in tables else None,
            user_items=q("select user_id, domain, domain_role, item_id from int_user_items "
                         "order by user_id, domain, item_id") if "int_user_items" in tables else None,
            train_translation=q("select * from training_translation order by source_domain, source_item, target_rank")
            if "training_translation" in tables else None,
            train_synthetic=q("select * from training_synthetic_events_aligned "
                              "order by user_id, source_item, event_ts, draw")
            if synthetic and "training_synthetic_events_aligned" in tables else None,
            train_user_items=q("select user_id, domain, domain_role, item_id from int_training_user_items "
                               "order by user_id, domain, item_id") if "int_training_user_items" in tables else None,
        )


class EvalSet:
    """Fixed evaluation sets shared by every arm, configuration and seed."""

    def __init__(self, data: BuildData, cfg: LadderConfig, seed: int = 123):
        tt, se, te = data.target_train, data.source_train, data.target_eval
        pos = tt[tt.label.to_numpy() == 1]
        self.real_pos = pos
        self.source_pos = se[se.label.to_numpy() == 1] if "label" in se else se
        self.users = pd.Index(np.unique(np.r_[tt.user_id.to_numpy().astype(str), se.user_id.to_numpy().astype(str),
                                              te.user_id.to_numpy().astype(str)]))
        self.items = pd.Index(np.unique(pos.item_id.to_numpy().astype(str)))
        self.t_eval = np.int64(ln.to_us([data.train_end])[0])
        nu, ni = len(self.users), len(self.items)
        rng = np.random.default_rng(seed)
        # visible train items of each user (never candidates, never positives)
        vu, vi = ln.codes(tt.user_id, self.users), ln.codes(tt.item_id, self.items)
        ok = vi >= 0
        visible = ln.sparse_indicator(vu[ok], vi[ok], (nu, ni))
        vis_keys = ln.sorted_keys(vu[ok], vi[ok], ni)
        epos = te[te.label.to_numpy() == 1]
        eu, ei = ln.codes(epos.user_id, self.users), ln.codes(epos.item_id, self.items)
        distinct = epos.assign(_unseen=ei < 0)[["user_id", "item_id", "_unseen"]].drop_duplicates(["user_id", "item_id"])
        n_eval_pos = len(distinct)
        unseen = ei < 0
        pair = np.unique(ln.keys(eu[~unseen], ei[~unseen], ni))
        repeat = ln.in_sorted(pair, vis_keys)
        pair = pair[~repeat]
        if len(pair) == 0:
            raise ValueError(
                f"scalr input error: column item_id: 0 of {n_eval_pos} distinct positive (user, item) pairs of the "
                f"eval window are on an item with a positive in the train window ({ni} such items) and not among "
                "the user's own train items: nothing to rank (vars train_end / eval_end / train_start)")
        pu, pi = pair // ni, pair % ni
        all_eval_users = np.unique(pu)
        has_target = np.bincount(ln.codes(pos.user_id, self.users), minlength=nu) > 0
        # full-catalog ranking of every eval user; above the pair budget a seeded sample of them
        n_rank = min(len(all_eval_users), max(1, cfg.eval_max_pairs // max(ni, 1)))
        ranked = all_eval_users if n_rank == len(all_eval_users) else np.sort(
            np.random.default_rng([seed, 1]).choice(all_eval_users, n_rank, replace=False))
        self.eval_users = ranked
        keep = np.isin(pu, ranked)
        self.pos_user = np.searchsorted(ranked, pu[keep])  # row of the positive's user in eval_users
        self.pos_item = pi[keep]
        self.exclude = visible[ranked].tocsr()
        self.segment = np.where(has_target[ranked], "warm", "cold")
        self.segment_of_user = pd.Series(np.where(has_target[all_eval_users], "warm", "cold"), index=all_eval_users)
        self.tb_order = rng.permutation(ni)
        # item-popularity deciles over the catalog (decile 10 = the 10 % most popular items)
        item_users = np.bincount(ln.codes(pos.drop_duplicates(["user_id", "item_id"]).item_id, self.items),
                                 minlength=ni)
        order = np.lexsort((np.argsort(self.tb_order), item_users))
        self.item_decile = np.empty(ni, np.int64)
        self.item_decile[order] = 1 + (np.arange(ni) * 10) // max(ni, 1)
        rts = ln.to_us(pos.event_ts)
        recent = pos[rts >= np.quantile(rts, 0.8)] if len(rts) else pos
        self.recent_pop = np.bincount(ln.codes(recent.item_id, self.items), minlength=ni).astype(np.float32)
        # pointwise NE set: real labels when the eval window has 0 labels, else sampled negatives
        neg_rows = te[te.label.to_numpy() == 0]
        if len(neg_rows):
            nu_, ni_ = ln.codes(neg_rows.user_id, self.users), ln.codes(neg_rows.item_id, self.items)
            okn = ni_ >= 0
            point = pd.DataFrame({"u": np.r_[pu, nu_[okn]], "i": np.r_[pi, ni_[okn]],
                                  "label": np.r_[np.ones(len(pu)), np.zeros(int(okn.sum()))].astype(np.int8)})
            self.point_negatives = "real labels"
        else:
            at = ln.codes(te.user_id, self.users), ln.codes(te.item_id, self.items)
            excl = np.unique(np.r_[vis_keys, ln.sorted_keys(at[0], at[1], ni)])
            weights = np.bincount(ln.codes(pos.item_id, self.items), minlength=ni).astype(float)
            par, neg = ln.sample_negatives(pu, cfg.negatives_per_positive, weights, excl, cfg.eval_negatives, rng)
            point = pd.DataFrame({"u": np.r_[pu, pu[par]], "i": np.r_[pi, neg],
                                  "label": np.r_[np.ones(len(pu)), np.zeros(len(neg))].astype(np.int8)})
            self.point_negatives = f"{cfg.eval_negatives} x{cfg.negatives_per_positive}"
        self.point = point
        self.stats = {
            "real_target_train_events": len(tt), "source_train_events": len(se), "catalog_items": ni,
            "eval_positive_pairs": n_eval_pos, "eval_positive_pairs_on_unseen_items": int(distinct._unseen.sum()),
            "eval_positive_pairs_repeat_of_train": int(repeat.sum()),
            "eval_positive_pairs_ranked": int(keep.sum()), "eval_users": int(len(all_eval_users)),
            "eval_users_ranked": int(len(ranked)),
            "eval_cold_users_ranked": int((self.segment == "cold").sum()),
            "ranking": "full catalog" if n_rank == len(all_eval_users)
            else f"full catalog, seeded sample of {n_rank} of {len(all_eval_users)} eval users (eval_max_pairs)",
            "point_rows": len(point), "point_negatives": self.point_negatives,
        }


@dataclass
class Arm:
    """One trained configuration: an arm of the ladder under a generator configuration."""
    config: str  # e.g. T, T+S, T+S:volume_4
    arm: str  # T | T+F | T+S | T+F+S
    features: list[str]
    study: str = "ladder"
    info: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # (objective, seed) -> Booster
    masked: list = field(default_factory=list)  # features hidden on synthetic rows (purge_mode mask)


def context(es: EvalSet, translation: pd.DataFrame, synthetic: pd.DataFrame | None,
            cfg: LadderConfig) -> ln.FeatureContext:
    return ln.build_context(es.real_pos, es.source_pos, translation, synthetic, es.users, es.items,
                            cfg.synthetic_lambda, mf=cfg.mf, mf_train_fraction=cfg.mf_train_fraction)


def training_rows(ctx: ln.FeatureContext, data: BuildData, synthetic: pd.DataFrame | None,
                  cfg: LadderConfig) -> pd.DataFrame:
    rcfg = ln.RowsConfig(cfg.negatives_per_positive, cfg.negative_sampler, cfg.synthetic_lambda,
                         seed=cfg.training_seed, train_recent_fraction=cfg.train_recent_fraction, mf=cfg.mf,
                         mf_train_fraction=cfg.mf_train_fraction)
    return ln.build_training_rows(ctx, data.target_train, synthetic, rcfg)


def fit(rows: pd.DataFrame, arms: list[Arm], cfg: LadderConfig) -> None:
    """Train every (arm, objective, seed) model on ``workers`` threads (LightGBM releases the GIL;
    each model is deterministic with its one LightGBM thread, whatever the worker count)."""
    real_only = rows[rows.is_synthetic.to_numpy() == 0]
    jobs = [(a, obj, s) for a in arms for s in cfg.seeds
            for obj in (("binary", "lambdarank") if cfg.lambdarank and s == cfg.seeds[0] else ("binary",))]

    def one(job):
        a, obj, s = job
        r = rows if ln.ARMS[a.arm][1] else real_only
        if a.masked:  # purge_mode mask: the purged features are missing (NaN) on synthetic rows only
            r = r.copy()
            r.loc[r.is_synthetic.to_numpy() == 1, a.masked] = np.nan
        return ln.train_model(r, a.features, ln.TrainConfig(objective=obj, seed=s, **cfg.train))

    with ThreadPoolExecutor(max_workers=max(1, cfg.workers)) as pool:
        for (a, obj, s), m in zip(jobs, pool.map(one, jobs)):
            a.models[(obj, s)] = m


def score(ctx: ln.FeatureContext, es: EvalSet, arms: list[Arm], cfg: LadderConfig,
          heuristics: tuple[tuple[str, str], ...] = ()) -> dict:
    """Full-catalog ranks of every eval positive and top-K coverage under every model (and the
    heuristics), plus pointwise predictions. Feature blocks are computed once per user chunk and
    shared by every model of the context."""
    ni = len(es.items)
    feats = sorted({f for a in arms for f in a.features} | ({c for _, c in heuristics} - {"recent_popularity"}))
    keys_ = [(a.config, obj, s) for a in arms for (obj, s) in a.models]
    if heuristics:
        keys_ += [(f"heuristic:{h}", "heuristic", -1) for h, _ in heuristics]
    ranks = {k: np.empty(len(es.pos_user), np.int64) for k in keys_}
    tops = {k: {kk: np.zeros((2, ni), bool) for kk in ev.RANK_KS} for k in keys_}
    seg_code = np.array([SEG_CODES[s] for s in es.segment], np.int64)
    chunk = max(1, cfg.chunk_pairs // max(ni, 1))
    pos_order = np.argsort(es.pos_user, kind="stable")
    bounds = np.searchsorted(es.pos_user[pos_order], np.arange(0, len(es.eval_users) + chunk, chunk))
    for b, a0 in enumerate(range(0, len(es.eval_users), chunk)):  # loop over user chunks (memory bound)
        users = es.eval_users[a0:a0 + chunk]
        n = len(users)
        block = ctx.catalog_block(users, es.t_eval, feats)
        excl = es.exclude[a0:a0 + n].toarray().astype(bool)
        sel = pos_order[bounds[b]:bounds[b + 1]]
        prow, pitem = es.pos_user[sel] - a0, es.pos_item[sel]

        def put(k, s):
            r, t = ev.rank_block(s.reshape(n, ni), excl, prow, pitem, es.tb_order, ev.RANK_KS, seg_code[a0:a0 + n], 2)
            ranks[k][sel] = r
            for kk in ev.RANK_KS:
                tops[k][kk] |= t[kk]

        for a in arms:
            X = np.column_stack([block[f].reshape(-1) for f in a.features])
            for (obj, s), m in a.models.items():
                put((a.config, obj, s), m.predict(X, num_iteration=m.best_iteration or None, num_threads=cfg.workers))
        if heuristics:
            for h, c in heuristics:
                s = np.broadcast_to(es.recent_pop[None, :], (n, ni)) if c == "recent_popularity" else block[c]
                put((f"heuristic:{h}", "heuristic", -1), np.asarray(s, np.float64))
    # pointwise set
    point = {}
    pf = ctx.features(es.point.u.to_numpy(), es.point.i.to_numpy(), np.full(len(es.point), es.t_eval))
    for a in arms:
        X = np.column_stack([pf[f] for f in a.features])
        for (obj, s), m in a.models.items():
            if obj == "binary":
                point[(a.config, obj, s)] = m.predict(X, num_iteration=m.best_iteration or None, num_threads=cfg.workers)
    if heuristics:
        for h, c in heuristics:
            point[(f"heuristic:{h}", "heuristic", -1)] = (es.recent_pop[es.point.i.to_numpy()]
                                                          if c == "recent_popularity" else pf[c])
    return {"ranks": ranks, "tops": tops, "point": point}


def summarize(es: EvalSet, scored: dict, reference: dict, cfg: LadderConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Result rows (one per key x segment) against the reference arm T of the same seed (heuristics:
    against T's first seed), and the recall@50 by item-popularity decile."""
    n_users = len(es.eval_users)
    ni = len(es.items)
    out, dec = [], []
    ref_seed0 = cfg.seeds[0]
    for key, r in scored["ranks"].items():
        config, obj, seed = key
        per = ev.per_user_from_ranks(es.pos_user, r, n_users)
        ref_key = (REFERENCE, obj if obj != "heuristic" else "binary", seed if seed >= 0 else ref_seed0)
        base = reference.get("per_user", {}).get(ref_key)
        n_boot = cfg.n_boot if seed in (-1, ref_seed0) else 0
        m = ev.ranking_summary(per, es.segment, base, n_boot=n_boot, seed=max(seed, 0))
        for kk in ev.RANK_KS:
            m[f"coverage_at_{kk}"] = [float(scored["tops"][key][kk].any(0).sum() / ni),
                                      float(scored["tops"][key][kk][0].sum() / ni),
                                      float(scored["tops"][key][kk][1].sum() / ni)]
        if key in scored["point"]:
            pts = scored["point"][key]
            bp = reference.get("point", {}).get(ref_key)
            pm = ev.pointwise_summary(es.point.u.to_numpy(), es.point.label.to_numpy(), pts, es.segment_of_user,
                                      bp if obj != "heuristic" else None, n_boot=n_boot, seed=max(seed, 0),
                                      prob=obj != "heuristic")
            m = m.merge(pm, on="segment", how="left")
        # recall@50 by item-popularity decile, and head (decile 10) vs tail (deciles 1-9), per segment
        hit = r < 50
        heads = []
        for name in ("all", "cold", "warm"):  # m's segment order
            mask = np.ones(len(r), bool) if name == "all" else es.segment[es.pos_user] == name
            d = es.item_decile[es.pos_item[mask]]
            n_d = np.bincount(d, minlength=11)[1:]
            h_d = np.bincount(d, weights=hit[mask], minlength=11)[1:]
            with np.errstate(invalid="ignore", divide="ignore"):
                dec.append(pd.DataFrame({"config": config, "model": obj, "seed": seed, "segment": name,
                                         "decile": np.arange(1, 11), "n_pos": n_d.astype(np.int64),
                                         "recall_at_50": h_d / n_d}))
                heads.append((h_d[9] / n_d[9], h_d[:9].sum() / n_d[:9].sum()))
        m["recall_at_50_head"] = [h[0] for h in heads]
        m["recall_at_50_tail"] = [h[1] for h in heads]
        out.append(m.assign(config=config, model=obj, seed=seed))
    return pd.concat(out, ignore_index=True), pd.concat(dec, ignore_index=True)


def per_user_and_point(es: EvalSet, scored: dict) -> dict:
    """The reference's per-user ranking metrics and pointwise predictions (for paired comparisons)."""
    n_users = len(es.eval_users)
    return {"per_user": {k: ev.per_user_from_ranks(es.pos_user, r, n_users) for k, r in scored["ranks"].items()},
            "point": dict(scored["point"])}


def run_group(es: EvalSet, data: BuildData, translation: pd.DataFrame, synthetic: pd.DataFrame | None,
              arms: list[Arm], cfg: LadderConfig, reference: dict, heuristics: tuple[tuple[str, str], ...] = (),
              log=print, rows: pd.DataFrame | None = None, train_translation: pd.DataFrame | None = None,
              train_synthetic: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, dict]:
    """One generator configuration: training rows (built here, or ``rows``: the training_rows mart
    of the same build), leak audit of the arms that train on synthetic rows, models, full-catalog
    scoring, summaries. Fills ``reference`` when the group holds arm T (then T must be its first arm).

    Two fits (README "The early-stopping slice and P_hat"): the training rows (their synthetic rows
    and every feature that reads P_hat or synthetic events) come from the training fit
    ``train_translation`` / ``train_synthetic`` (None: the whole-window one), the evaluation rows'
    features from the whole-window ``translation`` / ``synthetic``."""
    t0 = time.time()
    if rows is None:
        tr_t = translation if train_translation is None else train_translation
        tr_s = synthetic if train_synthetic is None else train_synthetic
        rows = training_rows(context(es, tr_t, tr_s, cfg), data, tr_s, cfg)
    ctx = context(es, translation, synthetic, cfg)
    audit_tab = None
    n_syn = int((rows.is_synthetic.to_numpy() == 1).sum())
    for a in arms:
        a.features = [f for f in a.features if f not in set(cfg.purge_features)]
        if ln.ARMS[a.arm][1] and n_syn:
            aud = ln.leak_audit(rows, a.features, cfg.purge_features, cfg.purge_threshold, seed=cfg.training_seed)
            if cfg.purge_mode == "mask":  # keep the feature for real rows, hide it on synthetic rows
                a.masked = [f for f in a.features if f in aud.purged]
            else:
                a.features = [f for f in a.features if f not in aud.purged]
            t = aud.table.assign(config=a.config, adversarial_auc_model=aud.adversarial_auc,
                                 adversarial_auc_after_purge=aud.adversarial_auc_after)
            audit_tab = t if audit_tab is None else pd.concat([audit_tab, t], ignore_index=True)
    fit(rows, arms, cfg)
    t1 = time.time()
    scored = score(ctx, es, arms, cfg, heuristics)
    if any(a.config == REFERENCE for a in arms):
        reference.update(per_user_and_point(es, scored))
    res, dec = summarize(es, scored, reference, cfg)
    info = {a.config: {**a.info, "features": ",".join(f + ("(masked on synthetic rows)" if f in a.masked else "")
                                                      for f in a.features),
                       "train_rows": len(rows), "synthetic_train_rows": n_syn,
                       "n_trees": int(np.mean([m.best_iteration or m.num_trees() for m in a.models.values()]))}
            for a in arms}
    res["arm"] = res.config.map({a.config: a.arm for a in arms}).fillna("heuristic")
    res["study"] = res.config.map({a.config: a.study for a in arms}).fillna("heuristic")
    for col in ("features", "train_rows", "synthetic_train_rows", "n_trees"):
        res[col] = res.config.map({c: v[col] for c, v in info.items()})
    for a in arms:
        for k, v in a.info.items():
            res.loc[res.config == a.config, k] = v
    log(f"{','.join(a.config for a in arms)}: rows={len(rows)} synthetic={n_syn} fit {t1 - t0:.1f}s "
        f"score {time.time() - t1:.1f}s")
    return res, dec, audit_tab, info


@dataclass
class Generator:
    """A set of synthetic events to evaluate (a configuration of the generator, or a control)."""
    name: str  # "default" (the build's synthetic_events_aligned) or a variant name
    synthetic: pd.DataFrame | None
    study: str = "ladder"
    arms: tuple[str, ...] = ("T+S",)
    info: dict = field(default_factory=dict)
    synthetic_lambda: float | None = None  # overrides LadderConfig.synthetic_lambda for this generator
    purge_threshold: object = "unset"  # overrides LadderConfig.purge_threshold (None = no auto-purge)
    rows: pd.DataFrame | None = None  # its training rows when already built (the training_rows mart)
    purge_mode: str | None = None  # overrides LadderConfig.purge_mode
    train_synthetic: pd.DataFrame | None = None  # the training fit's events for the training rows (None: synthetic)


def run_ladder(data: BuildData, cfg: LadderConfig, generators: list[Generator],
               log=print) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """The ladder T, T+F, T+S, T+F+S and the heuristics on the 'default' generator (the build's
    synthetic events), then each other generator's arms (T+S), each against T.
    Returns (results, recall@50 by popularity decile, leak audits, evaluation-set stats)."""
    es = EvalSet(data, cfg)
    log("eval: " + ", ".join(f"{k}={v}" for k, v in es.stats.items()))
    reference: dict = {}
    res, dec, aud = [], [], []
    default = [g for g in generators if g.name == "default"]
    if len(default) != 1:
        raise ValueError("run_ladder needs exactly one generator named 'default' (the build's synthetic events)")
    # the build's synthetic events serve every ladder arm: T and T+F train on the real rows only and
    # read only features that do not depend on the synthetic events
    groups = [(default[0], [Arm(a, a, list(ln.ARMS[a][0])) for a in ln.ARMS], HEURISTICS + SYNTHETIC_HEURISTICS)]
    for g in generators:
        if g.name != "default":
            groups.append((g, [Arm(f"{a}:{g.name}", a, list(ln.ARMS[a][0]), g.study, dict(g.info)) for a in g.arms], ()))
    for g, arms, heur in groups:
        gcfg = cfg
        if g.synthetic_lambda is not None:
            gcfg = dataclasses.replace(gcfg, synthetic_lambda=float(g.synthetic_lambda))
        if g.purge_threshold != "unset":
            gcfg = dataclasses.replace(gcfg, purge_threshold=g.purge_threshold)
        if g.purge_mode is not None:
            gcfg = dataclasses.replace(gcfg, purge_mode=g.purge_mode)
        r, d, a, _ = run_group(es, data, data.translation, g.synthetic, arms, gcfg, reference, heuristics=heur,
                               log=log, rows=g.rows, train_translation=data.train_translation,
                               train_synthetic=g.train_synthetic)
        res.append(r)
        dec.append(d)
        if a is not None:
            aud.append(a)
    out = pd.concat(res, ignore_index=True)
    for k in ("eval_users_ranked", "eval_cold_users_ranked", "ranking", "point_negatives"):
        out[k] = es.stats[k]
    return out, pd.concat(dec, ignore_index=True), (pd.concat(aud, ignore_index=True) if aud else pd.DataFrame()), es.stats


RESULT_COLUMNS = (
    ["config", "arm", "study", "model", "seed", "segment", "n_users", "n_pos"]
    + [f"{m}_at_{k}{e}" for k in ev.RANK_KS for m in ("recall", "ndcg") for e in ("", "_lo", "_hi")]
    + [f"diff_{m}_at_{k}{e}" for k in ev.RANK_KS for m in ("recall", "ndcg") for e in ("", "_lo", "_hi")]
    + [f"coverage_at_{k}" for k in ev.RANK_KS]
    + ["recall_at_50_head", "recall_at_50_tail", "n_rows", "n_pos_point", "ne", "ne_lo", "ne_hi", "ne_reference",
       "rel_ne_pct", "rel_ne_lo", "rel_ne_hi", "auc", "calibration", "features", "train_rows",
       "synthetic_train_rows", "n_trees", "eval_users_ranked", "eval_cold_users_ranked", "ranking", "point_negatives"])


def result_frame(res: pd.DataFrame, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The result columns shared by the mart model_metrics and scalr.experiments' experiment_results
    (same names, same order), plus ``extra`` columns that exist."""
    out = res.reindex(columns=RESULT_COLUMNS + [c for c in extra if c in res])
    out["seed"] = out.seed.astype(np.int64)
    return out
