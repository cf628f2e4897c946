"""usage: .venv/bin/python docs/bench/cpu_budget.py <a two_stage bench.duckdb> [threads]

The CPU budget of synthetic_events (two_stage, the default knobs) on one machine: the model draws
its rows in Python (the producer) while DuckDB writes them (the writer), so on C cores its time is
at least (producer CPU-s + writer CPU-s) / C whatever the overlap. Measured separately, on the
rows the model writes:
  1. producer: scalr.two_stage.two_stage_stream consumed (each batch dropped) without writing
     (events query and sort, the in-memory tables, the draws, the Arrow batches), wall and CPU-s;
  2. writer, text columns as synthetic_events stores them: the same batches, already in memory,
     written by DuckDB (CREATE TABLE AS from a RecordBatchReader, then CHECKPOINT);
  3. writer, integer keys in place of the four text columns (the keyed-storage alternative);
  4. writer, integer keys for all but one text column, for each of the four (what each text
     column costs).
It prints each, and the bound rows / ((producer + writer) / C) for C = threads."""
import os
import sys
import tempfile
import time

import duckdb
import numpy as np
import pyarrow as pa

from scalr import two_stage as ts
from scalr.dbt_config import arrow_of


def timed(f):
    c0, t0 = os.times(), time.perf_counter()
    out = f()
    c1 = os.times()
    return out, time.perf_counter() - t0, (c1.user - c0.user) + (c1.system - c0.system)


TEXT = ("user_id", "target_item", "source_domain", "source_item")


def keyed(batches, keep=()):
    """The text columns but ``keep`` replaced by integer codes (unique per value within the run's
    batches; source_domain, one value here, dropped)."""
    off = 0
    for b in batches:
        u = b.column("user_id")
        codes = {"user_id": pa.array(u.indices.to_numpy().astype(np.int64) + off),
                 "target_item": b.column("target_item").indices, "source_item": b.column("source_item").indices}
        names = [c for c in TEXT if c in keep or c in codes]
        yield pa.record_batch([b.column(c) if c in keep else codes[c] for c in names]
                              + [b.column(c) for c in b.schema.names[4:]], names=names + b.schema.names[4:])
        off += len(u.dictionary)


def write(batches, threads):
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(os.path.join(tmp, "write.duckdb"))
        con.execute(f"set threads={threads}; set preserve_insertion_order=true")
        con.register("scalr_batches", pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches)))
        _, wall, cpu = timed(lambda: (con.execute("create table t as select * from scalr_batches"),
                                      con.execute("checkpoint")))
        con.close()
    return wall, cpu


def main():
    db, threads = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    src = duckdb.connect(db, read_only=True)
    src.execute(f"set threads={threads}")
    cur = src.cursor()
    cfg = ts.TwoStageConfig(k=3, seed=42, leave_self_out=True)
    rel = lambda n: f"select * from main.{n}"  # noqa: E731
    def stream():
        return ts.two_stage_stream(lambda q: arrow_of(src, src.sql(q)), rel("int_source_events"), rel("int_user_items"),
                                   rel("int_overlap_users"), rel("int_items"), cfg,
                                   stream=lambda q: cur.sql(q).to_arrow_reader(1_000_000))
    # the producer consumed and discarded, as when DuckDB writes each batch and lets it go (holding
    # them all costs page faults the model never pays); then the batches again, kept for the writers
    _, p_wall, p_cpu = timed(lambda: sum(b.num_rows for b in stream()))
    batches = list(stream())
    n = sum(b.num_rows for b in batches)
    print(f"rows {n:,}; {threads} threads")
    print(f"producer (two_stage_stream, no write): {p_wall:.2f} s wall, {p_cpu:.2f} CPU-s")
    for name, bs in (("text columns (as stored)", batches), ("integer keys", list(keyed(batches)))):
        w_wall, w_cpu = write(bs, threads)
        bound = n / ((p_cpu + w_cpu) / threads)
        print(f"writer, {name}: {w_wall:.2f} s wall, {w_cpu:.2f} CPU-s, {n / w_wall / 1e6:.2f} M rows/s alone; "
              f"producer + writer {p_cpu + w_cpu:.2f} CPU-s -> at most {bound / 1e6:.2f} M rows/s on {threads} cores")
    for col in TEXT:
        w_wall, w_cpu = write(list(keyed(batches, keep=(col,))), threads)
        print(f"writer, integer keys but {col} as text: {w_wall:.2f} s wall, {w_cpu:.2f} CPU-s")


if __name__ == "__main__":
    main()
