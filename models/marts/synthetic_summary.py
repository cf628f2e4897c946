"""Coverage, support-1 share, top-decile share and bucket TV distance of the synthetic data before
and after alignment, next to the real data and a deterministic top-1 counterfactual, and the
"will it help?" answer of help_diagnostic (scalr.help_diagnostic.overall) on every row."""
from scalr.dbt_config import ModelConfig, pandas_of
from scalr.help_diagnostic import overall
from scalr.summary import summarize

_COUNTS = """
select target_item, count(*) as n_rows, sum(case when n_users_ji = 1 then 1 else 0 end) as n_support1
from ({rel}) group by target_item order by target_item
"""


def value_source(session, values) -> str:
    """'items file', 'popularity' (items_path null, or no target item in it) or
    'items file + popularity (n of m items)' when the file misses some target train items."""
    counts = dict(session.sql(f"select value_source, count(*) from ({values.sql_query()}) group by 1").fetchall())
    n_pop, n = counts.get("popularity", 0), sum(counts.values())
    if n_pop == 0:
        return "items file"
    if n_pop == n:
        return "popularity"
    return f"items file + popularity ({n_pop} of {n} items)"


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "value_buckets": dbt.config.get("value_buckets"),
        "synthetic_strategy": dbt.config.get("synthetic_strategy"),
        "alignment": dbt.config.get("alignment"),
    }, "synthetic_summary")
    syn, aligned = dbt.ref("synthetic_events"), dbt.ref("synthetic_events_aligned")
    real, source = dbt.ref("int_target_train_events"), dbt.ref("int_source_events")
    translation, values = dbt.ref("translation"), dbt.ref("int_target_item_values")
    top1 = (f"select s.user_id, t.target_item, t.n_users_ji from ({source.sql_query()}) as s "
            f"join ({translation.sql_query()}) as t on s.source_domain = t.source_domain "
            "and s.source_item = t.source_item and t.target_rank = 1")
    real_pos = f"select user_id, item_id as target_item, 0 as n_users_ji from ({real.sql_query()}) where label = 1"
    stages = {"real": real_pos, "synthetic_events": syn.sql_query(),
              "synthetic_events_aligned": aligned.sql_query(), "top1_counterfactual": top1}
    counts = {k: session.sql(_COUNTS.format(rel=q)).df() for k, q in stages.items()}
    counts["real"]["n_support1"] = 0
    users = {k: session.sql(f"select count(distinct user_id) from ({q})").fetchall()[0][0] for k, q in stages.items()}
    out = summarize(counts, users, values.df()[["item_id", "value"]], c.get("value_buckets", 10, int))
    out["synthetic_strategy"] = c.get("synthetic_strategy", "sample", str)
    out["alignment"] = c.get("alignment", "bucket", str)
    out["value_source"] = value_source(session, values)
    out["will_it_help"] = overall(pandas_of(session, dbt.ref("help_diagnostic"), order_by="scorer"))
    return out
