"""The spark target (dbt-spark, method session, local pyspark): staging -> intermediate ->
translation and synthetic_events_sql build on Spark; translation equals DuckDB's exactly, the SQL
sampler's rows equal DuckDB's (md5 uniforms) and its draws fit p_norm (chi-square).

Marked `spark` (deselect with -m 'not spark'). Skips when pyspark or java is missing, unless
SCALR_REQUIRE_SPARK=1 (.ci/run sets it after `make setup-spark`): then it fails instead."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest

from scalr import demo_world
from tests.conftest import PROJECT, run_dbt
from tests.test_sampler_sql import chi_square, expected_draws, observed_vs_expected

pytestmark = pytest.mark.spark

K = 10
MISSING = [name for name, ok in [("pyspark", importlib.util.find_spec("pyspark") is not None),
                                 ("dbt-spark", importlib.util.find_spec("dbt.adapters.spark") is not None),
                                 ("java", shutil.which("java") is not None)] if not ok]
if MISSING and os.environ.get("SCALR_REQUIRE_SPARK") != "1":
    pytest.skip(f"Spark target not set up ({', '.join(MISSING)} missing; make setup-spark)", allow_module_level=True)

SAMPLER_KEY = "user_id, source_domain, source_item, event_ts, label, draw"
TRANSLATION_KEY = "source_domain, source_item, target_item"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    assert not MISSING, f"SCALR_REQUIRE_SPARK=1 but {', '.join(MISSING)} missing (make setup-spark)"
    tmp = tmp_path_factory.mktemp("spark")
    world = demo_world.generate(demo_world.WorldSpec(n_users=400, n_source_items=80, n_target_items=40, seed=9,
                                                     source_domains=("books", "music")))
    paths = demo_world.write(world, tmp / "w")
    v = {"events_path": str(paths["events"]), "items_path": str(paths["items"]),
         "source_domains": ["books", "music"], "synthetic_k": K, "leave_self_out": False}
    env = dict(os.environ, SCALR_SPARK_CATALOG="in-memory", SCALR_SPARK_WAREHOUSE=str(tmp / "warehouse"),
               SCALR_SPARK_PARTITIONS="2", SCALR_THREADS="2", DBT_PROFILES_DIR=str(PROJECT))
    # the Spark build (JVM start included) runs while DuckDB builds the same models
    with (tmp / "spark.out").open("w") as spark_log:
        spark = subprocess.Popen([sys.executable, "-m", "scalr.spark_run", "--project-dir", str(PROJECT),
                                  "--vars", json.dumps(v), "--export", "translation,synthetic_events_sql",
                                  "--out", str(tmp / "out"), "--target-path", str(tmp / "spark_target"),
                                  "--log-path", str(tmp / "spark_logs")],
                                 cwd=tmp, env=env, stdout=spark_log, stderr=subprocess.STDOUT)
        duck = run_dbt(tmp / "duck", v, command="run", select="+translation +synthetic_events_sql")
        try:
            spark.wait(timeout=600)
        finally:
            if spark.poll() is None:
                spark.kill()
    log = (tmp / "spark.out").read_text(errors="replace")
    assert duck.ok, duck.output[-4000:]
    assert spark.returncode == 0, log[-6000:]
    print([line for line in log.splitlines() if "dbt_seconds" in line])
    con = duckdb.connect()
    out = {}
    for name, key in [("translation", TRANSLATION_KEY), ("synthetic_events_sql", SAMPLER_KEY)]:
        out[f"spark_{name}"] = con.sql(f"select * from read_parquet('{tmp / 'out' / name}/*.parquet') "
                                       f"order by {key}").df()
        out[f"duck_{name}"] = duck.table(name, key)
    with duck.con() as c:
        out["user_items"] = c.sql("select u.user_id, u.domain_role, u.domain, u.item_id from int_user_items u "
                                  "inner join int_overlap_users o on u.user_key = o.user_key").df()
        out["events"] = c.sql("select * from int_source_events").df()
    return out


def test_translation_on_spark_equals_duckdb(built):
    s, d = built["spark_translation"], built["duck_translation"]
    assert list(s.columns) == list(d.columns) and len(s) == len(d) > 500
    assert set(s.source_domain) == {"books", "music"}
    for col in ["source_domain", "source_item", "target_item", "n_users_ji", "n_users_j", "target_rank", "n_targets"]:
        assert (s[col].astype(str).to_numpy() == d[col].astype(str).to_numpy()).all(), col
    np.testing.assert_allclose(s.p_hat, d.p_hat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s.p_norm, d.p_norm, rtol=0, atol=1e-12)


def test_sql_sampler_on_spark_equals_duckdb_and_fits_p_norm(built):
    s, d = built["spark_synthetic_events_sql"], built["duck_synthetic_events_sql"]
    s = s.assign(event_ts=pd.to_datetime(s.event_ts).dt.tz_localize(None))
    assert list(s.columns) == list(d.columns) and len(s) == len(d) > 10_000
    for col in d.columns:
        if d[col].dtype.kind == "f":
            np.testing.assert_allclose(s[col], d[col], rtol=0, atol=1e-12, err_msg=col)
        else:
            assert (s[col].astype(str).to_numpy() == d[col].astype(str).to_numpy()).all(), col
    exp = expected_draws(built["user_items"], built["events"], K, leave_self_out=False)
    m = observed_vs_expected(s, exp)
    tr = m.merge(built["spark_translation"], on=["source_domain", "source_item", "target_item"])
    assert len(tr) == len(m)
    fit = chi_square(m.observed, tr.p_norm * m.groupby(["source_domain", "source_item"])["observed"].transform("sum"),
                     m.source_item)
    assert fit.pvalue > 1e-3, fit
