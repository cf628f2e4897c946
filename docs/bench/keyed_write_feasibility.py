"""usage: .venv/bin/python docs/bench/keyed_write_feasibility.py <a two_stage bench.duckdb> consume,text,keyed

Feasibility: rows/s of synthetic_events' stream at 1e7 (a) consumed only, (b) written as today
(text dictionary columns), (c) written with integer keys in place of the four text columns."""
import itertools
import sys
import time

import duckdb
import numpy as np
import pyarrow as pa

from scalr import two_stage as ts
from scalr.dbt_config import arrow_of
from scalr.prefetch import prefetch
db = sys.argv[1]
src = duckdb.connect(db, read_only=True)
src.execute("set threads=2")
cfg = ts.TwoStageConfig(k=3, seed=42, leave_self_out=True, shrinkage=0.0, confidence_weight="uniform", user_weight_alpha=0.0)
rel = lambda n: f"select * from main.{n}"
def reader():
    cur = src.cursor()
    r = ts.two_stage_stream(lambda q: arrow_of(src, src.sql(q)), rel("int_source_events"), rel("int_user_items"),
                            rel("int_overlap_users"), rel("int_items"), cfg,
                            stream=lambda q: cur.sql(q).to_arrow_reader(1_000_000))
    return r
def keyed(batches):
    off = 0
    for b in batches:
        u = b.column("user_id"); t = b.column("target_item"); s = b.column("source_item")
        yield pa.record_batch([pa.array(u.indices.to_numpy().astype(np.int64) + off), t.indices, s.indices,
                               b.column("event_ts"), b.column("weight"), b.column("label"), b.column("draw")],
                              names=["user_key", "target_key", "source_key", "event_ts", "weight", "label", "draw"])
        off += len(u.dictionary)
for mode in sys.argv[2].split(","):
    out = duckdb.connect(f"/tmp/prof/out_{mode}.duckdb"); out.execute("set threads=2; set preserve_insertion_order=true")
    out.execute("drop table if exists t")
    t0 = time.perf_counter(); r = reader(); n = 0
    if mode == "consume":
        for b in r: n += b.num_rows
    elif mode == "text":
        rr = pa.RecordBatchReader.from_batches(r.schema, prefetch(r, 1))
        out.execute("create table t as select * from rr"); n = out.execute("select count(*) from t").fetchone()[0]
    elif mode == "keyed":
        it = keyed(r); first = next(it)
        rr = pa.RecordBatchReader.from_batches(first.schema, prefetch(itertools.chain([first], it), 1))
        out.execute("create table t as select * from rr"); n = out.execute("select count(*) from t").fetchone()[0]
    out.execute("checkpoint"); dt = time.perf_counter() - t0
    print(mode, n, round(dt, 2), "s", round(n / dt / 1e6, 2), "M rows/s", flush=True)
    out.close()
