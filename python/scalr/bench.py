"""Benchmark scalr against scipy-sparse, pandas and a naive sampler on seeded power-law worlds.

    python -m scalr.bench --source-events 1e6,1e7 [--overlap 0.5 --target-ratio 0.25 --ids int]

For every size it

1. generates a seeded power-law world (heavy-tailed user activity, Zipf item popularity, a latent
   taste linking source and target items, a configurable share of overlap users and target
   sparsity), vectorized numpy, written as Parquet in chunks (integer-like or string ids);
2. runs the project's real models with dbt in a subprocess (``dbt run --select
   +synthetic_events_aligned``, temp SCALR_DB / target / log paths) and reads per-model timings from
   ``run_results.json``; peak RSS per model comes from polling ``/proc/<pid>/status`` of the dbt
   process (whole-run peak from ``/usr/bin/time``);
3. times, on the same data, the baselines: co-occurrence + P_hat with scipy.sparse ``S^T T`` (CSR
   build included) and with pandas merge + groupby, both starting from the distinct (user, domain,
   item) train positives (= ``int_user_items``); sampling with ``scalr.sampling`` (in process, same
   translation and source events) and with a per-event ``Generator.choice`` loop, timed on a
   subsample and extrapolated per event; polars join + group_by beside pandas (scipy stays the
   near-limit reference);
   with ``--samplers p_hat,two_stage`` (default) also the two-stage sampler (var
   ``synthetic_sampler: two_stage``) in its own dbt run that never builds the co-occurrence, against
   the P_hat path's run in the same process; ``--samplers two_stage --dbt-only`` runs it alone
   (worlds whose co-occurrence does not fit);
4. prints the table and writes ``bench_results/bench_<stamp>.csv`` and ``.md``.

Ratios are against baselines measured in the same run, so they hold up on a shared, noisy machine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PROJECT = Path(__file__).resolve().parents[2]
# the dbt executable beside this interpreter; SCALR_DBT names another (a machine whose Python has no dbt script)
DBT = os.environ.get("SCALR_DBT") or str(Path(sys.executable).with_name("dbt"))
START = np.datetime64("2024-01-01T00:00:00", "us")
SPAN_US = 366 * 24 * 3600 * 10**6
TRAIN_END = "2024-10-01"
MODELS = ["base_events", "stg_events", "int_events_train", "int_user_items", "int_items", "int_overlap_users",
          "int_cooccurrence", "int_translation", "translation", "int_source_events", "int_target_train_events",
          "int_target_item_values", "synthetic_events", "synthetic_events_aligned"]
# "scalr co-occurrence + P_hat": from the integer-keyed user-items to int_cooccurrence (pair counts,
# n_users_j and p_hat over integer keys), the work the scipy / pandas baselines do. The translation
# layer (int_translation: filters, ranks, p_norm; the translation view joins the text ids at read
# time) is timed on its own row, as extra work on top.
CO_MODELS = ("int_overlap_users", "int_cooccurrence")
# synthetic samplers (var synthetic_sampler); two_stage runs without the co-occurrence models
SAMPLERS = ("p_hat", "two_stage")
TWO_STAGE_EXCLUDE = "int_cooccurrence int_translation translation"
TRANSLATION_MODELS = ("int_items", "int_translation", "translation")


# ----------------------------------------------------------------------------------------- world

@dataclass(frozen=True)
class BenchSpec:
    source_events: int = 1_000_000
    events_per_user: float = 20.0      # mean source events per user
    user_alpha: float = 1.6            # Pareto tail of user activity (smaller = heavier)
    max_user_weight: float = 200.0     # cap on a user's activity multiple
    overlap: float = 0.5               # share of users that also have target events
    target_ratio: float = 0.25         # target events / source events (target sparsity)
    n_source_items: int | None = None  # default 20 * sqrt(source_events)
    n_target_items: int | None = None  # default half of n_source_items
    zipf: float = 1.05                 # item popularity exponent
    n_tastes: int = 50
    taste_share: float = 0.7           # share of draws from the user's taste block
    ids: str = "int"                   # int | str
    seed: int = 7

    @property
    def n_users(self) -> int:
        return max(10, int(self.source_events / self.events_per_user))

    @property
    def n_src(self) -> int:
        return self.n_source_items or max(200, int(20 * np.sqrt(self.source_events)))

    @property
    def n_tgt(self) -> int:
        return self.n_target_items or max(100, self.n_src // 2)


def _zipf_cdf(n: int, a: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** a
    return np.cumsum(w) / w.sum()


def _draw_items(rng, n_items, cdf, taste, spec) -> np.ndarray:
    """Zipf rank r, then placed in the user's taste block with probability taste_share."""
    r = np.minimum(np.searchsorted(cdf, rng.random(len(taste)), side="right"), n_items - 1)
    block = max(1, n_items // spec.n_tastes)
    in_taste = rng.random(len(taste)) < spec.taste_share
    shifted = (r + taste.astype(np.int64) * block) % n_items
    return np.where(in_taste, shifted, r)


def generate_world(spec: BenchSpec, out_dir: Path, chunk: int = 4_000_000) -> dict:
    """Write events.parquet (user_id, item_id, domain, event_ts) in chunks; returns its stats."""
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "events.parquet"
    nu = spec.n_users
    w = np.minimum(rng.pareto(spec.user_alpha, nu) + 1.0, spec.max_user_weight)
    taste = rng.integers(0, spec.n_tastes, nu)
    is_overlap = rng.random(nu) < spec.overlap
    src_cdf_u = np.cumsum(w) / w.sum()
    wt = np.where(is_overlap, w, 0.0)
    tgt_cdf_u = np.cumsum(wt) / wt.sum()
    cdf_s, cdf_t = _zipf_cdf(spec.n_src, spec.zipf), _zipf_cdf(spec.n_tgt, spec.zipf)
    n_tgt_events = int(spec.source_events * spec.target_ratio)
    id_type = pa.int64() if spec.ids == "int" else pa.string()
    schema = pa.schema([("user_id", id_type), ("item_id", id_type), ("domain", pa.string()),
                        ("event_ts", pa.timestamp("us"))])

    def ids(prefix: str, offset: int, x: np.ndarray) -> pa.Array:
        if spec.ids == "int":
            return pa.array(x.astype(np.int64) + offset)
        return pa.array(np.char.add(prefix, x.astype(str)))

    with pq.ParquetWriter(path, schema, compression="zstd") as wr:
        for domain, total, ucdf, icdf, n_items, prefix, offset in (
                ("source", spec.source_events, src_cdf_u, cdf_s, spec.n_src, "S", 1_000_000_000),
                ("target", n_tgt_events, tgt_cdf_u, cdf_t, spec.n_tgt, "T", 2_000_000_000)):
            for lo in range(0, total, chunk):
                m = min(chunk, total - lo)
                u = np.minimum(np.searchsorted(ucdf, rng.random(m), side="right"), nu - 1)
                item = _draw_items(rng, n_items, icdf, taste[u], spec)
                ts = START + (rng.random(m) * SPAN_US).astype("timedelta64[us]")
                wr.write_table(pa.table({
                    "user_id": ids("u", 0, u), "item_id": ids(prefix, offset, item),
                    "domain": pa.array(np.full(m, domain, dtype=object), pa.string()),
                    "event_ts": pa.array(ts, pa.timestamp("us"))}, schema=schema))
    return {"path": str(path), "source_events": spec.source_events, "target_events": n_tgt_events,
            "users": nu, "overlap_users_planned": int(is_overlap.sum()),
            "bytes": path.stat().st_size}


# ------------------------------------------------------------------------------------ dbt + RSS

def _rss_kb(pid: int, field: str = "VmRSS:") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class RssPoller(threading.Thread):
    """Samples (time, RSS of the process tree) every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples, self._halt = pid, interval, [], threading.Event()
        self.hwm: list[tuple[float, int]] = []

    def run(self) -> None:
        while not self._halt.is_set():
            pids, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                pids.append(p)
                todo.extend(_children(p))
            self.samples.append((time.time(), sum(_rss_kb(p) for p in pids)))
            # the kernel's high-water mark (VmHWM) catches peaks shorter than the sampling interval
            self.hwm.append((time.time(), max((_rss_kb(p, "VmHWM:") for p in pids), default=0)))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def hwm_reached_at(self) -> tuple[float, int]:
        """(first time, KB) at which the largest process's VmHWM reached its final value."""
        top = max((h for _, h in self.hwm), default=0)
        return next(((t, h) for t, h in self.hwm if h >= top), (0.0, 0))

    def peak_between(self, t0: float, t1: float) -> int:
        inside = [r for t, r in self.samples if t0 - self.interval <= t <= t1 + self.interval]
        return max(inside) if inside else 0


def _ts(s: str) -> float:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).replace(tzinfo=dt.timezone.utc).timestamp()


