"""Run the dbt project on its `spark` target (dbt-spark, method session: a local pyspark session in
this process) and export chosen relations to Parquet with the same session (README "Spark").

One process, one JVM: dbt builds the models, then the same SparkSession reads the relations it
wrote (also views, and with the in-memory catalog) and writes them as Parquet for other engines to
compare. Prints one JSON line with the wall times.

    python -m scalr.spark_run --vars '{events_path: demo/events.csv.gz}' \\
        --selector spark --export translation,synthetic_events_sql --out spark_out
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SparkRunConfig:
    project_dir: Path
    vars: dict
    out: Path
    selector: str | None = "spark"
    select: str | None = None
    command: str = "run"
    exports: list[str] = field(default_factory=list)
    target_path: Path | None = None
    log_path: Path | None = None


def run(cfg: SparkRunConfig) -> dict:
    """dbt <command> --target spark, then each export -> <out>/<name>/ (Parquet). Returns timings
    and dbt's success; raises when dbt fails (its log holds the error)."""
    from dbt.cli.main import dbtRunner

    args = [cfg.command, "--target", "spark", "--project-dir", str(cfg.project_dir),
            "--profiles-dir", str(cfg.project_dir), "--vars", json.dumps(cfg.vars)]
    if cfg.selector:
        args += ["--selector", cfg.selector]
    if cfg.select:
        args += ["--select", cfg.select]
    if cfg.target_path:
        args += ["--target-path", str(cfg.target_path)]
    if cfg.log_path:
        args += ["--log-path", str(cfg.log_path)]
    t0 = time.perf_counter()
    res = dbtRunner().invoke(args)
    t_dbt = time.perf_counter() - t0
    if not res.success:
        raise RuntimeError(f"dbt {cfg.command} --target spark failed: {res.exception or 'see the dbt log'}")
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    schema = os.environ.get("SCALR_SPARK_SCHEMA", "scalr")
    t1 = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    for name in cfg.exports:
        spark.table(f"{schema}.{name}").coalesce(1).write.mode("overwrite").parquet(str(cfg.out / name))
    return {"command": cfg.command, "dbt_seconds": round(t_dbt, 2),
            "export_seconds": round(time.perf_counter() - t1, 2), "exports": cfg.exports, "out": str(cfg.out)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--project-dir", default=".")
    p.add_argument("--vars", default="{}", help="dbt vars (YAML or JSON)")
    p.add_argument("--selector", default="spark", help="dbt selector (selectors.yml); '' for none")
    p.add_argument("--select", default=None)
    p.add_argument("--command", default="run", choices=["run", "build"])
    p.add_argument("--export", default="", help="comma-separated relations to write as Parquet")
    p.add_argument("--out", default="spark_out")
    p.add_argument("--target-path", default=None)
    p.add_argument("--log-path", default=None)
    a = p.parse_args(argv)
    import yaml

    cfg = SparkRunConfig(project_dir=Path(a.project_dir).resolve(), vars=yaml.safe_load(a.vars) or {},
                         out=Path(a.out), selector=a.selector or None, select=a.select, command=a.command,
                         exports=[e for e in a.export.split(",") if e],
                         target_path=Path(a.target_path) if a.target_path else None,
                         log_path=Path(a.log_path) if a.log_path else None)
    print(json.dumps(run(cfg)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
