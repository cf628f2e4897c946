"""Leak audit of SCALR's training rows: can a classifier tell synthetic rows from real ones, and
which features carry the synthetic label (the P_hat leak)?
"""
from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from scalr.features import FEATURES


def auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    """(Weighted) ROC AUC by the rank formula with average ranks for ties; nan if one class."""
    from scalr.evaluation import auc as _auc
    return _auc(y, s, w)


@dataclass
class AuditResult:
    adversarial_auc: float  # synthetic vs real classifier, held-out half
    table: pd.DataFrame  # per feature: importance, univariate adversarial AUC, label AUCs, leak gap
    purged: list[str]
    adversarial_auc_after: float = float("nan")  # the same classifier on the features kept after the purge


def leak_audit(rows: pd.DataFrame, features: list[str] | tuple[str, ...] = FEATURES,
               purge_features: list[str] | tuple[str, ...] = (), purge_threshold: float | None = 0.1,
               seed: int = 42, max_rows: int = 200_000) -> AuditResult:
    """Adversarial audit of synthetic vs real rows.

    * adversarial_auc: a LightGBM classifier of ``is_synthetic`` on the features (trained on one
      half of a sample, AUC on the other). 0.5 = indistinguishable.
    * per feature: gain importance in that classifier; univariate adversarial AUC
      (max(a, 1-a)); label AUC on real rows and on synthetic rows; ``leak_gap`` = label AUC on
      synthetic rows minus label AUC on real rows. A feature with a large positive gap tells
      synthetic positives from synthetic negatives better than it does for real rows: it carries
      the synthetic label (the P_hat leak). Features with ``leak_gap > purge_threshold`` (and those
      in ``purge_features``) are purged.
    """
    features = list(features)
    rng = np.random.default_rng(seed)
    take = rows if len(rows) <= max_rows else rows.iloc[np.sort(rng.choice(len(rows), max_rows, replace=False))]
    y_adv = take.is_synthetic.to_numpy()
    recs = []
    real = take.is_synthetic.to_numpy() == 0
    for f in features:  # loop over features (a handful), each vectorized
        x = take[f].to_numpy(float)
        a = auc(y_adv, x)
        lr = auc(take.label.to_numpy()[real], x[real])
        ls = auc(take.label.to_numpy()[~real], x[~real])
        recs.append({"feature": f, "adversarial_auc": max(a, 1 - a) if a == a else np.nan,
                     "label_auc_real": lr, "label_auc_synthetic": ls, "leak_gap": ls - lr})
    table = pd.DataFrame(recs)
    ok = 0 < y_adv.sum() < len(y_adv)
    half = rng.random(len(take)) < 0.5

    def adversary(feats: list[str]):
        X = take[feats].to_numpy(float)
        params = dict(objective="binary", learning_rate=0.2, num_leaves=31, min_data_in_leaf=50,
                      deterministic=True, force_row_wise=True, num_threads=1, seed=seed, verbose=-1)
        clf = lgb.train(params, lgb.Dataset(X[half], y_adv[half], feature_name=feats), num_boost_round=60)
        return clf, auc(y_adv[~half], clf.predict(X[~half]))

    if ok:
        clf, adv = adversary(features)
        gain = clf.feature_importance("gain")
        table["importance_gain"] = gain / max(gain.sum(), 1e-12)
    else:
        adv = float("nan")
        table["importance_gain"] = np.nan
    auto = table.feature[table.leak_gap > purge_threshold].tolist() if purge_threshold is not None else []
    purged = [f for f in features if f in set(purge_features) | set(auto)]
    table["purged"] = table.feature.isin(purged)
    kept = [f for f in features if f not in purged]
    adv_after = adv if not purged else (adversary(kept)[1] if ok and kept else float("nan"))
    return AuditResult(adv, table, purged, adv_after)
