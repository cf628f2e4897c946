"""scalr.experiments' configuration handling and the evaluation set's input checks (the end-to-end
run is tests/test_control.py)."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from scalr import experiments as ex
from scalr import ladder as la


def _data(eval_item: str) -> la.BuildData:
    ts = pd.Timestamp
    target = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["t1", "t1"],
                           "event_ts": [ts("2024-01-02"), ts("2024-01-04")], "label": [1, 1]})
    source = pd.DataFrame({"user_id": ["u1", "u2"], "source_domain": "source", "source_item": ["s1", "s1"],
                           "event_ts": [ts("2024-01-01"), ts("2024-01-03")], "label": [1, 1]})
    ev = pd.DataFrame({"user_id": ["u3"], "item_id": [eval_item], "event_ts": [ts("2024-11-01")], "label": [1]})
    tr = pd.DataFrame({"source_domain": ["source"], "source_item": ["s1"], "target_item": ["t1"], "n_users_ji": [2],
                       "n_users_j": [2], "p_hat": [1.0], "p_norm": [1.0], "target_rank": [1], "n_targets": [1]})
    return la.BuildData(target, source, ev, tr, ts("2024-10-01"))


def test_evalset_stops_when_no_eval_positive_is_on_a_train_item():
    """Every positive of the eval window is on an item without a train-window positive: nothing
    can be ranked, and the evaluation set says so with the counts."""
    with pytest.raises(ValueError, match=r"column item_id: 0 of 1 distinct positive \(user, item\) pairs of the eval "
                                         r"window are on an item with a positive in the train window \(1 such items\)"):
        la.EvalSet(_data("t9"), la.LadderConfig())
    es = la.EvalSet(_data("t1"), la.LadderConfig())
    assert es.stats["eval_positive_pairs"] == 1 and es.stats["eval_cold_users_ranked"] == 1


def test_defaults_come_from_dbt_project_yml_once():
    v = ex.project_vars()
    g = ex.generator_config(v)
    assert (g.k, g.alignment, g.ratio, g.leave_self_out) == (v["synthetic_k"], v["alignment"], v["synthetic_ratio"],
                                                           v["leave_self_out"])
    c = ex.ladder_config(v)
    assert c.eval_negatives == v["eval_negatives"] and c.eval_max_pairs == v["eval_max_pairs"]
    assert c.synthetic_lambda == v["synthetic_lambda"] and list(c.seeds) == v["training_seeds"]
    assert (c.mf is None) == (not v["mf_factors"])


def test_unknown_study_stops_before_any_work(tmp_path):
    p = tmp_path / "c.yml"
    p.write_text(yaml.safe_dump({"name": "x", "report_dir": str(tmp_path / "r"), "studies": ["volume_9"]}))
    with pytest.raises(SystemExit, match=r"unknown studies \['volume_9'\]"):
        ex.run(str(p))


def test_model_config_rejects_values_below_their_minimum():
    from scalr.dbt_config import ModelConfig
    c = ModelConfig({"negatives_per_positive": "-1", "synthetic_lambda": "0.5"}, "model_metrics")
    with pytest.raises(ValueError, match=r"model_metrics: var negatives_per_positive=-1 is below its minimum 0"):
        c.get("negatives_per_positive", 4, int, min_value=0)
    assert c.get("synthetic_lambda", 1.0, float, min_value=0) == 0.5


def test_grid_expands_to_one_named_variant_per_combination(tmp_path):
    out = ex.grid_studies({"k": [1, 10], "lambda": [0.3, 1.0, 3.0], "alignment": ["bucket", "none"]})
    assert len(out) == 12 and len({n for n, _, _ in out}) == 12
    name, study, over = out[-1]
    assert name == "grid:k=10,lambda=3.0,alignment=none" and study == "joint sweep"
    assert over == {"k": 10, "lambda": 3.0, "alignment": "none"}
    assert ex.grid_studies(None) == []
    with pytest.raises(ValueError, match="not sweepable"):
        ex.grid_studies({"temperature": [1.0]})
    with pytest.raises(ValueError, match="non-empty list"):
        ex.grid_studies({"k": []})
    p = tmp_path / "c.yml"
    p.write_text("name: x\ngrid: {k: 3}\n")
    with pytest.raises(ValueError, match="non-empty list"):
        ex.check_config(str(p))