def run_dbt(events_path: Path, work: Path, vars: dict | None = None, select: str = "+synthetic_events_aligned translation",
            command: str = "run", memory_limit: str = "6GB", threads: int = 2, exclude: str | None = None) -> dict:
    """Run the project's models on ``threads`` dbt and DuckDB threads; per-model seconds, rows and peak RSS."""
    db = work / "bench.duckdb"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    env = dict(os.environ, SCALR_DB=str(db), SCALR_THREADS=str(threads),
               SCALR_DUCKDB_THREADS=str(threads), SCALR_MEMORY_LIMIT=memory_limit,
               SCALR_TEMP_DIR=str(work / "spill"), DBT_PROFILES_DIR=str(PROJECT))
    v = {"events_path": str(events_path), "items_path": None, "source_domains": ["source"], "target_domain": "target",
         "train_end": TRAIN_END, **(vars or {})}
    timef = work / "time.txt"
    cmd = [DBT, command, "--project-dir", str(PROJECT), "--target-path", str(work / "target"),
           "--log-path", str(work / "logs"), "--vars", json.dumps(v), "--select", select]
    if exclude:
        cmd += ["--exclude", *exclude.split()]
    if shutil.which("/usr/bin/time"):
        cmd = ["/usr/bin/time", "-f", "%M %e", "-o", str(timef)] + cmd
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    poller = RssPoller(proc.pid)
    poller.start()
    out, _ = proc.communicate()
    poller.stop()
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"dbt failed ({proc.returncode}):\n{out[-4000:]}")
    peak_total = max((r for _, r in poller.samples), default=0)
    if timef.exists():
        try:
            peak_total = max(peak_total, int(timef.read_text().split()[0]))
        except (ValueError, IndexError):
            pass
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    stages, windows = {}, {}
    con = duckdb.connect(str(db), read_only=True)
    for r in results:
        name = r["unique_id"].split(".")[-1]
        ex = [t for t in r.get("timing", []) if t["name"] == "execute"]
        t_start, t_end = (_ts(ex[0]["started_at"]), _ts(ex[0]["completed_at"])) if ex else (0, 0)
        try:
            rows = con.execute(f"select count(*) from {name}").fetchone()[0]
        except duckdb.Error:
            rows = None
        windows[name] = (t_start, t_end)
        stages[name] = {"seconds": r["execution_time"], "rows": rows,
                        "peak_rss_mb": poller.peak_between(t_start, t_end) / 1024}
    con.close()
    # which model's execution the process's high-water mark was reached in (the whole-run peak)
    t_hwm, hwm = poller.hwm_reached_at()
    peak_stage = next((name for name, (a, b) in windows.items() if a - 0.5 <= t_hwm <= b + 0.5), "between models")
    return {"stages": stages, "wall_s": wall, "peak_rss_mb": peak_total / 1024, "db": db, "output": out,
            "hwm_mb": hwm / 1024, "peak_stage": peak_stage}


# -------------------------------------------------------------------------------------- baselines

def load_user_items(db: Path) -> dict:
    """int_user_items as the integer keys scalr itself uses (user_key, item_key; outside any
    timing). Target item_keys are contiguous (int_items numbers (domain, item_id) in order), so the
    target matrix gets columns ``item_key - t_offset``."""
    with duckdb.connect(str(db), read_only=True) as con:
        t = con.sql("select user_key, domain_role = 'source' as src, item_key from int_user_items").arrow()
        if hasattr(t, "read_all"):
            t = t.read_all()
    user = t["user_key"].to_numpy().astype(np.int64)
    item = t["item_key"].to_numpy().astype(np.int64)
    src = t["src"].to_numpy(zero_copy_only=False).astype(bool)
    t_offset = int(item[~src].min()) if (~src).any() else 0
    return {"su": user[src], "sj": item[src], "tu": user[~src], "ti": item[~src] - t_offset,
            "t_offset": t_offset, "n_users": int(user.max()) + 1 if len(user) else 0,
            "n_s": int(item[src].max()) + 1 if src.any() else 0,
            "n_t": int(item[~src].max()) - t_offset + 1 if (~src).any() else 0}


