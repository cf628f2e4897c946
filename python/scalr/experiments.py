"""One-command SCALR studies: ``python -m scalr.experiments experiments/food_kitchen.yml``.

Runs dbt once (staging + translation, with the config's ``vars``) into a scratch DuckDB file, then,
for each ``target_keep_users`` fraction, each configuration and each training seed, calls the same
scalr functions the dbt Python models call (sampling, alignment, learning, evaluation):

  RQ1 none / top-1 / sampling; RQ2 synthetic volume sweep; RQ3 alignment none / bucket /
  uniform_positive / positive_negative; RQ4 feature purge, confidence filter, min support,
  translation shrinkage; a lambda sweep.

Writes DuckDB table ``experiment_results`` (one row per keep x configuration x model x segment x
seed, plus the heuristics and the leak audits) and ``reports/<name>/report.md`` + PNG plots.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from scalr import evaluation as ev
from scalr import learning as ln

PROJECT = Path(__file__).resolve().parents[2]

# name, study, overrides of DEFAULTS
STUDIES: list[tuple[str, str, dict]] = [
    ("baseline", "baseline", {"synthetic": False}),
    ("top1", "RQ1", {"strategy": "topk", "k": 1}),
    # feature-matched control: no synthetic rows, the features top1's leak audit purged removed
    ("baseline_top1_features", "control", {"synthetic": False, "purge_like": "top1"}),
    ("sample", "RQ1", {}),
    ("volume_0.25", "RQ2", {"ratio": 0.25}),
    ("volume_0.5", "RQ2", {"ratio": 0.5}),
    ("volume_2", "RQ2", {"ratio": 2.0}),
    ("align_none", "RQ3", {"alignment": "none"}),
    ("align_bucket", "RQ3", {"alignment": "bucket"}),
    ("align_positive_negative", "RQ3", {"alignment": "positive_negative"}),
    ("no_purge", "RQ4", {"purge_threshold": None}),
    ("confidence_0.1", "RQ4", {"min_confidence": 0.1}),
    ("min_support_2", "RQ4", {"min_support": 2}),
    ("shrinkage_5", "RQ4", {"shrinkage": 5.0}),
    ("top1_support_2", "RQ4", {"strategy": "topk", "k": 1, "min_support": 2}),
    ("sample_indicator", "RQ4", {"synthetic_indicator": True}),
    ("lambda_0.1", "lambda", {"lambda": 0.1}),
    ("lambda_0.3", "lambda", {"lambda": 0.3}),
    ("lambda_3", "lambda", {"lambda": 3.0}),
    ("noise_eps_1", "privacy", {"noise_epsilon": 1.0}),
    ("noise_eps_0.2", "privacy", {"noise_epsilon": 0.2}),
    # noisy counts defeat the leave-one-out of the P_hat features on REAL rows (a user's own
    # pair keeps its noise after the -1), which the synthetic-vs-real audit cannot see: purge them
    ("noise_eps_1_purged", "privacy", {"noise_epsilon": 1.0, "purge_features": ["xdomain_sum", "xdomain_cnt"]}),
    ("noise_eps_0.2_purged", "privacy", {"noise_epsilon": 0.2, "purge_features": ["xdomain_sum", "xdomain_cnt"]}),
]

# heuristic name -> feature column scored at the end of the train window ("recent_popularity":
# #events in the latest 20 % of the train window's real target events, kept from earlier reports)
HEURISTICS = (("popularity", "item_pop"), ("popularity_365d", "item_pop_365d"),
              ("popularity_90d", "item_pop_90d"), ("popularity_30d", "item_pop_30d"),
              ("recent_popularity", "recent_popularity"), ("translation_score", "xdomain_sum"),
              ("item_item", "cf_real_norm"))

DEFAULTS: dict = {
    "synthetic": True, "strategy": "sample", "k": 3, "temperature": 1.0, "top_p": 1.0,
    "confidence_weight": "uniform", "min_confidence": 0.0, "min_support": 1, "shrinkage": 0.0,
    "alignment": "uniform_positive", "ratio": 1.0, "n_buckets": 10, "lambda": 1.0,
    "purge_threshold": 0.1, "purge_features": [], "negatives_per_positive": 4,
    "negative_sampler": "uniform", "sampling_seed": 42, "noise_epsilon": None,
}


@dataclass
class Data:
    events: pd.DataFrame  # user_id, item_id, domain, domain_role, event_ts, label
    train_end: pd.Timestamp
    eval_end: pd.Timestamp | None
    train_start: pd.Timestamp | None
    item_values: pd.DataFrame | None  # item_id, value (target items)


def log(msg: str) -> None:
    print(f"[scalr.experiments {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_dbt(cfg: dict, work: Path) -> Path:
    db = work / "scalr.duckdb"
    env = dict(os.environ, SCALR_DB=str(db), SCALR_TEMP_DIR=str(work / "tmp"),
               DBT_PROFILES_DIR=str(PROJECT))
    dbt = str(Path(sys.executable).with_name("dbt"))
    cmd = [dbt, "build", "--project-dir", str(PROJECT), "--target-path", str(work / "target"),
           "--log-path", str(work / "logs"), "--select", "+translation stg_items",
           "--vars", json.dumps(cfg.get("vars", {}))]
    t = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-3000:])
        raise SystemExit(f"dbt build failed (rc {proc.returncode})")
    log(f"dbt build (staging + translation) done in {time.time() - t:.1f}s -> {db}")
    return db


def load(db: Path, cfg: dict) -> Data:
    v = cfg.get("vars", {})
    with duckdb.connect(str(db), read_only=True) as con:
        # stg_events has no stored row order (parallel inserts); every draw below consumes its
        # random stream in row order, so read it sorted: reruns are then identical.
        events = con.sql("select user_id, item_id, domain, domain_role, event_ts, label from stg_events "
                         "order by user_id, item_id, domain, event_ts, label").df()
        try:
            items = con.sql("select item_id, value from stg_items order by item_id").df()
        except duckdb.Error:
            items = None
    ts = lambda x: None if x in (None, "", "null") else pd.Timestamp(str(x))  # noqa: E731
    return Data(events, ts(v.get("train_end", "2024-10-01")), ts(v.get("eval_end")), ts(v.get("train_start")),
                items if items is not None and len(items) else None)


class Split:
    """One target_keep_users world: train events, translation cache, fixed eval sets."""

    def __init__(self, data: Data, keep: float, keep_seed: int, eval_negatives: int, npp: int,
                 sampler: str, seed: int = 123):
        e = data.events
        t = e.event_ts
        in_train = t < data.train_end
        if data.train_start is not None:
            in_train &= t >= data.train_start
        in_eval = t >= data.train_end
        if data.eval_end is not None:
            in_eval &= t < data.eval_end
        tr = e[in_train]
        tgt = tr[tr.domain_role == "target"]
        kept = ln.keep_target_users(tgt.user_id.to_numpy(), keep, keep_seed)
        self.real = tgt[kept][["user_id", "item_id", "event_ts", "label"]].reset_index(drop=True)
        self.real_pos = self.real[self.real.label == 1]
        self.t_eval = np.int64(ln.to_us([data.train_end])[0])
        src = tr[tr.domain_role == "source"]
        self.source_events = pd.DataFrame({
            "user_id": src.user_id.to_numpy(), "source_domain": src.domain.to_numpy(),
            "source_item": src.item_id.to_numpy(), "event_ts": src.event_ts.to_numpy(),
            "label": src.label.to_numpy().astype(np.int32)}).sort_values(
            ["user_id", "source_domain", "source_item", "event_ts", "label"], kind="stable").reset_index(drop=True)
        self.source_pos = self.source_events[self.source_events.label == 1]
        self.users = pd.Index(np.unique(e.user_id.to_numpy().astype(str)))
        self.items = pd.Index(np.unique(self.real.item_id.to_numpy().astype(str)))
        pop = self.real_pos.groupby("item_id").user_id.nunique()
        if data.item_values is not None:
            self.item_values = data.item_values
        else:
            self.item_values = pd.DataFrame({"item_id": pop.index.astype(str), "value": pop.to_numpy(float)})
        self._translations: dict = {}
        self._cache: dict = {}
        # ---- fixed evaluation sets (shared by every configuration and seed) ----
        evt = e[in_eval & (e.domain_role == "target") & (e.label == 1)]
        n_eval_pos = len(evt)
        ni = len(self.items)
        eu, ei = ln.codes(evt.user_id, self.users), ln.codes(evt.item_id, self.items)
        self.eval_cold_item_positives = int((ei < 0).sum())
        ok = ei >= 0
        eu, ei = eu[ok], ei[ok]
        if len(eu) == 0:
            raise ValueError(
                f"scalr input error: column item_id: 0 of {n_eval_pos} positive target events of the eval window "
                f"are on an item with a positive in the train window ({ni} such items): nothing to rank "
                "(vars train_end / eval_end / train_start)")
        pair = np.unique(ln.keys(eu, ei, ni))
        eu, ei = pair // ni, pair % ni
        allt = e[e.domain_role == "target"]
        au, ai = ln.codes(allt.user_id, self.users), ln.codes(allt.item_id, self.items)
        excl = ln.sorted_keys(au, ai, ni)
        rng = np.random.default_rng(seed)
        weights = np.bincount(ln.codes(self.real_pos.item_id, self.items), minlength=ni).astype(float)
        par, neg = ln.sample_negatives(eu, npp, weights, excl, sampler, rng)
        self.point = pd.DataFrame({"u": np.r_[eu, eu[par]], "i": np.r_[ei, neg],
                                   "label": np.r_[np.ones(len(eu)), np.zeros(len(neg))].astype(np.int8)})
        ru = np.unique(eu)
        par, neg = ln.sample_negatives(ru, eval_negatives, np.ones(ni), excl, "uniform", rng)
        self.rank = pd.DataFrame({"u": np.r_[eu, ru[par]], "i": np.r_[ei, neg],
                                  "label": np.r_[np.ones(len(eu)), np.zeros(len(neg))].astype(np.int8)})
        self.rank["tiebreak"] = rng.random(len(self.rank))
        rts = ln.to_us(self.real_pos.event_ts)
        recent = self.real_pos[rts >= np.quantile(rts, 0.8)] if len(rts) else self.real_pos
        self.recent_pop = np.bincount(ln.codes(recent.item_id, self.items), minlength=ni).astype(float)
        has_target = np.bincount(ln.codes(self.real_pos.user_id, self.users), minlength=len(self.users)) > 0
        self.segments = pd.Series(np.where(has_target[ru], "warm", "cold"), index=self.users.to_numpy()[ru])
        self.segment_codes = pd.Series(self.segments.to_numpy(), index=ru)
        self.stats = {"target_keep_users": keep, "real_target_train_events": len(self.real),
                      "source_train_events": len(self.source_events), "catalog_items": ni,
                      "eval_positives": n_eval_pos, "eval_positives_on_unseen_items": self.eval_cold_item_positives,
                      "eval_users": len(ru), "eval_cold_users": int((self.segments == "cold").sum()),
                      "point_rows": len(self.point), "rank_rows": len(self.rank)}

    def cached(self, key: tuple, make):
        """Memo for what does not change across configurations (real rows, real-only features)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def translation(self, min_support: int, shrinkage: float, noise_epsilon: float | None = None) -> pd.DataFrame:
        key = (int(min_support), float(shrinkage), noise_epsilon)
        if key not in self._translations:
            src = self.source_pos[["user_id", "source_domain", "source_item"]]
            self._translations[key] = ln.translate(src, self.real_pos, min_support, shrinkage, noise_epsilon)
        return self._translations[key]


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """Arrow table with plain ``string`` columns (pandas 3 strings arrive as large_string)."""
    t = pa.Table.from_pandas(df, preserve_index=False)
    return t.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                             for f in t.schema]))


