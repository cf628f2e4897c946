"""Embeddings of users and items of every domain from the train positives (scalr.relevance):
implicit ALS (scalr.factors) per fold of the K-fold cross-fitting, user vectors the source-only
fold-in. Empty unless generator = model (the frequency path does not need it)."""
from scalr.dbt_config import ModelConfig, arrow_of
from scalr.factors import FactorConfig
from scalr.relevance import fit_fold_embeddings, user_folds

import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([("fold", pa.int32()), ("entity", pa.string()), ("entity_key", pa.int64()),
                    ("vector", pa.list_(pa.float64()))])


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "generator": dbt.config.get("generator"),
        "embedding_dim": dbt.config.get("embedding_dim"),
        "embedding_regularization": dbt.config.get("embedding_regularization"),
        "embedding_seed": dbt.config.get("embedding_seed"),
        "model_folds": dbt.config.get("model_folds"),
    }, "int_embeddings")
    generator = c.get("generator", "frequency", str)
    if generator not in ("frequency", "model"):
        raise ValueError(f"scalr config error in model int_embeddings: var generator={generator!r} "
                         "is not one of frequency, model")
    cfg = FactorConfig(factors=c.get("embedding_dim", 32, int, 1),
                       regularization=c.get("embedding_regularization", 0.05, float),
                       seed=c.get("embedding_seed", 0, int, 0))
    folds = c.get("model_folds", 5, int, 1)
    user_items, items = dbt.ref("int_user_items"), dbt.ref("int_items")
    if generator != "model":
        return SCHEMA.empty_table()
    ui = arrow_of(session, user_items, "user_key, item_key").to_pandas()
    users = session.sql(f"select distinct user_key, user_id from ({user_items.sql_query()}) order by user_key").df()
    n_users = int(users.user_key.max()) if len(users) else 0
    n_items = int(session.sql(f"select coalesce(max(item_key), 0) from ({items.sql_query()})").fetchall()[0][0])
    fold_of = np.zeros(n_users, np.int64)
    fold_of[users.user_key.to_numpy() - 1] = user_folds(users.user_id.to_numpy(), folds)
    u = ui.user_key.to_numpy(np.int64) - 1
    i = ui.item_key.to_numpy(np.int64) - 1
    is_t = (ui.domain_role == "target").to_numpy()
    has_s = np.zeros(n_users, bool)
    has_s[u[~is_t]] = True
    has_t = np.zeros(n_users, bool)
    has_t[u[is_t]] = True
    overlap = has_s & has_t
    parts = []
    for f, (item_vecs, user_vecs) in enumerate(fit_fold_embeddings(u, i, is_t, n_users, n_items, fold_of, folds, cfg)):
        # users: a fold's own (generation, held-out diagnostics) and the overlap users (g_phi training)
        keep = np.flatnonzero(has_s & ((fold_of == f) | overlap))
        for entity, keys, vecs in (("item", np.arange(n_items), item_vecs), ("user", keep, user_vecs[keep])):
            parts.append(pa.table({
                "fold": pa.array(np.full(len(keys), f, np.int32)),
                "entity": pa.array([entity] * len(keys), pa.string()),
                "entity_key": pa.array(keys + 1, pa.int64()),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vecs).ravel()),
                                                            vecs.shape[1]).cast(pa.list_(pa.float64())),
            }, schema=SCHEMA))
    return pa.concat_tables(parts)