def triples(ui: dict) -> int:
    """sum over overlap users of |S_u| * |T_u|: the co-occurrence work."""
    ns = np.bincount(ui["su"], minlength=ui["n_users"]).astype(np.int64)
    nt = np.bincount(ui["tu"], minlength=ui["n_users"]).astype(np.int64)
    return int((ns * nt).sum())


def scipy_translation(ui: dict) -> tuple[pd.DataFrame, float]:
    """Overlap users, CSR build, C = S^T T, n_j and P_hat; returns (pairs, seconds)."""
    import scipy.sparse as sp
    t0 = time.perf_counter()
    nu = ui["n_users"]
    has_s = np.bincount(ui["su"], minlength=nu) > 0
    has_t = np.bincount(ui["tu"], minlength=nu) > 0
    ov = has_s & has_t
    ms, mt = ov[ui["su"]], ov[ui["tu"]]
    ns, nt = ui["n_s"], ui["n_t"]
    S = sp.csr_matrix((np.ones(int(ms.sum()), np.int64), (ui["su"][ms], ui["sj"][ms])), shape=(nu, ns))
    T = sp.csr_matrix((np.ones(int(mt.sum()), np.int64), (ui["tu"][mt], ui["ti"][mt])), shape=(nu, nt))
    C = (S.T.tocsr() @ T).tocoo()
    n_j = np.bincount(ui["sj"][ms], minlength=ns)
    p_hat = C.data / n_j[C.row]
    secs = time.perf_counter() - t0
    return pd.DataFrame({"j": C.row, "i": C.col, "n_users_ji": C.data, "n_users_j": n_j[C.row],
                         "p_hat": p_hat}), secs


def scipy_matches_scalr(db: Path, ui: dict, pairs: pd.DataFrame) -> bool:
    """scalr's int_cooccurrence (n_users_ji, n_users_j, p_hat per integer-keyed pair) equals
    scipy's, checked in DuckDB (scales to the 1e7 world's 55 M pairs), and the translation built
    from it has one row per pair (all pairs are kept with the default vars)."""
    ref = pa.table({"source_key": pairs.j.to_numpy(np.int64),
                    "target_key": pairs.i.to_numpy(np.int64) + ui["t_offset"],
                    "n_users_ji": pairs.n_users_ji.to_numpy(np.int64),
                    "n_users_j": pairs.n_users_j.to_numpy(np.int64), "p_hat": pairs.p_hat.to_numpy()})
    with duckdb.connect(str(db), read_only=True) as con:
        con.register("ref", ref)
        n_scalr, n_tr = con.execute("select (select count(*) from int_cooccurrence), "
                                    "(select count(*) from translation)").fetchone()
        if n_scalr != len(ref) or n_tr != len(ref):
            return False
        bad = con.execute("""
            select count(*) from ref as r
            left join int_cooccurrence as c using (source_key, target_key)
            where c.n_users_ji is distinct from r.n_users_ji or c.n_users_j is distinct from r.n_users_j
               or c.p_hat is distinct from r.p_hat""").fetchone()[0]
    return bad == 0


def db_counts(db: Path) -> dict:
    """W = sum over overlap users of |S_u| * |T_u| (from int_overlap_users, after any
    max_items_per_user cap) and the translation pairs, read from the built database by SQL (no
    arrays in memory: used by --dbt-only worlds too)."""
    with duckdb.connect(str(db), read_only=True) as con:
        w, n_tr = con.execute(
            "select (select coalesce(sum(cast(n_source_items as bigint) * n_target_items), 0) from int_overlap_users), "
            "(select count(*) from translation)").fetchone()
    return {"triples": int(w), "pairs_translation": int(n_tr)}


def cooccurrence_partitions(target: Path) -> int:
    """How many source-key partitions the compiled int_cooccurrence split its GROUP BY into."""
    sql = next(target.glob("compiled/*/models/*/int_cooccurrence.sql")).read_text()
    return len(re.findall(r"group by s\.source_key, t\.target_key", sql))


def engine_seconds(db: Path, target: Path, models: tuple[str, ...], threads: int = 2) -> float:
    """The compiled SQL of ``models`` (what dbt ran) into TEMP tables of a read-only connection:
    the engine's time without dbt, the database-file write and concurrent models; best of 2."""
    best = float("inf")
    for _ in range(2):
        with duckdb.connect(str(db), read_only=True) as con:
            con.execute(f"set threads = {threads}")
            total = 0.0
            for m in models:
                sql = next(target.glob(f"compiled/*/models/*/{m}.sql")).read_text()
                t0 = time.perf_counter()
                con.execute(f"create temp table bench_{m} as {sql}")
                total += time.perf_counter() - t0
        best = min(best, total)
    return best


def pandas_translation(ui: dict) -> tuple[int, float]:
    t0 = time.perf_counter()
    s = pd.DataFrame({"u": ui["su"], "j": ui["sj"]})
    t = pd.DataFrame({"u": ui["tu"], "i": ui["ti"]})
    ov = np.intersect1d(s.u.unique(), t.u.unique())
    s, t = s[s.u.isin(ov)], t[t.u.isin(ov)]
    pairs = s.merge(t, on="u").groupby(["j", "i"], sort=False).size().rename("n_users_ji").reset_index()
    n_j = s.groupby("j").size().rename("n_users_j")
    pairs = pairs.join(n_j, on="j")
    pairs["p_hat"] = pairs.n_users_ji / pairs.n_users_j
    return len(pairs), time.perf_counter() - t0


def polars_translation(ui: dict) -> tuple[int, float]:
    """The pandas baseline in polars (lazy join + group_by; polars uses every core it sees)."""
    import polars as pl
    t0 = time.perf_counter()
    s = pl.LazyFrame({"u": ui["su"], "j": ui["sj"]})
    t = pl.LazyFrame({"u": ui["tu"], "i": ui["ti"]})
    ov = s.select("u").unique().join(t.select("u").unique(), on="u")
    s, t = s.join(ov, on="u", how="semi"), t.join(ov, on="u", how="semi")
    n_j = s.group_by("j").agg(pl.len().alias("n_users_j"))
    pairs = (s.join(t, on="u").group_by(["j", "i"]).agg(pl.len().alias("n_users_ji")).join(n_j, on="j")
             .with_columns((pl.col("n_users_ji") / pl.col("n_users_j")).alias("p_hat")).collect())
    return pairs.height, time.perf_counter() - t0


