"""Synthetic user histories by random walks on int_walk_graph: a thin wrapper around scalr.walks.

Reads the graph's edges as dense codes (user_key, item_key), one start per graph user (every user
with at least one edge, in user_key order) repeated walks_per_user times (walk_id =
user_key * walks_per_user + r), draws the walk lengths (fixed walk_length, or 'empirical': drawn
from the graph users' user_events) and runs scalr.walks.generate_walks. One row per (walk,
position), in (walk_id, position) order, streamed one block of WALK_BLOCK walks at a time (walks
are block-independent: the same rows as one call over all walks)."""
from scalr.dbt_config import ModelConfig, arrow_of
from scalr.walks import WALK_BLOCK, WalkConfig, build_graph, generate_walks, start_walks, walk_lengths

import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([
    ("walk_id", pa.int64()),
    ("start_user_id", pa.dictionary(pa.int32(), pa.string())),
    ("position", pa.int32()),
    ("item_id", pa.dictionary(pa.int32(), pa.string())),
    ("domain", pa.dictionary(pa.int32(), pa.string())),
])


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "walks_per_user": dbt.config.get("walks_per_user"),
        "walk_length": dbt.config.get("walk_length"),
        "walk_beta": dbt.config.get("walk_beta"),
        "walk_restart": dbt.config.get("walk_restart"),
        "walk_seed": dbt.config.get("walk_seed"),
    }, "synthetic_histories")
    length = c.get("walk_length", 20)
    if not (isinstance(length, str) and length == "empirical"):
        length = c.get("walk_length", 20, int, min_value=1)
    try:
        cfg = WalkConfig(
            walks_per_user=c.get("walks_per_user", 1, int, min_value=1),
            walk_length=length,
            beta=c.get("walk_beta", 0.0, float),
            restart=c.get("walk_restart", 0.0, float, min_value=0),
            seed=c.get("walk_seed", 0, int),
        )
    except ValueError as exc:
        raise ValueError(f"scalr config error in model synthetic_histories: {exc}") from exc
    graph_rel = dbt.ref("int_walk_graph")
    g = graph_rel.sql_query()
    q = lambda sql: arrow_of(session, session.sql(sql))  # noqa: E731
    edges = q(f"select user_key, item_key from ({g}) order by user_key, item_key")
    users = q(f"select distinct user_key, user_id, user_events from ({g}) order by user_key")
    items = q(f"select distinct item_key, item_id, domain from ({g}) order by item_key")
    n_users, n_items = users.num_rows, items.num_rows
    graph = build_graph(edges["user_key"].to_numpy(), edges["item_key"].to_numpy(), n_users, n_items)
    starts = start_walks(np.arange(n_users, dtype=np.int64), cfg.walks_per_user)
    lengths = walk_lengths(cfg, starts.shape[0], users["user_events"].to_numpy())
    user_ids = pa.array(users["user_id"].to_numpy(zero_copy_only=False), pa.string())
    item_ids = pa.array(items["item_id"].to_numpy(zero_copy_only=False), pa.string())
    domains, domain_idx = np.unique(items["domain"].to_numpy(zero_copy_only=False).astype(str), return_inverse=True)
    domains = pa.array(domains.tolist(), pa.string())
    batches = _batches(graph, starts, lengths, cfg, user_ids, item_ids, domains, domain_idx.astype(np.int32))
    return pa.RecordBatchReader.from_batches(SCHEMA, batches)


def _batches(graph, starts, lengths, cfg, user_ids, item_ids, domains, domain_idx):
    """One record batch per block of WALK_BLOCK walks (bounded memory; the same rows as one call)."""
    for b0 in range(0, starts.shape[0], WALK_BLOCK):
        b1 = min(starts.shape[0], b0 + WALK_BLOCK)
        walks = generate_walks(graph, starts[b0:b1], lengths[b0:b1], cfg, first_walk_id=b0)
        walk_idx, position = np.nonzero(walks >= 0)  # row-major: (walk_id, position) order
        item = walks[walk_idx, position]
        yield pa.RecordBatch.from_arrays([
            pa.array((walk_idx + b0).astype(np.int64)),
            pa.DictionaryArray.from_arrays(pa.array(starts[b0 + walk_idx].astype(np.int32)), user_ids),
            pa.array(position.astype(np.int32)),
            pa.DictionaryArray.from_arrays(pa.array(item.astype(np.int32)), item_ids),
            pa.DictionaryArray.from_arrays(pa.array(domain_idx[item]), domains),
        ], schema=SCHEMA)
