"""LightGBM models on SCALR's training rows: training (binary or lambdarank, weighted by
``sample_weight``, early-stopped on the real-only validation slice) and prediction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TrainConfig:
    objective: str = "binary"  # binary | lambdarank
    seed: int = 0
    n_estimators: int = 150
    learning_rate: float = 0.15
    num_leaves: int = 15
    min_child_samples: int = 100
    early_stopping_rounds: int = 10
    max_bin: int = 63
    # 1 thread: on the 2-core machine shared with other jobs, LightGBM's OpenMP with 2 threads ran
    # the Food-Kitchen baseline 6.5x slower (35.8 s vs 5.5 s, load 5-6); results are deterministic
    # for a fixed thread count.
    threads: int = 1
    extra: dict = field(default_factory=dict)


def _params(cfg: TrainConfig) -> dict:
    p = dict(learning_rate=cfg.learning_rate, num_leaves=cfg.num_leaves,
             min_data_in_leaf=cfg.min_child_samples, max_bin=cfg.max_bin, feature_fraction=0.8, bagging_fraction=0.8,
             bagging_freq=1, seed=cfg.seed, deterministic=True, force_row_wise=True,
             num_threads=cfg.threads, verbose=-1)
    if cfg.objective == "binary":
        p.update(objective="binary", metric="binary_logloss")
    elif cfg.objective == "lambdarank":
        p.update(objective="lambdarank", metric="ndcg", eval_at=[10], lambdarank_truncation_level=20)
    else:
        raise ValueError(f"objective must be binary or lambdarank, got {cfg.objective!r}")
    p.update(cfg.extra)
    return p


def _groups(rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Sort rows into query groups (user, is_synthetic) and return group sizes."""
    r = rows.sort_values(["user_id", "is_synthetic"], kind="stable")
    sizes = r.groupby(["user_id", "is_synthetic"], sort=False).size().to_numpy()
    return r, sizes


def train_model(rows: pd.DataFrame, features: list[str], cfg: TrainConfig) -> lgb.Booster:
    """LightGBM on the non-validation rows, weighted by sample_weight, early-stopped on the real-only
    validation slice (the latest real target train events)."""
    tr = rows[~rows.is_validation.to_numpy()]
    va = rows[rows.is_validation.to_numpy() & (rows.is_synthetic.to_numpy() == 0)]
    if cfg.objective == "lambdarank":
        tr, g_tr = _groups(tr)
        va, g_va = _groups(va)
    dtr = lgb.Dataset(tr[features].to_numpy(float), tr.label.to_numpy(), weight=tr.sample_weight.to_numpy(float),
                      feature_name=list(features), free_raw_data=True)
    dva = lgb.Dataset(va[features].to_numpy(float), va.label.to_numpy(), reference=dtr)
    if cfg.objective == "lambdarank":
        dtr.set_group(g_tr)
        dva.set_group(g_va)
    callbacks = [lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)] if len(va) else []
    return lgb.train(_params(cfg), dtr, num_boost_round=cfg.n_estimators,
                     valid_sets=[dva] if len(va) else None, callbacks=callbacks)


def predict(model: lgb.Booster, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    return model.predict(frame[features].to_numpy(float), num_iteration=model.best_iteration or None)