def _arrow(rel) -> pa.Table:
    t = rel.arrow()
    return t.read_all() if hasattr(t, "read_all") else t


def sampling_inputs(db: Path) -> dict:
    """What synthetic_events streams, read into memory: the sampling distribution and the source
    events with a translation, both ordered by source item key (the same SQL as the model), the
    source items and the target dictionary."""
    from scalr.sampling import distribution_sql, events_sql, read_item_codes, sources_sql
    tr, items = "select * from int_translation", "select * from int_items"
    with duckdb.connect(str(db), read_only=True) as con:
        sources, targets = read_item_codes(lambda q: _arrow(con.sql(q)), tr, items)
        dist = list(targets.batches(con.sql(distribution_sql(tr)).to_arrow_reader(1_000_000)))
        events = list(con.sql(events_sql("select * from int_source_events", sources_sql(tr, items)))
                      .to_arrow_reader(1_000_000))
    return {"dist": dist, "events": events, "sources": sources, "target_dict": targets.dictionary}


def scalr_sampling(db: Path, k: int = 3, seed: int = 42, repeats: int = 3) -> dict:
    """scalr.sampling as synthetic_events runs it, in process, single-threaded numpy (one core);
    reading the ordered, integer-keyed inputs from DuckDB (``sampling_inputs``) is excluded. Best
    of ``repeats`` runs of: end to end (``sample_sorted``: per chunk of source items the CSR +
    alias build, then the draws and the Arrow output batches) and the hot path (``sample_chunks``
    with every chunk's tables prebuilt: run lookup, uniforms, alias draws, Arrow output). Wall and
    CPU (process_time) seconds."""
    from scalr.sampling import CHUNK_PAIRS, SamplingConfig, _chunks, sample_chunks, sample_sorted
    inp = sampling_inputs(db)
    cfg = SamplingConfig(k=k, seed=seed)
    out = {"events": sum(b.num_rows for b in inp["events"]), "pairs": sum(b.num_rows for b in inp["dist"])}
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out["rows"] = sum(b.num_rows for b in sample_sorted(inp["dist"], inp["events"], cfg,
                                                            inp["target_dict"], inp["sources"]))
        w1, c1 = time.perf_counter(), time.process_time()
        chunks = list(_chunks(inp["dist"], CHUNK_PAIRS, cfg))
        w2, c2 = time.perf_counter(), time.process_time()
        for _b in sample_chunks(chunks, inp["events"], cfg, inp["target_dict"], inp["sources"]):
            pass
        w3, c3 = time.perf_counter(), time.process_time()
        for key, v in [("e2e_s", w1 - w0), ("e2e_cpu_s", c1 - c0), ("hot_s", w3 - w2), ("hot_cpu_s", c3 - c2),
                       ("build_s", w2 - w1), ("build_cpu_s", c2 - c1)]:
            out[key] = min(out.get(key, np.inf), v)
    return out


def loop_sampling(db: Path, k: int = 3, n_events: int = 3000, seed: int = 42, repeats: int = 3) -> tuple[int, float]:
    """Naive baseline: per source event, look up the item's distribution and call
    Generator.choice(k, p=...). Timed (best of ``repeats``) on n_events sampled events, building the
    dict of distributions excluded; returns (events, seconds)."""
    with duckdb.connect(str(db), read_only=True) as con:
        tr = con.sql("select source_domain, source_item, target_item, p_norm from translation").df()
        ev = con.sql(f"select source_domain, source_item from int_source_events using sample "
                     f"reservoir({n_events} rows) repeatable (1)").df()
    dists = {key: (g.target_item.to_numpy(), g.p_norm.to_numpy() / g.p_norm.sum())
             for key, g in tr.groupby(["source_domain", "source_item"], sort=False)}
    rng = np.random.default_rng(seed)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = []
        for d, j in zip(ev.source_domain.to_numpy(), ev.source_item.to_numpy()):
            hit = dists.get((d, j))
            if hit is not None:
                out.extend(rng.choice(hit[0], size=k, p=hit[1]))
        best = min(best, time.perf_counter() - t0)
    return len(ev), best


# ------------------------------------------------------------------------------- cap study

def cap_study(db: Path, caps: list[int]) -> pd.DataFrame:
    """How var max_items_per_user bounds the co-occurrence work and what it does to P_hat.

    Applies the cap exactly as int_user_items does (each user's N most recent distinct items per
    domain, ties by item_id) to the uncapped int_user_items of a built world, recomputes P_hat with
    scipy, and reports per cap: (u, j, i) triples, pairs, and the total-variation distance between
    the capped and uncapped normalised P_hat(.|j) (p_norm), averaged over the uncapped source items
    (a source item the cap removes entirely counts as TV 1)."""
    import scipy.sparse as sp
    with duckdb.connect(str(db), read_only=True) as con:
        df = _arrow(con.sql("select user_id, domain, domain_role, item_id, last_event_ts from int_user_items")).to_pandas()
    df = df.sort_values(["user_id", "domain", "last_event_ts", "item_id"], ascending=[True, True, False, True])
    df["rank"] = df.groupby(["user_id", "domain"], sort=False).cumcount() + 1
    u_codes, users = pd.factorize(df.user_id)
    src = (df.domain_role == "source").to_numpy()
    j_codes, j_items = pd.factorize((df.domain + "\x1f" + df.item_id)[src])
    i_codes, i_items = pd.factorize(df.item_id[~src])
    nu, nj, ni = len(users), len(j_items), len(i_items)
    rank = df["rank"].to_numpy()

    def p_norm(cap: int | None):
        ms = rank[src] <= cap if cap else np.ones(src.sum(), bool)
        mt = rank[~src] <= cap if cap else np.ones((~src).sum(), bool)
        su, sj = u_codes[src][ms], j_codes[ms]
        tu, ti = u_codes[~src][mt], i_codes[mt]
        ov = (np.bincount(su, minlength=nu) > 0) & (np.bincount(tu, minlength=nu) > 0)
        su, sj, tu, ti = su[ov[su]], sj[ov[su]], tu[ov[tu]], ti[ov[tu]]
        ns, nt = np.bincount(su, minlength=nu), np.bincount(tu, minlength=nu)
        S = sp.csr_matrix((np.ones(len(su)), (su, sj)), shape=(nu, nj))
        T = sp.csr_matrix((np.ones(len(tu)), (tu, ti)), shape=(nu, ni))
        C = (S.T.tocsr() @ T).tocsr()
        rows = np.asarray(C.sum(axis=1)).ravel()
        C = sp.diags(np.divide(1.0, rows, out=np.zeros_like(rows), where=rows > 0)) @ C
        return C.tocsr(), int((ns.astype(np.int64) * nt).sum()), rows > 0

    full, full_tri, full_has = p_norm(None)
    out = [{"max_items_per_user": "off", "triples": full_tri, "pairs": full.nnz, "share_of_triples": 1.0,
            "mean_tv_to_uncapped": 0.0}]
    for cap in caps:
        c, tri, has = p_norm(cap)
        tv = 0.5 * np.asarray(abs(full - c).sum(axis=1)).ravel()
        tv[full_has & ~has] = 1.0
        out.append({"max_items_per_user": cap, "triples": tri, "pairs": c.nnz,
                    "share_of_triples": tri / full_tri, "mean_tv_to_uncapped": float(tv[full_has].mean())})
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------------ bench

