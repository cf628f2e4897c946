"""The SQL models follow docs/style.md, enforced by sqlfluff with the dbt templater (.sqlfluff); the
README's Configuration table is dbt_project.yml's vars, each once with its default; the test run
itself is grouped as tests/conftest.py intends."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]


def test_sqlfluff_lint_models(tmp_path):
    env = dict(os.environ, SCALR_DB=str(tmp_path / "lint.duckdb"), DBT_PROFILES_DIR=str(PROJECT))
    proc = subprocess.run([str(Path(sys.executable).with_name("sqlfluff")), "lint", "models"],
                          cwd=PROJECT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def config_table(readme: str) -> list[tuple[str, object]]:
    """(var, default) of each row of the README's Configuration table, the default parsed as YAML."""
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_0-9]+)` \| `([^`]*)` \| ", section, re.M)
    assert len(rows) == len(re.findall(r"^\| `", section, re.M)), "a row whose default is not one `literal`"
    return [(name, yaml.safe_load(default)) for name, default in rows]


def config_mismatches(readme: str, defaults: dict) -> list[str]:
    """Vars missing from the table, rows that are not vars or are there twice, and wrong defaults."""
    rows = config_table(readme)
    names = [n for n, _ in rows]
    out = [f"{n}: not in the table" for n in sorted(set(defaults) - set(names))]
    out += [f"{n}: not a var" for n in sorted(set(names) - set(defaults))]
    out += [f"{n}: {names.count(n)} rows" for n in sorted(set(names)) if names.count(n) > 1]
    return out + [f"{n}: default {d!r}, dbt_project.yml {defaults[n]!r}" for n, d in rows
                  if n in defaults and d != defaults[n]]


def test_every_var_documented_once_with_its_default():
    defaults = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["vars"]
    assert config_mismatches((PROJECT / "README.md").read_text(), defaults) == []
    # the same check on a shuffled table: a wrong default, a var twice, a row that is no var, the rest missing
    fake = ("\n## Configuration\n| `synthetic_k` | `5` | x |\n| `alignment` | `bucket` | y |\n"
            "| `alignment` | `bucket` | y |\n| `no_such_var` | `1` | z |\n## Next\n")
    found = config_mismatches(fake, defaults)
    assert f"synthetic_k: default 5, dbt_project.yml {defaults['synthetic_k']!r}" in found
    assert "alignment: 2 rows" in found and "no_such_var: not a var" in found
    assert sum(f.endswith("not in the table") for f in found) == len(defaults) - 2


def test_xdist_work_units_are_module_groups(tmp_path):
    """`make test` (pytest-xdist, 2 workers) must send a module's tests, and the modules that share
    a session build, to one worker as one unit (tests/conftest.py): otherwise their dbt builds run
    on both workers (with --dist loadgroup on pytest 9.2 every test was its own unit). The mapping,
    then the hook itself on this pytest / xdist: two probe modules of four tests each on 2 workers."""
    from tests.conftest import xdist_scope
    assert xdist_scope("tests/test_control.py::test_results_tables_and_report") == "test_control"
    assert xdist_scope("tests/test_control.py::test_a[x::y]") == "test_control"
    assert xdist_scope("tests/test_generation_dbt.py::test_x") == xdist_scope("tests/test_dbt_build.py::test_y") \
        == "shared_builds"
    assert xdist_scope("tests/test_spark.py::test_x") == xdist_scope("tests/test_sampler_sql.py::t") == "sampler_sql"
    assert xdist_scope("tests/test_style.py::test_a") != xdist_scope("tests/test_sasrec.py::test_a")
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_xdist_make_scheduler  # noqa: F401\n")
    for m in ("test_probe_a", "test_probe_b"):
        (tmp_path / f"{m}.py").write_text("".join(
            f"def test_{i}():\n    import os\n    open('{tmp_path}/ran.txt', 'a').write("
            f"'{m} ' + os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n" for i in range(4)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "load", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    ran = [line.split() for line in (tmp_path / "ran.txt").read_text().splitlines()]
    assert len(ran) == 8
    workers = {m: {w for mm, w in ran if mm == m} for m in ("test_probe_a", "test_probe_b")}
    assert all(len(w) == 1 for w in workers.values()), workers
