"""Synthetic events aligned to the real target distribution: a thin wrapper around scalr.alignment."""
from scalr.alignment import AlignConfig, align
from scalr.dbt_config import ModelConfig, arrow_of


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "alignment": dbt.config.get("alignment"),
        "value_buckets": dbt.config.get("value_buckets"),
        "synthetic_ratio": dbt.config.get("synthetic_ratio"),
        "synthetic_seed": dbt.config.get("synthetic_seed"),
    }, "synthetic_events_aligned")
    cfg = AlignConfig(
        method=c.get("alignment", "bucket", str),
        n_buckets=c.get("value_buckets", 10, int),
        ratio=c.get("synthetic_ratio", 1.0, float),
        seed=c.get("synthetic_seed", 42, int),
    )
    synthetic = arrow_of(session, dbt.ref("synthetic_events"))
    real = arrow_of(session, dbt.ref("int_target_train_events"), "user_id, item_id, event_ts, label")
    values = arrow_of(session, dbt.ref("int_target_item_values"), "item_id")
    return align(synthetic, real, values, cfg)
