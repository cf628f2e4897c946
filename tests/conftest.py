"""Shared fixtures: run the real dbt project on worlds the tests generate."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

PROJECT = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).with_name("dbt"))


class DbtResult:
    def __init__(self, proc: subprocess.CompletedProcess, db: Path):
        self.proc, self.db = proc, db
        self.output = proc.stdout + proc.stderr
        self.ok = proc.returncode == 0

    def con(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.db), read_only=True)

    def table(self, name: str, order_by: str | None = None):
        with self.con() as c:
            q = f"select * from {name}" + (f" order by {order_by}" if order_by else "")
            return c.sql(q).df()


def run_dbt(workdir: Path, vars: dict, command: str = "build", select: str | None = None,
            db: Path | None = None, threads: int = 2, extra: list[str] | None = None) -> DbtResult:
    """Run dbt on the project with its own DuckDB file, target and log dirs under workdir.

    items_path is null unless the test sets it: the project default (demo/items.csv.gz) is the
    items file of the demo world, not of the worlds tests generate."""
    vars = {"items_path": None, **vars}
    workdir.mkdir(parents=True, exist_ok=True)
    db = db or workdir / "scalr.duckdb"
    env = dict(os.environ, SCALR_DB=str(db), SCALR_THREADS=str(threads),
               SCALR_TEMP_DIR=str(workdir / "tmp"), DBT_PROFILES_DIR=str(PROJECT))
    cmd = [DBT, *command.split(), "--project-dir", str(PROJECT), "--target-path", str(workdir / "target"),
           "--log-path", str(workdir / "logs"), "--vars", json.dumps(vars)]
    if select:
        cmd += ["--select", select]
    cmd += extra or []
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT)
    return DbtResult(proc, db)


@pytest.fixture
def dbt(tmp_path):
    def _run(vars: dict, **kw) -> DbtResult:
        return run_dbt(tmp_path / kw.pop("name", "run"), vars, **kw)
    return _run
