"""Shared fixtures: run the real dbt project on worlds the tests generate."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from scalr import demo_world

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


# pytest-xdist (`make test`: -n 2) schedules by group: every module is one group, so its
# module-scoped builds run once, and the modules that share a session-scoped build (or the Spark
# process of tests/sampler_sql_build.py) form one group, so it is built once per session. The
# groups are the scheduler's own scopes (``pytest_xdist_make_scheduler``), not xdist_group marks:
# with pytest 9.2 and xdist 3.8, `--dist loadgroup` renames ``item._nodeid``, which pytest 9 no
# longer reads, so every test became its own work unit, a module's tests ran on both workers and
# its module-scoped dbt builds ran twice (test_control, test_generation_dbt: ~210 s of CI CPU).
SHARED_GROUPS = {
    "shared_builds": ("test_dbt_build", "test_generation_dbt", "test_dbt_ecosystem", "test_sql_client",
                      "test_walks_dbt", "test_privacy"),  # demo_build / privacy_build
    "sampler_sql": ("test_sampler_sql", "test_spark"),  # tests/sampler_sql_build.py
}
_GROUP_OF = {module: group for group, modules in SHARED_GROUPS.items() for module in modules}


def xdist_scope(nodeid: str) -> str:
    """The work unit of a test: its module's group (SHARED_GROUPS) or its module."""
    module = Path(nodeid.split("::", 1)[0]).stem
    return _GROUP_OF.get(module, module)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return ModuleGroupScheduling(config, log)


def copy_db(res: DbtResult, dest: Path) -> Path:
    """A private copy of a build's DuckDB file (cheap) for a test that writes to it: the shared
    builds below stay read-only."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(res.db, dest / res.db.name)
    return dest / res.db.name


# The demo-like world most dbt tests read: one full `dbt build` (every model, data test and unit
# test) per session, shared read-only by test_dbt_build, test_generation_dbt, test_dbt_ecosystem,
# test_sql_client and test_walks_dbt. Its vars are the union of what those modules need: one
# LightGBM seed, popularity eval negatives and synthetic_ratio 1 (test_generation_dbt), a Parquet
# export (test_dbt_ecosystem, added by demo_build), target_keep_users 0.8 and the walk settings
# (test_walks_dbt: the graph must drop the hidden users). A test that writes to the database works
# on copy_db(...).
DEMO_SPEC = dict(n_users=1500, n_source_items=300, n_target_items=150, seed=21)
DEMO_VARS = {"train_end": "2024-10-01", "training_seeds": [0], "eval_negatives": "popularity",
             "synthetic_ratio": 1.0, "target_keep_users": 0.8, "walks_per_user": 2,
             "walk_length": "empirical", "walk_beta": 0.3, "walk_restart": 0.1, "walk_seed": 5}


@pytest.fixture(scope="session")
def demo_world_paths(tmp_path_factory) -> dict:
    return demo_world.write(demo_world.generate(demo_world.WorldSpec(**DEMO_SPEC)),
                            tmp_path_factory.mktemp("demo_world"))


def demo_vars(paths: dict, **kw) -> dict:
    return {"events_path": str(paths["events"]), "items_path": str(paths["items"]), **DEMO_VARS, **kw}


@pytest.fixture(scope="session")
def demo_build(demo_world_paths, tmp_path_factory) -> SimpleNamespace:
    """The full build of the demo-like world (2 threads), its vars, workdir and manifest."""
    tmp = tmp_path_factory.mktemp("demo_build")
    v = demo_vars(demo_world_paths, export_dir=str(tmp / "export"))
    res = run_dbt(tmp / "run", v)
    assert res.ok, res.output[-4000:]
    manifest = json.loads((tmp / "run" / "target" / "manifest.json").read_text())
    return SimpleNamespace(res=res, vars=v, tmp=tmp, paths=demo_world_paths, manifest=manifest)


# A world without an items file (items_path null: target items are valued by popularity), built
# through privacy_audit and synthetic_summary: test_privacy's audit and its noise-free translation,
# and test_dbt_ecosystem's popularity fallback, read it.
PRIVACY_SPEC = dict(n_users=4000, n_source_items=100, n_target_items=50, seed=5, train_end="2024-09-01")


@pytest.fixture(scope="session")
def privacy_world_paths(tmp_path_factory) -> dict:
    return demo_world.write(demo_world.generate(demo_world.WorldSpec(**PRIVACY_SPEC)),
                            tmp_path_factory.mktemp("privworld"))


@pytest.fixture(scope="session")
def privacy_build(privacy_world_paths, tmp_path_factory) -> DbtResult:
    res = run_dbt(tmp_path_factory.mktemp("privacy_build"),
                  {"events_path": str(privacy_world_paths["events"]), "train_end": "2024-09-01"},
                  select="+privacy_audit +synthetic_summary")
    assert res.ok, res.output[-3000:]
    return res
