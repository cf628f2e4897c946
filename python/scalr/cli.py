"""The ``scalr`` command: one entry point, one subcommand per module.

    scalr demo-world --out demo
    scalr experiments experiments/demo.yml
    scalr bench --source-events 1e6
    scalr diagnostics --db scalr.duckdb

Each subcommand is a module with ``main(argv, prog)`` (also runnable as ``python -m scalr.<module>``);
adding a study is one line in COMMANDS. Errors in paths and arguments print one line
(``scalr <sub>: error: ...``) and exit 2, without a traceback.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

# subcommand -> (module, one-line summary shown by `scalr --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo-world": ("scalr.demo_world", "write the seeded demo world (events and items, CSV.gz)"),
    "experiments": ("scalr.experiments", "run the ladder, studies and controls of an experiments/*.yml config"),
    "bench": ("scalr.bench", "benchmark the models against scipy / pandas / naive sampling baselines"),
    "diagnostics": ("scalr.diagnostics", "goodness of fit of a built synthetic_events table against P_hat"),
    "histories": ("scalr.histories", "random-walk histories vs real ones for SASRec, and the data-scaling law (histories_*.yml)"),
}


def fail(prog: str, message: str) -> None:
    """Print ``prog: error: message`` on stderr and exit 2 (argparse's convention, one line)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def existing_file(prog: str, path: str | Path, what: str, hint: str = "") -> Path:
    """``path`` as a Path, or one line of error and exit 2 when it is not a file."""
    p = Path(path)
    if not p.is_file():
        fail(prog, f"{what} {str(path)!r} not found" + (f" ({hint})" if hint else "")
             + (": it is a directory" if p.is_dir() else ""))
    return p


def run_module(module: str, argv: list[str] | None, prog: str) -> int:
    """Import ``module`` and call its main(argv, prog) (which reports bad input with ``fail``);
    Ctrl-C exits 130 without a traceback."""
    try:
        importlib.import_module(module).main(argv, prog=prog)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: scalr [-h] <command> [options]", "",
             "SQL-first cross-domain synthetic training data (SCALR) on dbt + DuckDB.", "", "commands:"]
    lines += [f"  {n:<{width}}  {summary}" for n, (_, summary) in COMMANDS.items()]
    lines += ["", "`scalr <command> --help` describes a command's options; every command is also",
              "`python -m <module>` (e.g. python -m scalr.experiments). The dbt models run with `dbt build`."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name in ("-V", "--version"):
        from scalr import __version__
        print(f"scalr {__version__}")
        return 0
    if name not in COMMANDS:
        fail("scalr", f"unknown command {name!r}; commands: {', '.join(COMMANDS)} (see scalr --help)")
    return run_module(COMMANDS[name][0], rest, f"scalr {name}")


def entry() -> None:
    """Console-script entry point (pyproject.toml [project.scripts])."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
