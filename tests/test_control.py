"""The positive control: on a seeded world where target-cold users' taste is visible only in the
source domain (scalr.demo_world: one taste drives both domains), the loop must detect that
synthetic rows help (T+S beats T for cold users far outside the seed spread), the frequency
generator must recover a stated share of the oracle generator's gain (sampling from the planted
translation), and user-shuffled synthetic rows must NOT pass the same test. End to end through
``python -m scalr.experiments`` (dbt build with target_keep_users in SQL, then the ladder)."""
from __future__ import annotations

import duckdb
import numpy as np
import pytest
import yaml

from scalr import demo_world
from scalr import experiments as ex
from scalr import report

pytestmark = pytest.mark.dbt

SPEC = dict(n_users=6000, seed=7)  # the demo world of `make demo`


@pytest.fixture(scope="module")
def control(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("control")
    paths = demo_world.write(demo_world.generate(demo_world.WorldSpec(**SPEC)), tmp / "world")
    cfg = {"name": "control", "report_dir": str(tmp / "rep"),
           "vars": {"events_path": str(paths["events"]), "items_path": str(paths["items"]), "train_end": "2024-10-01"},
           "target_keep_users": [0.3], "studies": [], "ladder": {"n_boot": 200},
           "controls": {"oracle_world": SPEC, "shuffled": True}}
    p = tmp / "control.yml"
    p.write_text(yaml.safe_dump(cfg))
    res = ex.run(str(p))
    return res, tmp


def _cold(res, config):
    r = res[(res.config == config) & (res.segment == "cold") & (res.model == "binary")].sort_values("seed")
    assert len(r) == 3, config
    return r


def _helps_far_outside_the_spread(r) -> bool:
    """Paired CI of the first seed above 0, every seed above 0, and the mean gain > 3x the seed
    spread of the gain."""
    d = r.diff_recall_at_50.to_numpy()
    return bool(r.diff_recall_at_50_lo.iloc[0] > 0 and (d > 0).all() and d.mean() > 3 * (d.max() - d.min()))


def test_synthetic_rows_help_cold_users_and_shuffled_rows_do_not(control):
    res, _ = control
    ts, shuffled = _cold(res, "T+S"), _cold(res, "T+S:shuffled")
    assert _helps_far_outside_the_spread(ts), ts[["seed", "diff_recall_at_50", "diff_recall_at_50_lo"]]
    assert not _helps_far_outside_the_spread(shuffled)
    assert ts.diff_recall_at_50.mean() > 2 * max(shuffled.diff_recall_at_50.mean(), 0.0) + 0.02
    # NE agrees: T+S below T for cold users on every seed, shuffled rows not
    assert (ts.rel_ne_pct < 0).all() and (ts.rel_ne_hi.iloc[0] < 0)
    assert ts.rel_ne_pct.mean() < shuffled.rel_ne_pct.mean() - 1.0


def test_frequency_generator_recovers_most_of_the_oracle_gain(control):
    res, _ = control
    ts, oracle = _cold(res, "T+S"), _cold(res, "T+S:oracle")
    assert _helps_far_outside_the_spread(oracle)
    share = ts.diff_recall_at_50.mean() / oracle.diff_recall_at_50.mean()
    assert share >= 0.6, share


def test_results_tables_and_report(control):
    res, tmp = control
    with duckdb.connect(str(tmp / "rep" / "experiments.duckdb"), read_only=True) as con:
        stored = con.sql("select * from experiment_results").df()
        dec = con.sql("select * from experiment_deciles").df()
        splits = con.sql("select * from experiment_splits").df()
        helpd = con.sql("select * from help_diagnostic_results").df().set_index("scorer")
    assert len(stored) == len(res)
    # the diagnostic before training sees the planted signal (the ladder's T+S gain is asserted above)
    assert helpd.loc["synthetic_mf", "verdict"] == "beats popularity" and helpd.loc["synthetic_mf", "lift_lo"] > 0.1
    models = stored[stored.model == "binary"]
    assert not models.duplicated(["keep", "config", "seed", "segment"]).any()
    assert {"T", "T+F", "T+S", "T+F+S", "T+S:oracle", "T+S:shuffled"} <= set(models.config)
    t = models[(models.config == "T")]
    assert np.allclose(t.diff_recall_at_50, 0) and np.allclose(t.rel_ne_pct, 0)
    # T reads no source event: none of the cross-domain or synthetic features
    assert set(t.features.iat[0].split(",")) <= set(ex.la.ln.T_FEATURES)
    # same metric names as the mart model_metrics
    assert list(stored.columns[:len(ex.la.RESULT_COLUMNS)]) == ex.la.RESULT_COLUMNS
    assert splits.ranking.iat[0] == "full catalog" and splits.eval_cold_users_ranked.iat[0] > 500
    assert set(dec.decile) == set(range(1, 11))
    # head / tail recall@50 are the pooled recall of decile 10 and of deciles 1-9
    t0 = stored[(stored.config == "T") & (stored.seed == 0) & (stored.segment == "all")].iloc[0]
    d = dec[(dec.config == "T") & (dec.seed == 0) & (dec.segment == "all")].set_index("decile")
    assert t0.recall_at_50_head == pytest.approx(d.recall_at_50[10])
    tail = d.loc[1:9]
    assert t0.recall_at_50_tail == pytest.approx((tail.recall_at_50.fillna(0) * tail.n_pos).sum() / tail.n_pos.sum())
    md = (tmp / "rep" / "report.md").read_text()
    assert "Will it help?" in md and "### Controls" in md and "T+S:oracle" in md
    assert "**Will it help?** signal: " in md
    s = report.summarize(res)
    row = s[(s.config == "T+S") & (s.segment == "cold")].iloc[0]
    assert row.verdict_recall_at_50 == "helps"