def synthesize(split: Split, c: dict) -> tuple[pd.DataFrame | None, dict]:
    if not c["synthetic"]:
        return None, {"synthetic_rows": 0}
    from scalr.alignment import AlignConfig, align_detailed
    from scalr.sampling import SamplingConfig, sample_synthetic
    tr = split.translation(c["min_support"], c["shrinkage"], c.get("noise_epsilon"))
    scfg = SamplingConfig(k=int(c["k"]), strategy=c["strategy"], temperature=float(c["temperature"]),
                          top_p=float(c["top_p"]), seed=int(c["sampling_seed"]),
                          confidence_weight=c["confidence_weight"], min_confidence=float(c["min_confidence"]))
    syn = sample_synthetic(to_arrow(split.source_events),
                           to_arrow(tr), scfg)
    n_raw = syn.num_rows
    res = align_detailed(syn, to_arrow(split.real[["user_id", "item_id", "label"]]),
                         to_arrow(split.item_values[["item_id", "value"]]),
                         AlignConfig(method=c["alignment"], n_buckets=int(c["n_buckets"]),
                                     ratio=None if c["ratio"] is None else float(c["ratio"]),
                                     seed=int(c["sampling_seed"])))
    info = {"synthetic_rows_raw": n_raw, "synthetic_rows": res.table.num_rows,
            "tv_before": res.tv_before, "tv_after": res.tv_after}
    return res.table.to_pandas(), info


