"""The "will it help?" diagnostic: a planted world where each user's source items determine their
target items must show a lift of the translation score over popularity; the same world with the
source events shuffled across users must not."""
import numpy as np
import pandas as pd

from scalr.help_diagnostic import DiagnosticConfig, diagnose


def planted(n_users=600, n_groups=12, seed=0, shuffle=False):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n_users)
    users = np.array([f"u{k:04d}" for k in range(n_users)])
    src, tgt = [], []
    for u, gg in zip(users, g):  # each group has 5 source and 5 target items; users hold 3 of each
        for j in rng.choice(5, 3, replace=False):
            src.append((u, "source", f"s{gg}_{j}"))
        for i in rng.choice(5, 3, replace=False):
            tgt.append((u, f"t{gg}_{i}"))
    # popular distractors every user might hold
    for u in users:
        if rng.random() < 0.5:
            tgt.append((u, "t_pop"))
    source = pd.DataFrame(src, columns=["user_id", "source_domain", "source_item"])
    real = pd.DataFrame(tgt, columns=["user_id", "item_id"])
    if shuffle:
        source["user_id"] = rng.permutation(source.user_id.to_numpy())
    ov = source.merge(real, on="user_id").drop_duplicates(["user_id", "source_domain", "source_item", "item_id"])
    n_ji = ov.groupby(["source_domain", "source_item", "item_id"]).user_id.nunique().rename("n_users_ji").reset_index()
    n_j = source[source.user_id.isin(real.user_id)].groupby(["source_domain", "source_item"]).user_id.nunique().rename("n_users_j").reset_index()
    tr = n_ji.merge(n_j, on=["source_domain", "source_item"]).rename(columns={"item_id": "target_item"})
    return real, source, tr


def test_translation_score_beats_popularity_on_a_planted_world():
    real, source, tr = planted()
    out = diagnose(real, source, tr, None, DiagnosticConfig(k=5, n_boot=200, mf=None)).set_index("scorer")
    assert out.loc["translation_score", "verdict"] == "beats popularity"
    assert out.loc["translation_score", "lift_lo"] > 0.2


def test_shuffled_sources_show_no_lift():
    real, source, tr = planted(shuffle=True)
    out = diagnose(real, source, tr, None, DiagnosticConfig(k=5, n_boot=200, mf=None)).set_index("scorer")
    assert out.loc["translation_score", "verdict"] != "beats popularity"


def test_leave_one_out_removes_the_users_own_pairs():
    # each source item p_k is held by two users with different target items x_k / z_k: without the
    # user's own count both targets tie (top-1 right half the time); with it only the other user's
    # target is left, so Recall@1 is exactly 0
    rows_real, rows_src, rows_tr = [], [], []
    for k in range(12):
        rows_real += [(f"a{k}", f"x{k}"), (f"c{k}", f"z{k}")]
        rows_src += [(f"a{k}", "s", f"p{k}"), (f"c{k}", "s", f"p{k}")]
        rows_tr += [("s", f"p{k}", f"x{k}", 1, 2), ("s", f"p{k}", f"z{k}", 1, 2)]
    real = pd.DataFrame(rows_real, columns=["user_id", "item_id"])
    source = pd.DataFrame(rows_src, columns=["user_id", "source_domain", "source_item"])
    tr = pd.DataFrame(rows_tr, columns=["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j"])
    out = diagnose(real, source, tr, None, DiagnosticConfig(k=1, n_boot=50, mf=None)).set_index("scorer")
    assert out.loc["translation_score", "recall"] == 0.0


def planted_synthetic(real, source, seed=1, shuffle=False):
    """Synthetic target events as a generator with the right translation would draw them: for
    each source item s{g}_{j} of a user, two draws among group g's target items."""
    rng = np.random.default_rng(seed)
    g = source.source_item.str.extract(r"s(\d+)_")[0].to_numpy()
    rows = [(u, f"t{gg}_{i}") for u, gg in zip(source.user_id, g) for i in rng.choice(5, 2, replace=False)]
    syn = pd.DataFrame(rows, columns=["user_id", "target_item"]).assign(weight=1.0)
    if shuffle:
        syn["user_id"] = rng.permutation(syn.user_id.to_numpy())
    return syn


def test_synthetic_mf_beats_popularity_and_its_user_shuffled_control_does_not():
    from scalr.factors import FactorConfig
    from scalr.help_diagnostic import overall
    real, source, tr = planted()
    cfg = DiagnosticConfig(k=5, n_boot=200, mf=FactorConfig(factors=16, iterations=6))
    out = diagnose(real, source, tr, planted_synthetic(real, source), cfg).set_index("scorer")
    assert out.loc["synthetic_mf", "verdict"] == "beats popularity"
    assert out.loc["synthetic_mf", "lift_lo"] > 0.2
    shuffled = diagnose(real, source, tr, planted_synthetic(real, source, shuffle=True), cfg)
    assert shuffled.set_index("scorer").loc["synthetic_mf", "verdict"] != "beats popularity"
    assert overall(out.reset_index()).startswith("signal: ")
    # with the translation also shuffled, nothing carries signal and the overall answer says so
    real_s, source_s, tr_s = planted(shuffle=True)
    none = diagnose(real_s, source_s, tr_s, planted_synthetic(real_s, source_s, shuffle=True), cfg)
    assert not overall(none).startswith("signal")


def test_k_at_least_the_catalog_is_not_measurable():
    """Recall@k with k >= the catalog's size ranks every item: every scorer recalls everything, so
    the verdict is "not measurable", not "no detectable difference" (61 target items, k 61 / 60)."""
    from scalr.help_diagnostic import overall
    real, source, tr = planted()
    n_items = real.item_id.nunique()
    out = diagnose(real, source, tr, None, DiagnosticConfig(k=n_items, n_boot=50, mf=None)).set_index("scorer")
    assert (out.recall == 1).all() and out.loc["translation_score", "verdict"] == "not measurable"
    assert overall(out.reset_index()).startswith(f"not measurable: Recall@{n_items} with k >= the target")
    below = diagnose(real, source, tr, None, DiagnosticConfig(k=n_items - 1, n_boot=50, mf=None)).set_index("scorer")
    assert below.loc["translation_score", "verdict"] != "not measurable"
