"""var target_keep_users / keep_seed is applied once, in SQL, upstream (int_events_train reading the
draw of int_target_users): the md5 rule equals the Python oracle user for user, P_hat (the
translation mart the sampler and the training rows use) is exactly the P_hat of the kept users'
data, hidden users keep no target train event anywhere, 1.0 changes nothing, and bad values stop
the build naming the var."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from scalr import demo_world
from scalr import learning as ln

TRAIN_END = "2024-10-01"
COLS = ["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j", "p_hat", "p_norm",
        "target_rank", "n_targets"]


def _world(tmp_path, seed=5, n_users=700):
    spec = demo_world.WorldSpec(n_users=n_users, n_source_items=150, n_target_items=80, seed=seed,
                                source_domains=("books", "music"), target_domain="shop")
    world = demo_world.generate(spec)
    return world, demo_world.write(world, tmp_path / "world")


def _vars(paths, **kw):
    v = {"events_path": str(paths["events"]), "source_domains": ["books", "music"],
         "target_domain": "shop", "train_end": TRAIN_END, "min_support": 1,
         "max_targets_per_source": None, "translation_shrinkage": 0, "count_noise_epsilon": None}
    v.update(kw)
    return v


def _oracle_translation(events: pd.DataFrame, kept: set, min_support=1, shrinkage=0.0) -> pd.DataFrame:
    """P_hat with scalr.learning.translate on the train-window positives, the target side limited
    to the kept users (the hidden users' target train events never reach it)."""
    ev = events[pd.to_datetime(events.event_ts) < pd.Timestamp(TRAIN_END)]  # no label column: all positive
    src = ev[ev.domain != "shop"].rename(columns={"domain": "source_domain", "item_id": "source_item"})
    tgt = ev[(ev.domain == "shop") & ev.user_id.isin(kept)]
    out = ln.translate(src, tgt, min_support=min_support, shrinkage=shrinkage)
    return out[COLS].sort_values(COLS[:3]).reset_index(drop=True)


def _assert_same_translation(res, ref: pd.DataFrame) -> None:
    """The translation mart equals ref: every column (ids and counts exactly, p_hat / p_norm to
    1e-12), rows sorted by (source_domain, source_item, target_item)."""
    got = res.table("translation").sort_values(COLS[:3]).reset_index(drop=True)
    assert len(got) == len(ref) > 100
    for c in COLS:
        if c in ("p_hat", "p_norm"):
            np.testing.assert_allclose(got[c], ref[c], rtol=0, atol=1e-12, err_msg=c)
        else:
            assert (got[c].to_numpy() == ref[c].to_numpy()).all(), c


def test_keep_rule_python_oracle():
    """The md5 rule by hand; per-user (order- and set-independent); 1.0 keeps everyone."""
    ids = np.array(["u1", "007", "café☕", "a,b", "u1"], dtype=object)
    d = ln.keep_draw(ids, 7)
    by_hand = [int(hashlib.md5(f"7:{u}".encode()).hexdigest()[:13], 16) / 16 ** 13 for u in ids]
    assert d.tolist() == by_hand and ((d >= 0) & (d < 1)).all()
    m = ln.keep_target_users(ids, 0.5, 7)
    assert (m == (d < 0.5)).all()
    assert ln.keep_target_users(ids[::-1], 0.5, 7).tolist() == m[::-1].tolist()
    assert ln.keep_target_users(ids[:2], 0.5, 7).tolist() == m[:2].tolist()
    assert ln.keep_target_users(ids, 1.0, 7).all()


@pytest.mark.dbt
@pytest.mark.parametrize("keep_seed,min_support,shrinkage", [(7, 1, 0), (11, 2, 2)])
def test_keep_in_sql_equals_oracle_and_hides_target_train_events(tmp_path, dbt, keep_seed, min_support,
                                                                 shrinkage):
    world, paths = _world(tmp_path)
    ev = world.events.drop_duplicates()
    res = dbt(_vars(paths, target_keep_users=0.3, keep_seed=keep_seed, min_support=min_support,
                    translation_shrinkage=shrinkage),
              select="+translation +int_target_train_events +int_source_events +int_target_eval_events",
              command="run")
    assert res.ok, res.output[-3000:]

    # the md5 rule in SQL == the Python oracle, for every user of the world
    users = res.table("int_target_users", "user_id")
    assert sorted(users.user_id) == sorted(ev.user_id.unique())
    assert users.keep_draw.tolist() == ln.keep_draw(users.user_id.to_numpy(), keep_seed).tolist()
    oracle = ln.keep_target_users(users.user_id.to_numpy(), 0.3, keep_seed)
    assert (users.kept.to_numpy() == oracle).all()
    n = len(users)
    assert abs(users.kept.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n), users.kept.mean()
    # keep_seed changes the set
    other = ln.keep_target_users(users.user_id.to_numpy(), 0.3, keep_seed + 1)
    assert (other != oracle).sum() > n // 10
    kept = set(users.user_id[users.kept])
    hidden = set(users.user_id[~users.kept])

    # hidden users: no target train event anywhere; their source and eval events stay
    train = ev[pd.to_datetime(ev.event_ts) < pd.Timestamp(TRAIN_END)]
    hidden_tgt = train[(train.domain == "shop") & train.user_id.isin(hidden)]
    assert len(hidden_tgt) > 50
    tte = res.table("int_target_train_events")
    assert not set(tte.user_id) & hidden
    assert len(tte) == ((train.domain == "shop") & train.user_id.isin(kept)).sum()
    src = res.table("int_source_events")
    assert set(src.user_id) & hidden
    assert len(src) == (train.domain != "shop").sum()
    te = res.table("int_target_eval_events")
    assert set(te.user_id) & hidden

    # P_hat is the P_hat of the kept users' data, exactly (every column, rows sorted)
    ref = _oracle_translation(ev, kept, min_support, shrinkage)
    _assert_same_translation(res, ref)
    # ... so no pair's support includes a hidden user's hidden target item: with those events the
    # counts differ
    full = _oracle_translation(ev, set(ev.user_id), min_support, shrinkage)
    assert len(full) != len(ref) or (full.n_users_ji.to_numpy() != ref.n_users_ji.to_numpy()).any()


@pytest.mark.dbt
def test_synthetic_marts_see_only_kept_users(tmp_path, dbt):
    """The full chain to synthetic_events(_aligned): P_hat the sampler reads (int_translation) is the
    oracle without hidden events; every synthetic pair is a pair of that P_hat, and a non-kept user
    has no row in int_target_train_events (the real data the aligned events are matched to)."""
    world, paths = _world(tmp_path, seed=6)
    ev = world.events.drop_duplicates()
    res = dbt(_vars(paths, target_keep_users=0.3, keep_seed=3), select="+synthetic_events_aligned translation",
              command="run")
    assert res.ok, res.output[-3000:]
    users = res.table("int_target_users")
    kept = set(users.user_id[users.kept])
    hidden = set(users.user_id[~users.kept])
    ref = _oracle_translation(ev, kept)
    _assert_same_translation(res, ref)
    assert not set(res.table("int_target_train_events").user_id) & hidden
    pairs = set(zip(ref.source_item, ref.target_item))
    for mart in ("synthetic_events", "synthetic_events_aligned"):
        with res.con() as c:
            syn = c.sql(f"select user_id, source_item, target_item from {mart}").df()
        assert len(syn) > 0 and set(syn.user_id) & hidden, mart
        assert set(zip(syn.source_item, syn.target_item)) <= pairs, mart


@pytest.mark.dbt
def test_keep_one_is_a_no_op(tmp_path, dbt):
    """target_keep_users 1.0 (any keep_seed) leaves translation identical to a build without the var."""
    world, paths = _world(tmp_path, seed=8, n_users=400)
    base = dbt(_vars(paths), select="+translation", command="run", name="base")
    assert base.ok, base.output[-3000:]
    one = dbt(_vars(paths, target_keep_users=1.0, keep_seed=99), select="+translation", command="build",
              name="one")  # build: also int_target_users' PK tests
    assert one.ok, one.output[-3000:]
    order = "source_domain, source_item, target_item"
    assert base.table("translation", order).equals(one.table("translation", order))
    assert one.table("int_target_users").kept.all()
    # no filter at all: the view's SQL names int_target_users only in its depends_on comment
    view = next((tmp_path / "one" / "target" / "compiled").rglob("int_events_train.sql")).read_text()
    assert view.count("int_target_users") == 1 and "kept" not in view, view


@pytest.mark.dbt
@pytest.mark.parametrize("bad,needle", [
    ({"target_keep_users": 1.5}, "var target_keep_users = 1.5 is outside [0, 1]"),
    ({"keep_seed": "abc"}, "var keep_seed = 'abc' is not an integer"),
    ({"target_keep_users": 0}, "keeps no user with a target-domain event in the train window"),
])
def test_bad_keep_vars_stop_the_build(tmp_path, dbt, bad, needle):
    world, paths = _world(tmp_path, seed=9, n_users=200)
    res = dbt(_vars(paths, **bad), select="+int_events_train", command="run")
    assert not res.ok, res.output[-3000:]
    assert "scalr input error in model int_" in res.output and needle in res.output, res.output[-3000:]
    assert "Parser Error" not in res.output and "Binder Error" not in res.output, res.output[-3000:]


@pytest.mark.dbt
def test_early_stopping_slice_is_one_sql_window(tmp_path, dbt):
    """validation_fraction: int_validation_cut is the oracle's time quantile; int_target_train_events
    flags the events at or after it; training_rows' validation rows are exactly the flagged real
    events (and their negatives), never a synthetic row, and no flagged event is a training row."""
    world, paths = _world(tmp_path, seed=6, n_users=400)
    res = dbt(_vars(paths, validation_fraction=0.2), select="+training_rows", command="run")
    assert res.ok, res.output[-3000:]
    tt = res.table("int_target_train_events")
    cut = res.table("int_validation_cut").validation_start.iat[0]
    from scalr.oracles import validation_start
    assert abs((pd.Timestamp(cut) - validation_start(tt.event_ts, 0.2)).total_seconds()) < 1e-3
    assert (tt.is_validation == (tt.event_ts >= cut)).all() and 0.15 < tt.is_validation.mean() < 0.25
    rows = res.table("training_rows")
    val = rows[rows.is_validation]
    assert len(val) and (val.is_synthetic == 0).all()
    flagged = set(zip(tt.user_id[tt.is_validation], tt.item_id[tt.is_validation], tt.event_ts[tt.is_validation]))
    pos = val[val.label == 1]
    assert set(zip(pos.user_id, pos.item_id, pos.event_ts)) <= flagged
    train_pos = rows[(rows.label == 1) & ~rows.is_validation & (rows.is_synthetic == 0)]
    assert not set(zip(train_pos.user_id, train_pos.item_id, train_pos.event_ts)) & flagged
