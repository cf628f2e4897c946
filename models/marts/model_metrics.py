"""The evaluation ladder of this build (scalr.ladder): T (target only), T+F, T+S (SCALR's
comparison), T+F+S and the heuristics, trained on the training_rows mart and evaluated by
full-catalog ranking of int_target_eval_events. A thin wrapper: it reads the marts and calls the library."""
import pandas as pd

from scalr import ladder as la
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
        "purge_features": dbt.config.get("purge_features"),
        "purge_threshold": dbt.config.get("purge_threshold"),
        "purge_mode": dbt.config.get("purge_mode"),
        "eval_negatives": dbt.config.get("eval_negatives"),
        "eval_max_pairs": dbt.config.get("eval_max_pairs"),
        "train_end": dbt.config.get("train_end"),
        "mf_factors": dbt.config.get("mf_factors"),
        "mf_regularization": dbt.config.get("mf_regularization"),
        "mf_alpha": dbt.config.get("mf_alpha"),
        "mf_iterations": dbt.config.get("mf_iterations"),
        "mf_seed": dbt.config.get("mf_seed"),
        "mf_train_fraction": dbt.config.get("mf_train_fraction"),
    }, "model_metrics")
    cfg = la.LadderConfig(
        seeds=tuple(int(s) for s in c.get_list("training_seeds", [0, 1, 2])),
        negatives_per_positive=c.get("negatives_per_positive", 4, int, min_value=0),
        negative_sampler=c.get("negative_sampler", "uniform", str),
        training_seed=c.get("training_seed", 42, int),
        synthetic_lambda=c.get("synthetic_lambda", 1.0, float, min_value=0),
        purge_features=tuple(c.get_list("purge_features")),
        purge_threshold=c.get("purge_threshold", None, float),
        purge_mode=c.get("purge_mode", "mask", str),
        train_recent_fraction=c.get("train_recent_fraction", 1.0, float),
        eval_negatives=c.get("eval_negatives", "uniform", str),
        eval_max_pairs=c.get("eval_max_pairs", 10_000_000, int, min_value=1),
        mf=la.ln.factor_config(c.get("mf_factors", 32, int, min_value=0), c.get("mf_regularization", 0.05, float, min_value=0),
                              c.get("mf_alpha", 10.0, float, min_value=0), c.get("mf_iterations", 10, int, min_value=1),
                              c.get("mf_seed", 0, int, min_value=0)),
        mf_train_fraction=c.get("mf_train_fraction", 0.5, float, min_value=0),
    )
    # every input is read in a fixed row order (parallel inserts store none): draws consume it in order
    data = la.BuildData(
        target_train=pandas_of(session, dbt.ref("int_target_train_events"), "user_id, item_id, event_ts, label, is_validation"),
        source_train=pandas_of(session, dbt.ref("int_source_events"),
                               "user_id, source_domain, source_item, event_ts, label"),
        target_eval=pandas_of(session, dbt.ref("int_target_eval_events"), "user_id, item_id, event_ts, label"),
        translation=pandas_of(session, dbt.ref("translation"), "source_domain, source_item, target_rank"),
        train_end=pd.Timestamp(str(c.get("train_end"))),
    )
    # two fits (README "The early-stopping slice and P_hat"): the models train on the training_rows mart
    # (the training fit of P_hat), evaluation features read the whole-window translation / synthetic events
    synthetic = pandas_of(session, dbt.ref("synthetic_events_aligned"), "user_id, source_item, event_ts, draw")
    rows = pandas_of(session, dbt.ref("training_rows"), "row_id")
    res, _, _, _ = la.run_ladder(data, cfg, [la.Generator("default", synthetic, rows=rows)], log=lambda m: None)
    return la.result_frame(res)
