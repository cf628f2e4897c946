"""The bad-input matrix: every malformed or surprising events / items file either builds correctly
or stops the build with a message that names the model (or file), the column and the row count.
Plus failed-build safety: a failed build never touches the previous marts, and `published.*`
(see docs/reliability.md) only ever holds the marts of one fully successful build.

Cases (each dbt invocation costs ~3-4 s of CPU, mostly parsing, so related faults share a world:
stg_events reports every failing check in one message, and independent models fail in one run):
  fails  (CSV.gz) null/blank user_id, null item_id, null/blank domain, missing time, unparsable timestamp,
         time out of range, label 2 / 'yes' / missing, item id in two domains, a source domain
         with no events, items with a negative / NaN value and an item listed twice
                                  -> test_bad_rows_unknown_source_domain_and_bad_items_reported_at_once
  fails  unparsable date (event_time_unit date)            -> test_unparsable_date
  fails  missing required column; items_path that does not exist
                                  -> test_missing_required_column_and_missing_items_path
  fails  events_path that does not exist; items file without `value`
                                  -> test_missing_events_path_and_items_missing_a_column
  fails  a column twice in the header; a directory as items_path
                                  -> test_a_column_twice_in_the_header_and_a_directory_as_items_path
  fails  empty train window for the source and for the target domain
                                  -> test_empty_train_window_for_source_and_for_target
  fails  no overlapping users                              -> test_no_overlapping_users
  fails  the target domain listed as a source; no source domain
                                  -> test_target_domain_listed_as_a_source_and_no_source_domain
  fails  a run with new events vars that leaves the base_events view out (it would read the
         previous file)                                   -> test_a_stale_base_events_view_stops_stg_events
  fails  ids of only tabs / line breaks, an items file with no target-domain row, vars of the
         wrong type or range (train_end 20241001, source_window_days 'abc', max_items_per_user 0)
                                  -> test_control_character_ids_items_without_target_rows_and_bad_vars
  fails  no positive target event in the eval window (and a domain name with a quote works)
                                  -> test_empty_eval_window_and_a_quoted_target_domain
  works  unix_seconds (value check), Parquet, awkward ids  -> test_unix_seconds_parquet_with_awkward_ids
  works  Parquet TIMESTAMP column (typed, no text round trip); fails on a null in it
                                  -> test_parquet_typed_timestamps_and_a_null_time
  works  UTC offsets in text times, BOOLEAN labels, a "filename" column in the file
                                  -> test_utc_offsets_boolean_labels_and_a_filename_column
  works  unconfigured domain (ignored + logged with counts), exact duplicates, times after
         train_end / eval_end, label column with 0/1       -> test_rows_that_change_nothing
  works  a single overlapping user (n_users_j == 1)        -> test_single_overlapping_user
  works  a user with 100000 events (CSV.gz), co-occurrence in 6 partitions -> test_user_with_100000_events
  works  ids '007', 'a,b', 'he said "hi"', 'café☕', ... byte-exact in translation and stg_events
                                  -> test_awkward_ids_round_trip_byte_exactly
  safety failed staging build, failed mart, mart replaced then another node fails, an open
         read-only connection, publish -> test_failed_builds_keep_previous_marts_and_published
  safety zero-copy publish of table marts across failed and partial runs
                                  -> test_zero_copy_publish_of_table_marts"""
from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

COLS = ("user_id", "item_id", "domain", "event_ts")

# A tiny good world. Overlap users u1, u2, u3 (u4 has no target event).
#   s1: u1, u2 -> n_j = 2;  t1: u1, u2 (2);  t2: u2 (1)
#   s2: u1, u3 -> n_j = 2;  t1: u1 (1);      t2: u3 (1)
GOOD = [
    ("u1", "s1", "source", "2024-01-01 10:00:00"),
    ("u1", "s2", "source", "2024-01-02 10:00:00"),
    ("u1", "t1", "target", "2024-01-03 10:00:00"),
    ("u2", "s1", "source", "2024-02-01 10:00:00"),
    ("u2", "t1", "target", "2024-02-02 10:00:00"),
    ("u2", "t2", "target", "2024-02-03 10:00:00"),
    ("u3", "s2", "source", "2024-03-01 10:00:00"),
    ("u3", "t2", "target", "2024-03-02 10:00:00"),
    ("u4", "s3", "source", "2024-04-01 10:00:00"),
]
GOOD_TRANSLATION = {
    ("source", "s1", "t1"): (2, 2), ("source", "s1", "t2"): (1, 2),
    ("source", "s2", "t1"): (1, 2), ("source", "s2", "t2"): (1, 2),
}


# Ids that break naive CSV / SQL / numeric handling; they must round-trip byte for byte.
AWKWARD = {"u1": "007", "u2": "a,b", "u3": 'he said "hi"', "u4": "café☕", "s1": "0042",
           "s2": "x'y;--", "s3": "line\nbreak", "t1": " spaced ", "t2": "tab\there"}


