"""Synthetic target events of the training fit (README "The early-stopping slice and P_hat"): the
same sampler as synthetic_events (scalr.training_fit -> scalr.sampling / scalr.two_stage) on the
P_hat fitted without the early-stopping slice's target events (int_training_translation and its
int_training_items, int_training_user_items, int_training_overlap_users). The ranker's synthetic
training rows (training_rows) come from here; synthetic_events (the whole window) stays the product's."""
from scalr.dbt_config import ModelConfig
from scalr.training_fit import FitRelations, synthetic_stream


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
        "synthetic_sampler": dbt.config.get("synthetic_sampler"),
        "translation_shrinkage": dbt.config.get("translation_shrinkage"),
        "min_support": dbt.config.get("min_support"),
        "max_targets_per_source": dbt.config.get("max_targets_per_source"),
        "count_noise_epsilon": dbt.config.get("count_noise_epsilon"),
    }, "training_synthetic_events")
    rel = FitRelations(
        translation=dbt.ref("int_training_translation").sql_query(),
        items=dbt.ref("int_training_items").sql_query(),
        user_items=dbt.ref("int_training_user_items").sql_query(),
        overlap_users=dbt.ref("int_training_overlap_users").sql_query(),
        source_events=dbt.ref("int_source_events").sql_query())
    return synthetic_stream(session, rel, c, "training_synthetic_events")
