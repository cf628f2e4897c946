"""The `scalr` command and the modules behind it: every subcommand listed and documented, bad paths
and arguments answered with one line and exit 2 (no traceback), pyproject's dependencies equal to
requirements.txt's pins, `make clean` removes every output, and no path of one machine is committed."""
from __future__ import annotations

import argparse
import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from scalr import cli

PROJECT = Path(__file__).resolve().parents[1]
SCALR = str(Path(sys.executable).with_name("scalr"))


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd or PROJECT)


class _Parser(Exception):
    def __init__(self, parser):
        self.parser = parser


def _parser_of(module: str, prog: str, monkeypatch) -> argparse.ArgumentParser:
    """The ArgumentParser a module's main() builds, caught at parse_args (nothing runs)."""
    def grab(self, args=None, namespace=None):
        raise _Parser(self)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", grab)
    with pytest.raises(_Parser) as e:
        importlib.import_module(module).main([], prog=prog)
    return e.value.parser


def test_scalr_help_lists_every_subcommand():
    p = _run(SCALR, "--help")
    assert p.returncode == 0, p.stderr
    for name in ("demo-world", "experiments", "bench", "diagnostics"):
        assert re.search(rf"^  {name} +\S", p.stdout, re.M), name
    assert set(cli.COMMANDS) >= {"demo-world", "experiments", "bench", "diagnostics"}


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_option_of_every_subcommand_has_help_text(name, monkeypatch):
    module = cli.COMMANDS[name][0]
    ap = _parser_of(module, f"scalr {name}", monkeypatch)
    assert ap.prog == f"scalr {name}" and ap.description
    undocumented = [a.dest for a in ap._actions if not a.help or a.help == argparse.SUPPRESS]
    assert not undocumented, f"{module}: options without help: {undocumented}"


def test_help_names_the_command_a_user_types():
    p = _run(sys.executable, "-m", "scalr.experiments", "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: python -m scalr.experiments "), p.stdout[:200]
    p = _run(SCALR, "bench", "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: scalr bench "), p.stdout[:200]


@pytest.mark.parametrize("args, message", [
    (("diagnostics", "--db", "missing.duckdb"), "scalr diagnostics: error: DuckDB file 'missing.duckdb' not found"),
    (("experiments", "missing.yml"), "scalr experiments: error: config 'missing.yml' not found"),
    (("frobnicate",), "scalr: error: unknown command 'frobnicate'"),
])
def test_bad_paths_and_commands_give_one_line_and_exit_2(args, message, tmp_path):
    p = _run(SCALR, *args, cwd=tmp_path)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert p.stderr.startswith(message), p.stderr


def test_bad_values_are_named(tmp_path, capsys):
    from scalr import bench, diagnostics, experiments
    cfg = tmp_path / "c.yml"
    cfg.write_text("name: x\nstudies: [volume_9]\nvars: {synthetic_k: 2}\n")
    with pytest.raises(SystemExit) as e:
        experiments.main([str(cfg)], prog="scalr experiments")
    assert e.value.code == 2 and "unknown studies ['volume_9']" in capsys.readouterr().err
    cfg.write_text("name: x\nvars: {synthetic_kk: 2}\n")
    with pytest.raises(SystemExit):
        experiments.main([str(cfg)], prog="scalr experiments")
    assert "vars ['synthetic_kk'] are not vars of dbt_project.yml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        bench.main(["--source-events", "lots"], prog="scalr bench")
    assert e.value.code == 2 and "argument --source-events: expected comma-separated numbers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        bench.main(["--vars", "{max_items_per_user: 5}"], prog="scalr bench")
    assert e.value.code == 2 and "argument --vars: not valid JSON" in capsys.readouterr().err
    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database")
    with pytest.raises(SystemExit) as e:
        diagnostics.main(["--db", str(bad)], prog="scalr diagnostics")
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(f"scalr diagnostics: error: cannot read {bad}") and err.count("\n") == 1


def _pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        req = line.split("#")[0].strip()
        if req:
            name, version = req.split("==")
            out[name.lower()] = version
    return out


def test_pyproject_dependencies_are_the_pins_of_requirements_txt():
    req = _pins((PROJECT / "requirements.txt").read_text().splitlines())
    proj = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    declared = _pins(proj["dependencies"] + sum(proj.get("optional-dependencies", {}).values(), []))
    assert declared == req
    assert proj["scripts"]["scalr"] == "scalr.cli:entry"


def test_make_clean_removes_every_output(tmp_path):
    if not shutil.which("make"):
        pytest.skip("make not installed")
    shutil.copy(PROJECT / "Makefile", tmp_path / "Makefile")
    outputs = ["target/x", "logs/dbt.log", "demo/events.csv.gz", "scalr.duckdb", "scalr.duckdb.wal",
               ".duckdb_tmp/t", "reports/demo/report.html", "bench_results/bench.csv", "dbt_packages/p"]
    for o in outputs:
        (tmp_path / o).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / o).write_text("x")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "keep.sql").write_text("select 1")
    p = _run("make", "clean", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert [o for o in outputs if (tmp_path / o.split("/")[0]).exists()] == []
    assert (tmp_path / "models" / "keep.sql").exists()
    # every target the Makefile declares has a recipe
    dry = _run("make", "-n", "-f", str(PROJECT / "Makefile"), "bench", "experiments", "sql", cwd=PROJECT)
    assert "scalr bench" in dry.stdout and "scalr experiments experiments/demo.yml" in dry.stdout
    assert "harlequin --read-only" in dry.stdout


MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|Users|mnt)/")


def test_machine_path_pattern():
    bad = ["events_path: " + "/wo" + "rk/shared/data/x.csv.gz", "see `/ro" + "ot/x`", "(/ho" + "me/u/data)"]
    good = ["../shared/data/x.csv.gz", "/usr/bin/time", "models/work/x.sql", "a.b/home/x"]
    assert all(MACHINE_PATH.search(s) for s in bad) and not any(MACHINE_PATH.search(s) for s in good)


def test_no_path_of_one_machine_is_committed():
    """Committed files name data relative to the project (../shared/...), never by an absolute path
    under the work, root, home, Users or mnt directories of one machine."""
    if not (PROJECT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout")
    files = _run("git", "ls-files", "-z").stdout.split("\0")
    hits = []
    for f in filter(None, files):
        p = PROJECT / f
        if not p.is_file():
            continue
        try:
            text = p.read_text()
        except UnicodeDecodeError:
            continue
        hits += [f"{f}:{i}: {line.strip()[:120]}" for i, line in enumerate(text.splitlines(), 1)
                 if MACHINE_PATH.search(line)]
    assert not hits, "\n".join(hits)
