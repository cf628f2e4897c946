"""Benchmark of the random walker and the entropy floors on a built database:
``python -m scalr.walks_bench DB [--walks-per-user 10] [--length 50]`` reads int_walk_graph,
times scalr.walks.generate_walks at beta 0 and 0.5 (items per second) and
scalr.scaling.markov_entropy_rate (simple walk at beta 0 and 0.5, non-backtracking at 0), and
prints one line each. Timings only: nothing is asserted."""
from __future__ import annotations

import argparse
import time

import duckdb
import numpy as np

from scalr.scaling import markov_entropy_rate
from scalr.walks import WalkConfig, build_graph, generate_walks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", help="DuckDB file with int_walk_graph (a dbt build)")
    ap.add_argument("--walks-per-user", type=int, default=10)
    ap.add_argument("--length", type=int, default=50)
    args = ap.parse_args(argv)
    with duckdb.connect(args.db, read_only=True) as con:
        e = con.execute("select user_key, item_key from int_walk_graph").fetchnumpy()
    nu, ni = int(e["user_key"].max()) + 1, int(e["item_key"].max()) + 1
    g = build_graph(e["user_key"], e["item_key"], nu, ni)
    print(f"graph: {nu} users, {ni} items, {g.n_edges} edges")
    starts = np.repeat(np.arange(nu), args.walks_per_user)
    for beta in (0.0, 0.5):
        t = time.perf_counter()
        w = generate_walks(g, starts, np.full(starts.size, args.length), WalkConfig(beta=beta, seed=0))
        dt = time.perf_counter() - t
        print(f"walks beta {beta}: {w.size:,} items in {dt:.2f} s = {w.size / dt / 1e6:.2f} M items/s")
    for beta, nb in ((0.0, False), (0.5, False), (0.0, True)):
        t = time.perf_counter()
        h = markov_entropy_rate(g, beta, non_backtracking=nb)
        print(f"entropy floor beta {beta} non_backtracking {nb}: {h:.3f} nats (log n_items {np.log(ni):.3f}) "
              f"in {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
