"""g_phi of SCALR Eq. 7 per cross-fitting fold (scalr.relevance.fit_relevance) with its held-out
diagnostics. Empty unless generator = model."""
from scalr.dbt_config import ModelConfig, arrow_of
from scalr.relevance import RelevanceConfig, fit_fold_relevance

import pyarrow as pa


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "generator": dbt.config.get("generator"),
        "model_folds": dbt.config.get("model_folds"),
        "model_negatives": dbt.config.get("model_negatives"),
        "model_max_triples": dbt.config.get("model_max_triples"),
        "embedding_seed": dbt.config.get("embedding_seed"),
    }, "int_relevance")
    cfg = RelevanceConfig(folds=c.get("model_folds", 5, int, 1), negatives=c.get("model_negatives", 4, int, 1),
                          max_triples=c.get("model_max_triples", 200000, int, 1), seed=c.get("embedding_seed", 0, int, 0))
    embeddings, user_items, items = dbt.ref("int_embeddings"), dbt.ref("int_user_items"), dbt.ref("int_items")
    if c.get("generator", "frequency", str) != "model":
        # nothing is read: sorting int_user_items into Arrow took 40 s at 1e8 source events for an empty table
        return fit_fold_relevance(None, None, None, cfg)
    return fit_fold_relevance(arrow_of(session, embeddings, "fold, entity, entity_key"),
                              arrow_of(session, user_items, "user_key, item_key"),
                              arrow_of(session, items, "item_key"), cfg)
