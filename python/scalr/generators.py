"""Synthetic events for the evaluation ladder's generator studies and controls.

Every variant goes through the same two library calls the dbt models `synthetic_events` and
`synthetic_events_aligned` make (``scalr.sampling.sample_synthetic``, ``scalr.alignment.align_detailed``),
on the P_hat of a dbt build (the `translation` mart): there is no second implementation of P_hat here.

Controls of the positive-control world (``scalr.demo_world``):

* ``oracle``: the sampler fed the world's planted translation (``demo_world.true_translation``, the
  population limit of P_hat) instead of the estimated one: the ceiling of a translation generator.
* ``shuffled``: the build's synthetic events with each user's synthetic history handed to another
  user (a seeded permutation of the users): the same items, volumes and weights, no per-user signal.
  It must not beat T for target-cold users.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from scalr.alignment import AlignConfig, align_detailed
from scalr.sampling import SamplingConfig, sample_synthetic


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator knobs (the dbt vars synthetic_k ... synthetic_ratio), one default each."""
    k: int = 3
    strategy: str = "sample"
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 42
    confidence_weight: str = "uniform"
    min_confidence: float = 0.0
    user_weight_alpha: float = 0.0
    alignment: str = "bucket"
    value_buckets: int = 10
    ratio: float | None = None
    leave_self_out: bool = True  # a user's draws come from P_hat without the user's own co-occurrences
    per_draw_weight: bool = False  # synthetic_weight_per_draw: each of the K draws of a source event weighs 1/K

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(k=self.k, strategy=self.strategy, temperature=self.temperature, top_p=self.top_p,
                              seed=self.seed, confidence_weight=self.confidence_weight,
                              min_confidence=self.min_confidence, user_weight_alpha=self.user_weight_alpha,
                              leave_self_out=self.leave_self_out)

    def align(self) -> AlignConfig:
        return AlignConfig(method=self.alignment, n_buckets=self.value_buckets, ratio=self.ratio, seed=self.seed,
                           weight_scale=1.0 / self.k if self.per_draw_weight else 1.0)


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """Arrow table with plain ``string`` columns (pandas 3 strings arrive as large_string)."""
    t = pa.Table.from_pandas(df, preserve_index=False)
    return t.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                             for f in t.schema]))


def synthesize(translation: pd.DataFrame, source_events: pd.DataFrame, target_train: pd.DataFrame,
               item_values: pd.DataFrame | None, cfg: GeneratorConfig,
               user_items: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Sampled and aligned synthetic events (the columns of synthetic_events_aligned) and counts.
    ``user_items`` (int_user_items: user_id, domain, domain_role, item_id) is needed for
    leave-self-out generation."""
    if cfg.leave_self_out and user_items is None:
        raise ValueError("leave_self_out needs user_items (int_user_items)")
    syn = sample_synthetic(to_arrow(source_events), to_arrow(translation), cfg.sampling(),
                           user_items=to_arrow(user_items) if cfg.leave_self_out else None)
    n_raw = syn.num_rows
    if item_values is None or not len(item_values):
        pos = target_train[target_train.label == 1]
        pop = pos.groupby("item_id").user_id.nunique()
        item_values = pd.DataFrame({"item_id": pop.index.astype(str), "value": pop.to_numpy(float)})
    res = align_detailed(syn, to_arrow(target_train[["user_id", "item_id", "label"]]),
                         to_arrow(item_values[["item_id", "value"]]), cfg.align())
    out = res.table.to_pandas()
    return out, {"synthetic_rows_raw": int(n_raw), "synthetic_rows": int(len(out)),
                 "bucket_tv_before": float(res.tv_before), "bucket_tv_after": float(res.tv_after)}


def oracle_translation(true: pd.DataFrame) -> pd.DataFrame:
    """A translation-mart-shaped table from a planted P(i|j) (``demo_world.true_translation``):
    p_hat = the planted probability, p_norm = it renormalised over j's targets, ranks by it."""
    t = true[true.p_true > 0].copy()
    t["p_hat"] = t.p_true
    t["p_norm"] = t.p_true / t.groupby(["source_domain", "source_item"]).p_true.transform("sum")
    t = t.sort_values(["source_domain", "source_item", "p_norm", "target_item"], ascending=[True, True, False, True])
    t["target_rank"] = t.groupby(["source_domain", "source_item"]).cumcount() + 1
    t["n_targets"] = t.groupby(["source_domain", "source_item"]).target_item.transform("size")
    t["n_users_ji"] = 0
    t["n_users_j"] = 0
    return t[["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j", "p_hat", "p_norm",
              "target_rank", "n_targets"]].reset_index(drop=True)


def shuffle_users(synthetic: pd.DataFrame, seed: int = 0, users: np.ndarray | None = None) -> pd.DataFrame:
    """Each user's synthetic history handed, whole, to another user (seeded permutation of the
    users that have synthetic events, or of ``users``, sorted unique ids that include them: the
    same permutation for the two fits' events): items, volumes and weights unchanged, user link broken."""
    users = np.unique(synthetic.user_id.to_numpy().astype(str)) if users is None else np.asarray(users)
    perm = np.random.default_rng(seed).permutation(len(users))
    mapping = pd.Series(users[perm], index=users)
    return synthetic.assign(user_id=mapping.reindex(synthetic.user_id.to_numpy().astype(str)).to_numpy())
