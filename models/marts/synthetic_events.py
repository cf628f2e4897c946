"""Synthetic target events (SCALR Algorithm 1): a thin wrapper. The frequency generator (either
synthetic_sampler) runs scalr.training_fit.synthetic_stream on the whole window's relations, the
same code path as the training fit's training_synthetic_events (README "The early-stopping slice
and P_hat"):

- p_hat: int_translation (the integer-keyed sampling distribution) and the source events with a
  translation, both ordered by source item key, are streamed through two cursors and merged a chunk
  of source items at a time (scalr.sampling.sample_sorted), with bounded memory. leave_self_out
  (default true): the draws for a source event (u, j) follow P_hat without u's own contribution,
  weight p_norm_i * (n_users_ji - o_ui) / n_users_ji (o_ui = 1 iff u holds j and target item i in
  int_user_items); see scalr.sampling's module doc and synthetic_events.yml; the counters (dropped
  draws) are printed to stderr at the end of the stream.
- two_stage: scalr.two_stage (exact draws from p_norm without int_translation).

generator = model (P_hat path only) draws from P_phi here (scalr.model_generation)."""
from scalr.dbt_config import ModelConfig, arrow_of
from scalr.model_generation import ModelGenConfig, generate, model_events_sql, model_output_sql
from scalr.training_fit import FitRelations, sampling_config, synthetic_stream


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
    # generator = model: draws from P_phi (scalr.model_generation) on the P_hat path; the refs are
    # static, the embeddings / relevance models are empty tables under generator = frequency
    generator = c.get("generator", "frequency", str)
    # two_stage never reads int_translation (a build may exclude it): its ref is only resolved here
    tr = dbt.ref("int_translation").sql_query() if sampler != "two_stage" else None
    items = dbt.ref("int_items").sql_query()
    embeddings, relevance = dbt.ref("int_embeddings"), dbt.ref("int_relevance")
    if sampler != "two_stage" and generator == "model":
        return _model_based(dbt, session, c, sampling_config(c), tr, items, embeddings, relevance)
    if generator not in ("frequency", "model"):
        raise ValueError(f"scalr config error in model synthetic_events: var generator={generator!r} "
                         "is not one of frequency, model")
    # the frequency generator (either sampler): the same code path as the training fit's
    # training_synthetic_events, on the whole window's relations (scalr.training_fit)
    rel = FitRelations(translation=tr, items=items, user_items=dbt.ref("int_user_items").sql_query(),
                       overlap_users=dbt.ref("int_overlap_users").sql_query(),
                       source_events=dbt.ref("int_source_events").sql_query())
    return synthetic_stream(session, rel, c, "synthetic_events", training=False)


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