def bench_size(n: int, work: Path, spec_kw: dict, dbt_vars: dict, loop_events: int,
               memory_limit: str, keep: bool = False,
               check_pairs: int = 100_000_000, dbt_only: bool = False,
               scaling: list[int] | None = None, samplers: tuple[str, ...] = SAMPLERS,
               run_threads: int = 2) -> tuple[list[dict], dict]:
    """One world: generate it, run dbt (main runs on ``run_threads`` threads; ``scaling``: a thread
    curve), time the baselines unless ``dbt_only``."""
    spec = BenchSpec(source_events=int(n), **spec_kw)
    world_dir = work / f"world_{int(n)}"
    t0 = time.perf_counter()
    world = generate_world(spec, world_dir)
    gen_s = time.perf_counter() - t0
    rows: list[dict] = []
    if "p_hat" not in samplers:  # the two-stage path alone (worlds whose co-occurrence does not fit)
        return _two_stage_only(n, spec, world, world_dir, gen_s, dbt_vars, memory_limit, keep, rows, scaling,
                               run_threads)
    run = run_dbt(Path(world["path"]), world_dir, dbt_vars, memory_limit=memory_limit, threads=run_threads)
    st = run["stages"]
    n_parts = cooccurrence_partitions(world_dir / "target")

    def add(stage, rows_, secs, rss=None, baseline=None, ratio=None, note=""):
        rows.append({"source_events": int(n), "stage": stage, "rows": rows_, "seconds": round(secs, 3),
                     "rows_per_s": round(rows_ / secs) if rows_ and secs > 0 else None,
                     "peak_rss_mb": None if rss is None else round(rss),
                     "baseline_s": None if baseline is None else round(baseline, 3),
                     "speedup_vs_baseline": None if ratio is None else float(f"{ratio:.3g}"), "note": note})

    add("generate world (numpy -> parquet)", world["source_events"] + world["target_events"], gen_s)
    for m in MODELS:
        if m in st:
            add(f"dbt: {m}", st[m]["rows"], st[m]["seconds"], st[m]["peak_rss_mb"])
    hook = st.get("scalr-on-run-end-0")
    if hook:
        add("dbt: on-run-end publish (every mart into schema published; table marts renamed, no copy)", None, hook["seconds"],
            hook["peak_rss_mb"])
    add("dbt: total (raw events -> synthetic_events_aligned)", st.get("synthetic_events_aligned", {}).get("rows"),
        run["wall_s"], run["peak_rss_mb"], note="wall clock incl. dbt start-up and the publish hook; "
                                                "RSS = whole run peak")
    if "two_stage" in samplers:
        rows += _two_stage_rows(n, world, world_dir, dbt_vars, memory_limit, run, run_threads)
    for t in scaling or []:
        # the same world and models with t dbt threads and t DuckDB threads (publish off: the
        # publish step is not part of the pipeline's cost), and the co-occurrence SQL alone on t threads
        sub = world_dir / f"threads_{t}"
        sub.mkdir(exist_ok=True)
        r = run_dbt(Path(world["path"]), sub, {**dbt_vars, "publish_marts": False}, memory_limit=memory_limit,
                    threads=t)
        add(f"thread scaling: dbt run raw -> aligned, {t} threads", r["stages"].get("synthetic_events_aligned", {})
            .get("rows"), r["wall_s"], r["peak_rss_mb"], note=f"dbt --threads {t}, DuckDB threads {t}, publish_marts false")
        add(f"thread scaling: co-occurrence + P_hat SQL engine, {t} threads", None,
            engine_seconds(run["db"], world_dir / "target", CO_MODELS, threads=t))
        shutil.rmtree(sub, ignore_errors=True)
    counts = db_counts(run["db"])
    if dbt_only:
        meta = {"world": world, "spec": asdict(spec), "triples": counts["triples"], "pairs_scipy": None,
                "pairs_pandas": None, "pairs_scalr": counts["pairs_translation"], "scalr_equals_scipy": None,
                "run_wall_s": run["wall_s"],
                "cooccurrence_partitions": n_parts,
                "run_peak_rss_mb": run["peak_rss_mb"]}
        if not keep:
            shutil.rmtree(world_dir, ignore_errors=True)
        else:
            meta["db"] = str(run["db"])
        return rows, meta

    ui = load_user_items(run["db"])
    n_tri = triples(ui)
    if n_tri != counts["triples"]:
        raise AssertionError(f"triples from the arrays ({n_tri}) != from int_overlap_users ({counts['triples']})")
    scalr_co = sum(st[m]["seconds"] for m in CO_MODELS if m in st)
    scalr_tr = sum(st[m]["seconds"] for m in TRANSLATION_MODELS if m in st)
    engine_co = engine_seconds(run["db"], world_dir / "target", CO_MODELS)
    # best of 3 like the SQL engine's best of 2: scipy's first run in a process pays first-touch page
    # faults on its large temporaries (3.97 s, then 1.25 s, at the 7e6 world)
    pairs, sp_s = scipy_translation(ui)
    sp_runs = [sp_s]
    for _ in range(2):
        del pairs
        pairs, s_ = scipy_translation(ui)
        sp_runs.append(s_)
    sp_s = min(sp_runs)
    add("baseline: scipy.sparse S^T T + P_hat", n_tri, sp_s,
        note="rows = (u, j, i) triples; CSR build included; best of 3 (runs: "
             + ", ".join(f"{x:.2f}" for x in sp_runs) + " s)")
    equal = scipy_matches_scalr(run["db"], ui, pairs) if len(pairs) <= check_pairs else None
    pd_n, pd_s = pandas_translation(ui)
    add("baseline: pandas merge + groupby + P_hat", n_tri, pd_s, note="rows = (u, j, i) triples; one run")
    pl_n, pl_s = polars_translation(ui)
    add("baseline: polars join + group_by + P_hat", n_tri, pl_s, baseline=sp_s, ratio=sp_s / pl_s,
        note=f"rows = (u, j, i) triples; lazy, every core; one run; {pl_n} pairs; ratio = scipy_s / polars_s")
    co_note = " + ".join(CO_MODELS)
    add("scalr: co-occurrence + P_hat vs scipy", n_tri, scalr_co, baseline=sp_s, ratio=sp_s / scalr_co,
        note=f"dbt execution seconds of {co_note} (tables written); ratio = scipy_s / scalr_s")
    add("scalr: co-occurrence + P_hat vs pandas", n_tri, scalr_co, baseline=pd_s, ratio=pd_s / scalr_co,
        note="ratio = pandas_s / scalr_s")
    add("scalr: co-occurrence + P_hat vs polars", n_tri, scalr_co, baseline=pl_s, ratio=pl_s / scalr_co,
        note="ratio = polars_s / scalr_s")
    add("scalr SQL engine: co-occurrence + P_hat vs scipy", n_tri, engine_co, baseline=sp_s,
        ratio=sp_s / engine_co, note=f"compiled SQL of {co_note} into TEMP tables, 2 DuckDB threads, best of 2")
    add("scalr SQL engine: co-occurrence + P_hat vs pandas", n_tri, engine_co, baseline=pd_s,
        ratio=pd_s / engine_co, note="as above; ratio = pandas_s / scalr_s")
    add("scalr: co-occurrence + translation mart vs scipy", n_tri, scalr_co + scalr_tr, baseline=sp_s,
        ratio=sp_s / (scalr_co + scalr_tr),
        note=" + ".join(CO_MODELS + TRANSLATION_MODELS) + ": also filters, ranks, p_norm and text ids")

    sm = scalr_sampling(run["db"])
    n_in, n_out = sm["events"], sm["rows"]
    n_loop, loop_s = loop_sampling(run["db"], n_events=loop_events)
    loop_full = loop_s / max(n_loop, 1) * n_in
    add("scalr.sampling (in process, 1 core)", n_out, sm["e2e_s"], baseline=loop_full,
        ratio=loop_full / sm["e2e_s"],
        note=f"end to end: sample_sorted incl. per-chunk CSR + alias build of {sm['pairs']} pairs (inputs read from DuckDB ordered by source item, reading excluded), best of 3, "
             f"CPU {sm['e2e_cpu_s']:.3f} s, of which the chunk tables (CSR + alias build) {sm['build_s']:.3f} s "
             f"({sm['pairs'] / max(sm['build_s'], 1e-9) / 1e6:.1f} M pairs/s); {n_in} source events, K=3; baseline = per-event "
             f"Generator.choice loop timed on {n_loop} events (best of 3, {loop_s:.3f} s) and "
             f"extrapolated per event")
    add("scalr.sampling hot path (CSR prebuilt, 1 core)", n_out, sm["hot_s"], baseline=loop_full,
        ratio=loop_full / sm["hot_s"],
        note=f"sample_chunks over all event batches, chunk tables prebuilt: run lookup + uniforms + alias draws + Arrow output, "
             f"best of 3, CPU {sm['hot_cpu_s']:.3f} s ({n_out / sm['hot_cpu_s'] / 1e6:.1f} M rows per "
             f"CPU second); the loop baseline likewise excludes building its distributions")
    n_scalr_tr = counts["pairs_translation"]
    meta = {"world": world, "spec": asdict(spec), "triples": n_tri, "pairs_scipy": len(pairs),
            "pairs_pandas": pd_n, "pairs_polars": pl_n, "pairs_scalr": n_scalr_tr, "scalr_equals_scipy": equal, "run_wall_s": run["wall_s"],
            "cooccurrence_partitions": n_parts,
            "run_peak_rss_mb": run["peak_rss_mb"]}
    if not keep:
        shutil.rmtree(world_dir, ignore_errors=True)
    else:
        meta["db"] = str(run["db"])
    return rows, meta


