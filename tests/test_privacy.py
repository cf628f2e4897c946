"""privacy_audit against an independent pandas computation, and count_noise_epsilon's Laplace noise."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalr import demo_world


@pytest.fixture(scope="module")
def world_paths(tmp_path_factory):
    spec = demo_world.WorldSpec(n_users=4000, n_source_items=100, n_target_items=50, seed=5,
                                train_end="2024-09-01")
    return demo_world.write(demo_world.generate(spec), tmp_path_factory.mktemp("privworld"))


def test_privacy_audit_matches_pandas(world_paths, tmp_path):
    from tests.conftest import run_dbt
    res = run_dbt(tmp_path, {"events_path": str(world_paths["events"]), "train_end": "2024-09-01"},
                  select="+privacy_audit")
    assert res.ok, res.output[-3000:]
    audit = res.table("privacy_audit").set_index("metric").value
    syn = res.table("synthetic_events_aligned")
    for k in (1, 2, 5):
        assert audit[f"share_support_le_{k}"] == pytest.approx((syn.n_users_ji <= k).mean(), abs=1e-12)
    ev = pd.read_csv(world_paths["events"])
    ev["event_ts"] = pd.to_datetime(ev.event_ts)
    tgt = ev[ev.domain == "target"]
    train = set(zip(*tgt[tgt.event_ts < "2024-09-01"][["user_id", "item_id"]].T.values))
    eval_new = {p for p in zip(*tgt[tgt.event_ts >= "2024-09-01"][["user_id", "item_id"]].T.values) if p not in train}
    pairs = set(zip(syn.user_id, syn.target_item))
    assert audit["copy_rate"] == pytest.approx(len(pairs & eval_new) / len(pairs), abs=1e-12)
    assert 0 < audit["copy_rate_chance"] < 1
    # largest single-user share of P_hat mass, from the raw user-items
    tr = res.table("translation")
    ui = res.table("int_user_items")
    ov = set(res.table("int_overlap_users").user_id)
    ui = ui[ui.user_id.isin(ov)]
    s = ui[ui.domain_role == "source"][["user_id", "item_id"]].rename(columns={"item_id": "source_item"})
    t = ui[ui.domain_role == "target"][["user_id", "item_id"]].rename(columns={"item_id": "target_item"})
    contrib = s.merge(t, on="user_id").merge(tr[["source_item", "target_item"]], on=["source_item", "target_item"])
    per = contrib.groupby(["source_item", "user_id"]).size().rename("n").reset_index()
    total = tr.groupby("source_item").n_users_ji.sum()
    per["share"] = per.n / total.reindex(per.source_item).to_numpy()
    top = per.groupby("source_item").share.max()
    assert audit["max_user_mass_share"] == pytest.approx(top.max(), abs=1e-12)
    assert audit["mean_top_user_mass_share"] == pytest.approx(top.mean(), abs=1e-12)


def test_count_noise_is_seeded_laplace(world_paths, tmp_path):
    from tests.conftest import run_dbt
    base = {"events_path": str(world_paths["events"]), "train_end": "2024-09-01"}
    clean = run_dbt(tmp_path / "clean", base, select="+translation")
    eps = 0.5
    noisy = run_dbt(tmp_path / "noisy", {**base, "count_noise_epsilon": eps}, select="+translation")
    again = run_dbt(tmp_path / "again", {**base, "count_noise_epsilon": eps}, select="+translation")
    other = run_dbt(tmp_path / "other", {**base, "count_noise_epsilon": eps, "noise_seed": 99}, select="+translation")
    for r in (clean, noisy, again, other):
        assert r.ok, r.output[-3000:]
    key = "source_domain, source_item, target_item"
    a, b, c = noisy.table("translation", key), again.table("translation", key), other.table("translation", key)
    assert a.equals(b)  # seeded
    assert not a[["n_users_ji"]].equals(c[["n_users_ji"]]) or len(a) != len(c)
    m = clean.table("translation").merge(a, on=["source_domain", "source_item", "target_item"], suffixes=("", "_noisy"))
    big = m[m.n_users_ji >= 15]  # far from the drop-at-zero boundary
    assert len(big) > 200
    d = big.n_users_ji_noisy - big.n_users_ji
    # rounded Laplace(1/eps): mean 0, variance 2/eps^2 + 1/12
    assert abs(d.mean()) < 4 * np.sqrt(8.1 / len(d))
    assert 0.75 * 8.08 < d.var() < 1.25 * 8.08
    assert (a.n_users_ji > 0).all()
    np.testing.assert_allclose(a.p_hat, a.n_users_ji / a.n_users_j)
