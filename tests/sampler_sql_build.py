"""One world and one set of builds for tests/test_sampler_sql.py (DuckDB) and tests/test_spark.py
(the spark target), shared within a pytest process so the suite builds them once:

- DuckDB: `dbt run` of +translation +synthetic_events_sql (leave_self_out false), then
  synthetic_events_sql again with leave_self_out true on the same database; the leave-self-out
  model's compiled SQL is also run by DuckDB with 1 thread (the build uses 2) to check the rows do
  not depend on the thread count.
- Spark (only when a `spark`-marked test is collected in the session): one `python -m
  scalr.spark_run` process (one JVM, one SparkSession) building the selector `spark` and exporting
  translation and synthetic_events_sql as Parquet. It starts before the DuckDB builds and runs
  while they do; test_spark waits for it."""
from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from scalr import demo_world
from tests.conftest import PROJECT, run_dbt

K = 20
SPEC = demo_world.WorldSpec(n_users=400, n_source_items=80, n_target_items=40, seed=9,
                            source_domains=("books", "music"))
SAMPLER_KEY = "user_id, source_domain, source_item, event_ts, label, draw"
TRANSLATION_KEY = "source_domain, source_item, target_item"
TARGET_TRAIN_KEY = "user_id, item_id, event_ts, label"
SPARK_MISSING = [name for name, ok in [("pyspark", importlib.util.find_spec("pyspark") is not None),
                                       ("dbt-spark", importlib.util.find_spec("dbt.adapters.spark") is not None),
                                       ("java", shutil.which("java") is not None)] if not ok]

_cache: dict = {}


def world(tmp_path_factory) -> tuple[Path, dict]:
    """(directory, dbt vars) of the shared world, generated once."""
    if "world" not in _cache:
        tmp = tmp_path_factory.mktemp("sampler_sql")
        paths = demo_world.write(demo_world.generate(SPEC), tmp / "w")
        v = {"events_path": str(paths["events"]), "items_path": str(paths["items"]),
             "source_domains": list(SPEC.source_domains), "synthetic_k": K, "leave_self_out": False}
        _cache["world"] = (tmp, v)
    return _cache["world"]


def spark_wanted(session) -> bool:
    return not SPARK_MISSING and any(item.get_closest_marker("spark") for item in session.items)


def start_spark(tmp_path_factory) -> subprocess.Popen:
    """The Spark build of the shared world (started once; see the module docstring)."""
    if "spark" not in _cache:
        tmp, v = world(tmp_path_factory)
        env = dict(os.environ, SCALR_SPARK_CATALOG="in-memory", SCALR_SPARK_WAREHOUSE=str(tmp / "warehouse"),
                   SCALR_SPARK_METASTORE=str(tmp / "metastore"), SCALR_SPARK_PARTITIONS="1",
                   SCALR_THREADS="2", DBT_PROFILES_DIR=str(PROJECT),
                   # a short run: the C1 compiler only and the serial GC (README "Spark": ~1.4x faster here)
                   SCALR_SPARK_JAVA_OPTIONS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        log = (tmp / "spark.out").open("w")
        _cache["spark"] = subprocess.Popen(
            [sys.executable, "-m", "scalr.spark_run", "--project-dir", str(PROJECT), "--vars", json.dumps(v),
             "--export", "translation,synthetic_events_sql,int_target_train_events", "--out", str(tmp / "spark_out"),
             "--target-path", str(tmp / "spark_target"), "--log-path", str(tmp / "spark_logs")],
            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
        atexit.register(lambda p=_cache["spark"]: p.poll() is None and p.kill())  # a session that stops early
    return _cache["spark"]


def wait_spark(tmp_path_factory) -> tuple[int, str, Path]:
    """(exit code, log, export directory) of the Spark build."""
    proc = start_spark(tmp_path_factory)
    try:
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    tmp, _ = world(tmp_path_factory)
    return proc.returncode, (tmp / "spark.out").read_text(errors="replace"), tmp / "spark_out"


def duck_builds(tmp_path_factory) -> dict:
    """The DuckDB builds (once): DataFrames plain (synthetic_events_sql, leave_self_out false),
    translation, target_train (int_target_train_events), lso (leave_self_out true), lso_1_thread (its compiled SQL run with 1 DuckDB
    thread), user_items (the overlap users' distinct positives), events (int_source_events)."""
    if "duck" in _cache:
        return _cache["duck"]
    tmp, v = world(tmp_path_factory)
    res = run_dbt(tmp / "duck", v, command="run", select="+translation +synthetic_events_sql +int_target_train_events")
    assert res.ok, res.output[-4000:]
    out = {}
    with res.con() as con:
        out["plain"] = con.sql(f"select * from synthetic_events_sql order by {SAMPLER_KEY}").df()
        out["translation"] = con.sql(f"select * from translation order by {TRANSLATION_KEY}").df()
        out["user_items"] = con.sql("select u.user_id, u.domain_role, u.domain, u.item_id from int_user_items u "
                                    "inner join int_overlap_users o on u.user_key = o.user_key").df()
        out["events"] = con.sql("select * from int_source_events").df()
        out["target_train"] = con.sql(f"select * from int_target_train_events order by {TARGET_TRAIN_KEY}").df()
    lso = run_dbt(tmp / "lso", dict(v, leave_self_out=True), command="run", select="synthetic_events_sql",
                  db=res.db)
    assert lso.ok, lso.output[-4000:]
    out["lso"] = lso.table("synthetic_events_sql", SAMPLER_KEY)
    compiled = next((tmp / "lso" / "target" / "compiled").rglob("synthetic_events_sql.sql")).read_text()
    with duckdb.connect(str(res.db), read_only=True) as con:
        con.execute("set threads = 1")
        out["lso_1_thread"] = con.sql(f"select * from ({compiled}) as q order by {SAMPLER_KEY}").df()
    _cache["duck"] = out
    return out