def run_configuration(split: Split, cname: str, study: str, c: dict, seeds: list[int],
                      base_pred: dict[int, np.ndarray], models: list[str] = ("binary",),
                      train_kw: dict | None = None, n_boot: int = 200,
                      synthetic: pd.DataFrame | None = None, workers: int = 2):
    """One configuration: synthesize (or take ``synthetic``), build the feature context and the
    training rows, audit + purge, train per seed and objective, evaluate. ``base_pred`` (seed ->
    baseline binary predictions on the point set) is filled by the 'baseline' configuration and
    used for relative NE. Returns (result frames, audit table or None, info, #rows, features)."""
    if synthetic is None:
        syn, info = synthesize(split, c)
    else:
        syn, info = synthetic, {"synthetic_rows": len(synthetic)}
    tkey = (int(c["min_support"]), float(c["shrinkage"]), c.get("noise_epsilon"))
    tr = split.translation(*tkey)
    ctx = ln.build_context(split.real_pos, split.source_pos, tr, syn, split.users, split.items, float(c["lambda"]))
    rcfg = ln.RowsConfig(int(c["negatives_per_positive"]), c["negative_sampler"], float(c["lambda"]),
                         seed=int(c["sampling_seed"]), train_recent_fraction=float(c.get("train_recent_fraction", 1.0)))
    rkey = (rcfg.negatives_per_positive, rcfg.negative_sampler, rcfg.seed, rcfg.train_recent_fraction)
    # real rows and the features that depend only on real events / on the translation are the same
    # in every configuration (same split): computed once, reused
    real = split.cached(("real_rows", rkey), lambda: ln.real_row_frame(ctx, split.real, rcfg))
    rt = ln.to_us(real.event_ts)

    def groups_of(key, u, i, t, group):
        return split.cached((key, group, tkey if group == "translation" else None),
                            lambda: ctx.features(u, i, t, (group,)))

    real_f = {**groups_of(("real", rkey), real.u, real.i, rt, "real"),
              **groups_of(("real", rkey), real.u, real.i, rt, "translation"),
              **(groups_of(("real", rkey), real.u, real.i, rt, "synthetic") if syn is None
                 else ctx.features(real.u, real.i, rt, ("synthetic",)))}
    srows = ln.synthetic_row_frame(ctx, split.real, syn, rcfg)
    if len(srows):
        syn_f = ctx.features(srows.u, srows.i, ln.to_us(srows.event_ts))
        feats_all = {f: np.r_[real_f[f], syn_f[f]] for f in ln.FEATURES}
        rows = ln.finish_rows(pd.concat([real, srows], ignore_index=True), ctx, feats_all)
    else:
        rows = ln.finish_rows(real, ctx, real_f)
    feats = list(ln.FEATURES)
    aud = None
    if syn is None:  # a no-synthetic control may drop features by name
        feats = [f for f in feats if f not in set(c.get("purge_features") or [])]
    else:
        audit = ln.leak_audit(rows, feats, c["purge_features"], c["purge_threshold"])
        feats = [f for f in feats if f not in audit.purged]
        aud = audit.table.assign(config=cname, adversarial_auc_model=audit.adversarial_auc,
                                 adversarial_auc_after_purge=audit.adversarial_auc_after)
    pu = np.r_[split.point.u.to_numpy(), split.rank.u.to_numpy()]
    pi = np.r_[split.point.i.to_numpy(), split.rank.i.to_numpy()]
    pt = np.full(len(pu), split.t_eval)
    ef = {**groups_of(("eval",), pu, pi, pt, "real"), **groups_of(("eval",), pu, pi, pt, "translation"),
          **(groups_of(("eval",), pu, pi, pt, "synthetic") if syn is None else ctx.features(pu, pi, pt, ("synthetic",)))}
    F = pd.DataFrame({f: ef[f] for f in ln.FEATURES})
    if syn is not None and c.get("synthetic_indicator"):
        # row-type indicator (1 on synthetic training rows, 0 on every real and evaluation row): the
        # trees can keep what only holds for synthetic rows apart; not audited (it is the row type)
        rows = rows.assign(row_is_synthetic=rows.is_synthetic.to_numpy().astype(float))
        F["row_is_synthetic"] = 0.0
        feats = feats + ["row_is_synthetic"]
    F["recent_popularity"] = split.recent_pop[pi]
    npnt = len(split.point)
    # integer user codes as user ids: the evaluation sorts and groups by user many times
    point = split.point.assign(user_id=split.point.u.to_numpy())
    rank = split.rank.assign(user_id=split.rank.u.to_numpy(), item_id=split.rank.i.to_numpy())
    segments = split.segment_codes
    out = []
    heur = []
    if cname == "baseline":  # heuristics, scored on the same eval sets
        for h, col in HEURISTICS:
            m = ev.evaluate(point.assign(score=F[col].to_numpy()[:npnt]), rank.assign(score=F[col].to_numpy()[npnt:]),
                            "score", None, segments, catalog_size=len(split.items), prob=False, n_boot=n_boot)
            heur.append((m.assign(config=f"heuristic:{h}", study="heuristic", model="heuristic", seed=-1), col))
    # LightGBM releases the GIL: train the (seed, objective) models on `workers` threads of one
    # LightGBM thread each (each model is deterministic; the results do not depend on workers)
    # binary on every seed (seed spread); lambdarank (ranking metrics only) on the first seed
    jobs = [(seed, obj) for seed in seeds for obj in models if obj == "binary" or seed == seeds[0]]
    X_eval = F[feats].to_numpy(float)

    def fit_predict(job):
        m = ln.train_model(rows, feats, ln.TrainConfig(objective=job[1], seed=job[0], **(train_kw or {})))
        return m, m.predict(X_eval, num_iteration=m.best_iteration or None)

    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        fitted = dict(zip(jobs, pool.map(fit_predict, jobs)))
    for seed, obj in jobs:
        model, s_all = fitted[(seed, obj)]
        if heur and obj == "binary" and seed == seeds[0]:
            # baseline minus each heuristic, paired user bootstrap (first seed)
            per_b = ev.ranking_per_user(rank.user_id.to_numpy(), rank.label.to_numpy(), s_all[npnt:],
                                        tiebreak=rank.tiebreak.to_numpy())
            for i_h, (m, col) in enumerate(heur):
                d = ev.paired_ranking_diff(rank.user_id.to_numpy(), rank.label.to_numpy(), s_all[npnt:],
                                           F[col].to_numpy()[npnt:], segments,
                                           tiebreak=rank.tiebreak.to_numpy(), n_boot=n_boot, seed=seed,
                                           per_a=per_b)
                heur[i_h] = (m.merge(d.drop(columns="n_users"), on="segment", how="left"), col)
        p2 = point.assign(score=s_all[:npnt])
        r2 = rank.assign(score=s_all[npnt:])
        if obj == "binary":
            if cname == "baseline":
                base_pred[seed] = s_all[:npnt]
            p2["baseline"] = base_pred.get(seed, s_all[:npnt])
        # bootstrap CIs for the first seed only (the report shows the first seed's CIs and the
        # spread over seeds)
        m = ev.evaluate(p2, r2, "score", "baseline" if obj == "binary" else None, segments,
                        catalog_size=len(split.items), prob=obj == "binary",
                        n_boot=n_boot if seed == seeds[0] else 0, seed=seed)
        out.append(m.assign(config=cname, study=study, model=obj, seed=seed, features=",".join(feats),
                            n_trees=model.best_iteration or model.num_trees(), train_rows=len(rows), **info))
    out = [m for m, _ in heur] + out
    return out, aud, info, len(rows), feats


