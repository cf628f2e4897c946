"""Synthetic events aligned to the real target distribution: a thin wrapper around scalr.alignment.

Streams synthetic_events twice (scalr.alignment.align_stream: pass 1 reads target_item and label
and plans the selection with 2 bytes per row, pass 2 re-reads every column and keeps the planned
rows), so the synthetic table is never held in memory. Both passes read the table in its stored
row order (the order synthetic_events wrote it in; one plain scan each)."""
from scalr.alignment import AlignConfig, align_stream
from scalr.dbt_config import ModelConfig, arrow_of

import pyarrow as pa

BATCH_ROWS = 1_000_000


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
    k = c.get("synthetic_k", 3, int, min_value=1)
    cfg = AlignConfig(
        method=c.get("alignment", "bucket", str),
        n_buckets=c.get("value_buckets", 10, int),
        ratio=c.get("synthetic_ratio", None, float),  # null: the largest volume with the real bucket shares
        seed=c.get("synthetic_seed", 42, int),
        # each of the K draws of a source event weighs 1/K: a source event's total weight is 1 whatever K
        weight_scale=1.0 / k if c.get("synthetic_weight_per_draw", False, bool) else 1.0,
    )
    synthetic = dbt.ref("synthetic_events").sql_query()

    def scan(columns):
        cols = "*" if columns is None else ", ".join(columns)
        return session.cursor().sql(f"select {cols} from ({synthetic})").to_arrow_reader(BATCH_ROWS)

    real = arrow_of(session, dbt.ref("int_target_train_events"), "user_id, item_id, event_ts, label")
    values = arrow_of(session, dbt.ref("int_target_item_values"), "item_id")
    _, schema, batches = align_stream(scan, real, values, cfg)
    return pa.RecordBatchReader.from_batches(schema, batches)
