"""Training rows for the downstream model: a thin wrapper around scalr.learning."""
from scalr import learning as ln
from scalr.dbt_config import ModelConfig, pandas_of


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "negatives_per_positive": dbt.config.get("negatives_per_positive"),
        "train_recent_fraction": dbt.config.get("train_recent_fraction"),
        "negative_sampler": dbt.config.get("negative_sampler"),
        "synthetic_lambda": dbt.config.get("synthetic_lambda"),
        "training_seed": dbt.config.get("training_seed"),
        "mf_factors": dbt.config.get("mf_factors"),
        "mf_regularization": dbt.config.get("mf_regularization"),
        "mf_alpha": dbt.config.get("mf_alpha"),
        "mf_iterations": dbt.config.get("mf_iterations"),
        "mf_seed": dbt.config.get("mf_seed"),
        "mf_train_fraction": dbt.config.get("mf_train_fraction"),
    }, "training_rows")
    cfg = ln.RowsConfig(
        negatives_per_positive=c.get("negatives_per_positive", 4, int),
        negative_sampler=c.get("negative_sampler", "uniform", str),
        synthetic_lambda=c.get("synthetic_lambda", 1.0, float),
        seed=c.get("training_seed", 42, int),
        train_recent_fraction=c.get("train_recent_fraction", 1.0, float),
        mf=ln.factor_config(c.get("mf_factors", 32, int, min_value=0), c.get("mf_regularization", 0.05, float, min_value=0),
                              c.get("mf_alpha", 10.0, float, min_value=0), c.get("mf_iterations", 10, int, min_value=1),
                              c.get("mf_seed", 0, int, min_value=0)),
        mf_train_fraction=c.get("mf_train_fraction", 0.5, float, min_value=0),
    )
    real = pandas_of(session, dbt.ref("int_target_train_events"), "user_id, item_id, event_ts, label, is_validation")
    source = pandas_of(session, dbt.ref("int_source_events"),
                       "user_id, source_domain, source_item, event_ts, label")
    # the training fit (README "The early-stopping slice and P_hat"): P_hat and synthetic events
    # without the early-stopping slice's target events; evaluation reads the whole-window marts
    translation = pandas_of(session, dbt.ref("training_translation"), "source_domain, source_item, target_rank")
    synthetic = pandas_of(session, dbt.ref("training_synthetic_events_aligned"))
    # target_keep_users is applied upstream (int_events_train): real holds only kept users' events
    # and translation is the P_hat of that data.
    return ln.training_rows_from_tables(real, source, translation, synthetic, cfg)
