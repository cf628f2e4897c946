"""Leak audit of the training rows (adversarial synthetic-vs-real): a thin wrapper around scalr.learning."""

from scalr import learning as ln
from scalr.dbt_config import ModelConfig, pandas_of


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "purge_features": dbt.config.get("purge_features"),
        "purge_threshold": dbt.config.get("purge_threshold"),
        "training_seed": dbt.config.get("training_seed"),
    }, "leak_audit")
    rows = pandas_of(session, dbt.ref("training_rows"), "row_id")
    res = ln.leak_audit(rows, list(ln.FEATURES), c.get_list("purge_features"),
                        c.get("purge_threshold", None, float), seed=c.get("training_seed", 42, int))
    out = res.table.copy()
    out["adversarial_auc_model"] = res.adversarial_auc
    out["adversarial_auc_after_purge"] = res.adversarial_auc_after
    out["description"] = out.feature.map(ln.FEATURE_DOCS)
    return out[["feature", "description", "adversarial_auc", "importance_gain", "label_auc_real",
                "label_auc_synthetic", "leak_gap", "purged", "adversarial_auc_model",
                "adversarial_auc_after_purge"]]