_JOB_STATE: dict = {}  # the split and baseline predictions of the worker processes


def _init_job_state(split: "Split", base_pred: dict) -> None:
    _JOB_STATE.update(split=split, base_pred=base_pred)


def _config_job(args: tuple) -> tuple:
    cname, study, c, seeds, models, train_kw, n_boot, workers = args
    t = time.time()
    out = run_configuration(_JOB_STATE["split"], cname, study, c, seeds, _JOB_STATE["base_pred"], models=models,
                            train_kw=train_kw, n_boot=n_boot, workers=workers)
    return out, time.time() - t


def run(config_path: str) -> pd.DataFrame:
    cfg = yaml.safe_load(Path(config_path).read_text())
    name = cfg.get("name", Path(config_path).stem)
    out_dir = PROJECT / cfg.get("report_dir", f"reports/{name}")
    work = out_dir / "work"
    out_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    db = Path(cfg["db"]) if cfg.get("db") else run_dbt(cfg, work)
    data = load(db, cfg)
    seeds = list(cfg.get("seeds", [0, 1, 2]))
    keeps = list(cfg.get("target_keep_users", [1.0, 0.3]))
    defaults = {**DEFAULTS, **cfg.get("defaults", {})}
    wanted = cfg.get("configurations")
    studies = [s for s in STUDIES if wanted is None or s[0] in wanted]
    rank_models = set(cfg.get("lambdarank_configs", ["baseline", "top1", "sample"]))
    train_kw = cfg.get("train", {})
    results, audits, splits_info = [], [], []
    n_total = len(keeps) * len(studies)
    done = 0
    for keep in keeps:
        split = Split(data, keep, int(cfg.get("keep_seed", 7)), int(cfg.get("eval_negatives", 200)),
                      int(defaults["negatives_per_positive"]), defaults["negative_sampler"])
        splits_info.append(split.stats)
        log(f"keep={keep}: " + ", ".join(f"{k}={v}" for k, v in split.stats.items()))
        base_pred: dict[int, np.ndarray] = {}
        purged_by: dict[str, list[str]] = {}

        def job(cname: str, study: str, over: dict, workers: int) -> tuple:
            c = {**defaults, **over}
            if c.get("purge_like"):
                c["purge_features"] = purged_by.get(c["purge_like"], [])
            return (cname, study, c, seeds, ["binary"] + (["lambdarank"] if cname in rank_models else []),
                    train_kw, int(cfg.get("n_boot", 200)), workers)

        def finish(cname: str, out: tuple, seconds: float) -> None:
            nonlocal done
            res_c, aud_c, info, n_rows, feats = out
            purged_by[cname] = [f for f in ln.FEATURES if f not in feats]
            done += 1
            last_df = next(r for r in reversed(res_c) if r.model.iat[0] == "binary").set_index("segment")
            last = last_df.loc["all"]
            log(f"[{done}/{n_total}] keep={keep} {cname:<24s} syn={info.get('synthetic_rows', 0):>7d} "
                f"rows={n_rows:>8d} purged={purged_by[cname]} "
                f"relNE(all)={last.get('rel_ne_pct', float('nan')):+.2f}% "
                f"relNE(cold)={last_df.loc['cold'].get('rel_ne_pct', float('nan')):+.2f}% "
                f"R@50(cold)={last_df.loc['cold'].get('recall@50', float('nan')):.4f} {seconds:.1f}s")

        # stage 1: the baseline (its predictions are every configuration's reference) and the
        # configurations a control copies its purge from; stage 2: the rest, `parallel_configs`
        # at a time in worker processes (each result depends only on its configuration)
        refs = {over.get("purge_like") for _, _, over in studies} - {None}
        stage1 = [st for st in studies if st[0] == "baseline" or st[0] in refs]
        stage2 = [st for st in studies if st not in stage1]
        outputs: dict[str, tuple] = {}
        _JOB_STATE.update(split=split, base_pred=base_pred)
        for cname, study, over in stage1:
            outputs[cname], secs = _config_job(job(cname, study, over, int(cfg.get("workers", 2))))
            finish(cname, outputs[cname], secs)
        parallel = int(cfg.get("parallel_configs", 2))
        if parallel > 1 and len(stage2) > 1:
            # spawn, not fork: a forked child of a process that has run LightGBM / BLAS threads
            # can deadlock; the split and baseline predictions are sent once per worker
            with ProcessPoolExecutor(max_workers=parallel, mp_context=mp.get_context("spawn"),
                                     initializer=_init_job_state, initargs=(split, base_pred)) as pool:
                futures = [pool.submit(_config_job, job(cname, study, over, 1)) for cname, study, over in stage2]
                for (cname, _, _), fut in zip(stage2, futures):
                    outputs[cname], secs = fut.result()
                    finish(cname, outputs[cname], secs)
        else:
            for cname, study, over in stage2:
                outputs[cname], secs = _config_job(job(cname, study, over, int(cfg.get("workers", 2))))
                finish(cname, outputs[cname], secs)
        for cname, _, _ in studies:  # results in the order of STUDIES, whatever finished first
            res_c, aud_c = outputs[cname][0], outputs[cname][1]
            results += [r.assign(keep=keep) for r in res_c]
            if aud_c is not None:
                audits.append(aud_c.assign(keep=keep))
    res = pd.concat(results, ignore_index=True)
    res["runtime_s"] = time.time() - t0
    aud = pd.concat(audits, ignore_index=True) if audits else pd.DataFrame()
    res_db = Path(cfg.get("results_db", out_dir / "experiments.duckdb"))
    if not res_db.is_absolute():
        res_db = PROJECT / res_db
    with duckdb.connect(str(res_db)) as con:
        con.register("r", res)
        con.sql("create or replace table experiment_results as select * from r")
        if len(aud):
            con.register("a", aud)
            con.sql("create or replace table leak_audit_results as select * from a")
        con.register("s", pd.DataFrame(splits_info))
        con.sql("create or replace table experiment_splits as select * from s")
    runtime = time.time() - t0
    from scalr.report import write_report
    write_report(res, aud, pd.DataFrame(splits_info), out_dir, name, config_path, runtime)
    log(f"done in {runtime:.0f}s: {len(res)} result rows -> {res_db} (table experiment_results), "
        f"report {out_dir / 'report.md'}")
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="experiments/*.yml")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the results DB")
    args = ap.parse_args(argv)
    if args.report_only:
        report_only(args.config)
    else:
        run(args.config)


def report_only(config_path: str) -> None:
    from scalr.report import write_report
    cfg = yaml.safe_load(Path(config_path).read_text())
    name = cfg.get("name", Path(config_path).stem)
    out_dir = PROJECT / cfg.get("report_dir", f"reports/{name}")
    res_db = Path(cfg.get("results_db", out_dir / "experiments.duckdb"))
    with duckdb.connect(str(res_db if res_db.is_absolute() else PROJECT / res_db), read_only=True) as con:
        res = con.sql("select * from experiment_results").df()
        aud = con.sql("select * from leak_audit_results").df()
        spl = con.sql("select * from experiment_splits").df()
        runtime = float(con.sql("select max(runtime_s) from experiment_results").fetchall()[0][0] or float("nan")) \
            if "runtime_s" in res else float("nan")
    write_report(res, aud, spl, out_dir, name, config_path, runtime)
    log(f"report {out_dir / 'report.md'}")


if __name__ == "__main__":
    main()
