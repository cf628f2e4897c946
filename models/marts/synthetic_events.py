"""Synthetic target events (SCALR Algorithm 1): a thin wrapper around scalr.sampling.

Streams, with bounded memory: int_translation (the integer-keyed sampling distribution) and the
source events with a translation, both ordered by source item key, are read through two cursors
and merged a chunk of source items at a time (scalr.sampling.sample_sorted)."""
from scalr.dbt_config import ModelConfig, arrow_of
from scalr.sampling import (STREAM_SCHEMA, SamplingConfig, distribution_sql, events_sql, read_item_codes,
                            sample_sorted, sources_sql)

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
    tr = dbt.ref("int_translation").sql_query()
    items = dbt.ref("int_items").sql_query()
    sources, targets = read_item_codes(lambda q: arrow_of(session, session.sql(q)), tr, items)
    # Two more cursors stream the ordered inputs while DuckDB writes this model's table on the
    # main connection.
    dist = session.cursor().sql(distribution_sql(tr)).to_arrow_reader(BATCH_ROWS)
    source_events = dbt.ref("int_source_events").sql_query()
    events = session.cursor().sql(events_sql(source_events, sources_sql(tr, items))).to_arrow_reader(BATCH_ROWS)
    batches = sample_sorted(targets.batches(dist), events, cfg, targets.dictionary, sources)
    # text columns arrive dictionary-encoded (no string copy per row); DuckDB stores them as VARCHAR
    return pa.RecordBatchReader.from_batches(STREAM_SCHEMA, batches)
