"""The SQL client the setup installs (harlequin, on the pinned duckdb package) opens a built
database read-only and runs the README's example queries: harlequin's own app, driven headless
through Textual's test pilot (type the query, press the run key, read the results table)."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT, copy_db

pytestmark = pytest.mark.dbt
READ = ["translation", "synthetic_summary", "int_target_train_events", "synthetic_events_aligned"]


def readme_queries() -> list[str]:
    """The statements of the sql block in README's 'Querying the built database'."""
    text = (PROJECT / "README.md").read_text()
    section = text.split("## Querying the built database", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sql\n(.*?)```", section, re.S).group(1)
    sql = "\n".join(line for line in block.splitlines() if not line.strip().startswith("--"))
    return [q.strip() for q in sql.split(";") if q.strip()]


@pytest.fixture(scope="module")
def built(demo_build, tmp_path_factory) -> Path:
    """A copy of the session's full build of the demo-like world (tests/conftest.py demo_build):
    every table the README's queries read is in it, and harlequin keeps its connection open in this
    process (a read-only open of the shared file with another configuration would then fail)."""
    with demo_build.res.con() as con:
        tables = {r[0] for r in con.sql("select table_name from information_schema.tables "
                                        "where table_schema = 'main'").fetchall()}
    assert set(READ) <= tables, set(READ) - tables
    return copy_db(demo_build.res, tmp_path_factory.mktemp("sqlclient"))


async def _run_in_harlequin(db: Path, queries: list[str]) -> list[tuple[list[str], int]]:
    from harlequin import Harlequin
    from harlequin_duckdb import DuckDbAdapter
    app = Harlequin(adapter=DuckDbAdapter(conn_str=(str(db),), read_only=True, no_init=True),
                    connection_hash="scalr-test")
    out = []
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(300):
            await pilot.pause(0.1)
            if app.editor is not None and app.connection is not None:
                break
        assert app.connection is not None, "harlequin did not connect"
        seen = None
        for q in queries:
            app.editor.text = q
            app.editor.focus()
            await pilot.pause(0.1)
            await pilot.press("ctrl+j")  # harlequin's "run query"
            for _ in range(300):
                await pilot.pause(0.1)
                table = app.results_viewer.get_visible_table()
                if table is not None and table is not seen:
                    break
            assert table is not None and table is not seen, f"no result for {q!r}"
            seen = table
            # a column label is "<name> <type glyph>", e.g. "p_norm #.#"
            out.append(([str(c.label).rsplit(" ", 1)[0] for c in table.ordered_columns], table.row_count))
    return out


def test_readme_queries_run_in_harlequin(built, tmp_path, monkeypatch):
    # harlequin keeps its history and config under the user's home: a fresh one here
    for var, sub in (("HOME", "home"), ("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    queries = readme_queries()
    assert len(queries) == 4 and "from translation" in queries[0]
    results = asyncio.run(_run_in_harlequin(built, queries))
    cols = [c for c, _ in results]
    assert cols[0] == ["target_item", "n_users_ji", "n_users_j", "p_hat", "p_norm"]
    assert cols[1] == ["support1_share"] and results[1][1] == 1
    assert cols[2][:2] == ["stage", "n_rows"] and results[2][1] >= 2
    assert cols[3] == ["kind", "item_id"]  # user u0002 may have no target events in this small world
