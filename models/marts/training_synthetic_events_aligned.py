"""training_synthetic_events aligned to the real target train events outside the early-stopping
slice: the same aligner as synthetic_events_aligned (scalr.training_fit -> scalr.alignment.align_stream)
with the same vars. The synthetic rows of training_rows, model_metrics and scalr.experiments."""
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
    }, "training_synthetic_events_aligned")
    # the real target train events outside the slice, read as synthetic_events_aligned reads them
    real_events = dbt.ref("int_target_train_events")
    real = session.sql(f"select * from ({real_events.sql_query()}) where not is_validation "
                       "order by user_id, item_id, event_ts, label").arrow()
    real = real.read_all() if hasattr(real, "read_all") else real
    values = arrow_of(session, dbt.ref("int_target_item_values"), "item_id")
    return aligned_stream(session, dbt.ref("training_synthetic_events").sql_query(), real, values, align_config(c))
