"""The README's main pipeline: `dbt build` of every model, data test and unit test on a demo world."""
from __future__ import annotations

import re

from scalr import demo_world


def test_full_dbt_build_on_demo_world(tmp_path, dbt):
    paths = demo_world.write(demo_world.generate(demo_world.WorldSpec(n_users=1500)), tmp_path / "w")
    res = dbt({"events_path": str(paths["events"]), "items_path": str(paths["items"])})
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
