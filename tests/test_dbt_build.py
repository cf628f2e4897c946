"""The README's main pipeline: `dbt build` of every model, data test and unit test on a demo world
(the session's shared build, tests/conftest.py demo_build)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np

from scalr import demo_world
from scalr import ladder as la
from scalr import learning as ln
from tests.conftest import PROJECT


def test_full_dbt_build_on_demo_world(demo_build):
    """The session's full build (tests/conftest.py: demo_build) of a 1500-user demo world."""
    res = demo_build.res
    assert res.ok, res.output[-4000:]
    m = re.search(r"PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", res.output)
    assert m and int(m.group(3)) == 0 and int(m.group(4)) == 0
    assert int(m.group(1)) >= 40
    for unit_test in ["int_cooccurrence_counts_overlap_users_in_two_source_domains",
                      "int_cooccurrence_partitioned_group_by_gives_the_same_pairs",
                      "int_translation_min_support_keeps_the_denominator",
                      "int_translation_top_n_ties_are_deterministic", "translation_joins_the_text_ids",
                      "int_user_items_counts_each_user_item_once"]:
        assert re.search(rf"PASS\s.*{unit_test}|{unit_test}\s.*PASS", res.output), unit_test
    with res.con() as con:
        n = dict(con.sql("select 'translation', count(*) from translation union all "
                         "select 'aligned', count(*) from synthetic_events_aligned").fetchall())
    assert n["translation"] > 1000 and n["aligned"] > 1000
    with res.con() as con:  # the item values came from the items file (no popularity fallback)
        assert con.sql("select distinct value_source from published.synthetic_summary").fetchall() == [("items file",)]
    # model_metrics: the ladder, every arm against T, full-catalog ranking
    with res.con() as con:
        mm = con.sql("select * from model_metrics").df()
    assert {"T", "T+F", "T+S", "T+F+S", "heuristic:popularity", "heuristic:translation_score"} <= set(mm.config)
    t = mm[mm.config == "T"]
    assert set(t.features.iat[0].split(",")) <= set(ln.T_FEATURES) and (t.diff_recall_at_50 == 0).all()
    assert (mm.ranking == "full catalog").all() and list(mm.columns) == la.RESULT_COLUMNS


def test_one_p_hat_for_features_synthetic_rows_and_the_mart(tmp_path, dbt):
    """Under target_keep_users, min_support, translation_shrinkage and count_noise_epsilon together,
    each of the two fits of P_hat (README "The early-stopping slice and P_hat") is one table: the
    synthetic events are drawn from the pairs of its translation mart with its p_hat (whole window:
    translation -> synthetic_events; training fit: training_translation ->
    training_synthetic_events), and the training_rows mart's features are the features of the
    training fit's marts (recomputed from them)."""
    paths = demo_world.write(demo_world.generate(demo_world.WorldSpec(n_users=1500, seed=3)), tmp_path / "w")
    v = {"events_path": str(paths["events"]), "items_path": str(paths["items"]), "target_keep_users": 0.5,
         "min_support": 2, "translation_shrinkage": 2, "count_noise_epsilon": 1.0, "mf_factors": 8}
    res = dbt(v, command="run", select="+training_rows +synthetic_events translation")
    assert res.ok, res.output[-4000:]
    n_pairs = {}
    with res.con() as con:
        for syn_mart, tr_mart in (("synthetic_events", "translation"), ("training_synthetic_events", "training_translation")):
            bad = con.sql(f"""select count(*) from {syn_mart} s left join {tr_mart} t
                             on s.source_domain = t.source_domain and s.source_item = t.source_item
                             and s.target_item = t.target_item
                             where t.target_item is null or abs(t.p_hat - s.p_hat) > 1e-12""").fetchall()[0][0]
            n_syn = con.sql(f"select count(*) from {syn_mart}").fetchall()[0][0]
            n_pairs[tr_mart] = con.sql(f"select count(*) from {tr_mart}").fetchall()[0][0]
            assert n_syn > 1000 and bad == 0, syn_mart
        real = con.sql("select user_id, item_id, event_ts, label from int_target_train_events "
                       "order by user_id, item_id, event_ts, label").df()
        src = con.sql("select user_id, source_domain, source_item, event_ts, label from int_source_events "
                      "order by user_id, source_domain, source_item, event_ts, label").df()
        tr = con.sql("select * from training_translation order by source_domain, source_item, target_rank").df()
        syn = con.sql("select * from training_synthetic_events_aligned").df()
        rows = con.sql("select * from training_rows order by row_id").df()
        hidden = con.sql("select count(*) from int_target_users where not kept").fetchall()[0][0]
    assert hidden > 100 and n_pairs["training_translation"] < n_pairs["translation"]  # the slice is left out
    from scalr.factors import FactorConfig
    again = ln.training_rows_from_tables(real, src, tr, syn, ln.RowsConfig(mf=FactorConfig(factors=8, seed=0)))
    assert len(again) == len(rows)
    for f in ln.FEATURES:
        np.testing.assert_allclose(again[f].to_numpy(float), rows[f].to_numpy(float), rtol=1e-9, atol=1e-9,
                                   err_msg=f)
    assert rows.mf_all.notna().any() and rows.xdomain_sum.gt(0).any()


def test_cpu_budget_bench_runs_on_a_built_database(demo_build):
    """docs/bench/cpu_budget.py (README Performance) on the shared build: the producer, the two
    writers and the four one-text-column writers each print a time, over the rows two_stage draws."""
    script = PROJECT / "docs" / "bench" / "cpu_budget.py"
    proc = subprocess.run([sys.executable, str(script), str(demo_build.res.db), "1"], capture_output=True, text=True,
                          cwd=PROJECT, timeout=600, env={**os.environ, "PYTHONPATH": str(PROJECT / "python")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = int(re.search(r"^rows ([\d,]+); 1 threads$", proc.stdout, re.M).group(1).replace(",", ""))
    assert rows > 1000
    lines = [ln_ for ln_ in proc.stdout.splitlines() if ln_.startswith(("producer", "writer"))]
    assert [ln_.split(":")[0] for ln_ in lines] == [
        "producer (two_stage_stream, no write)", "writer, text columns (as stored)", "writer, integer keys",
        *(f"writer, integer keys but {c} as text" for c in ("user_id", "target_item", "source_domain", "source_item"))]
    assert all(re.search(r"[\d.]+ s wall, [\d.]+ CPU-s", ln_) for ln_ in lines), lines
