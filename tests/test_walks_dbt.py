"""dbt build of int_walk_graph and synthetic_histories on a small seeded world: the documented columns,
every item an item of the train graph (target domain, train window, kept users only), one start per
graph user and walks_per_user walks each, empirical lengths drawn from the real history lengths,
byte-identical rows on a rebuild with another thread count. The build is the session's full build of
the demo-like world (tests/conftest.py demo_build: its vars hold this module's walk settings and
target_keep_users 0.8); the rebuild runs on a copy of its database. (A dbt call costs 15-20 s here,
so the bad walk_domains message is not built in a test.)"""
from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import copy_db, run_dbt

TRAIN_END = "2024-10-01"
VARS = {"train_end": TRAIN_END, "walks_per_user": 2, "walk_length": "empirical", "walk_beta": 0.3,
        "walk_restart": 0.1, "walk_seed": 5, "target_keep_users": 0.8}
DIGEST = ("select count(*), md5(string_agg(concat_ws('|', walk_id, start_user_id, position, item_id, domain), "
          "',' order by walk_id, position)) from synthetic_histories")


@pytest.fixture(scope="module")
def built(demo_build):
    v = dict(demo_build.vars, export_dir=None)
    assert {k: v.get(k) for k in VARS} == VARS, "conftest.DEMO_VARS lost this module's vars"
    return demo_build.tmp, v, demo_build.res, pd.read_csv(demo_build.paths["events"])


def test_synthetic_histories_columns_and_graph(built):
    _, _, res, events = built
    with res.con() as c:
        types = dict(c.sql("select column_name, data_type from information_schema.columns "
                           "where table_name = 'synthetic_histories' and table_schema = 'main'").fetchall())
        kept = {r[0] for r in c.sql("select user_id from int_target_users where kept").fetchall()}
    assert types == {"walk_id": "BIGINT", "start_user_id": "VARCHAR", "position": "INTEGER",
                     "item_id": "VARCHAR", "domain": "VARCHAR"}
    h = res.table("synthetic_histories", order_by="walk_id, position")
    g = res.table("int_walk_graph")
    # oracle graph from the events file: target-domain train-window events of kept users (all positive)
    ev = events[(events.domain == "target") & (pd.to_datetime(events.event_ts) < pd.Timestamp(TRAIN_END))
                & events.user_id.isin(kept)]
    edges = set(zip(ev.user_id, ev.item_id))
    assert set(zip(g.user_id, g.item_id)) == edges and len(g) == len(edges)
    assert set(h.item_id) <= set(ev.item_id) and (h.domain == "target").all()
    # one start per graph user, walks_per_user = 2 walks each, walk_id = user_key * 2 + r
    users = g.drop_duplicates("user_id").set_index("user_id")
    assert set(h.start_user_id) == set(users.index) == set(ev.user_id)
    per_walk = h.groupby("walk_id").agg(user=("start_user_id", "first"), n=("position", "size"),
                                        last=("position", "max"), first=("item_id", "first"))
    assert len(per_walk) == 2 * len(users)
    assert (per_walk.index // 2 == users.loc[per_walk.user, "user_key"].to_numpy()).all()
    assert (per_walk.n == per_walk["last"] + 1).all()  # positions 0..n-1
    # the first item is one of the start user's own items
    assert all((u, i) in edges for u, i in zip(per_walk.user, per_walk["first"]))
    # empirical lengths: drawn from the users' real history lengths (repeats counted)
    real = ev.groupby("user_id").size()
    assert (users.user_events.sort_index() == real.sort_index()).all()
    assert set(per_walk.n) <= set(real) and per_walk.n.nunique() > 3


def test_rebuild_is_byte_identical(built, tmp_path):
    """Rebuilding the graph and the mart (dbt build with their data tests, 1 thread instead of 2)
    gives the same rows."""
    _, v, res, _ = built
    with res.con() as c:
        before = c.execute(DIGEST).fetchone()
    db = copy_db(res, tmp_path / "copy")  # the shared build stays as it is
    again = run_dbt(tmp_path / "rebuild", v, select="int_walk_graph synthetic_histories", db=db, threads=1)
    assert again.ok, again.output[-4000:]
    with again.con() as c:
        assert c.execute(DIGEST).fetchone() == before and before[0] > 1000