def _row(n, stage, rows_, secs, rss=None, baseline=None, ratio=None, note="") -> dict:
    return {"source_events": int(n), "stage": stage, "rows": rows_, "seconds": round(secs, 3),
            "rows_per_s": round(rows_ / secs) if rows_ and secs > 0 else None,
            "peak_rss_mb": None if rss is None else round(rss),
            "baseline_s": None if baseline is None else round(baseline, 3),
            "speedup_vs_baseline": None if ratio is None else float(f"{ratio:.3g}"), "note": note}


def _run_two_stage(world: dict, world_dir: Path, dbt_vars: dict, memory_limit: str, threads: int = 2) -> dict:
    """raw -> synthetic_events_aligned with synthetic_sampler two_stage, int_cooccurrence /
    int_translation / translation excluded (never built), in its own database."""
    sub = world_dir / "two_stage"
    sub.mkdir(exist_ok=True)
    return run_dbt(Path(world["path"]), sub, {**dbt_vars, "synthetic_sampler": "two_stage"},
                   select="+synthetic_events_aligned", exclude=TWO_STAGE_EXCLUDE, memory_limit=memory_limit,
                   threads=threads)


def _two_stage_rows(n, world: dict, world_dir: Path, dbt_vars: dict, memory_limit: str, p_run: dict,
                    threads: int = 2) -> list[dict]:
    """The two-stage sampler's run next to the P_hat path's run (same world, same vars)."""
    r = _run_two_stage(world, world_dir, dbt_vars, memory_limit, threads)
    st, pst = r["stages"], p_run["stages"]
    syn, psyn = st["synthetic_events"], pst["synthetic_events"]
    p_gen = sum(pst[m]["seconds"] for m in ("int_overlap_users", "int_cooccurrence", "int_translation",
                                             "synthetic_events") if m in pst)
    g = syn["seconds"] + st.get("int_overlap_users", {}).get("seconds", 0)
    out = [
        _row(n, "two_stage: dbt synthetic_events", syn["rows"], syn["seconds"], syn["peak_rss_mb"],
             baseline=psyn["seconds"], ratio=psyn["seconds"] / syn["seconds"],
             note=f"synthetic_sampler two_stage (scalr.two_stage.two_stage_stream: numpy over the ordered events); baseline = the P_hat path's synthetic_events "
                  f"model ({psyn['rows']} rows), which reads the prebuilt int_translation"),
        _row(n, "two_stage: synthetic events from int_user_items (int_overlap_users + synthetic_events) vs "
             "P_hat path (int_overlap_users + int_cooccurrence + int_translation + synthetic_events)", syn["rows"], g,
             baseline=p_gen, ratio=p_gen / g, note="dbt execution seconds, tables written; ratio = P_hat path / two_stage"),
        _row(n, "two_stage: dbt total (raw events -> synthetic_events_aligned, no co-occurrence)",
             st.get("synthetic_events_aligned", {}).get("rows"), r["wall_s"], r["peak_rss_mb"],
             baseline=p_run["wall_s"], ratio=p_run["wall_s"] / r["wall_s"],
             note=f"dbt run --select +synthetic_events_aligned --exclude {TWO_STAGE_EXCLUDE}; wall incl. dbt start-up "
                  "and publish; baseline = the P_hat run (which also builds translation)"),
    ]
    shutil.rmtree(world_dir / "two_stage", ignore_errors=True)
    return out


