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
from scalr.model_generation import ModelGenConfig, generate, model_events_sql, model_output_sql
from scalr.two_stage import TwoStageConfig, check_config, two_stage_sql, two_stage_stream
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
        "generator": dbt.config.get("generator"),
        "model_top_n": dbt.config.get("model_top_n"),
        "model_temperature": dbt.config.get("model_temperature"),
        "model_explore": dbt.config.get("model_explore"),
        "model_folds": dbt.config.get("model_folds"),
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
        inputs = (dbt.ref("int_source_events").sql_query(), dbt.ref("int_user_items").sql_query(),
                  dbt.ref("int_overlap_users").sql_query(), dbt.ref("int_items").sql_query())
        if ts.pair_stats:  # confidence_weight p / sqrt_p: the drawn pairs' counts, joined in SQL
            return session.sql(two_stage_sql(*inputs, ts))
        # numpy over the ordered events (no sort of the K x events rows); an extra cursor streams
        # the events while DuckDB writes this model's table on the main connection
        return two_stage_stream(lambda q: arrow_of(session, session.sql(q)), *inputs, ts,
                                stream=lambda q: session.cursor().sql(q).to_arrow_reader(BATCH_ROWS))
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
    # generator = model: draws from P_phi (scalr.model_generation); the refs are static, the
    # embeddings / relevance models are empty tables under generator = frequency
    embeddings, relevance = dbt.ref("int_embeddings"), dbt.ref("int_relevance")
    generator = c.get("generator", "frequency", str)
    if generator == "model":
        return _model_based(dbt, session, c, cfg, tr, items, embeddings, relevance)
    if generator != "frequency":
        raise ValueError(f"scalr config error in model synthetic_events: var generator={generator!r} "
                         "is not one of frequency, model")
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


def _model_based(dbt, session, c, cfg, tr, items, embeddings, relevance):
    """generator = model: K draws per source event from P_phi (SCALR Eq. 8), the same columns as the
    frequency path; p = P_phi of the drawn item over the event's candidates, p_hat / n_users_ji the
    translation's values of the (j, i) pair (0 where P_hat has no such pair)."""
    mcfg = ModelGenConfig(k=cfg.k, top_n=c.get("model_top_n", 50, int, 1),
                          temperature=c.get("model_temperature", 0.1, float, 0.0),
                          explore=c.get("model_explore", 0.2, float, 0.0), seed=cfg.seed)
    folds = c.get("model_folds", 5, int, 1)
    source_events = dbt.ref("int_source_events").sql_query()
    user_items = dbt.ref("int_user_items").sql_query()
    events = arrow_of(session, session.sql(model_events_sql(source_events, items, user_items)))
    emb = arrow_of(session, embeddings, "fold, entity, entity_key")
    rel = arrow_of(session, relevance, "fold")
    target_keys = session.sql(f"select item_key from ({items}) where domain_role = 'target' order by item_key"
                              ).fetchnumpy()["item_key"]
    draws = generate(events, emb, rel, mcfg, target_keys, folds, cfg.confidence_weight, cfg.user_weight_alpha)
    session.register("scalr_model_draws", draws)
    return session.sql(model_output_sql("scalr_model_draws", items, tr)).arrow()


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
