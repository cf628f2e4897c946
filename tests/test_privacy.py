"""privacy_audit against an independent pandas computation, and count_noise_epsilon's Laplace noise."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def world_paths(privacy_world_paths):
    return privacy_world_paths


@pytest.fixture(scope="module")
def clean(privacy_build):
    """The noise-free build of the world (tests/conftest.py privacy_build: through privacy_audit)."""
    return privacy_build


def test_privacy_audit_matches_pandas(world_paths, clean):
    res = clean
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


def test_count_noise_is_seeded_laplace(world_paths, clean, tmp_path):
    from tests.conftest import run_dbt
    base = {"events_path": str(world_paths["events"]), "train_end": "2024-09-01"}
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
    assert (a.n_users_ji <= a.n_users_j).all() and (a.p_hat <= 1).all()


def test_noisy_counts_are_capped_at_the_source_items_users(tmp_path):
    """200 single-user pairs (n_users_j = n_users_ji = 1) under Laplace(1/0.5) noise: about a quarter
    would round to >= 2, i.e. p_hat >= 2; every released count is capped at n_users_j = 1."""
    from tests.conftest import run_dbt
    rows = ["user_id,item_id,domain,event_ts"] + [
        f"u{k},s{k},source,2024-01-01\nu{k},t{k},target,2024-01-02" for k in range(200)]
    ev = tmp_path / "events.csv"
    ev.write_text("\n".join(rows) + "\n")
    res = run_dbt(tmp_path / "run", {"events_path": str(ev), "count_noise_epsilon": 0.5}, select="+translation",
                  command="run")
    assert res.ok, res.output[-3000:]
    tr = res.table("translation")
    assert 100 < len(tr) < 200  # the pairs whose noisy count rounded to <= 0 are dropped
    assert (tr.n_users_j == 1).all() and (tr.n_users_ji == 1).all() and (tr.p_hat == 1).all()


def test_min_support_is_a_floor_on_true_counts_with_noise(world_paths, clean, tmp_path):
    """With count_noise_epsilon, min_support still filters on the true count (every released pair
    rests on >= k overlap users), and privacy_audit measures the true support of the synthetic
    rows, not their noisy n_users_ji (which can fall below k)."""
    from tests.conftest import run_dbt
    base = {"events_path": str(world_paths["events"]), "train_end": "2024-09-01"}
    res = run_dbt(tmp_path / "k2", {**base, "min_support": 2, "count_noise_epsilon": 0.5}, select="+privacy_audit")
    assert clean.ok and res.ok, res.output[-3000:]
    keys = ["source_domain", "source_item", "target_item"]
    m = res.table("translation").merge(clean.table("translation"), on=keys, how="left", suffixes=("", "_true"))
    assert m.n_users_ji_true.notna().all() and (m.n_users_ji_true >= 2).all()
    assert (m.n_users_ji == 1).any()  # noise took some released counts below k
    audit = res.table("privacy_audit").set_index("metric").value
    assert audit["share_support_le_1"] == 0
    syn = res.table("synthetic_events_aligned").merge(clean.table("translation"), on=keys, suffixes=("", "_true"))
    assert audit["share_support_le_2"] == pytest.approx((syn.n_users_ji_true <= 2).mean(), abs=1e-12)