def _two_stage_only(n, spec, world, world_dir, gen_s, dbt_vars, memory_limit, keep, rows,
                    scaling: list[int] | None = None, run_threads: int = 2) -> tuple[list[dict], dict]:
    r = _run_two_stage(world, world_dir, dbt_vars, memory_limit, run_threads)
    st = r["stages"]
    rows.append(_row(n, "generate world (numpy -> parquet)", world["source_events"] + world["target_events"], gen_s))
    for m in MODELS:
        if m in st:
            rows.append(_row(n, f"two_stage dbt: {m}", st[m]["rows"], st[m]["seconds"], st[m]["peak_rss_mb"]))
    rows.append(_row(n, "two_stage: dbt total (raw events -> synthetic_events_aligned, no co-occurrence)",
                     st.get("synthetic_events_aligned", {}).get("rows"), r["wall_s"], r["peak_rss_mb"],
                     note=f"dbt run --select +synthetic_events_aligned --exclude {TWO_STAGE_EXCLUDE}; RSS = whole run peak; "
                          f"VmHWM {r['hwm_mb']:,.0f} MB reached during {r['peak_stage']}"))
    for t in scaling or []:
        # the thread curve of the two-stage path: the same world and models on t dbt threads and t
        # DuckDB threads, publish off (the publish step is not part of the pipeline's cost)
        sub = world_dir / f"threads_{t}"
        sub.mkdir(exist_ok=True)
        rt = run_dbt(Path(world["path"]), sub, {**dbt_vars, "synthetic_sampler": "two_stage", "publish_marts": False},
                     select="+synthetic_events_aligned", exclude=TWO_STAGE_EXCLUDE, memory_limit=memory_limit,
                     threads=t)
        rows.append(_row(n, f"two_stage thread scaling: dbt run raw -> aligned, {t} threads",
                         rt["stages"].get("synthetic_events_aligned", {}).get("rows"), rt["wall_s"], rt["peak_rss_mb"],
                         note=f"dbt --threads {t}, DuckDB threads {t}, publish_marts false"))
        for m in ("stg_events", "int_user_items", "int_source_events", "synthetic_events", "synthetic_events_aligned"):
            if m in rt["stages"]:
                rows.append(_row(n, f"two_stage thread scaling: {m}, {t} threads", rt["stages"][m]["rows"],
                                 rt["stages"][m]["seconds"], rt["stages"][m]["peak_rss_mb"]))
        shutil.rmtree(sub, ignore_errors=True)
    with duckdb.connect(str(r["db"]), read_only=True) as con:
        w = con.execute("select coalesce(sum(cast(n_source_items as bigint) * n_target_items), 0) "
                        "from int_overlap_users").fetchone()[0]
    meta = {"world": world, "spec": asdict(spec), "triples": int(w), "pairs_scipy": None, "pairs_pandas": None,
            "pairs_scalr": None, "scalr_equals_scipy": None, "run_wall_s": r["wall_s"],
            "cooccurrence_partitions": None, "run_peak_rss_mb": r["peak_rss_mb"]}
    if keep:
        meta["db"] = str(r["db"])
    else:
        shutil.rmtree(world_dir, ignore_errors=True)
    return rows, meta


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    return str(v)


def to_markdown(df: pd.DataFrame) -> str:
    cols = [c for c in df.columns if c != "note"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def machine() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; load average at end "
            f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}; duckdb {duckdb.__version__}")