def write_events(path: Path, rows, columns=COLS) -> Path:
    """CSV (optionally .gz) or Parquet; None is written as an empty field / null."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        pd.DataFrame([list(r) for r in rows], columns=list(columns), dtype="string").to_parquet(path)
        return path
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
    return path


def base_vars(events: Path, **kw) -> dict:
    """Every var the pipeline up to translation reads, pinned, so default changes don't matter."""
    v = {"events_path": str(events), "items_path": None, "source_domains": ["source"],
         "target_domain": "target", "event_time_column": "event_ts",
         "event_time_unit": "timestamp", "train_start": None, "train_end": "2024-10-01",
         "eval_end": None, "min_support": 1, "max_targets_per_source": None,
         "max_items_per_user": None, "translation_shrinkage": 0, "count_noise_epsilon": None}
    v.update(kw)
    return v


def translation_of(res, schema: str = "main") -> dict:
    t = res.table(f"{schema}.translation")
    return {(r.source_domain, r.source_item, r.target_item): (int(r.n_users_ji), int(r.n_users_j))
            for r in t.itertuples()}


def assert_fails(res, *needles):
    assert not res.ok, res.output[-3000:]
    for n in needles:
        assert n in res.output, f"{n!r} not in output:\n{res.output[-3000:]}"


def reference(rows, target="target", sources=("source",), train_end="2024-10-01", labels=None):
    """Independent indicator-semantics P_hat counts from raw rows."""
    ev = pd.DataFrame([list(r) for r in rows], columns=list(COLS) + (["label"] if labels else []))
    ev = ev[pd.to_datetime(ev.event_ts, format="mixed") < pd.Timestamp(train_end)]
    ev = ev[ev.domain.isin(list(sources) + [target])]
    if labels:
        ev = ev[ev.label.astype(float) == 1]
    ev = ev.drop_duplicates(["user_id", "domain", "item_id"])
    src, tgt = ev[ev.domain != target], ev[ev.domain == target]
    overlap = set(src.user_id) & set(tgt.user_id)
    src, tgt = src[src.user_id.isin(overlap)], tgt[tgt.user_id.isin(overlap)]
    n_j = src.groupby(["domain", "item_id"]).user_id.nunique()
    pairs = src.merge(tgt, on="user_id", suffixes=("_s", "_t"))
    n_ji = pairs.groupby(["domain_s", "item_id_s", "item_id_t"]).user_id.nunique()
    return {k: (int(v), int(n_j[(k[0], k[1])])) for k, v in n_ji.items()}


# ---------------------------------------------------------------- rows that stop the build


def test_bad_rows_unknown_source_domain_and_bad_items_reported_at_once(tmp_path, dbt):
    """One CSV.gz events world + one items file, one dbt run. stg_events checks every row in one
    aggregate query and reports every problem in one message, one line per column and check;
    stg_items (independent of stg_events) fails in the same run with its own lines."""
    rows = [r + ("1",) for r in GOOD] + [
        (None, "s1", "source", "2024-01-05", "1"),           # user_id null
        ("   ", "t1", "target", "2024-01-05", "1"),          # user_id blank
        ("u1", None, "target", "2024-01-05", "1"),           # item_id null
        ("u1", "s9", None, "2024-01-05", "1"),               # domain null
        ("u2", "s8", " ", "2024-01-05", "1"),                # domain blank
        ("u1", "s1", "source", None, "1"),                   # time missing
        ("u2", "t1", "target", "", "1"),                     # time missing
        ("u3", "t1", "target", "  ", "1"),                   # time blank
        ("u1", "s1", "source", "yesterday", "1"),            # time unparsable
        ("u2", "t1", "target", "2024-02-30 10:00:00", "1"),  # time unparsable
        ("u1", "s2", "source", "3024-01-01 00:00:00", "1"),  # time out of range
        ("u1", "s1", "source", "2024-01-05", "2"),           # label 2
        ("u2", "t2", "target", "2024-01-05", "yes"),         # label yes
        ("u3", "t2", "target", "2024-01-05", None),          # label missing
        ("u1", "s3", "target", "2024-01-06", "1"),           # s3 is also a source item (u4's)
        ("u3", "s3", "target", "2024-01-07", "1"),
    ]
    ev = write_events(tmp_path / "events.csv.gz", rows, columns=COLS + ("label",))
    items = tmp_path / "items.csv"
    items.write_text("item_id,domain,value\nt1,target,-1.5\nt2,target,NaN\ns1,source,3\n"
                     "s2,source,4\ns2,source,4\n")
    res = dbt(base_vars(ev, source_domains=["source", "music"], items_path=str(items)),
              select="+stg_events stg_items", command="run")
    assert_fails(res, "stg_events", str(ev),
                 "column user_id: 2 of 25 rows have a null or empty user_id",
                 "column item_id: 1 of 25 rows have a null or empty item_id",
                 "column domain: 2 of 25 rows have a null or empty domain",
                 "column event_ts: 3 of 25 rows have a missing time",
                 "column event_ts: 2 of 25 rows have a time that does not parse as timestamp",
                 "column event_ts: 1 of 25 rows have a time outside [1900, 2200)",
                 "column label: 3 of 25 rows have a missing label or one outside {0, 1}",
                 "column item_id: 3 of 25 rows have an item_id that also occurs in another domain "
                 "(catalogs must be disjoint; 1 such item id, e.g. 's3')",
                 "column domain: configured domain 'music' has 0 of 25 rows", "source_domains")
    assert_fails(res, "stg_items", str(items),
                 "column value: 2 of 5 rows have a missing, non-numeric, NaN, infinite or negative value",
                 "column item_id: 2 of 5 rows share their item_id with another row")


