"""Synthetic target events (SCALR Algorithm 1): a thin wrapper around scalr.sampling.

Streams, with bounded memory: int_translation (the integer-keyed sampling distribution) and the
source events with a translation, both ordered by source item key, are read through two cursors
and merged a chunk of source items at a time (scalr.sampling.sample_sorted)."""
from scalr.dbt_config import ModelConfig
from scalr.sampling import (STREAM_SCHEMA, SamplingConfig, SourceItems, TargetCodes, distribution_sql,
                            events_sql, sample_sorted, sources_sql, targets_sql)

import pyarrow as pa

BATCH_ROWS = 1_000_000


def _arrow(rel):
    t = rel.arrow()
    return t.read_all() if hasattr(t, "read_all") else t


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
    src_sql = sources_sql(tr, items)
    src = _arrow(session.sql(src_sql))
    sources = SourceItems(src["source_key"].to_numpy(), src["source_domain"].combine_chunks(),
                          src["source_item"].combine_chunks())
    tg = _arrow(session.sql(targets_sql(items)))
    targets = TargetCodes(tg["target_key"].to_numpy(), tg["target_item"].combine_chunks())
    # Two more cursors stream the ordered inputs while DuckDB writes this model's table on the
    # main connection.
    dist = session.cursor().sql(distribution_sql(tr)).to_arrow_reader(BATCH_ROWS)
    events = session.cursor().sql(events_sql(dbt.ref("int_source_events").sql_query(), src_sql)) \
        .to_arrow_reader(BATCH_ROWS)
    batches = sample_sorted(targets.batches(dist), events, cfg, targets.dictionary, sources)
    # text columns arrive dictionary-encoded (no string copy per row); DuckDB stores them as VARCHAR
    return pa.RecordBatchReader.from_batches(STREAM_SCHEMA, batches)
