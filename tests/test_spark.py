"""The spark target (dbt-spark, method session, local pyspark): staging -> intermediate ->
translation and synthetic_events_sql build on Spark; translation equals DuckDB's exactly, the SQL
sampler's rows equal DuckDB's (md5 uniforms) and its draws fit p_norm (chi-square); the
early-stopping slice (int_validation_cut through the dispatched scalr_time_quantile, flagged in
int_target_train_events) flags the same events on both engines.

Marked `spark` (deselect with -m 'not spark'). Skips when pyspark or java is missing, unless
SCALR_REQUIRE_SPARK=1 (.ci/run sets it after `make setup-spark`): then it fails instead."""
from __future__ import annotations

import os

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests import sampler_sql_build as build
from tests.test_sampler_sql import chi_square, expected_draws, observed_vs_expected

pytestmark = pytest.mark.spark

K = build.K
if build.SPARK_MISSING and os.environ.get("SCALR_REQUIRE_SPARK") != "1":
    pytest.skip(f"Spark target not set up ({', '.join(build.SPARK_MISSING)} missing; make setup-spark)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    assert not build.SPARK_MISSING, \
        f"SCALR_REQUIRE_SPARK=1 but {', '.join(build.SPARK_MISSING)} missing (make setup-spark)"
    # one Spark build of the world tests/test_sampler_sql.py builds on DuckDB (tests/sampler_sql_build.py);
    # started before the DuckDB builds when this module runs first, else already running
    build.start_spark(tmp_path_factory)
    duck = build.duck_builds(tmp_path_factory)
    code, log, out_dir = build.wait_spark(tmp_path_factory)
    assert code == 0, log[-6000:]
    print([line for line in log.splitlines() if "dbt_seconds" in line])
    con = duckdb.connect()
    out = {"duck_translation": duck["translation"], "duck_synthetic_events_sql": duck["plain"],
           "user_items": duck["user_items"], "events": duck["events"]}
    out["duck_int_target_train_events"] = duck["target_train"]
    for name, key in [("translation", build.TRANSLATION_KEY), ("synthetic_events_sql", build.SAMPLER_KEY),
                      ("int_target_train_events", build.TARGET_TRAIN_KEY)]:
        out[f"spark_{name}"] = con.sql(f"select * from read_parquet('{out_dir / name}/*.parquet') "
                                       f"order by {key}").df()
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
    assert list(s.columns) == list(d.columns) and len(s) == len(d) > 20_000
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


def test_validation_slice_on_spark_equals_duckdb(built):
    """scalr_time_quantile's Spark implementation (percentile over unix_micros) and DuckDB's
    quantile_cont put the slice at the same place: the same events flagged is_validation."""
    s, d = built["spark_int_target_train_events"], built["duck_int_target_train_events"]
    s = s.assign(event_ts=pd.to_datetime(s.event_ts).dt.tz_localize(None))
    assert list(s.columns) == list(d.columns) and len(s) == len(d) > 500
    for col in ["user_id", "item_id", "event_ts", "label"]:
        assert (s[col].astype(str).to_numpy() == d[col].astype(str).to_numpy()).all(), col
    flags = d.is_validation.to_numpy(bool)
    assert 0.05 * len(d) < flags.sum() < 0.2 * len(d)  # a slice of about validation_fraction 0.1
    assert (s.is_validation.to_numpy(bool) == flags).all()
