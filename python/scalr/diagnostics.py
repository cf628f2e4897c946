"""Goodness of fit of a built synthetic_events table against translation.p_norm.

Two tests, both valid on sparse translations where most cells expect < 1 draw:

* randomized PIT: for a draw of rank r from j, u = F_j(r-1) + V * p_j(r) with V ~ U(0,1); if the
  draws follow p_norm, u ~ U(0,1). The u's are binned in 20 equal bins and tested by chi-square.
* pooled cell chi-square over the (j, i) cells expected to receive >= 5 draws (other cells of j
  pooled into one), the classic test where the data are dense enough.

    python -m scalr.diagnostics --db scalr.duckdb
"""
from __future__ import annotations

import argparse

import duckdb
import numpy as np
from scipy import stats

from scalr.cli import existing_file, fail

_CELLS = """
with draws as (
    select source_domain, source_item, target_item, count(*) as n_obs
    from synthetic_events group by all
),
per_j as (select source_domain, source_item, sum(n_obs) as n_j from draws group by all),
t as (
    select t.*, sum(p_norm) over (partition by source_domain, source_item order by target_rank
        rows between unbounded preceding and 1 preceding) as cdf_before
    from translation as t
    where (source_domain, source_item) in (select (source_domain, source_item) from per_j)
)
select t.source_domain, t.source_item, t.target_item, t.p_norm, coalesce(t.cdf_before, 0) as cdf_before,
       coalesce(d.n_obs, 0) as n_obs, j.n_j
from t
join per_j as j using (source_domain, source_item)
left join draws as d using (source_domain, source_item, target_item)
order by t.source_domain, t.source_item, t.target_rank
"""


def fit_tests(con: duckdb.DuckDBPyConnection, seed: int = 0, bins: int = 20) -> dict[str, float]:
    cells = con.sql(_CELLS).df()
    rng = np.random.default_rng(seed)
    # randomized PIT, one u per draw
    n_obs = cells.n_obs.to_numpy()
    lo = np.repeat(cells.cdf_before.to_numpy(), n_obs)
    width = np.repeat(cells.p_norm.to_numpy(), n_obs)
    u = lo + rng.random(len(lo)) * width
    counts = np.bincount(np.minimum((u * bins).astype(int), bins - 1), minlength=bins)
    pit_p = float(stats.chisquare(counts).pvalue)
    # pooled cell chi-square
    expected = cells.n_j.to_numpy() * cells.p_norm.to_numpy()
    big = expected >= 5
    key = cells.source_domain + "\x1f" + cells.source_item
    rest_obs = cells.n_obs[~big].groupby(key[~big]).sum()
    rest_exp = (cells.n_j * cells.p_norm)[~big].groupby(key[~big]).sum()
    rest_keys = rest_exp.index[rest_exp >= 5]
    groups = len(set(key[big]) | set(rest_keys))
    obs = np.r_[cells.n_obs[big].to_numpy(), rest_obs[rest_exp >= 5].to_numpy()]
    exp = np.r_[expected[big], rest_exp[rest_exp >= 5].to_numpy()]
    dof = max(len(obs) - groups, 1)
    chi2 = float(((obs - exp) ** 2 / exp).sum()) if len(obs) else 0.0
    return {"n_draws": int(n_obs.sum()), "pit_chi2_pvalue": pit_p, "cells_tested": int(len(obs)),
            "cell_chi2_pvalue": float(stats.chi2.sf(chi2, dof)) if len(obs) else float("nan")}


def main(argv: list[str] | None = None, prog: str = "python -m scalr.diagnostics") -> None:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Prints the number of draws, the two p-values and the cells tested. "
                                        "A p-value far below 0.05 says the draws do not follow p_norm.")
    ap.add_argument("--db", default="scalr.duckdb",
                    help="DuckDB file built by dbt build, opened read-only (default: scalr.duckdb)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the randomized PIT's uniform draws (default: 0)")
    ap.add_argument("--bins", type=int, default=20, help="equal-width bins of the PIT values (default: 20)")
    args = ap.parse_args(argv)
    if args.bins < 2:
        fail(prog, f"--bins must be at least 2, got {args.bins}")
    db = existing_file(prog, args.db, "DuckDB file", "build it with make demo or dbt build, or pass --db")
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            missing = {"synthetic_events", "translation"} - {r[0] for r in con.sql(
                "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
            if missing:
                fail(prog, f"{db} has no table {', '.join(sorted(missing))} in schema main "
                           "(build the project with dbt build first)")
            res = fit_tests(con, seed=args.seed, bins=args.bins)
    except duckdb.Error as e:
        fail(prog, f"cannot read {db}: {str(e).splitlines()[0]}")
    for k, v in res.items():
        print(f"{k:>18}: {v}")


if __name__ == "__main__":
    main()
