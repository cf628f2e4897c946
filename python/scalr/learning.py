"""Downstream learning for SCALR: a façade over the modules that implement it, so that
``from scalr import learning as ln; ln.X`` works for every name below.

* ``scalr.frames``: encoding helpers (codes, int64 (user, item) keys, sparse indicators, timestamps).
* ``scalr.features``: time-aware, leave-one-out features (``FeatureContext``, ``FEATURES``,
  ``FEATURE_DOCS``, ``FEATURE_GROUPS``), the ladder's feature sets (``ARMS``), the latent-factor
  channels and ``build_context``.
* ``scalr.rows``: negative sampling and the training rows (``RowsConfig``, ``build_training_rows``,
  ``training_rows_from_tables``).
* ``scalr.audit``: the adversarial leak audit (``leak_audit``).
* ``scalr.models``: LightGBM training and prediction (``TrainConfig``, ``train_model``, ``predict``).
* ``scalr.oracles``: test oracles of what the SQL computes (``keep_draw``, ``keep_target_users``,
  ``translate``); never a code path.

Everything is vectorized (numpy / scipy.sparse / Arrow); there is no Python loop over rows.
"""
from __future__ import annotations

from scalr.audit import AuditResult, auc, leak_audit
from scalr.features import (ARMS, F_FEATURES, FEATURE_DOCS, FEATURE_GROUPS, FEATURES, S_FEATURES, T_FEATURES,
                            WINDOWS_DAYS, FeatureContext, MFChannel, PairLookup, TimeIndex, build_context,
                            factor_config, fit_compact, fit_mf_channel)
from scalr.frames import US_PER_DAY, codes, in_sorted, keys, pair_values, sorted_keys, sparse_indicator, to_us
from scalr.models import TrainConfig, _groups, _params, predict, train_model
from scalr.oracles import keep_draw, keep_target_users, translate
from scalr.rows import (NEGATIVE_SAMPLERS, RowsConfig, _with_negatives, build_training_rows, finish_rows,
                        real_row_frame, sample_negatives, synthetic_row_frame, training_rows_from_tables)

__all__ = [
    # frames
    "US_PER_DAY", "codes", "in_sorted", "keys", "pair_values", "sorted_keys", "sparse_indicator", "to_us",
    # features
    "ARMS", "F_FEATURES", "FEATURE_DOCS", "FEATURE_GROUPS", "FEATURES", "S_FEATURES", "T_FEATURES", "WINDOWS_DAYS",
    "FeatureContext", "MFChannel", "PairLookup", "TimeIndex", "build_context", "factor_config", "fit_compact",
    "fit_mf_channel",
    # rows
    "NEGATIVE_SAMPLERS", "RowsConfig", "build_training_rows", "finish_rows", "real_row_frame", "sample_negatives",
    "synthetic_row_frame", "training_rows_from_tables", "_with_negatives",
    # audit
    "AuditResult", "auc", "leak_audit",
    # models
    "TrainConfig", "predict", "train_model", "_groups", "_params",
    # oracles
    "keep_draw", "keep_target_users", "translate",
]
