"""Synthetic target events (SCALR Algorithm 1): a thin wrapper around scalr.sampling."""
from scalr.dbt_config import ModelConfig
from scalr.sampling import STREAM_SCHEMA, SamplingConfig, sample_stream

import pyarrow as pa

BATCH_ROWS = 1_000_000


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "synthetic_k": dbt.config.get("synthetic_k"),
        "synthetic_strategy": dbt.config.get("synthetic_strategy"),
        "synthetic_temperature": dbt.config.get("synthetic_temperature"),
        "synthetic_top_p": dbt.config.get("synthetic_top_p"),
        "synthetic_seed": dbt.config.get("synthetic_seed"),
        "confidence_weight": dbt.config.get("confidence_weight"),
        "min_confidence": dbt.config.get("min_confidence"),
        "user_weight_alpha": dbt.config.get("user_weight_alpha"),
    }, "synthetic_events")
    cfg = SamplingConfig(
        k=c.get("synthetic_k", 3, int),
        strategy=c.get("synthetic_strategy", "sample", str),
        temperature=c.get("synthetic_temperature", 1.0, float),
        top_p=c.get("synthetic_top_p", 1.0, float),
        seed=c.get("synthetic_seed", 42, int),
        confidence_weight=c.get("confidence_weight", "uniform", str),
        min_confidence=c.get("min_confidence", 0.0, float),
        user_weight_alpha=c.get("user_weight_alpha", 0.0, float),
    )
    translation = dbt.ref("translation").arrow()
    if hasattr(translation, "read_all"):
        translation = translation.read_all()
    # Stream the ordered source events through a second cursor so the result can be consumed
    # while DuckDB writes this model's table on the main connection.
    source = dbt.ref("int_source_events")
    cursor = session.cursor()
    reader = cursor.sql(f"select * from ({source.sql_query()}) order by user_id, source_domain, "
                        "source_item, event_ts, label").fetch_record_batch(BATCH_ROWS)
    # text columns arrive dictionary-encoded (no string copy per row); DuckDB stores them as VARCHAR
    return pa.RecordBatchReader.from_batches(STREAM_SCHEMA, sample_stream(reader, translation, cfg))