def _int_list(text: str) -> list[int]:
    """'1e6,7e6' -> [1000000, 7000000]; argparse reports anything else as a bad value."""
    try:
        out = [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 1e6,7e6; got {text!r}") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return out


def _json_vars(text: str) -> dict:
    try:
        v = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg}): {text!r}") from None
    if not isinstance(v, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of dbt vars, got {text!r}")
    return v


def main(argv: list[str] | None = None, prog: str = "python -m scalr.bench") -> pd.DataFrame:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0],
                                 epilog="Writes bench_results/bench_<stamp>.csv and .md; see docs/performance.md.")
    ap.add_argument("--source-events", default="1e6", type=_int_list,
                    help="comma-separated world sizes in source events, e.g. 1e6,1e7,1e8 (default: 1e6)")
    ap.add_argument("--overlap", type=float, default=BenchSpec.overlap,
                    help="share of users that also have target events, in (0, 1] (default: %(default)s)")
    ap.add_argument("--target-ratio", type=float, default=BenchSpec.target_ratio,
                    help="target events per source event: the target sparsity (default: %(default)s)")
    ap.add_argument("--events-per-user", type=float, default=BenchSpec.events_per_user,
                    help="mean source events per user; sets the number of users (default: %(default)s)")
    ap.add_argument("--n-source-items", type=int, default=None,
                    help="source catalog size (default: 20 * sqrt(source events), at least 200)")
    ap.add_argument("--n-target-items", type=int, default=None,
                    help="target catalog size (default: half the source catalog)")
    ap.add_argument("--ids", choices=["int", "str"], default="int",
                    help="item and user ids written as integer-like or string ids (default: int)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the world generator (default: %(default)s)")
    ap.add_argument("--vars", default={}, type=_json_vars,
                    help="extra dbt vars as a JSON object, e.g. '{\"max_items_per_user\": 50}' (default: none)")
    ap.add_argument("--loop-events", type=int, default=3000,
                    help="source events the naive per-event sampling loop is timed on, extrapolated per event "
                    "(default: %(default)s)")
    ap.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit of the dbt runs, as SCALR_MEMORY_LIMIT (default: %(default)s)")
    ap.add_argument("--workdir", default=None, help="where worlds and DuckDB files go (default: a temp dir, removed)")
    ap.add_argument("--out", default=str(PROJECT / "bench_results"), help="directory of the CSV and Markdown results (default: bench_results/ in the project)")
    ap.add_argument("--keep", action="store_true", help="keep worlds and databases")
    ap.add_argument("--cap-study", default=None, type=_int_list, help="comma-separated max_items_per_user values: "
                    "triples and TV distance of P_hat vs uncapped on each world (scipy, no dbt)")
    ap.add_argument("--threads", default=None, type=_int_list, help="comma-separated thread counts, e.g. 1,2,4,8,16: "
                    "rerun the models per count (dbt and DuckDB threads) and time the co-occurrence SQL per count")
    ap.add_argument("--run-threads", type=int, default=2, help="dbt and DuckDB threads of the main runs "
                    "(default: %(default)s, the 2-core machines of the floors; --threads adds a curve)")
    ap.add_argument("--dbt-only", action="store_true", help="only generate the world and run dbt (per-model "
                    "seconds and RSS): no baselines, for worlds too large for scipy / pandas in memory")
    ap.add_argument("--samplers", default=",".join(SAMPLERS), help="synthetic samplers to run per world: "
                    "p_hat (the default path, with every baseline) and / or two_stage (its own dbt run without "
                    "the co-occurrence); two_stage alone needs --dbt-only")
    a = ap.parse_args(argv)
    from scalr.cli import fail
    for name in ("overlap",):
        if not 0 < getattr(a, name) <= 1:
            fail(prog, f"--{name} must be in (0, 1], got {getattr(a, name)}")
    if a.target_ratio <= 0 or a.events_per_user <= 0 or a.loop_events < 1:
        fail(prog, "--target-ratio, --events-per-user and --loop-events must be positive")
    if not (PROJECT / "dbt_project.yml").is_file():
        fail(prog, f"no dbt_project.yml at {PROJECT}: run from a checkout of the project installed with "
                   "pip install -e . (make setup)")
    if Path(a.out).exists() and not Path(a.out).is_dir():
        fail(prog, f"--out {a.out!r} exists and is not a directory")
    samplers = tuple(x.strip() for x in a.samplers.split(",") if x.strip())
    if not set(samplers) <= set(SAMPLERS) or not samplers or ("p_hat" not in samplers and not a.dbt_only):
        ap.error(f"--samplers: a subset of {SAMPLERS}; two_stage alone needs --dbt-only")
    if a.run_threads < 1:
        fail(prog, f"--run-threads must be >= 1, got {a.run_threads}")
    sizes = a.source_events
    spec_kw = {"overlap": a.overlap, "target_ratio": a.target_ratio, "events_per_user": a.events_per_user,
               "n_source_items": a.n_source_items, "n_target_items": a.n_target_items, "ids": a.ids,
               "seed": a.seed}
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="scalr_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    all_rows, metas = [], []
    for n in sizes:
        caps = a.cap_study or []
        rows, meta = bench_size(n, work, spec_kw, a.vars, a.loop_events, a.memory_limit,
                                a.keep or bool(caps), dbt_only=a.dbt_only, scaling=a.threads,
                                samplers=samplers, run_threads=a.run_threads)
        if caps:
            cs = cap_study(Path(meta["db"]), caps)
            cs.insert(0, "source_events", int(n))
            meta["cap_study"] = cs
            print(to_markdown(cs))
            if not a.keep:
                shutil.rmtree(Path(meta["db"]).parent, ignore_errors=True)
        all_rows += rows
        metas.append(meta)
        print(f"\n== {n:,} source events: {meta['triples'] or 0:,} (u, j, i) triples, "
              f"{meta['pairs_scalr'] or 0:,} translation pairs, scalr == scipy: {meta['scalr_equals_scipy']}, "
              f"co-occurrence GROUP BY partitions: {meta['cooccurrence_partitions']} ==")
        print(to_markdown(pd.DataFrame(rows)))
    if not a.workdir and not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    df = pd.DataFrame(all_rows)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    df.to_csv(out / f"bench_{stamp}.csv", index=False)
    header = (f"# scalr benchmark {stamp}\n\nMachine: {machine()}\n\nArgs: `{' '.join(argv or sys.argv[1:])}`\n\n")
    notes = "\n".join(f"- {r['stage']} ({r['source_events']:,}): {r['note']}" for r in all_rows if r["note"])
    worlds = "\n".join(f"- {m['spec']['source_events']:,} source events: {json.dumps(m['world'])}, "
                       f"triples {m['triples'] or 0:,}, pairs scalr/scipy/pandas/polars {m['pairs_scalr'] or 0:,}/"
                       f"{m['pairs_scipy'] or 0:,}/{m['pairs_pandas'] or 0:,}/{m.get('pairs_polars') or 0:,}, scalr == scipy: {m['scalr_equals_scipy']}, "
                       f"co-occurrence partitions {m['cooccurrence_partitions']}"
                       for m in metas)
    caps_md = ""
    if any("cap_study" in m for m in metas):
        cs = pd.concat([m["cap_study"] for m in metas if "cap_study" in m])
        cs.to_csv(out / f"bench_{stamp}_caps.csv", index=False)
        caps_md = "\n\nmax_items_per_user study:\n\n" + to_markdown(cs)
    (out / f"bench_{stamp}.md").write_text(header + to_markdown(df) + "\n\nNotes:\n" + notes +
                                           "\n\nWorlds:\n" + worlds + caps_md + "\n")
    df.attrs["meta"] = metas
    print(f"\nwritten {out / f'bench_{stamp}.csv'} and .md; machine: {machine()}")
    return df


if __name__ == "__main__":
    main()
