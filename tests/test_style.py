"""The SQL models follow docs/style.md, enforced by sqlfluff with the dbt templater (.sqlfluff)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_sqlfluff_lint_models(tmp_path):
    env = dict(os.environ, SCALR_DB=str(tmp_path / "lint.duckdb"), DBT_PROFILES_DIR=str(PROJECT))
    proc = subprocess.run([str(Path(sys.executable).with_name("sqlfluff")), "lint", "models"],
                          cwd=PROJECT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
