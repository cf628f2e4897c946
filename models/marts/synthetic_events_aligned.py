"""Synthetic events aligned to the real target distribution: a thin wrapper around scalr.alignment."""
from scalr.alignment import AlignConfig, align
from scalr.dbt_config import ModelConfig


def _arrow(rel):
    t = rel.arrow()
    return t.read_all() if hasattr(t, "read_all") else t


def model(dbt, session):
    dbt.config(materialized="table")
    c = ModelConfig({
        "alignment": dbt.config.get("alignment"),
        "value_buckets": dbt.config.get("value_buckets"),
        "synthetic_ratio": dbt.config.get("synthetic_ratio"),
        "synthetic_seed": dbt.config.get("synthetic_seed"),
    }, "synthetic_events_aligned")
    cfg = AlignConfig(
        method=c.get("alignment", "bucket", str),
        n_buckets=c.get("value_buckets", 10, int),
        ratio=c.get("synthetic_ratio", 1.0, float),
        seed=c.get("synthetic_seed", 42, int),
    )
    synthetic = _arrow(dbt.ref("synthetic_events"))
    real = _arrow(dbt.ref("int_target_train_events"))
    values = _arrow(dbt.ref("int_target_item_values"))
    return align(synthetic, real, values, cfg)
