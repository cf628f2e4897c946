"""translation (P_hat, Eq. 4) equals an independent scipy computation exactly, and recovers the
planted truth of the demo world as it grows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scalr import demo_world


def reference_translation(events: pd.DataFrame, source_domains, target, train_end,
                          min_support=1, top_n=None) -> pd.DataFrame:
    """Independent implementation: indicator matrices S (users x source items) and T (users x
    target items) over overlap users; C = S^T T; n_j = column sums of S."""
    ev = events[pd.to_datetime(events.event_ts) < pd.Timestamp(train_end)]
    ev = ev[ev.domain.isin(list(source_domains) + [target])].drop_duplicates(["user_id", "domain", "item_id"])
    src, tgt = ev[ev.domain != target], ev[ev.domain == target]
    overlap = np.intersect1d(src.user_id.unique(), tgt.user_id.unique())
    src, tgt = src[src.user_id.isin(overlap)], tgt[tgt.user_id.isin(overlap)]
    users = pd.Index(overlap)
    s_key = src.domain + "\x1f" + src.item_id
    s_items, s_idx = np.unique(s_key.to_numpy(), return_inverse=True)
    t_items, t_idx = np.unique(tgt.item_id.to_numpy(), return_inverse=True)
    S = sp.csr_matrix((np.ones(len(src)), (users.get_indexer(src.user_id), s_idx)),
                      shape=(len(users), len(s_items)))
    T = sp.csr_matrix((np.ones(len(tgt)), (users.get_indexer(tgt.user_id), t_idx)),
                      shape=(len(users), len(t_items)))
    C = (S.T @ T).tocoo()
    n_j = np.asarray(S.sum(axis=0)).ravel()
    out = pd.DataFrame({
        "source_key": s_items[C.row], "target_item": t_items[C.col],
        "n_users_ji": C.data.astype(np.int64), "n_users_j": n_j[C.row].astype(np.int64),
    })
    out[["source_domain", "source_item"]] = out.source_key.str.split("\x1f", expand=True)
    out = out[out.n_users_ji >= min_support]
    out = out.sort_values(["source_domain", "source_item", "n_users_ji", "target_item"],
                          ascending=[True, True, False, True])
    if top_n:
        out = out.groupby(["source_domain", "source_item"], sort=False).head(top_n)
    out["p_hat"] = out.n_users_ji / out.n_users_j
    out["p_norm"] = out.n_users_ji / out.groupby(["source_domain", "source_item"]).n_users_ji.transform("sum")
    return out.drop(columns="source_key").sort_values(["source_domain", "source_item", "target_item"]).reset_index(drop=True)


def _world(tmp_path, **kw):
    spec = demo_world.WorldSpec(**kw)
    world = demo_world.generate(spec)
    paths = demo_world.write(world, tmp_path / "world")
    return world, paths


@pytest.mark.parametrize("seed,domains,min_support,top_n,threads", [
    (1, ("books",), 1, None, 1),
    (2, ("books", "music"), 2, None, 2),
    (3, ("books", "music"), 1, 5, 2),
])
def test_translation_equals_independent_scipy(tmp_path, dbt, seed, domains, min_support, top_n, threads):
    world, paths = _world(tmp_path, n_users=700, n_source_items=150, n_target_items=80,
                          seed=seed, source_domains=domains, target_domain="shop")
    vars = {"events_path": str(paths["events"]), "source_domains": list(domains),
            "target_domain": "shop", "train_end": "2024-10-01", "min_support": min_support,
            "max_targets_per_source": top_n}
    res = dbt(vars, select="+translation", threads=threads)
    assert res.ok, res.output[-3000:]
    got = res.table("translation", "source_domain, source_item, target_item")
    ref = reference_translation(world.events, domains, "shop", "2024-10-01", min_support, top_n)
    assert len(got) == len(ref) > 100
    assert set(got.source_domain) == set(domains)
    for col in ["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j"]:
        assert (got[col].to_numpy() == ref[col].to_numpy()).all(), col
    np.testing.assert_allclose(got.p_hat, ref.p_hat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.p_norm, ref.p_norm, rtol=0, atol=1e-12)
    sums = got.groupby(["source_domain", "source_item"]).p_norm.sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-12)


def test_p_hat_recovers_planted_truth(tmp_path, dbt):
    """Mean absolute error of P_hat against the closed-form population limit shrinks as the world
    grows (~1/sqrt(n)); for the largest world it is small in absolute terms."""
    errors = {}
    for n in (1500, 24000):
        world, paths = _world(tmp_path / str(n), n_users=n, n_source_items=60, n_target_items=40,
                              n_tastes=4, lam_source=6, lam_target=3, seed=11)
        res = dbt({"events_path": str(paths["events"]), "train_end": "2024-10-01"},
                  select="+translation", name=f"n{n}")
        assert res.ok, res.output[-3000:]
        got = res.table("translation")
        truth = demo_world.true_translation(world)
        m = truth.merge(got[["source_item", "target_item", "p_hat", "n_users_j"]],
                        on=["source_item", "target_item"], how="left").fillna({"p_hat": 0.0})
        m = m[m.n_users_j.notna() | m.source_item.isin(got.source_item)]
        errors[n] = float(np.abs(m.p_hat - m.p_true).mean())
    assert errors[24000] < 0.5 * errors[1500], errors
    assert errors[24000] < 0.01, errors


FOOD_KITCHEN = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared/data/amazon_food_kitchen/events.csv.gz"


@pytest.mark.skipif(not FOOD_KITCHEN.exists(), reason="real data ../shared/data/amazon_food_kitchen absent")
def test_food_kitchen_translation_equals_independent_scipy(dbt):
    """The issue's Food-Kitchen command; the translation equals the scipy computation exactly."""
    vars = {"events_path": str(FOOD_KITCHEN), "source_domains": ["food"], "target_domain": "kitchen",
            "event_time_column": "event_date", "event_time_unit": "date", "train_end": "2014-01-01"}
    res = dbt(vars, select="+translation")
    assert res.ok, res.output[-3000:]
    got = res.table("translation", "source_domain, source_item, target_item")
    ev = pd.read_csv(FOOD_KITCHEN, dtype=str, usecols=["user_id", "item_id", "domain", "event_date"])
    ev = ev.rename(columns={"event_date": "event_ts"})
    ref = reference_translation(ev, ["food"], "kitchen", "2014-01-01")
    assert len(got) == len(ref) == 610_998
    for col in ["source_item", "target_item", "n_users_ji", "n_users_j"]:
        assert (got[col].to_numpy() == ref[col].to_numpy()).all(), col
    np.testing.assert_allclose(got.p_hat, ref.p_hat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.p_norm, ref.p_norm, rtol=0, atol=1e-12)
