"""scalr.experiments end to end on a small seeded world, and the paired heuristic comparison."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from scalr import demo_world
from scalr import evaluation as ev
from scalr import experiments as ex


def test_paired_ranking_diff_hand_computed():
    # two users, 3 candidates each; score a ranks every positive first, score b last
    user = np.array([0, 0, 0, 1, 1, 1])
    label = np.array([1, 0, 0, 1, 0, 0])
    a = np.array([3.0, 2, 1, 3, 2, 1])
    b = np.array([1.0, 2, 3, 1, 2, 3])
    seg = pd.Series(["cold", "warm"], index=[0, 1])
    d = ev.paired_ranking_diff(user, label, a, b, seg, ks=(1, 2), n_boot=50).set_index("segment")
    assert d.loc["all", "diff_recall@1"] == 1.0 and d.loc["all", "diff_recall@2"] == 1.0
    # ndcg@1: 1 vs 0; the CI of a constant difference is that constant
    assert d.loc["cold", "diff_ndcg@1"] == 1.0 and d.loc["all", "diff_ndcg@1_lo"] == 1.0
    assert d.loc["warm", "n_users"] == 1


def test_experiments_command_writes_results_report_and_beats_popularity(tmp_path):
    spec = demo_world.WorldSpec(n_users=1200, n_source_items=200, n_target_items=100, seed=5)
    paths = demo_world.write(demo_world.generate(spec), tmp_path / "world")
    cfg = {"name": "t", "report_dir": str(tmp_path / "rep"),
           "vars": {"events_path": str(paths["events"]), "train_end": "2024-10-01"},
           "seeds": [0, 1], "target_keep_users": [1.0], "eval_negatives": 30, "n_boot": 20,
           "configurations": ["baseline", "top1", "baseline_top1_features", "sample"],
           "lambdarank_configs": ["baseline"], "workers": 2}
    p = tmp_path / "t.yml"
    p.write_text(yaml.safe_dump(cfg))
    res = ex.run(str(p))
    with duckdb.connect(str(tmp_path / "rep" / "experiments.duckdb"), read_only=True) as con:
        stored = con.sql("select * from experiment_results").df()
        audits = con.sql("select * from leak_audit_results").df()
    assert len(stored) == len(res)
    # one row per configuration x model x segment x seed (+ the heuristics, seed -1)
    models = stored[stored.study != "heuristic"]
    assert not models.duplicated(["keep", "config", "model", "segment", "seed"]).any()
    assert set(models.config) == {"baseline", "top1", "baseline_top1_features", "sample"}
    assert set(models[models.config == "baseline"].model) == {"binary", "lambdarank"}
    b = models[(models.config == "baseline") & (models.model == "binary") & (models.segment == "all")]
    assert (b.rel_ne_pct.abs() < 1e-9).all() and len(b) == 2
    # the feature-matched control drops exactly what top1's audit purged
    top1_feats = set(models[models.config == "top1"].features.iat[0].split(","))
    ctrl_feats = set(models[models.config == "baseline_top1_features"].features.iat[0].split(","))
    assert ctrl_feats == top1_feats
    # heuristics carry the paired difference to the baseline; on the planted world the baseline
    # ranks better than all-time popularity
    h = stored[(stored.config == "heuristic:popularity") & (stored.segment == "all")].iloc[0]
    assert h["diff_recall@10"] > 0 and h["diff_recall@10_lo"] > 0
    assert set(audits.config) == {"top1", "sample"}
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "Baseline vs heuristics" in report and (tmp_path / "rep" / "rel_ne_keep1.0.png").exists()
    # configurations in worker processes (parallel_configs 2, the default) give the same table as
    # one after the other in this process
    cfg1 = {**cfg, "report_dir": str(tmp_path / "rep1"), "parallel_configs": 1, "workers": 1,
            "db": str(tmp_path / "rep" / "work" / "scalr.duckdb")}
    p1 = tmp_path / "t1.yml"
    p1.write_text(yaml.safe_dump(cfg1))
    seq = ex.run(str(p1))
    cols = ["keep", "config", "model", "segment", "seed", "ne", "auc", "recall@10", "ndcg@10", "rel_ne_pct"]
    pd.testing.assert_frame_equal(res[cols].reset_index(drop=True), seq[cols].reset_index(drop=True))


def test_split_stops_when_no_eval_positive_is_on_a_train_item():
    """Every positive of the eval window is on an item without a train-window positive: nothing
    can be ranked, and Split says so with the counts (model_metrics used to die on a KeyError)."""
    ts = pd.Timestamp
    events = pd.DataFrame({
        "user_id": ["u1", "u1", "u2", "u2", "u1"],
        "item_id": ["s1", "t1", "s1", "t1", "t9"],
        "domain": ["source", "target", "source", "target", "target"],
        "domain_role": ["source", "target", "source", "target", "target"],
        "event_ts": [ts("2024-01-01"), ts("2024-01-02"), ts("2024-01-03"), ts("2024-01-04"), ts("2024-11-01")],
        "label": [1, 1, 1, 1, 1]})
    data = ex.Data(events, ts("2024-10-01"), None, None, None)
    with pytest.raises(ValueError, match=r"column item_id: 0 of 1 positive target events of the eval window "
                                         r"are on an item with a positive in the train window \(1 such items\)"):
        ex.Split(data, 1.0, 7, 10, 1, "uniform")
    events.loc[4, "item_id"] = "t1"  # the same eval positive on a train item: a Split is built
    assert ex.Split(ex.Data(events, ts("2024-10-01"), None, None, None), 1.0, 7, 10, 1, "uniform").stats[
        "eval_positives"] == 1


def test_model_config_rejects_values_below_their_minimum():
    from scalr.dbt_config import ModelConfig
    c = ModelConfig({"negatives_per_positive": "-1", "synthetic_lambda": "0.5"}, "model_metrics")
    with pytest.raises(ValueError, match=r"model_metrics: var negatives_per_positive=-1 is below its minimum 0"):
        c.get("negatives_per_positive", 4, int, min_value=0)
    assert c.get("synthetic_lambda", 1.0, float, min_value=0) == 0.5
