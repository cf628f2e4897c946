"""Synthetic events aligned to the real target distribution: a thin wrapper around scalr.alignment.

Streams synthetic_events twice (scalr.alignment.align_stream: pass 1 reads target_item and label
and plans the selection with 2 bytes per row, pass 2 re-reads every column and keeps the planned
rows), so the synthetic table is never held in memory. Both passes read the table in its stored
row order (the order synthetic_events wrote it in; one plain scan each). The same wrapper as
training_synthetic_events_aligned (scalr.training_fit.aligned_stream)."""
from scalr.dbt_config import ModelConfig, arrow_of
from scalr.training_fit import align_config, aligned_stream


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "alignment": dbt.config.get("alignment"),
        "value_buckets": dbt.config.get("value_buckets"),
        "synthetic_ratio": dbt.config.get("synthetic_ratio"),
        "synthetic_seed": dbt.config.get("synthetic_seed"),
        "synthetic_k": dbt.config.get("synthetic_k"),
        "synthetic_weight_per_draw": dbt.config.get("synthetic_weight_per_draw"),
    }, "synthetic_events_aligned")
    # alignment none / bucket, value_buckets, synthetic_ratio (null: the largest volume with the real
    # bucket shares), seed, and weight 1/K per draw with synthetic_weight_per_draw (scalr.training_fit)
    real = arrow_of(session, dbt.ref("int_target_train_events"), "user_id, item_id, event_ts, label")
    values = arrow_of(session, dbt.ref("int_target_item_values"), "item_id")
    return aligned_stream(session, dbt.ref("synthetic_events").sql_query(), real, values, align_config(c))
