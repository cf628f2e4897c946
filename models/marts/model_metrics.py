"""Downstream LightGBM (no-synthetic baseline vs the configured synthetic events) evaluated on real
target events of [train_end, eval_end): a thin wrapper around scalr.experiments / learning / evaluation."""
import numpy as np
import pandas as pd

from scalr import experiments as ex
from scalr.dbt_config import ModelConfig, pandas_of


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "negatives_per_positive": dbt.config.get("negatives_per_positive"),
        "train_recent_fraction": dbt.config.get("train_recent_fraction"),
        "negative_sampler": dbt.config.get("negative_sampler"),
        "synthetic_lambda": dbt.config.get("synthetic_lambda"),
        "training_seed": dbt.config.get("training_seed"),
        "training_seeds": dbt.config.get("training_seeds"),
        "target_keep_users": dbt.config.get("target_keep_users"),
        "keep_seed": dbt.config.get("keep_seed"),
        "purge_features": dbt.config.get("purge_features"),
        "purge_threshold": dbt.config.get("purge_threshold"),
        "eval_negatives": dbt.config.get("eval_negatives"),
        "train_start": dbt.config.get("train_start"),
        "train_end": dbt.config.get("train_end"),
        "eval_end": dbt.config.get("eval_end"),
        "min_support": dbt.config.get("min_support"),
        "translation_shrinkage": dbt.config.get("translation_shrinkage"),
    }, "model_metrics")
    ts = lambda name: None if c.get(name) is None else pd.Timestamp(str(c.get(name)))  # noqa: E731
    # stg_events has no stored order (parallel inserts): read it sorted, so the negative and
    # candidate draws (consumed in row order) and the result do not depend on the thread count.
    events = pandas_of(session, dbt.ref("stg_events"), "user_id, item_id, domain, event_ts, label")
    data = ex.Data(events, ts("train_end"), ts("eval_end"), ts("train_start"), None)
    npp = c.get("negatives_per_positive", 4, int, min_value=0)
    sampler = c.get("negative_sampler", "uniform", str)
    split = ex.Split(data, c.get("target_keep_users", 1.0, float, min_value=0), c.get("keep_seed", 7, int),
                     c.get("eval_negatives", 200, int, min_value=0), npp, sampler)
    conf = {**ex.DEFAULTS, "negatives_per_positive": npp, "negative_sampler": sampler,
            "lambda": c.get("synthetic_lambda", 1.0, float, min_value=0), "purge_features": c.get_list("purge_features"),
            "purge_threshold": c.get("purge_threshold", None, float), "min_support": c.get("min_support", 1, int),
            "shrinkage": c.get("translation_shrinkage", 0.0, float), "sampling_seed": c.get("training_seed", 42, int),
            "train_recent_fraction": c.get("train_recent_fraction", 1.0, float)}
    seeds = [int(s) for s in c.get_list("training_seeds", [0, 1, 2])]
    synthetic = pandas_of(session, dbt.ref("synthetic_events_aligned"))
    base_pred = {}
    out = []
    for name, syn in (("baseline", None), ("synthetic", synthetic)):  # two configurations
        res, _, _, _, _ = ex.run_configuration(split, name, name, {**conf, "synthetic": syn is not None}, seeds,
                                               base_pred, models=["binary", "lambdarank"], synthetic=syn)
        out += res
    df = pd.concat(out, ignore_index=True)
    keep = ["config", "study", "model", "seed", "segment", "n_users", "n_rows", "n_pos", "ne", "ne_lo", "ne_hi",
            "ne_baseline", "rel_ne_pct", "rel_ne_lo", "rel_ne_hi", "auc", "calibration",
            "recall@10", "recall@10_lo", "recall@10_hi", "recall@50", "recall@50_lo", "recall@50_hi",
            "ndcg@10", "ndcg@50", "coverage@10", "coverage@50", "features",
            "diff_recall@10", "diff_recall@10_lo", "diff_recall@10_hi", "diff_ndcg@10", "diff_ndcg@10_lo",
            "diff_ndcg@10_hi"]
    df = df.reindex(columns=keep)
    df.columns = [k.replace("@", "_at_") for k in keep]
    df["seed"] = df.seed.astype(np.int64)
    return df
