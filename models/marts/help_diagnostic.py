""""Will it help?" before any training (scalr.help_diagnostic): on held-out overlap users treated as
target-cold, full-catalog Recall@50 of the translation score and of a per-user model on real +
synthetic events, each against popularity with a paired user-bootstrap CI. A thin wrapper."""
from scalr.dbt_config import ModelConfig, pandas_of
from scalr.features import factor_config
from scalr.help_diagnostic import DiagnosticConfig, diagnose


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "diagnostic_users": dbt.config.get("diagnostic_users"),
        "diagnostic_seed": dbt.config.get("diagnostic_seed"),
        "mf_factors": dbt.config.get("mf_factors"),
        "mf_regularization": dbt.config.get("mf_regularization"),
        "mf_alpha": dbt.config.get("mf_alpha"),
        "mf_iterations": dbt.config.get("mf_iterations"),
        "mf_seed": dbt.config.get("mf_seed"),
    }, "help_diagnostic")
    cfg = DiagnosticConfig(
        max_users=c.get("diagnostic_users", 2000, int, min_value=1),
        seed=c.get("diagnostic_seed", 11, int, min_value=0),
        mf=factor_config(c.get("mf_factors", 32, int, min_value=0), c.get("mf_regularization", 0.05, float, min_value=0),
                         c.get("mf_alpha", 10.0, float, min_value=0), c.get("mf_iterations", 10, int, min_value=1),
                         c.get("mf_seed", 0, int, min_value=0)),
    )
    items = pandas_of(session, dbt.ref("int_user_items"), order_by="user_id, domain, item_id")
    real = items.loc[items.domain_role == "target", ["user_id", "item_id"]]
    source = items.loc[items.domain_role == "source", ["user_id", "domain", "item_id"]].rename(
        columns={"domain": "source_domain", "item_id": "source_item"})
    translation = pandas_of(session, session.sql(
        "select source_domain, source_item, target_item, n_users_ji, n_users_j "
        f"from ({dbt.ref('translation').sql_query()})"), order_by="source_domain, source_item, target_item")
    synthetic = pandas_of(session, session.sql(
        f"select user_id, target_item, weight from ({dbt.ref('synthetic_events').sql_query()}) where label = 1"),
        order_by="user_id, target_item, weight")
    return diagnose(real, source, translation, synthetic, cfg)
