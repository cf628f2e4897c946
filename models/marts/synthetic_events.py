"""Synthetic target events (SCALR Algorithm 1): a thin wrapper around scalr.sampling.

Streams, with bounded memory: int_translation (the integer-keyed sampling distribution) and the
source events with a translation, both ordered by source item key, are read through two cursors
and merged a chunk of source items at a time (scalr.sampling.sample_sorted).

leave_self_out (default true): the draws for a source event (u, j) follow P_hat without u's own
contribution, weight p_norm_i * (n_users_ji - o_ui) / n_users_ji (o_ui = 1 iff u holds j and target
item i in int_user_items); see scalr.sampling's module doc and synthetic_events.yml. The events
carry self_key (u's user_key where u holds j) and the overlap users' target positives are held as
sorted int64 keys; the counters (dropped draws) are printed to stderr at the end of the stream."""
from scalr.dbt_config import ModelConfig, arrow_of
from scalr.two_stage import TwoStageConfig, check_config, two_stage_sql
from scalr.sampling import (STREAM_SCHEMA, LooStats, SamplingConfig, distribution_sql, events_sql,
                            read_item_codes, read_own_pairs, sample_sorted, sources_sql)

import sys

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
        "leave_self_out": dbt.config.get("leave_self_out"),
        "synthetic_sampler": dbt.config.get("synthetic_sampler"),
        "translation_shrinkage": dbt.config.get("translation_shrinkage"),
        "min_support": dbt.config.get("min_support"),
        "max_targets_per_source": dbt.config.get("max_targets_per_source"),
        "count_noise_epsilon": dbt.config.get("count_noise_epsilon"),
    }, "synthetic_events")
    sampler = c.get("synthetic_sampler", "p_hat", str)
    check_config(sampler, {name: c.get(name, None, str) for name in (
        "min_support", "max_targets_per_source", "count_noise_epsilon", "synthetic_strategy",
        "synthetic_temperature", "synthetic_top_p", "min_confidence")})
    if sampler == "two_stage":
        # scalr.two_stage: exact draws from p_norm without int_translation (never referenced here)
        ts = TwoStageConfig(
            k=c.get("synthetic_k", 3, int), seed=c.get("synthetic_seed", 42, int),
            leave_self_out=c.get("leave_self_out", True, _bool),
            shrinkage=c.get("translation_shrinkage", 0.0, float),
            confidence_weight=c.get("confidence_weight", "uniform", str),
            user_weight_alpha=c.get("user_weight_alpha", 0.0, float))
        return session.sql(two_stage_sql(
            dbt.ref("int_source_events").sql_query(), dbt.ref("int_user_items").sql_query(),
            dbt.ref("int_overlap_users").sql_query(), dbt.ref("int_items").sql_query(), ts))
    cfg = SamplingConfig(
        k=c.get("synthetic_k", 3, int),
        strategy=c.get("synthetic_strategy", "sample", str),
        temperature=c.get("synthetic_temperature", 1.0, float),
        top_p=c.get("synthetic_top_p", 1.0, float),
        seed=c.get("synthetic_seed", 42, int),
        confidence_weight=c.get("confidence_weight", "uniform", str),
        min_confidence=c.get("min_confidence", 0.0, float),
        user_weight_alpha=c.get("user_weight_alpha", 0.0, float),
        leave_self_out=c.get("leave_self_out", True, _bool),
    )
    tr = dbt.ref("int_translation").sql_query()
    items = dbt.ref("int_items").sql_query()
    sources, targets = read_item_codes(lambda q: arrow_of(session, session.sql(q)), tr, items)
    # Two more cursors stream the ordered inputs while DuckDB writes this model's table on the
    # main connection.
    dist = session.cursor().sql(distribution_sql(tr)).to_arrow_reader(BATCH_ROWS)
    source_events = dbt.ref("int_source_events").sql_query()
    # leave_self_out: the events carry self_key (u's user_key where u holds j in int_user_items) and
    # the overlap users' target train positives are held as sorted int64 (user_key, target code) keys
    user_items = dbt.ref("int_user_items").sql_query() if cfg.leave_self_out else None
    own, stats = None, None
    if cfg.leave_self_out:
        overlap = dbt.ref("int_overlap_users").sql_query()
        own = read_own_pairs(lambda q: arrow_of(session, session.sql(q)), user_items, overlap, targets)
        stats = LooStats()
    events = session.cursor().sql(events_sql(source_events, sources_sql(tr, items), user_items)
                                  ).to_arrow_reader(BATCH_ROWS)
    batches = sample_sorted(targets.batches(dist), events, cfg, targets.dictionary, sources, own=own, stats=stats)
    if stats is not None:
        batches = _report(batches, stats)
    # text columns arrive dictionary-encoded (no string copy per row); DuckDB stores them as VARCHAR
    return pa.RecordBatchReader.from_batches(STREAM_SCHEMA, batches)


def _bool(v):
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0"):
        return v.strip().lower() in ("true", "1")
    if isinstance(v, (bool, int)) and v in (0, 1):
        return bool(v)
    raise ValueError(f"not a boolean: {v!r}")


def _report(batches, stats):
    """Pass the batches through; at the end log the leave-self-out counters (dbt's log)."""
    yield from batches
    print(f"synthetic_events leave_self_out: {stats.own_first} draws first landed on the user's own "
          f"target pair, {stats.redrawn} redraws, {stats.exact} exact leftover draws, {stats.dropped} "
          "draws dropped (all of j's mass the user's own)", file=sys.stderr, flush=True)
