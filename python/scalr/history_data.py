"""The histories of the SASRec arms (issue 15), read from one dbt build's marts.

* real: each user's positive target train events (int_target_train_events) in time order
* walks: synthetic_histories (target-domain positions), one sequence per walk
* scalr: the user's real target positives merged by time with the SCALR synthetic target events of
  the user (synthetic_events_aligned, label 1, at their source event's time), so that a
  target-cold user with source events gets an input history
* validation: the last real item of a seeded ``val_fraction`` of users with >= 3 real items is
  held out of every arm's training data (early stopping target), never of the eval input.

Item codes index ``es.items`` (the train catalog of scalr.ladder.EvalSet); users index
``es.users``; items outside the catalog are dropped."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalr import learning as ln
from scalr.sasrec.data import Histories, last_window


@dataclass
class ArmData:
    train: dict  # arm -> Histories (training sequences)
    eval_input: dict  # arm -> Histories per user (index = es.users), the model's input at eval
    val: tuple  # (inputs, targets) windows of the validation slice
    val_users: np.ndarray


def _codes(es, users, items):
    return ln.codes(users, es.users), ln.codes(items, es.items)


def real_rows(es, target_train: pd.DataFrame) -> pd.DataFrame:
    pos = target_train[target_train.label.to_numpy() == 1]
    u, i = _codes(es, pos.user_id, pos.item_id)
    df = pd.DataFrame({"u": u, "i": i, "t": ln.to_us(pos.event_ts)})
    return df[df.i >= 0].sort_values(["u", "t", "i"], kind="stable").reset_index(drop=True)


def synthetic_rows(es, synthetic: pd.DataFrame | None) -> pd.DataFrame:
    if synthetic is None or not len(synthetic):
        return pd.DataFrame({"u": np.zeros(0, np.int64), "i": np.zeros(0, np.int64), "t": np.zeros(0, np.int64)})
    s = synthetic[synthetic.label.to_numpy() == 1]
    u, i = _codes(es, s.user_id, s.target_item)
    df = pd.DataFrame({"u": u, "i": i, "t": ln.to_us(s.event_ts)})
    return df[(df.i >= 0) & (df.u >= 0)]


def walk_histories(es, walks: pd.DataFrame) -> Histories:
    """walks: walk_id, position, item_id rows of synthetic_histories (target domain)."""
    w = walks.sort_values(["walk_id", "position"], kind="stable")
    _, seq = np.unique(w.walk_id.to_numpy(), return_inverse=True)
    return Histories.from_codes(seq, ln.codes(w.item_id, es.items))


def build(es, target_train: pd.DataFrame, synthetic: pd.DataFrame | None, walks: pd.DataFrame,
          max_len: int, val_fraction: float = 0.1, seed: int = 0) -> ArmData:
    nu = len(es.users)
    real = real_rows(es, target_train)
    n_real = np.bincount(real.u, minlength=nu)
    rng = np.random.default_rng([seed, 11])
    cand = np.flatnonzero(n_real >= 3)
    val_users = np.sort(rng.choice(cand, int(round(val_fraction * len(cand))), replace=False)) if len(cand) else cand
    last_row = np.r_[np.flatnonzero(np.diff(real.u.to_numpy())), len(real) - 1] if len(real) else np.zeros(0, int)
    is_val = np.zeros(len(real), bool)
    lr = last_row[np.isin(real.u.to_numpy()[last_row], val_users)]
    is_val[lr] = True
    syn = synthetic_rows(es, synthetic)
    full_real = Histories.from_codes(real.u, real.i, n_seq=nu)
    tr_real = real[~is_val]
    r_train = Histories.from_codes(tr_real.u, tr_real.i, n_seq=nu)
    merged_tr = pd.concat([tr_real.assign(o=0), syn.assign(o=1)], ignore_index=True)
    merged_all = pd.concat([real.assign(o=0), syn.assign(o=1)], ignore_index=True)
    key = lambda d: d.t.to_numpy() * 2 + d.o.to_numpy()  # noqa: E731  time, real first on ties
    scalr_train = Histories.from_codes(merged_tr.u, merged_tr.i, key(merged_tr), n_seq=nu)
    scalr_input = Histories.from_codes(merged_all.u, merged_all.i, key(merged_all), n_seq=nu)
    s_train = walk_histories(es, walks)
    # validation windows: the prefix (train history) -> the held-out last item, at the last slot
    inp = last_window(r_train.take(val_users), max_len)
    tgt = np.zeros_like(inp)
    tgt[:, -1] = real.i.to_numpy()[lr] + 1
    ok = inp[:, -1] > 0
    return ArmData(
        train={"R": r_train, "S": s_train, "R+S": r_train.concat(s_train), "R+SCALR": scalr_train},
        eval_input={"R": full_real, "S": full_real, "R+S": full_real, "R+SCALR": scalr_input},
        val=(inp[ok], tgt[ok]), val_users=val_users)
