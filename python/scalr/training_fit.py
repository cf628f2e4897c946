"""The training fit's synthetic events: the ranker's synthetic training rows are drawn from P_hat
fitted without the early-stopping slice's target events (README "The early-stopping slice and
P_hat"). The dbt models training_synthetic_events / training_synthetic_events_aligned are thin
wrappers around this module, which makes the same library calls as synthetic_events /
synthetic_events_aligned (scalr.sampling, scalr.two_stage, scalr.alignment) on the training fit's
relations (int_training_translation, int_training_items, int_training_user_items,
int_training_overlap_users): the sampler and the aligner exist once."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa

from scalr.alignment import AlignConfig, align_stream
from scalr.dbt_config import ModelConfig, arrow_of
from scalr.prefetch import prefetch
from scalr.sampling import (STREAM_SCHEMA, LooStats, SamplingConfig, distribution_sql, events_sql,
                            read_item_codes, read_own_pairs, sample_sorted, sources_sql)
from scalr.two_stage import TwoStageConfig, check_config, two_stage_sql, two_stage_stream

BATCH_ROWS = 1_000_000
# batches drawn ahead of DuckDB's write in a background thread (scalr.prefetch: same rows, same order)
PREFETCH_BATCHES = 1


@dataclass(frozen=True)
class FitRelations:
    """SQL of one P_hat fit's relations (dbt refs' sql_query())."""
    translation: str | None  # int_translation-shaped: integer keys (unread by two_stage)
    items: str  # int_items-shaped
    user_items: str  # int_user_items-shaped
    overlap_users: str  # int_overlap_users-shaped
    source_events: str  # int_source_events


def to_bool(v: Any) -> bool:
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0"):
        return v.strip().lower() in ("true", "1")
    if isinstance(v, (bool, int)) and v in (0, 1):
        return bool(v)
    raise ValueError(f"not a boolean: {v!r}")


def sampling_config(c: ModelConfig) -> SamplingConfig:
    """SamplingConfig from the vars synthetic_events reads (the same names and defaults)."""
    return SamplingConfig(
        k=c.get("synthetic_k", 3, int), strategy=c.get("synthetic_strategy", "sample", str),
        temperature=c.get("synthetic_temperature", 1.0, float), top_p=c.get("synthetic_top_p", 1.0, float),
        seed=c.get("synthetic_seed", 42, int), confidence_weight=c.get("confidence_weight", "uniform", str),
        min_confidence=c.get("min_confidence", 0.0, float), user_weight_alpha=c.get("user_weight_alpha", 0.0, float),
        leave_self_out=c.get("leave_self_out", True, to_bool))


def synthetic_stream(session: Any, rel: FitRelations, c: ModelConfig, model: str, training: bool = True):
    """The frequency generator's synthetic events of one fit: synthetic_events (the whole window,
    training=False) and training_synthetic_events (the training fit) both call this, so the two
    fits share one sampler code path: synthetic_sampler p_hat (scalr.sampling.sample_sorted,
    leave_self_out) or two_stage (scalr.two_stage: the numpy stream over the ordered events, or
    its SQL form when confidence_weight needs the drawn pairs' counts). Returns a
    RecordBatchReader or a DuckDB relation. generator = model has no training fit (its embeddings,
    int_embeddings, are fitted on the whole window): with training=True the build stops."""
    generator = c.get("generator", "frequency", str)
    if training and generator != "frequency":
        raise ValueError(f"scalr config error in model {model}: var generator={generator!r}: the training fit of "
                         "P_hat (README 'The early-stopping slice and P_hat') is built for generator = frequency "
                         "only (int_embeddings is fitted on the whole train window); build training_rows and "
                         "model_metrics with generator frequency")
    sampler = c.get("synthetic_sampler", "p_hat", str)
    check_config(sampler, {name: c.get(name, None, str) for name in (
        "min_support", "max_targets_per_source", "count_noise_epsilon", "synthetic_strategy",
        "synthetic_temperature", "synthetic_top_p", "min_confidence")})
    cfg = sampling_config(c)
    if sampler == "two_stage":
        ts = TwoStageConfig(k=cfg.k, seed=cfg.seed, leave_self_out=cfg.leave_self_out,
                            shrinkage=c.get("translation_shrinkage", 0.0, float),
                            confidence_weight=cfg.confidence_weight, user_weight_alpha=cfg.user_weight_alpha)
        inputs = (rel.source_events, rel.user_items, rel.overlap_users, rel.items)
        if ts.pair_stats:  # confidence_weight p / sqrt_p: the drawn pairs' counts, joined in SQL
            return session.sql(two_stage_sql(*inputs, ts))
        # numpy over the ordered events (no sort of the K x events rows); an extra cursor streams
        # the events while DuckDB writes the model's table on the main connection
        # (the cursor is made here: two_stage_stream runs ``stream`` in a thread)
        cursor = session.cursor()
        reader = two_stage_stream(lambda q: arrow_of(session, session.sql(q)), *inputs, ts,
                                  stream=lambda q: cursor.sql(q).to_arrow_reader(BATCH_ROWS))
        return pa.RecordBatchReader.from_batches(reader.schema, prefetch(reader, PREFETCH_BATCHES))

    def query(q: str) -> pa.Table:
        return arrow_of(session, session.sql(q))

    sources, targets = read_item_codes(query, rel.translation, rel.items)
    dist = session.cursor().sql(distribution_sql(rel.translation)).to_arrow_reader(BATCH_ROWS)
    own, stats = None, None
    if cfg.leave_self_out:
        own = read_own_pairs(query, rel.user_items, rel.overlap_users, targets)
        stats = LooStats()
    events = session.cursor().sql(events_sql(rel.source_events, sources_sql(rel.translation, rel.items),
                                             rel.user_items if cfg.leave_self_out else None)
                                  ).to_arrow_reader(BATCH_ROWS)
    batches = sample_sorted(targets.batches(dist), events, cfg, targets.dictionary, sources, own=own, stats=stats)
    if stats is not None:
        batches = _report(batches, stats, model)
    return pa.RecordBatchReader.from_batches(STREAM_SCHEMA, prefetch(batches, PREFETCH_BATCHES))


def align_config(c: ModelConfig) -> AlignConfig:
    """AlignConfig from the vars synthetic_events_aligned reads (the same names and defaults)."""
    k = c.get("synthetic_k", 3, int, min_value=1)
    return AlignConfig(method=c.get("alignment", "bucket", str), n_buckets=c.get("value_buckets", 10, int),
                       ratio=c.get("synthetic_ratio", None, float), seed=c.get("synthetic_seed", 42, int),
                       weight_scale=1.0 / k if c.get("synthetic_weight_per_draw", False, bool) else 1.0)


def aligned_stream(session: Any, synthetic_sql: str, real: pa.Table, values: pa.Table, cfg: AlignConfig):
    """scalr.alignment.align_stream over a synthetic table (two scans): synthetic_events_aligned and
    training_synthetic_events_aligned (pass 2 runs a batch ahead of the write, scalr.prefetch)."""
    def scan(columns: list[str] | None) -> pa.RecordBatchReader:
        cols = "*" if columns is None else ", ".join(columns)
        return session.cursor().sql(f"select {cols} from ({synthetic_sql})").to_arrow_reader(BATCH_ROWS)
    _, schema, batches = align_stream(scan, real, values, cfg)
    return pa.RecordBatchReader.from_batches(schema, prefetch(batches, PREFETCH_BATCHES))


def _report(batches, stats: LooStats, model: str):
    yield from batches
    print(f"{model} leave_self_out: {stats.own_first} draws first landed on the user's own target pair, "
          f"{stats.redrawn} redraws, {stats.exact} exact leftover draws, {stats.dropped} draws dropped",
          file=sys.stderr, flush=True)