def test_unparsable_date(tmp_path, dbt):
    rows = [(u, i, d, t[:10]) for u, i, d, t in GOOD] + [("u1", "s1", "source", "2024-13-45"),
                                                        ("u2", "t1", "target", "01/02/2024")]
    ev = write_events(tmp_path / "events.csv", rows, columns=("user_id", "item_id", "domain", "day"))
    res = dbt(base_vars(ev, event_time_column="day", event_time_unit="date"),
              select="+stg_events", command="run")
    assert_fails(res, "stg_events", "column day: 2 of 11 rows have a time that does not parse as date")
    assert res.output.count(" rows have ") == 1, "only the date problem is reported"


def test_missing_required_column_and_missing_items_path(tmp_path, dbt):
    ev = write_events(tmp_path / "events.csv", [(u, i, d) for u, i, d, _ in GOOD],
                      columns=("user_id", "item_id", "domain"))
    missing = tmp_path / "nope" / "items.csv"
    res = dbt(base_vars(ev, items_path=str(missing)), select="+stg_events stg_items", command="run")
    assert_fails(res, "base_events", f"column event_ts: missing from file '{ev}', so 9 of 9 rows",
                 "event_time_column")
    assert_fails(res, "stg_items", f"var items_path: no file matches '{missing}' (0 files, 0 rows",
                 "var items_path defaults to the demo world's items file (make demo writes it): set it to your "
                 "items file, or to null to value items by popularity)")


def test_missing_events_path_and_items_missing_a_column(tmp_path, dbt):
    missing = tmp_path / "nope" / "events-*.csv"
    items = tmp_path / "items.csv"
    items.write_text("item_id,domain,price\nt1,target,1\nt2,target,2\n")
    res = dbt(base_vars(missing, items_path=str(items)), select="+stg_events stg_items", command="run")
    assert_fails(res, "base_events", f"var events_path: no file matches '{missing}' (0 files, 0 rows")
    assert_fails(res, "stg_items", f"column value: missing from file '{items}', so 2 of 2 rows")


def test_a_column_twice_in_the_header_and_a_directory_as_items_path(tmp_path, dbt):
    """The CSV reader renames a repeated header name to <name>_1 and the first copy would be used
    silently; a directory matches no file (the message says so)."""
    ev = write_events(tmp_path / "events.csv", [(u, i, u.upper(), d, t) for u, i, d, t in GOOD],
                      columns=("user_id", "item_id", "user_id", "domain", "event_ts"))
    folder = tmp_path / "items"
    folder.mkdir()
    res = dbt(base_vars(ev, items_path=str(folder)), select="base_events stg_items", command="run")
    assert_fails(res, "base_events", f"column user_id: appears twice in the header of '{ev}' "
                 "(read as user_id and user_id_1), so which one holds the user_id of the 9 rows is ambiguous")
    assert_fails(res, "stg_items", f"var items_path: no file matches '{folder}' (0 files, 0 rows; the path does "
                 "not exist, or is a directory")


def test_empty_train_window_for_source_and_for_target(tmp_path, dbt):
    """train_start/train_end leave no source event (all before) and no target event (all after)."""
    rows = [(u, i, d, t.replace("2024", "2023") if d == "source" else t.replace("2024", "2025"))
            for u, i, d, t in GOOD] + [("u9", "s9", "source", "2024-06-01")]
    ev = write_events(tmp_path / "events.csv", rows)
    res = dbt(base_vars(ev, train_start="2024-07-01"), select="+translation", command="run")
    assert_fails(res, "int_events_train", "column event_ts: domain 'source' has 0 of 6 rows, "
                 "domain 'target' has 0 of 4 rows in the train window [2024-07-01, 2024-10-01)",
                 "train_start / train_end; rows of stg_events: the events file's rows of that domain, exact "
                 "duplicates counted once")


def test_no_overlapping_users(tmp_path, dbt):
    rows = [r for r in GOOD if r[2] == "source"] + [("v1", "t1", "target", "2024-01-01"),
                                                    ("v2", "t2", "target", "2024-01-01")]
    ev = write_events(tmp_path / "events.csv", rows)
    res = dbt(base_vars(ev), select="+translation", command="run")
    assert_fails(res, "int_overlap_users", "column user_id: 0 of 6 users (4 with source, 2 with target")


