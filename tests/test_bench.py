"""Smoke size of the benchmark (python -m scalr.bench): every stage is reported and written to CSV,
and the translation scalr builds on the bench world equals the scipy-sparse baseline exactly, with
int_cooccurrence's GROUP BY split into ceil(W / 10,000) source-key partitions (every test on a small
world runs one partition; the dbt unit tests run both)."""
from __future__ import annotations

import pandas as pd

from scalr import bench


def test_bench_smoke(tmp_path):
    out = tmp_path / "results"
    df = bench.main(["--source-events", "2e4", "--workdir", str(tmp_path / "work"), "--out", str(out),
                     "--loop-events", "300", "--threads", "1",
                     "--vars", '{"cooccurrence_partition_triples": 10000}'])
    meta = df.attrs["meta"][0]
    assert meta["triples"] > 100_000
    assert meta["cooccurrence_partitions"] == -(-meta["triples"] // 10000)  # ceil(W / 10,000), W < 640,000
    assert meta["scalr_equals_scipy"] is True
    assert meta["pairs_scalr"] == meta["pairs_scipy"] == meta["pairs_pandas"] == meta["pairs_polars"] > 1000
    csvs = list(out.glob("bench_*.csv"))
    assert len(csvs) == 1 and len(list(out.glob("bench_*.md"))) == 1
    got = pd.read_csv(csvs[0])
    stages = set(got.stage)
    for m in ["int_user_items", "int_cooccurrence", "translation", "synthetic_events",
              "synthetic_events_aligned"]:
        assert f"dbt: {m}" in stages, m
        r = got[got.stage == f"dbt: {m}"].iloc[0]
        assert r.rows > 0 and r.seconds > 0 and r.peak_rss_mb > 0, m
    for s in ["baseline: scipy.sparse S^T T + P_hat", "baseline: pandas merge + groupby + P_hat",
              "scalr: co-occurrence + P_hat vs scipy", "scalr: co-occurrence + P_hat vs pandas",
              "scalr SQL engine: co-occurrence + P_hat vs scipy", "scalr: co-occurrence + translation mart vs scipy",
              "scalr.sampling (in process, 1 core)", "thread scaling: dbt run raw -> aligned, 1 threads",
              "baseline: polars join + group_by + P_hat", "scalr: co-occurrence + P_hat vs polars",
              "two_stage: dbt synthetic_events",
              "two_stage: dbt total (raw events -> synthetic_events_aligned, no co-occurrence)",
              "thread scaling: co-occurrence + P_hat SQL engine, 1 threads"]:
        assert s in stages, s
    assert (got.loc[got.stage.str.startswith("scalr"), "speedup_vs_baseline"] > 0).all()
    # the two-stage run draws K = 3 per source event with a translation, less the events whose j only u holds
    ts = got[got.stage == "two_stage: dbt synthetic_events"].iloc[0]
    ph = got[got.stage == "dbt: synthetic_events"].iloc[0]
    assert ts.rows == ph.rows and ts.speedup_vs_baseline > 0  # the same drops (U_j = {u})


def test_bench_dbt_only_reports_the_work(tmp_path):
    """--dbt-only (worlds too large for the in-memory baselines) still reports W and the pairs,
    read by SQL from the built database: they equal W recomputed from the arrays and the pairs
    counted independently in int_cooccurrence."""
    import duckdb

    df = bench.main(["--source-events", "5e3", "--dbt-only", "--keep", "--workdir", str(tmp_path / "work"),
                     "--out", str(tmp_path / "results"), "--samplers", "p_hat"])
    meta = df.attrs["meta"][0]
    ui = bench.load_user_items(meta["db"])
    assert meta["triples"] == bench.triples(ui) > 1000
    with duckdb.connect(meta["db"], read_only=True) as con:
        n_pairs = con.execute("select count(distinct (source_key, target_key)) from int_cooccurrence").fetchone()[0]
    assert meta["pairs_scalr"] == n_pairs > 100
    assert meta["scalr_equals_scipy"] is None and meta["pairs_scipy"] is None