def test_target_domain_listed_as_a_source_and_no_source_domain(tmp_path, dbt):
    """Vars errors found while dbt parses: the message names the model dbt's header names."""
    ev = write_events(tmp_path / "events.csv", GOOD)
    res = dbt(base_vars(ev, source_domains=["source", "target"]), select="+stg_events", command="run", name="a")
    assert_fails(res, "column domain: target_domain 'target' is also listed in source_domains (vars target_domain / "
                 "source_domains; 0 rows read)")
    header = re.search(r"Compilation Error in model (\w+)", res.output)
    assert header and f"scalr input error in model {header.group(1)}: column domain" in res.output
    res = dbt(base_vars(ev, source_domains=[]), select="+stg_events", command="run", name="b")
    assert_fails(res, "var source_domains is empty")


def test_a_stale_base_events_view_stops_stg_events(tmp_path, dbt):
    """base_events is a view created with its run's vars: a later run that selects stg_events but
    not base_events, with another events file or time unit, stops in stg_events naming both
    (instead of validating and loading the previous file under the new file's name); with
    base_events selected it rebuilds, and the same vars pass."""
    a = write_events(tmp_path / "a.csv", GOOD)
    b = write_events(tmp_path / "b.csv", GOOD[:-1])
    db = tmp_path / "stale.duckdb"
    assert dbt(base_vars(a), select="+stg_events", command="run", name="a", db=db).ok
    res = dbt(base_vars(b), select="stg_events", command="run", name="b", db=db)
    assert_fails(res, "scalr input error in model stg_events: column read_with: all 9 rows of base_events were read "
                 f"with events_path={a}; event_time_column=event_ts; event_time_unit=timestamp, but this run has "
                 f"events_path={b}; event_time_column=event_ts; event_time_unit=timestamp: base_events is stale")
    res = dbt(base_vars(a, event_time_unit="date"), select="stg_events", command="run", name="c", db=db)
    assert_fails(res, "but this run has", "event_time_unit=date: base_events is stale")
    assert dbt(base_vars(a), select="stg_events", command="run", name="d", db=db).ok
    res = dbt(base_vars(b), select="base_events stg_events", command="run", name="e", db=db)
    assert res.ok, res.output[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from stg_events").fetchall() == [(len(GOOD) - 1,)]


def test_control_character_ids_items_without_target_rows_and_bad_vars(tmp_path, dbt):
    """Ids of only tabs / line breaks are blank (DuckDB's trim() keeps them); an items file with no
    row of the target domain (header only) would silently value every item by popularity; vars of
    the wrong type or range stop the model that reads them with the var's name, before any SQL
    parser or binder error."""
    rows = GOOD + [("\t", "s1", "source", "2024-01-05"), ("u1", "\n", "target", "2024-01-05"),
                   ("u2", "s1", "\t\r\n", "2024-01-05")]
    ev = write_events(tmp_path / "ws.csv", rows)
    items = tmp_path / "items.csv"
    items.write_text("item_id,domain,value\n")
    res = dbt(base_vars(ev, items_path=str(items)), select="+stg_events stg_items", command="run", name="ws")
    assert_fails(res, "stg_events", "column user_id: 1 of 12 rows have a null or empty user_id",
                 "column item_id: 1 of 12 rows have a null or empty item_id",
                 "column domain: 1 of 12 rows have a null or empty domain")
    assert_fails(res, "stg_items", "column domain: 0 of 0 rows are of target_domain 'target'", str(items),
                 "set var items_path to this data's items file, or to null to value items by popularity")

    ev = write_events(tmp_path / "events.csv", GOOD)
    res = dbt(base_vars(ev, train_end=20241001), select="+int_events_train", command="run", name="t")
    assert_fails(res, "in model int_events_train", "var train_end = '20241001' is not a date or timestamp")
    res = dbt(base_vars(ev, min_support="two", source_window_days="abc"),
              select="+int_translation +int_source_events", command="run", name="v")
    assert_fails(res, "in model int_translation: var min_support = 'two' is not an integer",
                 "in model int_source_events: var source_window_days = 'abc' is not an integer")
    assert "Parser Error" not in res.output and "Binder Error" not in res.output, res.output[-3000:]
    res = dbt(base_vars(ev, max_items_per_user=0), select="+int_user_items", command="run", name="cap")
    assert_fails(res, "in model int_user_items: var max_items_per_user = 0 is outside [1, inf]")


def test_empty_eval_window_and_a_quoted_target_domain(tmp_path, dbt):
    """No positive target event in [train_end, eval_end): int_target_eval_events stops the build
    with the window and the counts (it used to surface as a KeyError in model_metrics). A domain
    name with a quote is escaped wherever it reaches SQL (int_target_item_values)."""
    tgt = "kid's"
    rows = [(u, i, tgt if d == "target" else d, t) for u, i, d, t in GOOD] + [
        ("u1", "t1", tgt, "2024-10-05 00:00:00"), ("u2", "t2", tgt, "2024-12-01 00:00:00")]
    labels = ["1"] * len(GOOD) + ["0", "1"]
    ev = write_events(tmp_path / "events.csv", [r + (lab,) for r, lab in zip(rows, labels)],
                      columns=COLS + ("label",))
    items = tmp_path / "items.csv"
    items.write_text(f"item_id,domain,value\nt1,\"{tgt}\",2.5\nt9,\"{tgt}\",1\n")  # no value for t2
    res = dbt(base_vars(ev, target_domain=tgt, items_path=str(items), eval_end="2024-11-01"),
              select="+int_target_item_values +int_target_eval_events", command="run")
    assert_fails(res, "in model int_target_eval_events", "column event_ts: target domain 'kid's' has 1 of 6 rows "
                 "in the eval window [2024-10-01, 2024-11-01) and 0 of them are positives")
    assert "Parser Error" not in res.output, res.output[-3000:]
    values = res.table("int_target_item_values")
    assert dict(zip(values.item_id, values.value_source)) == {"t1": "items.value", "t2": "popularity"}, values
    assert ("int_target_item_values: 1 of 2 target train items have no row of target_domain 'kid's' in "
            "items_path; they are valued by popularity") in res.output


# ---------------------------------------------------------------- inputs that build correctly


def test_unix_seconds_parquet_with_awkward_ids(tmp_path, dbt):
    """Parquet with a numeric time column (float64 seconds), event_time_unit unix_seconds, and the
    awkward ids of the CSV round-trip test (Parquet strings must round-trip too)."""
    epoch = pd.Timestamp("1970-01-01")
    df = pd.DataFrame([list(r) for r in GOOD], columns=list(COLS))
    df["ts"] = (pd.to_datetime(df.pop("event_ts")) - epoch).dt.total_seconds()
    df.loc[0, "ts"] = 1704067200.5  # 2024-01-01 00:00:00.5 UTC
    df["user_id"] = df.user_id.map(lambda v: AWKWARD.get(v, v))
    df["item_id"] = df.item_id.map(lambda v: AWKWARD.get(v, v))
    ev = tmp_path / "events.parquet"
    df.to_parquet(ev)
    res = dbt(base_vars(ev, event_time_column="ts", event_time_unit="unix_seconds"),
              select="+translation", command="run")
    assert res.ok, res.output[-3000:]
    st = res.table("stg_events")
    got = dict(zip(zip(st.user_id, st.item_id), st.event_ts))
    assert got[(AWKWARD["u1"], AWKWARD["s1"])] == pd.Timestamp("2024-01-01 00:00:00.500")
    assert got[(AWKWARD["u4"], AWKWARD["s3"])] == pd.Timestamp("2024-04-01 10:00:00")
    assert translation_of(res) == {(d, AWKWARD[i], AWKWARD[j]): v
                                   for (d, i, j), v in GOOD_TRANSLATION.items()}


def test_parquet_typed_timestamps_and_a_null_time(tmp_path, dbt):
    """A parquet TIMESTAMP column is converted without the text round trip (scalr_typed_time) and
    gives the same times as text; a null in it is still reported as a missing time, with its count."""
    df = pd.DataFrame([list(r) for r in GOOD], columns=list(COLS))
    df["event_ts"] = pd.to_datetime(df.event_ts).astype("datetime64[us]")
    df.loc[0, "event_ts"] = pd.Timestamp("2024-01-01 10:00:00.123456")
    ev = tmp_path / "ok" / "events.parquet"
    ev.parent.mkdir()
    df.to_parquet(ev)
    res = dbt(base_vars(ev), select="+translation", command="run")
    assert res.ok, res.output[-3000:]
    st = res.table("stg_events")
    got = dict(zip(zip(st.user_id, st.item_id), st.event_ts))
    assert got[("u1", "s1")] == pd.Timestamp("2024-01-01 10:00:00.123456")
    assert got[("u4", "s3")] == pd.Timestamp("2024-04-01 10:00:00")
    assert translation_of(res) == GOOD_TRANSLATION
    df.loc[[1, 3], "event_ts"] = pd.NaT
    bad = tmp_path / "bad" / "events.parquet"
    bad.parent.mkdir()
    df.to_parquet(bad)
    res = dbt(base_vars(bad), select="+translation", command="run")
    assert not res.ok
    assert "column event_ts: 2 of 9 rows have a missing time" in res.output


def test_utc_offsets_boolean_labels_and_a_filename_column(tmp_path, dbt):
    """Text times with a UTC offset are converted to UTC (a try_cast to TIMESTAMP drops the
    offset); a BOOLEAN parquet label is a 0/1 label; a column called "filename" in the file is
    data like any other (the reader's own file-name column has a name of scalr's)."""
    df = pd.DataFrame([list(r) for r in GOOD], columns=list(COLS))
    df.loc[0, "event_ts"] = "2024-01-01 10:00:00-05:00"   # 15:00 UTC
    df.loc[1, "event_ts"] = "2024-01-02T10:00:00+05:30"   # 04:30 UTC
    df.loc[2, "event_ts"] = "2024-01-03 10:00:00Z"
    df.loc[4, "event_ts"] = "2024-09-30 23:00:00-05:00"   # 2024-10-01 04:00 UTC: after train_end
    df["label"] = True
    df.loc[8, "label"] = False
    df["filename"] = "not a path"
    ev = tmp_path / "events.parquet"
    df.to_parquet(ev)
    res = dbt(base_vars(ev), select="+int_events_train", command="run")
    assert res.ok, res.output[-3000:]
    st = res.table("stg_events")
    got = dict(zip(zip(st.user_id, st.item_id), zip(st.event_ts, st.label)))
    assert got[("u1", "s1")] == (pd.Timestamp("2024-01-01 15:00:00"), 1)
    assert got[("u1", "s2")] == (pd.Timestamp("2024-01-02 04:30:00"), 1)
    assert got[("u1", "t1")] == (pd.Timestamp("2024-01-03 10:00:00"), 1)
    assert got[("u2", "t1")] == (pd.Timestamp("2024-10-01 04:00:00"), 1)
    assert got[("u4", "s3")] == (pd.Timestamp("2024-04-01 10:00:00"), 0)
    assert ("u2", "t1") not in set(zip(*res.table("int_events_train")[["user_id", "item_id"]].T.values))
    assert set(res.table("base_events").source_file) == {str(ev)}


def test_rows_that_change_nothing(tmp_path, dbt):
    """Events of an unconfigured domain (ignored, counted in the log), exact duplicates (count
    once), times after train_end / eval_end (not in train), label 0 rows (not positives)."""
    unconfigured = [("u1", "x1", "other", "2024-01-05"), ("u2", "x2", "other", "2024-01-05"),
                    ("u1", "x1", "other", "2024-01-06"), ("u9", "y", "zzz", "2024-01-05")]
    duplicates = GOOD[:4] + [GOOD[2]] * 5
    late = [("u4", "t1", "target", "2025-06-01"), ("u1", "s3", "source", "2025-06-01 00:00:00"),
            ("u2", "t1", "target", "2024-11-01")]
    rows = [r + ("1",) for r in GOOD + unconfigured + duplicates + late]
    negatives = [("u3", "t1", "target", "2024-03-05", "0"), ("u4", "t1", "target", "2024-04-05", "0"),
                 ("u1", "s3", "source", "2024-01-05", "0.0")]
    rows += negatives
    ev = write_events(tmp_path / "events.csv", rows, columns=COLS + ("label",))
    res = dbt(base_vars(ev, eval_end="2025-01-01"), select="+translation", command="run")
    assert res.ok, res.output[-3000:]
    assert (f"stg_events: ignored 4 of {len(rows)} rows: events of unconfigured domains "
            "(other: 3, zzz: 1)") in res.output
    st = res.table("stg_events")
    assert set(st.domain) == {"source", "target"}
    assert len(st) == len(GOOD) + len(late) + len(negatives)
    assert sorted(st.label.unique()) == [0, 1]
    train = res.table("int_events_train")
    assert len(train) == len(GOOD) + len(negatives)
    assert (train.event_ts < pd.Timestamp("2024-10-01")).all()
    # u4 stays a non-overlap user (its t1 is late or negative), u3 gains no t1, u1 no s3
    assert translation_of(res) == GOOD_TRANSLATION == reference(rows, labels=True)


def test_single_overlapping_user(tmp_path, dbt):
    rows = [("u1", "s1", "source", "2024-01-01"), ("u1", "s2", "source", "2024-01-02"),
            ("u1", "t1", "target", "2024-01-03"), ("u2", "s1", "source", "2024-01-01"),
            ("u3", "t2", "target", "2024-01-01")]
    ev = write_events(tmp_path / "events.csv", rows)
    res = dbt(base_vars(ev), select="+translation", command="run")
    assert res.ok, res.output[-3000:]
    t = res.table("translation")
    assert (t.n_users_j == 1).all() and (t.p_hat == 1).all() and (t.p_norm == 1).all()
    assert translation_of(res) == {("source", "s1", "t1"): (1, 1), ("source", "s2", "t1"): (1, 1)}


def test_user_with_100000_events(tmp_path, dbt):
    def ts(k):
        return f"2024-0{k % 9 + 1}-{k % 28 + 1:02d} {k % 24:02d}:{k % 60:02d}:{k % 59:02d}"
    heavy = [("heavy", f"s{k % 3 + 1}", "source", ts(k)) for k in range(60000)]
    heavy += [("heavy", f"t{k % 2 + 1}", "target", ts(k)) for k in range(40000)]
    rows = GOOD + heavy
    ev = write_events(tmp_path / "events.csv.gz", rows)
    # W = sum_u |S_u| |T_u| = 2 + 2 + 1 + 3 * 2 = 11 triples: 2 per partition -> the co-occurrence
    # GROUP BY runs as ceil(11 / 2) = 6 source-key partitions, which must not change a count
    res = dbt(base_vars(ev, cooccurrence_partition_triples=2), select="+translation", command="run")
    assert res.ok, res.output[-3000:]
    sql = next((tmp_path / "run").glob("target/compiled/*/models/*/int_cooccurrence.sql")).read_text()
    assert sql.count("group by s.source_key, t.target_key") == 6
    want = reference(rows)
    assert want[("source", "s1", "t1")] == (3, 3)  # the heavy user counts once, not 20000 times
    assert translation_of(res) == want


def test_awkward_ids_round_trip_byte_exactly(tmp_path, dbt):
    ids = AWKWARD
    rows = [(ids.get(u, u), ids.get(i, i), d, t) for u, i, d, t in GOOD]
    ev = write_events(tmp_path / "events.csv", rows)
    res = dbt(base_vars(ev), select="+translation", command="run")
    assert res.ok, res.output[-3000:]
    assert translation_of(res) == {(d, ids[s], ids[t]): v for (d, s, t), v in GOOD_TRANSLATION.items()}
    with res.con() as c:  # compare bytes, not just equality after some normalisation
        items = {r[0].encode() for r in c.sql("select source_item from translation union all "
                                               "select target_item from translation").fetchall()}
        users = {r[0].encode() for r in c.sql("select user_id from stg_events").fetchall()}
    assert items == {ids[k].encode() for k in ("s1", "s2", "t1", "t2")}
    assert users == {ids[k].encode() for k in ("u1", "u2", "u3", "u4")}


# ---------------------------------------------------------------- failed-build safety


def _marts(res) -> set[str]:
    """Names of the project's models under models/marts/, from the run's manifest."""
    manifest = json.loads((res.db.parent / "target" / "manifest.json").read_text())
    return {n["alias"] for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["fqn"][1] == "marts"}


def _tables(res, schema: str) -> set[str]:
    with res.con() as c:
        return {r[0] for r in c.sql("select table_name from information_schema.tables "
                                    f"where table_schema = '{schema}'").fetchall()}


def test_failed_builds_keep_previous_marts_and_published(tmp_path, dbt):
    """good build A -> (1) bad input at staging -> (2) failure at a later stage (translation)
    after staging/intermediate were replaced by new data B -> (3) translation replaced by B, then
    another node fails -> (4) an analyst holds a read-only connection -> (5) good build B.
    main.translation is never touched by a failed model; published.* always holds the marts of
    exactly one fully successful build."""
    ev = tmp_path / "events.csv"
    order = "source_domain, source_item, target_item"

    def build(rows=None, **kw):
        if rows is not None:
            write_events(ev, rows)
        return dbt(base_vars(ev, **kw.pop("vars", {})), name="db", command="run", **kw)

    res = build(GOOD, select="+translation")
    assert res.ok, res.output[-3000:]
    assert "scalr publish: publishing" in res.output
    a = res.table("main.translation", order)
    assert translation_of(res) == GOOD_TRANSLATION
    pd.testing.assert_frame_equal(res.table("published.translation", order), a)
    assert _tables(res, "published") == _marts(res) & _tables(res, "main")

    # (1) bad input at staging: stg_events stops before replacing anything downstream
    res = build(GOOD + [(None, "s1", "source", "2024-01-05")], select="+translation")
    assert_fails(res, "stg_events", "column user_id: 1 of 10 rows", "NOT publishing")
    pd.testing.assert_frame_equal(res.table("main.translation", order), a)
    pd.testing.assert_frame_equal(res.table("published.translation", order), a)

    # (2) new valid data B, but int_translation errors (a var that breaks its SQL):
    #     staging / intermediate now hold B, translation and published still hold A
    rows_b = GOOD + [("u4", "t1", "target", "2024-05-01"), ("u5", "s1", "source", "2024-05-01"),
                     ("u5", "t2", "target", "2024-05-02")]
    res = build(rows_b, select="+translation", vars={"max_targets_per_source": "not_a_number"})
    assert_fails(res, "in model int_translation", "not_a_number", "NOT publishing")
    assert len(res.table("main.stg_events")) == len(rows_b)
    pd.testing.assert_frame_equal(res.table("main.translation", order), a)
    pd.testing.assert_frame_equal(res.table("published.translation", order), a)

    # (3) translation IS replaced by B in a run where another node (stg_items) fails:
    #     main.translation is B, published stays A
    items = tmp_path / "items.csv"
    items.write_text("item_id,domain,value\nt1,target,-1\n")
    res = build(select="+translation stg_items", vars={"items_path": str(items)})
    assert_fails(res, "stg_items", "column value: 1 of 1 rows", "NOT publishing")
    assert translation_of(res) == reference(rows_b) != GOOD_TRANSLATION
    pd.testing.assert_frame_equal(res.table("published.translation", order), a)

    # (4) an analyst's open read-only connection: dbt cannot take the write lock and stops
    #     before touching anything (DuckDB allows one writer process XOR many readers)
    with duckdb.connect(str(res.db), read_only=True) as analyst:
        res = build(select="+translation")
        assert not res.ok
        assert "Could not set lock on file" in res.output and str(res.db) in res.output
        assert "Conflicting lock is held" in res.output
        got = analyst.sql(f"select * from published.translation order by {order}").df()
        pd.testing.assert_frame_equal(got, a)  # the reader is unaffected
    pd.testing.assert_frame_equal(res.table("published.translation", order), a)
    assert translation_of(res) == reference(rows_b)  # nothing was written

    # (4b) a good build with var publish_marts false: main holds B, published still A
    res = build(select="+translation", vars={"publish_marts": False})
    assert res.ok, res.output[-3000:]
    assert "var publish_marts is false, not publishing" in res.output
    assert translation_of(res) == reference(rows_b)
    pd.testing.assert_frame_equal(res.table("published.translation", order), a)

    # (5) a good build publishes B
    res = build(select="+translation")
    assert res.ok, res.output[-3000:]
    b = res.table("main.translation", order)
    pd.testing.assert_frame_equal(res.table("published.translation", order), b)
    assert translation_of(res, "published") == reference(rows_b)


def _version_tables(res) -> set[str]:
    with res.con() as c:
        return {r[0] for r in c.sql("select table_name from information_schema.tables where table_schema = 'main' "
                                    "and table_type = 'BASE TABLE' and contains(table_name, '__published_')").fetchall()}


def _types(res, schema: str) -> dict[str, str]:
    with res.con() as c:
        return dict(c.sql("select table_name, table_type from information_schema.tables "
                          f"where table_schema = '{schema}'").fetchall())


def test_zero_copy_publish_of_table_marts(tmp_path, dbt):
    """Table marts are published without a copy: published.<mart> is a view on the table
    main.<mart> (view marts, translation, are still copied); after a published run main and
    published hold only the models. A later run that rebuilds synthetic_events and then fails
    keeps the published table as a version table (published.synthetic_events still shows it, main
    the new table); the next good run publishes the new one and drops the version; a partial run
    that does not rebuild a mart keeps publishing that mart's table."""
    ev = tmp_path / "events.csv"
    order = "user_id, source_item, event_ts, draw"
    vars_ = {"synthetic_k": 2}

    def build(rows=None, **kw):
        if rows is not None:  # + a positive of the eval window: privacy_audit needs one
            write_events(ev, rows + [("u1", "t2", "target", "2024-11-01 10:00:00")])
        return dbt(base_vars(ev, **{**vars_, **kw.pop("vars", {})}), name="db", command="run", **kw)

    # good build A of two table marts (synthetic_events, privacy_audit) and the view mart translation
    res = build(GOOD, select="+synthetic_events +privacy_audit")
    assert res.ok, res.output[-3000:]
    a = res.table("main.synthetic_events", order)
    assert len(a) == 2 * 4  # the 4 source events whose item has a translation (s3 has none), K = 2
    pd.testing.assert_frame_equal(res.table("published.synthetic_events", order), a)
    assert _version_tables(res) == set()
    tables = {"synthetic_events", "synthetic_events_aligned", "privacy_audit"}  # privacy_audit reads the aligned
    pub, main = _types(res, "published"), _types(res, "main")
    assert pub == {**{t: "VIEW" for t in tables}, "translation": "BASE TABLE"}
    assert {main[t] for t in tables} == {"BASE TABLE"} and "__published_" not in " ".join(main)

    # new data B: synthetic_events is rebuilt (a table again in main), then stg_items fails
    rows_b = GOOD + [("u4", "t1", "target", "2024-05-01"), ("u5", "s1", "source", "2024-05-01"),
                     ("u5", "t2", "target", "2024-05-02")]
    items = tmp_path / "items.csv"
    items.write_text("item_id,domain,value\nt1,target,-1\n")
    res = build(rows_b, select="+synthetic_events stg_items", vars={"items_path": str(items)})
    assert_fails(res, "stg_items", "NOT publishing")
    b = res.table("main.synthetic_events", order)
    assert len(b) > len(a)
    assert _types(res, "main")["synthetic_events"] == "BASE TABLE"
    pd.testing.assert_frame_equal(res.table("published.synthetic_events", order), a)
    versions_a = _version_tables(res)
    assert [v.split("__published_")[0] for v in versions_a] == ["synthetic_events"]

    # good partial run of privacy_audit only: the rebuilt-but-unpublished synthetic_events table is
    # published as it is now (B), the version of A is dropped; synthetic_events_aligned (not rebuilt
    # since A) is still published from its table
    aligned_a = res.table("published.synthetic_events_aligned", order)
    res = build(select="privacy_audit")
    assert res.ok, res.output[-3000:]
    pd.testing.assert_frame_equal(res.table("published.synthetic_events", order), b)
    pd.testing.assert_frame_equal(res.table("published.synthetic_events_aligned", order), aligned_a)
    assert _version_tables(res) == set()
    assert {_types(res, "main")[t] for t in tables} == {"BASE TABLE"}

    # a good run that rebuilds neither table mart (translation only): nothing to keep or drop
    res = build(select="translation")
    assert res.ok, res.output[-3000:]
    assert _version_tables(res) == set()
    pd.testing.assert_frame_equal(res.table("published.synthetic_events", order), b)
    pd.testing.assert_frame_equal(res.table("main.synthetic_events", order), b)
    assert translation_of(res, "published") == reference(rows_b)
